"""The Train page's settings: one widget per RunConfig field, built from the field's facts (ffviz/config.py: type,
label, help, range, choices, liveness) and placed in its group's expander (fields.py).

Widget values live in session state under ``cfg_<field>`` and persist across page switches. The live fields
(λ_entropy, λ_orthogonality, learning rate) are sliders that also steer the running run at its next batch.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import streamlit as st

from ffviz.config import FIELDS, LIVE_FIELDS, RunConfig, label, short_label
from ffviz.data import DATASETS, dataset_names
from ffviz.presets import PRESETS
from ffviz.recipes import CLASSROOM, STATED_SECONDS, recipe_config
from ffviz.server import access
from ffviz.server.estimate import expected_seconds
from ffviz.store.progress import format_seconds
from pages.common.frame import state
from pages.common.frame.classroom import current, hidden, locked
from pages.common.frame.keys import CFG_PREFIX as PREFIX
from pages.common.frame.keys import CFG_READY_KEY, LIVE_SYNCED_KEY, RETRAIN_OVERLAY_KEY, TOAST_KEY
from pages.common.frame.links import SERVER_ONLY
from pages.common.server import access_ui
from pages.common.train.fields import (
    MORE,
    OPEN_GROUPS,
    choice_label,
    other_fields,
    slider_options,
    train_groups,
)

LIVE_NOTE = "Moves the running run at its next batch; the change is marked on the charts."  # every live field's
EXTRA_HELP = {  # what the Train page adds to a field's own help
    "lr": "Peak of the cosine schedule.",
    "temperature": "Higher T: softer assignments at the start; the temperature is learnable from there.",
}


def defaults() -> RunConfig:
    """What the Train page starts from, and what Reset and "Restore the defaults" go back to: the classroom recipe,
    the same run as Home's "Train on digits now"."""
    return recipe_config(CLASSROOM)


@st.cache_data(ttl=15, show_spinner=False)
def _expected(config_json: str, root: str) -> tuple[float, bool] | None:
    cfg = RunConfig.from_dict(json.loads(config_json))
    stated = STATED_SECONDS.get(CLASSROOM) if cfg == defaults() else None
    est = expected_seconds(cfg, [Path(root)], stated=stated)
    return None if est is None else (est.seconds, est.measured)


def expected_time(cfg: RunConfig) -> str | None:
    """"about 14 s on this machine" from a run of the same shape trained here, else the classroom recipe's stated
    figure; None for a config this machine has not trained yet."""
    est = _expected(json.dumps(cfg.to_dict(), sort_keys=True), str(state.root()))
    if est is None:
        return None
    seconds, measured = est
    where = "on this machine" if measured else "on a 2-core laptop CPU"
    return f"about {format_seconds(seconds)} {where}"


def _to_widget(name: str, value: Any) -> Any:
    if name == "widths":
        return ",".join(str(w) for w in value)
    return value


def load(cfg: RunConfig) -> None:
    """Show this config in the widgets (a callback, or before the widgets are drawn); from then on the widgets are
    the session's settings (ensure_initialised leaves them alone)."""
    for name, value in cfg.to_dict().items():
        st.session_state[PREFIX + name] = _to_widget(name, value)
    st.session_state[CFG_READY_KEY] = True


def open_run(run_id: str | None) -> None:
    """Make run_id the session's run, with its settings in the widgets and no previous run overlaid."""
    state.set_current_run(run_id)
    st.session_state[RETRAIN_OVERLAY_KEY] = None
    lr = state.live(run_id)
    if lr is not None:
        load(lr.config)


def ensure_initialised(cfg: RunConfig) -> None:
    """On a session's first visit, the widgets start from ``cfg`` (the current run's, else the defaults)."""
    if not st.session_state.get(CFG_READY_KEY):
        load(cfg)
    for name, f in FIELDS.items():  # a field added to RunConfig after the session started
        st.session_state.setdefault(PREFIX + name, _to_widget(name, f.default if f.default is not
                                                               dataclasses.MISSING else ()))


def values() -> dict[str, Any]:
    return {name: st.session_state[PREFIX + name] for name in FIELDS}


def config() -> tuple[RunConfig | None, str | None]:
    """The RunConfig the widgets describe, or the error that names the bad field."""
    try:
        return RunConfig.from_dict(values()), None
    except ValueError as e:
        return None, str(e)


def _help(name: str) -> str:
    text = FIELDS[name].metadata["help"]
    if name in EXTRA_HELP:
        text += " " + EXTRA_HELP[name]
    if name in LIVE_FIELDS:
        text += " " + LIVE_NOTE
    if name == "dataset":
        text += "\n\n" + "\n".join(f"- **{d.name}**: {d.description}" for d in DATASETS.values())
    if name == "preset":
        text += "\n\n" + "\n".join(f"- **{p.name}**: {p.description}" for p in PRESETS.values())
    return text


def _fmt_live(v: float) -> str:
    return "0" if v == 0 else f"{v:g}"


def _dataset_changed() -> None:
    """Image size and channels follow a new dataset's own (the classroom recipe's 8x8 grey digits would otherwise
    carry over to CIFAR)."""
    st.session_state[PREFIX + "image_size"] = 0
    st.session_state[PREFIX + "channels"] = 0


def widget(name: str, *, disabled: bool = False) -> None:
    """The widget of one config field (none when a classroom link hides it; disabled when it locks it)."""
    if hidden(name):
        return
    disabled = disabled or locked(name)
    f, key = FIELDS[name], PREFIX + name
    common = {"key": key, "help": _help(name), "disabled": disabled, "persist_state": "session"}
    if name == "dataset":
        st.selectbox(label(name), dataset_names(), on_change=_dataset_changed, **common)
    elif name == "preset":
        st.selectbox(label(name), list(PRESETS), format_func=lambda p: f"{p} ({PRESETS[p].num_layers} layers, "
                     f"{'/'.join(map(str, PRESETS[p].widths))} ch)", **common)
    elif name in LIVE_FIELDS:
        st.select_slider(label(name), options=slider_options(name, st.session_state[key]), format_func=_fmt_live,
                         on_change=_live_change, args=(name,), **{**common, "disabled": locked(name)})
    elif f.metadata["choices"] is not None:
        st.selectbox(label(name), list(f.metadata["choices"]), format_func=lambda c: choice_label(name, c), **common)
    elif f.type == "bool":
        st.toggle(label(name), **common)
    elif f.type in ("int", "float"):
        _number(name, common)
    else:
        st.text_input(label(name), **common)


def _number(name: str, common: dict[str, Any]) -> None:
    """A number input that stops at the field's range (from 0 where the field states none, or allows 0 besides)."""
    meta = FIELDS[name].metadata
    lo, hi = meta["range"] or (0, None)
    lo = min(lo, *meta["also"]) if meta["also"] else lo
    if FIELDS[name].type == "int":
        st.number_input(label(name), min_value=int(lo), max_value=None if hi is None else int(hi), step=1, **common)
        return
    v = float(st.session_state[common["key"]]) or 1.0
    step = 10.0 ** math.floor(math.log10(abs(v))) if v else 0.01
    st.number_input(label(name), min_value=float(lo), max_value=None if hi is None else float(hi), step=step,
                    format="%g", **common)


def live_controls(running: bool) -> None:
    """The sliders of the live fields, which act on a running run; a line says whether they do right now."""
    with st.container(border=True):
        st.markdown("**Change while it trains**")
        for name in LIVE_FIELDS:
            widget(name)
        lr = state.live(state.current_run_id()) if running else None
        if running and lr is not None and access.why_not(access_ui.identity(), lr.meta):
            st.caption("You are watching another session's run: these values are used by your next Start.")
        elif running:
            st.caption("A run is going: a change applies at its next batch and is marked on the charts.")
        else:
            st.caption("No run is going: these values are used by the next Start.")


def groups(disabled: bool = False) -> None:
    """Every other setting, in its group's expander; the fields without a label under "More settings"."""
    for title, names in train_groups():
        names = tuple(n for n in names if n not in LIVE_FIELDS)
        if not names:
            continue
        with st.expander(title, expanded=title in OPEN_GROUPS):
            for name in names:
                widget(name, disabled=disabled)
    with st.expander(MORE):
        for name in other_fields():
            if name not in SERVER_ONLY:  # where data lives is the server's setting (access_ui.apply_data_settings)
                widget(name, disabled=disabled)
        st.button("Restore the defaults", key="cfg_restore", on_click=lambda: load(defaults()),
                  disabled=disabled or current().classroom)


def sync_live(run_id: str, values_now: dict[str, float]) -> None:
    """Once per run: show the run's current live values (its config plus recorded changes) on the sliders."""
    if st.session_state.get(LIVE_SYNCED_KEY) != run_id:
        for name, value in values_now.items():
            st.session_state[PREFIX + name] = float(value)
        st.session_state[LIVE_SYNCED_KEY] = run_id


def _live_change(name: str) -> None:
    run_id = state.current_run_id()
    value = float(st.session_state[PREFIX + name])
    if state.is_managed_active(run_id):
        lr = state.live(run_id)
        if lr is None or not access_ui.guard(lr.meta, f"change {short_label(name)} of this run"):
            return  # the value stays on the slider for this session's next Start; the run is left alone
        state.manager().control(run_id).set(**{name: value})
        st.session_state[TOAST_KEY] = f"{short_label(name)} → {_fmt_live(value)} at the next batch"
