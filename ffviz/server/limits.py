"""The server's limits: what one run, one student and one upload may cost a shared server, stated once.

    limits = Limits.from_sources(os.environ, secrets)     # env FFVIZ_LIMIT_<NAME>, secrets.toml [limits] <name>
    check_run(cfg, limits, owner_active=1, queued=3)      # raises LimitError naming the limit and its value

Every path that starts training asks ``check_run`` first, whatever the request came from (the Train page, a link, an
uploaded run continued, Resume). The command line is the machine owner's own tool and stays unlimited.

The defaults let a 2-core laptop train the classroom presets and a GPU server the paper's ResNet-17 on CIFAR-10
(30.7 M parameters, 32 px, batch 128, 150 epochs), and refuse what would take either down: a 20,000-wide network
(54 GiB of parameters), 256 px CIFAR (44 GiB of images), a run of 10^9 epochs that holds a slot forever.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ffviz.config import RunConfig
from ffviz.data.registry import DATASETS
from ffviz.method.architecture import validate_widths
from ffviz.modes import get_mode

ENV_PREFIX = "FFVIZ_LIMIT_"
MiB, GiB = 1024 ** 2, 1024 ** 3


def _lim(default: int, help: str, unit: str = "") -> Any:
    return field(default=default, metadata={"help": help, "unit": unit})


@dataclass(frozen=True)
class Limits:
    max_parameters: int = _lim(50_000_000, "Parameters of one network (the paper's ResNet-17 has 30.7 M).")
    max_image_size: int = _lim(64, "Input image side in pixels.", "px")
    max_batch_size: int = _lim(1024, "Training and evaluation batch size.")
    max_epochs: int = _lim(300, "Epochs of one run, a continued or resumed run included.")
    max_sweep_epochs: int = _lim(50, "Epochs of each run of a sweep started from the app.")
    max_dataset_bytes: int = _lim(2 * GiB, "Bytes of a dataset's images as float32 tensors once loaded.", "bytes")
    max_runs_per_owner: int = _lim(2, "Runs one student (a person, or a browser session) may have training, "
                                   "paused or queued at once.")
    max_runs_per_client: int = _lim(4, "Runs the sessions of one client address (of one person, with school "
                                    "accounts or a proxy) may have training, paused or queued at once (fresh "
                                    "cookies do not multiply it).")
    max_cells_per_client: int = _lim(2, "Cells of one class experiment one client address (one person, with school "
                                     "accounts or a proxy) may hold.")
    max_sessions_per_client: int = _lim(16, "Open sessions (tabs) of one client address (of one person, with school "
                                        "accounts or a proxy); the teacher's are not counted.")
    max_queue: int = _lim(8, "Runs waiting for a free slot, all sessions together (sweeps' runs apart: they wait in "
                          "a queue of their own).")
    max_sweep_running: int = _lim(1, "Runs of sweeps training at once; the other slots stay for everyone's Starts, "
                                  "which also go ahead of sweeps' runs in the queue.")
    max_runs_bytes: int = _lim(5 * GiB, "Disk used by the runs folder (uploads apart).", "bytes")
    max_owner_bytes: int = _lim(1 * GiB, "Disk one student's runs may use in the runs folder.", "bytes")
    max_run_bytes: int = _lim(1 * GiB, "Disk one run's folder may use; a run that writes more stops.", "bytes")
    max_uploads_bytes: int = _lim(1 * GiB, "Disk used by one student's uploaded runs, and by those of one client "
                                  "address (one person, with school accounts or a proxy).", "bytes")
    max_upload_unpacked: int = _lim(256 * MiB, "Bytes one upload may unpack to.", "bytes")
    max_records_bytes: int = _lim(16 * MiB, "Bytes of one uploaded record log (batches.jsonl, epochs.jsonl...).",
                                  "bytes")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {f.name}={value!r} must be a whole number of at least 1")

    @classmethod
    def from_sources(cls, environ: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None,
                     overrides: Mapping[str, Any] | None = None) -> tuple[Limits, list[str]]:
        """The defaults, then ``secrets`` (a [limits] table of .streamlit/secrets.toml), then the environment
        (FFVIZ_LIMIT_MAX_EPOCHS=50), then ``overrides`` (the teacher's classroom settings). A value that is not a
        whole number of at least 1 is skipped with a note; the previous value holds."""
        values: dict[str, int] = {}
        notes: list[str] = []
        names = [f.name for f in dataclasses.fields(cls)]
        layers = [("secrets.toml [limits]", {k: v for k, v in (secrets or {}).items()}),
                  ("environment", {n: environ[ENV_PREFIX + n.upper()] for n in names
                                   if environ and ENV_PREFIX + n.upper() in environ}),
                  ("classroom settings", dict(overrides or {}))]
        for where, given in layers:
            for name, raw in given.items():
                if name not in names:
                    notes.append(f"{where}: {name} is not a limit (limits: {', '.join(names)}); ignored.")
                    continue
                value = _whole(raw)
                if value is None:
                    notes.append(f"{where}: {name}={raw!r} is not a whole number of at least 1; ignored.")
                    continue
                values[name] = value
        return cls(**values), notes

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, value as read by a person, what it bounds) for every limit: the README and the Runs page."""
        return [(f.name, format_limit(f.name, getattr(self, f.name)), f.metadata["help"])
                for f in dataclasses.fields(self)]


def _whole(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    try:
        value = int(str(raw).strip().replace("_", ""))
    except ValueError:
        return None
    return value if value >= 1 else None


def format_limit(name: str, value: int) -> str:
    unit = {f.name: f.metadata["unit"] for f in dataclasses.fields(Limits)}[name]
    if unit == "bytes":
        return f"{value / GiB:g} GiB" if value >= GiB else f"{value / MiB:g} MiB"
    if unit:
        return f"{value:,} {unit}"
    return f"{value:,}"


class LimitError(ValueError):
    """A run this server will not start: the message names the limit, its value and what to change."""


SMALLER = "Choose a smaller setting, or ask the teacher to raise the limit."


def _refuse(what: str, name: str, limits: Limits, todo: str = SMALLER) -> LimitError:
    """The refusal: what was asked, the limit it met, and what to do about it (not always a smaller setting)."""
    return LimitError(f"{what}; this server's limit {name} is {format_limit(name, getattr(limits, name))}. {todo}")


def count_parameters(cfg: RunConfig) -> int:
    """Parameters of cfg's network, by its mode's arithmetic (ffviz/modes.py): no memory, however large;
    ValueError when the widths cannot form a network for this data."""
    from ffviz.presets import resolve_widths

    channels, size, classes = dataset_shape(cfg)
    widths = resolve_widths(cfg.preset, cfg.widths)
    validate_widths(widths, classes, size)
    return get_mode(cfg.mode).count(in_channels=channels, num_classes=classes, image_size=size, widths=widths)


def dataset_shape(cfg: RunConfig) -> tuple[int, int, int]:
    """(channels, image side, classes) of the tensors cfg's dataset loads to."""
    info = DATASETS[cfg.dataset]
    return cfg.channels or info.channels, cfg.image_size or info.image_size, info.num_classes


def check_run(cfg: RunConfig, limits: Limits, *, owner_active: int = 0, queued: int = 0,
              runs_bytes: int = 0, new_run: bool = True, client_active: int = 0, owner_bytes: int = 0) -> None:
    """Raise LimitError when cfg (to cfg.epochs, a continuation's total included) is beyond a limit.

    ``owner_active``: runs this session already has training, paused or queued; ``client_active``: the same for
    every session of its client address; ``queued``: runs waiting on the whole server; ``runs_bytes``: disk the
    runs folder uses now, ``owner_bytes`` the part of it this session's runs use. ``new_run`` False for a
    continuation of a run already counted on disk (its folder exists)."""
    channels, size, _ = dataset_shape(cfg)
    if size > limits.max_image_size:
        raise _refuse(f"image_size={size} px is too large", "max_image_size", limits)
    for name in ("batch_size", "eval_batch_size"):
        if getattr(cfg, name) > limits.max_batch_size:
            raise _refuse(f"{name}={getattr(cfg, name)} is too large", "max_batch_size", limits)
    if cfg.epochs > limits.max_epochs:
        raise _refuse(f"{cfg.epochs} epochs is too many", "max_epochs", limits)
    info = DATASETS.get(cfg.dataset)
    data_bytes = (info.images if info else 0) * channels * size * size * 4
    if data_bytes > limits.max_dataset_bytes:
        raise _refuse(f"{cfg.dataset} at {size} px and {channels} channel(s) takes {data_bytes / GiB:.1f} GiB "
                      "in memory", "max_dataset_bytes", limits)
    # Checked wide before counting: a width of millions would take a while even on the meta device.
    if max(cfg.widths or (0,)) > 100_000:
        raise _refuse(f"widths={','.join(map(str, cfg.widths))} is too wide", "max_parameters", limits)
    try:
        n = count_parameters(cfg)
    except ValueError as e:  # widths that do not fit the image size: the network cannot be built at all
        raise LimitError(f"this network cannot be built: {e}") from None
    if n > limits.max_parameters:
        raise _refuse(f"this network has {n:,} parameters", "max_parameters", limits)
    if owner_active >= limits.max_runs_per_owner:
        raise _refuse(f"you already have {owner_active} run(s) training, paused or queued", "max_runs_per_owner",
                      limits, "Stop or wait for one of them (Runs page), then press Start again.")
    if client_active >= limits.max_runs_per_client:
        raise _refuse(f"the sessions of your address already have {client_active} run(s) training, paused or "
                      "queued", "max_runs_per_client", limits,
                      "Stop or wait for one of them (Runs page), then press Start again.")
    if queued >= limits.max_queue:
        raise _refuse(f"the queue is full: {queued} runs are already waiting for a free slot", "max_queue", limits,
                      "Your settings are fine: press Start again in a minute, when runs have finished, or ask the "
                      "teacher to stop some.")
    if new_run and owner_bytes > limits.max_owner_bytes:
        raise _refuse(f"your runs already use {owner_bytes / GiB:.2f} GiB of disk", "max_owner_bytes", limits,
                      "Delete some of your runs on the Runs page (download any you want to keep), then start again.")
    if new_run and runs_bytes > limits.max_runs_bytes:
        raise _refuse(f"the runs folder already uses {runs_bytes / GiB:.1f} GiB of disk", "max_runs_bytes", limits,
                      "Ask the teacher to delete some runs, then start again.")
