"""Share links: the state of a screen as flat URL query parameters, and back, without ever failing.

    params = encode(ShareState(page="train", config={"lambda_entropy": 0.03, "seed": 7}, hide=("lr",), lock_all=True))
    # {"page": "train", "lambda_entropy": "0.03", "seed": "7", "hide": "lr", "lock": "all"}
    state, notes = decode(st.query_params.to_dict(), known_runs=ids)     # share_ui.apply_link

A link carries the page, the run it shows, every RunConfig field that differs from the defaults (by field name), the
seed (always), the epoch and layer of a view page, the runs of a comparison, and a teacher's ``hide=`` and ``lock=``
lists of control names, as in TF Playground's classroom links. ``lock=all`` locks every setting that is not hidden
and leaves the run buttons and the view pickers alone: students train and explore the teacher's configuration; a
button or picker is locked by naming it.

Links come from anyone, so ``decode`` never raises: an unknown key, a value of the wrong type, an unknown run or
control is dropped; a number out of range is clamped to the range. Each of these adds a note that says what happened,
for the page to show. A setting the server owns (where datasets live) cannot be set by a link.

What a setting may hold is RunConfig's to say (ffviz/config.py: its type, range and rules); the pages a link may
name are the app's table (keys.py). No Streamlit here: the codec is tested without a UI.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from ffviz.config import EXPECTED, FIELDS, RunConfig, field_info, parse, parse_int
from ffviz.data.registry import dataset_names, resolve_name
from ffviz.presets import PRESETS
from ffviz.store.folder import is_folder_name
from pages.common.frame.keys import PAGE_NAMES as PAGES
from pages.common.frame.keys import VIEW_PAGES as VIEW_PAGES

# Settings that belong to the server, not to a screen: a link may not point the server at another folder.
SERVER_ONLY = ("data_root",)
CONFIG_FIELDS = tuple(f.name for f in field_info() if f.name not in SERVER_ONLY)
# What a teacher can hide or lock, by name: every setting, the run buttons, the run picker, the view pickers.
BUTTONS = ("start", "pause", "step", "resume", "stop", "reset", "retrain")
CONTROLS = (*CONFIG_FIELDS, *BUTTONS, "run_picker", "epoch", "layer")
LOCK_ALL = "all"  # lock=all: every setting (a RunConfig field), not the buttons and pickers
SETTINGS = tuple(f.name for f in field_info())
# Query parameters Streamlit itself reads; left alone, without a note.
STREAMLIT_KEYS = ("embed", "embed_options")
# Keys a page reads itself from the URL (the Sweep page: which sweep, and a class experiment's join link).
PAGE_KEYS = ("sweep", "join")
KEYS = (*CONFIG_FIELDS, "page", "run", "epoch", "layer", "compare", "hide", "lock", *PAGE_KEYS)  # what a link may use
MAX_PARAMS = 100  # a link with more parameters is cut here (the rest is noted, not read)
MAX_VALUE_CHARS = 2000
MAX_COMPARE = 8

# Inclusive bounds a link's numbers are clamped to: each field's range, its top cut to its link_max where it has one.
RANGES: dict[str, tuple[float, float]] = {
    name: (f.metadata["range"][0], f.metadata["link_max"] or f.metadata["range"][1])
    for name, f in FIELDS.items() if f.metadata["range"] and f.type in ("int", "float")}
MAX_STAGES = 5  # a link's widths: at most this many stages, each within the field's range and link_max
_FIELDS = FIELDS
_DEFAULTS = dataclasses.asdict(RunConfig())  # widths stay a tuple, as decode makes them


@dataclass(frozen=True)
class ShareState:
    """What a link says about a screen. ``config`` holds typed values of the fields that differ from the defaults."""

    page: str | None = None
    run: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    epoch: int | None = None
    layer: int | None = None
    compare: tuple[str, ...] = ()
    hide: tuple[str, ...] = ()
    lock: tuple[str, ...] = ()
    lock_all: bool = False

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", _DEFAULTS["seed"]))

    @property
    def classroom(self) -> bool:
        """True when the link hides or locks anything (a teacher's link)."""
        return bool(self.hide or self.lock or self.lock_all)

    def run_config(self) -> RunConfig:
        """The defaults with this link's settings on top (decode has checked that they validate together)."""
        return RunConfig.from_dict({**_DEFAULTS, **self.config})

    def is_hidden(self, control: str) -> bool:
        return control in self.hide

    def is_locked(self, control: str) -> bool:
        return not self.is_hidden(control) and ((self.lock_all and control in SETTINGS) or control in self.lock)


def config_changes(cfg: RunConfig) -> dict[str, Any]:
    """The fields of cfg that differ from the defaults, plus the seed (a link always states it)."""
    d = dataclasses.asdict(cfg)
    out = {k: d[k] for k in CONFIG_FIELDS if d[k] != _DEFAULTS[k]}
    out["seed"] = d["seed"]
    return out


# ----------------------------------------------------------------------------------------------------- encode
def format_value(value: Any) -> str:
    """A config value as it reads in a URL: 0.03, 1e-05, true, 20,40."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def encode(state: ShareState) -> dict[str, str]:
    """Flat query parameters, in a stable order: page, run, settings (seed included), view, comparison, teacher."""
    out: dict[str, str] = {}
    if state.page:
        out["page"] = state.page
    if state.run:
        out["run"] = state.run
    config = {**state.config, "seed": state.seed}
    for name in CONFIG_FIELDS:
        if name in config:
            out[name] = format_value(config[name])
    for key in ("epoch", "layer"):
        if getattr(state, key) is not None:
            out[key] = str(getattr(state, key))
    if state.compare:
        out["compare"] = ",".join(state.compare)
    if state.hide:
        out["hide"] = ",".join(state.hide)
    if state.lock_all or state.lock:
        out["lock"] = ",".join(([LOCK_ALL] if state.lock_all else []) + list(state.lock))
    return out


def share_url(base: str, state: ShareState) -> str:
    """The link itself: base URL of the app, the page's path, the parameters (commas left readable)."""
    path = "" if state.page in (None, "home") else state.page
    query = urlencode(encode(state), safe=",")
    return f"{base.rstrip('/')}/{path}" + (f"?{query}" if query else "")


# ----------------------------------------------------------------------------------------------------- decode
def decode(params: Mapping[str, Any], *, known_runs: Collection[str] | None = None
           ) -> tuple[ShareState, list[str]]:
    """The ShareState a link describes, and notes on whatever in it was ignored or clamped. Never raises.

    ``params``: query parameters (a value may be a list: the last one counts). ``known_runs``: the run ids that
    exist here; when given, a run the link names that is not among them is dropped with a note.
    """
    try:
        return _decode(params, known_runs)
    except Exception as e:  # a bug must not turn a bad link into a traceback; the tests fuzz _decode directly
        return ShareState(), [f"The link's parameters could not be read ({type(e).__name__}); opened with defaults."]


def _decode(params: Mapping[str, Any], known_runs: Collection[str] | None) -> tuple[ShareState, list[str]]:
    notes: list[str] = []
    values: dict[str, Any] = {"config": {}}
    items = list(params.items()) if isinstance(params, Mapping) else []
    if len(items) > MAX_PARAMS:
        notes.append(f"The link has {len(items)} parameters; only the first {MAX_PARAMS} were read.")
        items = items[:MAX_PARAMS]
    for raw_key, raw in items:
        key = str(raw_key).strip().lower()
        value = _last(raw)
        if key in STREAMLIT_KEYS or key in PAGE_KEYS:
            continue
        if len(value) > MAX_VALUE_CHARS:
            notes.append(f"Ignored {_show(key)}: its value is {len(value)} characters long.")
            continue
        if key in SERVER_ONLY:
            notes.append(f"Ignored {_show(key)}: where the server keeps its data cannot be set from a link.")
        elif key in CONFIG_FIELDS:
            parsed = _config_value(key, value, notes)
            if parsed is not None:
                values["config"][key] = parsed
        elif key in _READERS:
            values.update(_READERS[key](key, value, known_runs, notes))
        else:
            notes.append(f"Ignored the link parameter {_show(key)}: not a setting ffviz knows"
                         f"{_suggest(key, KEYS)}.")
    values["config"] = _consistent(values["config"], notes)
    if values.get("run") is None:
        values.pop("run", None)
    return ShareState(**values), notes


def _read_page(key: str, value: str, known: Collection[str] | None, notes: list[str]) -> dict[str, Any]:
    page = value.strip().lower().removeprefix("/").removesuffix(".py") or "home"
    if page in PAGES:
        return {"page": page}
    notes.append(f"Ignored page={_show(value)}: there is no such page (pages: {', '.join(PAGES)}).")
    return {}


def _read_run(key: str, value: str, known: Collection[str] | None, notes: list[str]) -> dict[str, Any]:
    return {"run": _run_id(value.strip(), known, notes, "run")} if value.strip() else {}  # None: dropped at the end


def _read_index(key: str, value: str, known: Collection[str] | None, notes: list[str]) -> dict[str, Any]:
    """epoch= or layer=: a whole number, at least 0."""
    n = _int(value)
    if n is None:
        notes.append(f"Ignored {key}={_show(value)}: expected a whole number.")
        return {}
    if n < 0:
        notes.append(f"{key}={n} is below 0; using 0.")
        return {key: 0}
    return {key: n}


def _read_compare(key: str, value: str, known: Collection[str] | None, notes: list[str]) -> dict[str, Any]:
    ids = [i.strip() for i in value.split(",") if i.strip()]
    ids = [r for i in dict.fromkeys(ids) if (r := _run_id(i, known, notes, "compare")) is not None]
    if len(ids) > MAX_COMPARE:
        notes.append(f"compare names {len(ids)} runs; the first {MAX_COMPARE} are shown.")
    return {"compare": tuple(ids[:MAX_COMPARE])}


def _read_controls(key: str, value: str, known: Collection[str] | None, notes: list[str]) -> dict[str, Any]:
    """hide= or lock=: control names; lock=all locks every control."""
    out: dict[str, Any] = {}
    names = [n.strip().lower() for n in value.split(",") if n.strip()]
    if key == "lock" and LOCK_ALL in names:
        out["lock_all"] = True
        names = [n for n in names if n != LOCK_ALL]
    unknown = [n for n in names if n not in CONTROLS]
    if unknown:
        notes.append(f"Ignored {key}={', '.join(_show(n) for n in unknown)}: no control by that name"
                     f"{_suggest(unknown[0], CONTROLS)}.")
    out[key] = tuple(dict.fromkeys(n for n in names if n in CONTROLS))
    return out


# How each of a link's own parameters (beside RunConfig's fields) is read: (key, text, known runs, notes) -> the
# ShareState values it sets, a note for whatever it ignored or clamped.
_READERS = {"page": _read_page, "run": _read_run, "epoch": _read_index, "layer": _read_index,
            "compare": _read_compare, "hide": _read_controls, "lock": _read_controls}


def _last(raw: Any) -> str:
    if isinstance(raw, (list, tuple)):
        raw = raw[-1] if raw else ""
    return raw if isinstance(raw, str) else str(raw)


def _show(text: str, limit: int = 40) -> str:
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _run_id(value: str, known: Collection[str] | None, notes: list[str], key: str) -> str | None:
    if not is_folder_name(value):
        notes.append(f"Ignored {key}={_show(value)}: not a run name.")
        return None
    if known is not None and value not in known:
        notes.append(f"The run {_show(value)} named in the link ({key}=) is not on this server; it is not shown.")
        return None
    return value


def _int(text: str) -> int | None:
    try:
        return parse_int(text.strip())
    except (ValueError, OverflowError):
        return None


def _config_value(name: str, text: str, notes: list[str]) -> Any:
    """One setting from its URL text, typed (config.parse) and in its range; None (with a note) when it cannot be
    used. Rules that tie settings together are RunConfig's: ``_consistent`` applies them to the whole link."""
    f = _FIELDS[name]
    text = text.strip()
    if f.metadata["choices"] is not None:
        choice = text.lower()
        if choice not in f.metadata["choices"]:
            notes.append(f"Ignored {name}={_show(text)}: choose one of {', '.join(f.metadata['choices'])}.")
            return None
        return choice
    if name == "dataset":
        try:
            return resolve_name(text)
        except ValueError:
            notes.append(f"Ignored dataset={_show(text)}: choose one of {', '.join(dataset_names())}.")
            return None
    if name == "preset":
        if text not in PRESETS:
            notes.append(f"Ignored preset={_show(text)}: choose one of {', '.join(PRESETS)}.")
            return None
        return text
    try:
        value = parse(name, text)
    except ValueError:
        notes.append(f"Ignored {name}={_show(text)}: expected {EXPECTED.get(f.type, f.type)}.")
        return None
    if f.type == "tuple[int, ...]":
        lo, hi = f.metadata["range"][0], f.metadata["link_max"]
        if len(value) > MAX_STAGES or any(not lo <= w <= hi for w in value):
            notes.append(f"Ignored {name}={_show(text)}: at most {MAX_STAGES} stages of {lo} to {hi} channels.")
            return None
        return value
    if name in RANGES and value not in f.metadata["also"]:
        return _clamp(name, value, notes, type(value))
    return value


def _clamp(name: str, value: float, notes: list[str], cast: type) -> Any:
    lo, hi = RANGES[name]
    if value < lo or value > hi:
        clamped = cast(min(max(value, lo), hi))
        shown = format_value(cast(value))
        shown = shown if len(shown) <= 24 else shown[:20] + "…"
        notes.append(f"{name}={shown} is out of range ({format_value(cast(lo))} to {format_value(cast(hi))}); "
                     f"using {format_value(clamped)}.")
        return clamped
    return cast(value)


_FIELD_IN_MESSAGE = re.compile(r"^([a-z_]+)=")


def _consistent(config: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Drop settings that are fine alone but not together (lr_min above lr, ...), naming each, until they validate."""
    config = dict(config)
    for _ in range(len(config) + 1):
        try:
            RunConfig.from_dict({**_DEFAULTS, **config})
            return {k: v for k, v in config.items() if v != _DEFAULTS[k] or k == "seed"}
        except (ValueError, TypeError) as e:
            message = str(e)
            m = _FIELD_IN_MESSAGE.match(message)
            named = m.group(1) if m and m.group(1) in config else next(
                (k for k in config if re.search(rf"\b{k}\b", message)), None)
            if named is None:
                break
            notes.append(f"Ignored {named}={format_value(config.pop(named))}: {message}.")
    if config:
        notes.append("Ignored the link's settings: they do not make a valid configuration together.")
    return {}


def fit_to_run(state: ShareState, epochs: Sequence[int], num_layers: int) -> tuple[ShareState, list[str]]:
    """Clamp the link's epoch and layer to what the run it opens has; notes for what moved."""
    notes = []
    epoch, layer = state.epoch, state.layer
    if epoch is not None and epochs:
        lo, hi = min(epochs), max(epochs)
        if not lo <= epoch <= hi:
            notes.append(f"epoch={epoch} is outside this run's epochs ({lo} to {hi}); showing epoch "
                         f"{min(max(epoch, lo), hi)}.")
            epoch = min(max(epoch, lo), hi)
    if layer is not None and num_layers > 0 and layer >= num_layers:
        notes.append(f"layer={layer}: this network has layers 0 to {num_layers - 1}; showing layer {num_layers - 1}.")
        layer = num_layers - 1
    return dataclasses.replace(state, epoch=epoch, layer=layer), notes
