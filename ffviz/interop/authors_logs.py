"""The training logs of the authors' CAW-Conv ResNet scripts (at c4514393), opened as an ffviz run.

    python -m ffviz import-logs results/20261204-020000_cifar10_resnet --dataset cifar10
    run_dir = import_logs(Path("that folder"), "runs")

What their scripts write, and the bounds on it, are in authors_format.py; the weights file's reader is
authors_weights.py, the records authors_records.py. This module reads a folder and writes the run.

An ffviz epoch e is "e epochs trained", so their "Epoch 10" block is ffviz epoch 10 and info's row 10 is too. What
the logs hold becomes the epoch records (validation accuracy of the α vote and of the plain sum, each layer's training
loss and α = softmax(-loss) as their script computes it, the orthogonality term, lr, seconds per epoch), each W block a
snapshot, and the last row and layer_acc.csv the test record. What they do not hold (per-layer validation accuracy,
goodness, entropy, the temperature) is NaN, and the config says which of its fields came from the files and which
are unknown (meta.json ``config_sources``).

The folder is untrusted, as an upload: every file is bounded in size, every number must be finite and in range,
layer, channel, class and epoch counts are bounded, and a folder that is not theirs is refused naming what is missing.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ffviz import records
from ffviz.config import RunConfig
from ffviz.data import DATASETS
from ffviz.interop.authors_format import (
    CLASS_NAMES,
    AuthorsLogs,
    AuthorsLogsError,
    find_file,
    read_accuracy,
    read_info,
    read_layer_acc,
    read_layer_losses,
    read_ortho,
)
from ffviz.interop.authors_records import (
    CONFIG_FROM_LOGS,
    UNKNOWN,
    epoch_records,
    guess_dataset,
    logs_config,
    snapshot,
    test_record,
    widths_of,
)
from ffviz.interop.authors_weights import read_weights
from ffviz.store.folder import RunFolder
from ffviz.store.run_checks import MAX_SNAPSHOT_FILES
from ffviz.store.runs import new_run_dir
from ffviz.store.storage import atomic_write_json


def read_logs(folder: Path | str) -> AuthorsLogs:
    """Every file of a folder of their logs, read and checked; AuthorsLogsError on the first thing that is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AuthorsLogsError(f"{folder} is not a folder; give the folder that holds info_17L.csv and the other logs")
    info_path = find_file(folder, "info_*.csv", "info", required=True)
    losses_path = find_file(folder, "layer_losses_*.csv", "layer-loss", required=True)
    weights_path = find_file(folder, "all_epochs_layer_weights.txt", "weights", required=True)
    info, planned = read_info(info_path)
    losses = read_layer_losses(losses_path)
    weights, shapes, notes = read_weights(weights_path)
    layers = len(shapes)
    if losses and len(losses[0]) != layers:
        raise AuthorsLogsError(f"{losses_path.name} has {len(losses[0])} layers, {weights_path.name} {layers}: not "
                               f"one run's files")
    if len(losses) > len(info):
        raise AuthorsLogsError(f"{losses_path.name} has {len(losses)} epochs of losses, {info_path.name} only "
                               f"{len(info)} epochs: not one run's files")
    if (n := int(info[0]["end_layer"])) >= layers:
        raise AuthorsLogsError(f"{info_path.name} names layer {n}; the weights file has {layers} layers")
    logs = AuthorsLogs(info=info, planned_epochs=planned, layer_losses=losses, shapes=[shapes[i] for i in
                                                                                        range(layers)], notes=notes)
    logs.weights = {ep: ws for ep, ws in weights.items() if all(w is not None for w in ws) and ep <= len(info)}
    skipped = sorted(ep for ep, ws in weights.items() if ep <= len(info) and any(w is None for w in ws))
    if skipped and not notes:
        logs.notes.append(f"their weights file has no W at epoch(s) {', '.join(map(str, skipped))} (their script "
                          f"writes 'No weights available' before the first forward pass)")
    if (p := find_file(folder, "ortho_metrics_*.csv", "orthogonality", required=False)) is not None:
        logs.ortho_loss, logs.ortho_score = read_ortho(p, layers)
    if (p := folder / "accuracy.csv").is_file():
        logs.accuracy = read_accuracy(p)
    if (p := folder / "layer_acc.csv").is_file():
        logs.layer_acc = read_layer_acc(p, layers)
    return logs


def import_logs(folder: Path | str, runs_root: Path | str, *, dataset: str | None = None,
                name: str | None = None) -> Path:
    """Read, check and write a folder of the authors' logs as a finished ffviz run under runs_root."""
    folder = Path(folder)
    logs = read_logs(folder)
    if len(logs.weights) > MAX_SNAPSHOT_FILES:  # refused before a snapshot is written
        raise AuthorsLogsError(f"their weights file holds W at {len(logs.weights):,} epochs; a run holds at most "
                               f"{MAX_SNAPSHOT_FILES:,} snapshots")
    dataset, ds_source = _dataset(folder, logs, dataset)
    cfg = logs_config(logs, dataset=dataset)
    title = name or f"authors' logs {folder.resolve().name}"[:80]
    runs_root = Path(runs_root)
    runs_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=runs_root, prefix=".import-") as tmp:
        stage = Path(tmp) / "run"  # written whole before it is moved in: a reader never sees half a run
        _write_run(stage, logs, cfg)
        atomic_write_json(RunFolder(stage).meta, _meta(folder, logs, cfg, title, ds_source))
        _within_upload_bounds(stage)
        run_dir = new_run_dir(runs_root, cfg, title)
        run_dir.rmdir()
        shutil.move(str(stage), run_dir)
    return run_dir


def _within_upload_bounds(stage: Path) -> None:
    """The folder it wrote passes the one check every run from outside passes (ffviz/store/run_checks.py): as many
    snapshots and as large a record log as an uploaded archive may hold, every file agreeing with the others."""
    from ffviz.store.archive import MAX_RECORDS_BYTES, MAX_UNPACKED_BYTES
    from ffviz.store.run_checks import check_run_folder

    try:
        check_run_folder(stage, max_unpacked=MAX_UNPACKED_BYTES, max_records_bytes=MAX_RECORDS_BYTES)
    except ValueError as e:
        raise AuthorsLogsError(f"these logs make a run beyond what an upload may hold: {e}") from None


def _dataset(folder: Path, logs: AuthorsLogs, dataset: str | None) -> tuple[str, str]:
    """(the dataset, where that came from): the one given, checked against the logs' class count, else a guess."""
    k = logs.shapes[0][1]
    if not dataset:
        return guess_dataset(folder, k)
    try:
        name = RunConfig(dataset=dataset).dataset
    except ValueError as e:
        raise AuthorsLogsError(str(e)) from None
    if DATASETS[name].num_classes != k:
        raise AuthorsLogsError(f"{name} has {DATASETS[name].num_classes} classes; these logs have {k}")
    return name, "given on import"


def _finished(logs: AuthorsLogs) -> bool:
    return logs.planned_epochs is None or len(logs.info) >= logs.planned_epochs


def _write_run(stage: Path, logs: AuthorsLogs, cfg: RunConfig) -> None:
    """The run's config, records and snapshots (its meta is _meta's)."""
    folder = RunFolder(stage)
    folder.snapshots.mkdir(parents=True)
    atomic_write_json(folder.config, cfg.to_dict())
    with open(folder.log("epochs"), "w") as f:
        for rec in epoch_records(logs, cfg):
            f.write(json.dumps(records.to_dict(rec), allow_nan=True) + "\n")
    folder.log("batches").write_text("")
    folder.log("events").write_text("")
    if _finished(logs):
        atomic_write_json(folder.test, records.to_dict(test_record(logs)))
    for ep, ws in sorted(logs.weights.items()):
        np.savez(folder.snapshot(ep), **snapshot(ep, ws).to_arrays())


def _config_sources(logs: AuthorsLogs, cfg: RunConfig, ds_source: str) -> dict[str, str]:
    """Where each of the config's settings came from: the logs, the import, or unknown (their script's value)."""
    sources = {f: CONFIG_FROM_LOGS.get(f, UNKNOWN) for f in ("preset", "widths", "epochs", "mode", "lr", "lr_min",
                                                             "weight_decay", "batch_size", "lambda_entropy",
                                                             "lambda_orth", "orth_scaling", "seed")}
    sources["dataset"] = ds_source
    widths = "/".join(map(str, widths_of(logs.shapes)))
    sources["preset"] = f"all_epochs_layer_weights.txt (the layers' shapes: widths {widths})"
    if not cfg.widths:  # a preset of those widths: the preset says them
        sources.pop("widths")
    return sources


def _meta(folder: Path, logs: AuthorsLogs, cfg: RunConfig, title: str, ds_source: str) -> dict[str, Any]:
    k, known = logs.shapes[0][1], not ds_source.startswith("unknown")
    class_names = CLASS_NAMES.get(cfg.dataset) if known else None
    held = ", ".join(map(str, sorted(logs.weights))) or "none"
    return {
        "name": title, "status": "finished" if _finished(logs) else "stopped",
        "created": dt.datetime.now().isoformat(timespec="seconds"), "device": "unknown",
        "num_parameters": None, "num_layers": logs.num_layers, "widths": list(widths_of(logs.shapes)),
        "dataset": cfg.dataset if known else f"unknown ({cfg.dataset}?)",
        "num_classes": k, "class_names": class_names or [str(i) for i in range(k)], "epochs_done": len(logs.info),
        "train_time": float(sum(r["train_time"] for r in logs.info)), "pid": None, "error": None,
        "imported_from": folder.resolve().name, "source_format": "authors' CAW-Conv training logs (c4514393)",
        "snapshot_epochs": sorted(logs.weights), "config_sources": _config_sources(logs, cfg, ds_source),
        "note": "imported from the authors' training logs: validation accuracy of their α vote and plain sum, "
                f"each layer's training loss and α, the orthogonality term and lr per epoch; W at epochs {held}. "
                "Not in their logs (shown as gaps): per-layer validation accuracy, goodness, entropy, temperature."
                + "".join(f" Note: {n}." for n in logs.notes),
    }


def meta_sources(meta: dict[str, Any]) -> dict[str, str]:
    """The run meta's config_sources, as plain strings (empty for a run that was not imported from logs)."""
    src = meta.get("config_sources")
    if not isinstance(src, dict):
        return {}
    return {str(k)[:40]: str(v)[:200] for k, v in list(src.items())[:40]}
