"""One validation of a run folder that arrives from outside (an uploaded archive, the authors' logs imported in a
worker): each file parses with the schema's types (ffviz/store/untrusted.py), and the files agree with each other,
so that no page that reads the run can raise on it.

    check_run_folder(stage, max_unpacked=..., max_records_bytes=...)   # quietly, or ValueError saying what is wrong

What "agree" means (each was a crash of a page for every classmate in the third review):
- every per-layer list of every record (epochs, batches, test) as long as the run's layers, which every snapshot and
  meta.json's num_layers state alike; best_layer one of them;
- epochs increasing, from 0 to at most MAX_EPOCH; a snapshot file for every epoch a view page scrubs (every epoch
  the records list, or those meta.json's snapshot_epochs names), holding that epoch;
- every number bounded and no float infinite (NaN stays allowed: the authors' logs mark what they lack with it, and
  figures draw it as a gap); whole numbers within MAX_INT (a 2**70 parameter count broke the Runs table);
- at most MAX_SNAPSHOT_FILES snapshots and record logs within max_records_bytes, whoever wrote the folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from ffviz.config import RunConfig
from ffviz.records import BatchRecord, EpochRecord, TestRecord
from ffviz.store.folder import RunFolder
from ffviz.store.storage import read_json
from ffviz.store.untrusted import (
    MAX_CLASSES,
    check_config_value,
    check_npz,
    check_probes,
    meta_problems,
    parse_record,
)

MAX_EPOCH = 10_000  # the authors' logs' bound too (ffviz/interop/authors_logs.py); a page's epoch scrubber loops them
MAX_SNAPSHOT_FILES = 1_001  # snapshots of one run: the epoch scrubber and W's history read each
MAX_FLOAT = 1e30  # beyond any accuracy, loss, time or goodness a run writes


def check_run_folder(stage: Path, *, max_unpacked: int, max_records_bytes: int) -> None:
    """Every file of a run folder parses, within its bound, and the files agree (see the module's docstring)."""
    folder = RunFolder(stage)
    config = read_json(folder.config)
    check_config_value(config, what=RunFolder.CONFIG)
    RunConfig.from_dict(config)
    meta = read_json(folder.meta) if folder.meta.exists() else {}
    problems = meta_problems({k: v for k, v in meta.items() if k not in ("owner", "uploaded")}
                             if isinstance(meta, dict) else meta)  # owner, time of receipt: the server's to write
    if problems:
        raise ValueError(f"{RunFolder.META}: {'; '.join(problems[:3])}")
    test = None
    if folder.test.exists():
        test = parse_record(read_json(folder.test))
        if not isinstance(test, TestRecord):
            raise ValueError(f"{RunFolder.TEST} is not a test record")
    logs = {kind: _read_jsonl(folder.log(log), kind, max_records_bytes)
            for log, kind in (("batches", "batch"), ("epochs", "epoch"), ("events", "event"))}
    if folder.probes.exists():
        check_probes(folder.probes)
    snaps = folder.snapshot_epochs()
    if len(snaps) > MAX_SNAPSHOT_FILES:
        raise ValueError(f"{len(snaps):,} snapshots; a run holds at most {MAX_SNAPSHOT_FILES:,}")
    layers_of = {ep: _snapshot_layers(folder, ep, max_unpacked) for ep in snaps}
    for ck in folder.checkpoints.glob("*.pt") if folder.checkpoints.exists() else []:
        _check_checkpoint(ck, max_unpacked)
    check_consistency(meta, logs["epoch"], logs["batch"], test, layers_of)


def _read_jsonl(path: Path, kind: str, max_bytes: int) -> list[Any]:
    """Every line a record of its kind, the file within max_bytes (checked before a line is read)."""
    if not path.exists():
        return []
    if path.stat().st_size > max_bytes:
        raise ValueError(f"{path.name} is {path.stat().st_size / 2**20:.0f} MiB; at most {max_bytes / 2**20:g} MiB")
    out = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = parse_record(json.loads(line))
            except (ValueError, RecursionError) as e:
                raise ValueError(f"{path.name} line {n}: {str(e)[:200] or 'nested too deeply'}") from None
            if rec.kind != kind:
                raise ValueError(f"{path.name} line {n} is a {rec.kind} record, not a {kind} record")
            if kind != "event":  # events are read for their marks only; they hold no per-layer list
                out.append(rec)
    return out


def _snapshot_layers(folder: RunFolder, epoch: int, max_unpacked: int) -> int:
    path = folder.snapshot(epoch)
    held_epoch, layers = check_npz(path, max_bytes=max_unpacked)
    if held_epoch != epoch:
        raise ValueError(f"{path.name} holds epoch {held_epoch}, not {epoch}")
    return layers


def _check_checkpoint(path: Path, max_unpacked: int) -> None:
    from ffviz.store.checkpoint import load_checkpoint  # torch: only for a folder with checkpoints
    from ffviz.store.untrusted import check_pickle_graph

    check_pickle_graph(path.read_bytes(), what=path.name)
    ck = load_checkpoint(path, max_bytes=max_unpacked)
    if isinstance(ck, dict) and "config" in ck:
        check_config_value(ck["config"], what=f"{path.name}'s config")


def check_consistency(meta: dict[str, Any], epochs: list[EpochRecord], batches: list[BatchRecord],
                      test: TestRecord | None, layers_of: dict[int, int]) -> None:
    """The records, meta.json and snapshots of one run agree (ValueError naming the first disagreement)."""
    layers = _layers(meta, epochs, layers_of)
    numbers = [e.epoch for e in epochs]
    increasing = all(a < b for a, b in zip(numbers, numbers[1:], strict=False))
    if not increasing or any(not 0 <= n <= MAX_EPOCH for n in numbers):
        raise ValueError(f"epochs.jsonl's epochs {_few(numbers)} are not increasing from 0 to at most {MAX_EPOCH:,}")
    if not 0 <= meta.get("epochs_done", 0) <= MAX_EPOCH:
        raise ValueError(f"meta.json: epochs_done={meta['epochs_done']} is not between 0 and {MAX_EPOCH:,}")
    if not 0 < meta.get("num_classes", 1) <= MAX_CLASSES:
        raise ValueError(f"meta.json: num_classes={meta['num_classes']} is not between 1 and {MAX_CLASSES:,}")
    for rec in [*epochs, *batches, *([test] if test else [])]:
        _check_record_values(rec, layers)
    held = meta.get("snapshot_epochs")
    viewed = [n for n in numbers if n in set(held)] if isinstance(held, list) else numbers
    missing = [n for n in (viewed or numbers) if n not in layers_of]
    if missing:
        raise ValueError(f"no snapshot for epoch(s) {_few(missing)}, which the records list; each needs "
                         "snapshots/epoch_NNNN.npz")


def _layers(meta: dict[str, Any], epochs: list[EpochRecord], layers_of: dict[int, int]) -> int | None:
    """The run's number of layers, as every source that states it states it alike; None when none does."""
    stated = {("snapshot", ep): n for ep, n in layers_of.items()}
    if isinstance(meta.get("num_layers"), int):
        stated[("meta.json", "num_layers")] = meta["num_layers"]
    if epochs:
        stated[("epochs.jsonl", "val_acc")] = len(epochs[0].val_acc)
    values = set(stated.values())
    if len(values) > 1:
        a, b = sorted(values)[:2]
        raise ValueError(f"the run's files disagree on its number of layers: {a} in "
                         f"{next(k for k, v in stated.items() if v == a)}, {b} in "
                         f"{next(k for k, v in stated.items() if v == b)}")
    return values.pop() if values else None


def _check_record_values(rec: Any, layers: int | None) -> None:
    """Every number of a record bounded, no float infinite; every per-layer list as long as the run's layers."""
    for f in dataclasses.fields(rec):
        value = getattr(rec, f.name)
        per_layer = [value] if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
        if f.name in ("lambdas", "schedules", "changes"):
            per_layer = []  # by regularizer name, not by layer
        for v in per_layer:
            if isinstance(v, list) and layers is not None and len(v) != layers:
                raise ValueError(f"{rec.kind} record of epoch {rec.epoch}: {f.name} has {len(v)} entries for a run "
                                 f"of {layers} layers")
        for x in _numbers(value):
            if isinstance(x, float) and math.isinf(x) or abs(x) > MAX_FLOAT:
                raise ValueError(f"{rec.kind} record of epoch {rec.epoch}: {f.name} holds {x}; numbers must be "
                                 "finite (NaN marks a value the run does not have)")
    best = getattr(rec, "best_layer", -1)
    if layers is not None and not -1 <= best < layers:
        raise ValueError(f"{rec.kind} record of epoch {rec.epoch}: best_layer={best} is not one of {layers} layers")


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        return [value] if not math.isnan(value) else []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [x for v in value for x in _numbers(v)]
    return []


def _few(xs: list[int]) -> str:
    return ", ".join(map(str, xs[:5])) + (" …" if len(xs) > 5 else "")
