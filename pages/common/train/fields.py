"""The Train page's view of RunConfig's fields: which expander shows each, in what order, and the live sliders'
values. Every fact about a field (label, group, range, choices, liveness) is stated on the field in
ffviz/config.py; this module only arranges them. No Streamlit here, so the arrangement is tested without a UI.

    for title, names in train_groups(): ...       # [("Data and network", ("dataset", "preset", "mode")), ...]
"""

from __future__ import annotations

from ffviz.config import FIELDS, live_options

# The Train page's expander for each of RunConfig's groups, in the page's order; groups that share a title share an
# expander. A group not named here gets an expander of its own, titled by its name.
GROUP_TITLES = {
    "data": "Data and network", "network": "Data and network", "regularizers": "Regularizers",
    "goodness": "Assignment temperature", "assignment start": "Assignment start (departures from the paper)",
    "contributions": "Layer contributions", "training": "Optimisation",
    "hardware": "Hardware",
}
OPEN_GROUPS = ("Data and network", "Optimisation")  # expanded when the page opens
MORE = "More settings"


def title(group: str) -> str:
    return GROUP_TITLES.get(group, group.replace("_", " ").capitalize())


def train_groups() -> list[tuple[str, tuple[str, ...]]]:
    """The Train page's expanders and their fields, in order: every field with a label, under its group's title
    (groups in GROUP_TITLES' order, then new ones in declaration order; fields in declaration order)."""
    out: dict[str, list[str]] = {t: [] for t in dict.fromkeys(GROUP_TITLES.values())}
    for name, f in FIELDS.items():
        if f.metadata["label"]:
            out.setdefault(title(f.metadata["group"]), []).append(name)
    return [(t, tuple(names)) for t, names in out.items() if names]


def other_fields() -> list[str]:
    """Fields without a label, in declaration order: the Train page's "More settings" (and the server's own)."""
    return [name for name, f in FIELDS.items() if not f.metadata["label"]]


def slider_options(name: str, value: float) -> list[float]:
    """A live field's slider values, with ``value`` inserted if a run started from elsewhere uses another."""
    return sorted({*live_options(name), float(value)})


def choice_label(name: str, choice: str) -> str:
    return FIELDS[name].metadata["choice_labels"].get(choice, choice)

