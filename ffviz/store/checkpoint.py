"""Checkpoints: tensors and plain data only, so they load with ``torch.load(weights_only=True)``.

A checkpoint carries its own config, the epoch it ends, the model and optimizer state and every RNG state, so a run
resumed from it continues exactly as if it had never stopped. Nothing that needs pickle's code execution is ever
written or read.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch

from ffviz.store.storage import atomic_write
from ffviz.store.untrusted import check_config_value, check_tensors, check_zip_entries

FORMAT = "ffviz-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a checkpoint ffviz can load; the message says why and what to do."""


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a crash leaves the previous checkpoint, never half of a new one."""
    payload = {"format": FORMAT, "version": FORMAT_VERSION, **payload}
    atomic_write(Path(path), lambda f: torch.save(payload, f))


def load_checkpoint(source: Path | bytes, *, map_location: str | torch.device = "cpu",
                    max_bytes: int | None = None) -> dict[str, Any]:
    """Load and check a checkpoint; raise CheckpointError with a clear message for anything else.

    ``max_bytes`` (an untrusted file: an upload): before torch.load, every zip entry must be stored uncompressed and
    all together within max_bytes; after it, no tensor may repeat a smaller storage (see ffviz/store/untrusted.py)."""
    name = str(source) if isinstance(source, (str, Path)) else "the uploaded file"
    try:
        data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    except OSError as e:
        raise CheckpointError(f"cannot read {name}: {e.strerror or e}") from None
    if not data:
        raise CheckpointError(f"{name} is empty; choose an ffviz checkpoint (.pt) file")
    if max_bytes is not None:
        try:
            check_zip_entries(data, max_unpacked=max_bytes, what=name)
        except ValueError as e:
            raise CheckpointError(str(e)) from None
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{name} holds objects other than tensors and plain data, so it was not loaded "
                              f"(only ffviz checkpoints are accepted): {str(e).splitlines()[0]}") from None
    except Exception as e:  # torch reports a corrupt file in many ways (RuntimeError, BadZipFile, KeyError...)
        raise CheckpointError(f"{name} is not a readable PyTorch checkpoint (truncated or corrupt?): "
                              f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{name} is a PyTorch file but not an ffviz checkpoint")
    version = payload.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{name} was written by a newer ffviz (format version {version}; this one reads up to "
                              f"{FORMAT_VERSION}); upgrade ffviz to open it")
    if max_bytes is not None:
        try:
            check_tensors(payload, max_bytes=max_bytes, what=name)
        except ValueError as e:
            raise CheckpointError(str(e)) from None
    return payload


def resume_checkpoint(run_dir: Path | str, *, epochs: int | None = None) -> dict[str, Any]:
    """A run folder's newest checkpoint, to continue it: its config is the run's own config.json (the one an upload
    was checked by, and the server checks against its limits on Continue), checked again here, never the config the
    checkpoint carries, of which only the live hyperparameters (changed while it trained, each within its range) are
    kept. ``epochs``: the number it now trains to."""
    from ffviz.config import LIVE_FIELDS, RunConfig
    from ffviz.store.folder import RunFolder
    from ffviz.store.storage import read_json

    folder = RunFolder(run_dir)
    path = folder.newest_checkpoint()
    if path is None:
        raise FileNotFoundError(f"{run_dir} has no checkpoint to resume from (it never finished an epoch)")
    checked = read_json(folder.config)
    check_config_value(checked, what=RunFolder.CONFIG)
    ck = load_checkpoint(path)
    carried = ck.get("config") if isinstance(ck.get("config"), dict) else {}
    live = {k: carried[k] for k in LIVE_FIELDS if k in carried and isinstance(carried[k], (int, float))}
    cfg = RunConfig.from_dict({**checked, **live, **({"epochs": int(epochs)} if epochs is not None else {})})
    ck["config"] = cfg.to_dict()
    return ck
