"""The catalogue of runs the app knows: one summary row per run folder, wherever it came from.

    rows = scan_runs({"shipped": Path("assets/runs"), "local": Path("runs")})
    data = export_archive(rows[0].dir)            # a .zip of the run folder, for download
    new_dir = import_upload(data, Path("runs/uploaded"))   # a run archive or a bare checkpoint

Uploads are untrusted: archives are unpacked member by member with every name and size checked, checkpoints are read
with weights-only loading (see ffviz/store/checkpoint.py), and nothing lands in the runs folder until it all checked
out.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ffviz import regularizers
from ffviz.config import RunConfig
from ffviz.env import positive_int
from ffviz.records import TestRecord
from ffviz.store.filecache import cached_build
from ffviz.store.folder import ACTIVE, RunFolder, is_archive_member
from ffviz.store.runs import RunReader, init_run_dir, new_run_dir, owner_of, update_meta
from ffviz.store.runstate import run_state
from ffviz.store.storage import atomic_write_json, read_json
from ffviz.store.untrusted import (
    META_TYPES,
    check_npz,
    check_pickle_graph,
    check_probes,
    clean_meta,
    meta_problems,
    parse_record,
)

# Largest upload accepted, and the most an archive may unpack to (a zip bomb stops here).
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
MAX_UNPACKED_BYTES = 256 * 1024 * 1024  # ffviz.server.limits.Limits.max_upload_unpacked; the app passes the server's
MAX_RECORDS_BYTES = 16 * 1024 * 1024  # one record log (Limits.max_records_bytes)
MAX_SNAPSHOT_FILES = 1_001  # snapshots of one run: epoch 0 to 1,000 (the app's own runs stop at max_epochs)
PRIVATE_META = ("owner", "pid", "client", "max_bytes")  # meta.json keys that stay on this server (a session token,
# a process id, the client address that started it, the disk it may use)
# What a run folder may contain; anything else in an archive is refused.


class UploadError(ValueError):
    """An uploaded file that cannot become a run; the message says why and what to do."""


@dataclass
class RunSummary:
    dir: Path
    run_id: str
    source: str  # "shipped", "local", "uploaded"
    name: str
    created: str
    status: str  # queued, running, paused, finished, stopped, failed, interrupted
    dataset: str
    preset: str
    mode: str
    lambdas: dict[str, float]  # each regularizer's λ by name, as configured (ffviz/regularizers.py)
    epochs_done: int
    epochs: int
    test_acc: float | None  # alpha-weighted, final epoch
    best_val_acc: float | None
    train_time: float | None  # seconds
    device: str
    num_parameters: int | None
    size_bytes: int
    error: str | None
    owner: str | None = None  # the session token that started it; None: the teacher's (CLI, shipped)

    def as_row(self) -> dict[str, Any]:
        """Plain values for a table."""
        return {"name": self.name, "date": self.created.replace("T", " "), "dataset": self.dataset,
                "preset": self.preset, "mode": self.mode,
                **{f"λ {regularizers.label(n)}": self.lambdas.get(n) for n in regularizers.REGULARIZERS},
                "epochs": f"{self.epochs_done}/{self.epochs}",
                "test acc %": None if self.test_acc is None else round(self.test_acc, 2),
                "best val acc %": None if self.best_val_acc is None else round(self.best_val_acc, 2),
                "wall time s": None if self.train_time is None else round(self.train_time, 1),
                "device": self.device, "parameters": self.num_parameters,
                "size MB": round(self.size_bytes / 1e6, 2), "status": self.status, "source": self.source,
                "id": self.run_id}


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# The files a summary row is built from: while none changes, the row is reused (only its state is read again). The
# Runs page lists every run on each draw, and reading each run's records again for every session cost the server.
SUMMARY_FILES = (RunFolder.CONFIG, RunFolder.META, RunFolder.LOG_FILES["epochs"], RunFolder.TEST,
                 RunFolder.LOG_FILES["batches"])


def summarize(run_dir: Path, source: str) -> RunSummary:
    """One row of the Runs table for a run folder."""
    run_dir = Path(run_dir)
    row, meta = cached_build(("summary", str(run_dir), source), [run_dir / f for f in SUMMARY_FILES],
                             lambda: _summarize(run_dir, source))
    return dataclasses.replace(row, status=run_state(run_dir, meta))


def _summarize(run_dir: Path, source: str) -> tuple[RunSummary, dict[str, Any]]:
    reader = RunReader(run_dir)  # records and meta.json's known keys of their schema's types, or dropped
    meta, reader_epochs, test = reader.meta, reader.epochs, reader.test
    cfg = reader.config
    return RunSummary(
        dir=run_dir, run_id=run_dir.name, source=source, name=meta.get("name") or run_dir.name,
        created=meta.get("created", ""), status="",  # read on every call by summarize, never cached
        dataset=cfg.dataset, preset=cfg.preset, mode=cfg.mode, lambdas=regularizers.lambdas(cfg),
        epochs_done=int(meta.get("epochs_done", len(reader_epochs) and reader_epochs[-1].epoch)),
        epochs=cfg.epochs if not reader_epochs else max(cfg.epochs, reader_epochs[-1].epoch),
        test_acc=None if test is None else float(test.acc_alpha),
        best_val_acc=max((e.acc_alpha for e in reader_epochs if e.epoch > 0), default=None),
        train_time=meta.get("train_time") or (reader_epochs[-1].time if reader_epochs else None),
        device=meta.get("device", ""), num_parameters=meta.get("num_parameters"), size_bytes=folder_size(run_dir),
        error=meta.get("error"), owner=meta.get("owner")), meta


def scan_runs(roots: dict[str, Path]) -> list[RunSummary]:
    """Every readable run folder under the given roots (source name -> folder), newest first. A folder that
    cannot be read is skipped, never fatal: one bad folder must not hide the others."""
    rows = []
    for source, root in roots.items():
        if not Path(root).is_dir():
            continue
        for d in Path(root).iterdir():
            if d.is_dir() and RunFolder(d).is_run():
                try:
                    rows.append(summarize(d, source))
                except Exception:  # noqa: BLE001 - whatever is wrong with this folder, the others are listed
                    continue
    return sorted(rows, key=lambda r: r.created, reverse=True)


# ----------------------------------------------------------------------------------------------------- export
def export_archive(run_dir: Path) -> bytes:
    """The run folder as a zip (the final checkpoint only, when there is one, to keep it small)."""
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    has_final = folder.checkpoint("final").exists()
    last = folder.checkpoint("last").relative_to(run_dir).as_posix()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(run_dir.rglob("*")):
            rel = f.relative_to(run_dir).as_posix()
            if not f.is_file() or f.name.startswith(".") or (has_final and rel == last):
                continue
            if not is_archive_member(PurePosixPath(rel).parts):
                continue  # a run process's own files (heartbeat, control, launch, process.log) stay on this server
            if rel == RunFolder.META:  # without its owner's session token: whoever downloads it must not become them
                try:
                    meta = {k: v for k, v in read_json(f).items() if k not in PRIVATE_META}
                except (OSError, ValueError, AttributeError):
                    continue
                z.writestr(f"{run_dir.name}/{rel}", json.dumps(meta, indent=1))
                continue
            z.write(f, f"{run_dir.name}/{rel}")
    return buf.getvalue()


def history_csv(reader: RunReader) -> str:
    """One row per epoch: scalars as columns, per-layer lists as one column per layer."""
    rows = []
    for e in reader.epochs:
        row: dict[str, Any] = {}
        for k, v in e.__dict__.items():
            if k in ("kind", "channels_per_class"):
                continue
            if isinstance(v, list):
                row.update({f"{k}_{i}": x for i, x in enumerate(v)})
            else:
                row[k] = v
        rows.append(row)
    if not rows:
        return ""
    out = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# ----------------------------------------------------------------------------------------------------- import
def import_upload(data: bytes, dest_root: Path, *, filename: str = "upload", owner: str | None = None,
                  max_unpacked: int = MAX_UNPACKED_BYTES, max_records_bytes: int = MAX_RECORDS_BYTES) -> Path:
    """Turn an uploaded run archive (.zip) or checkpoint (.pt) into a run folder under dest_root, owned by ``owner``.

    Hostile until checked (see ffviz/store/untrusted.py): sizes are read from the zip's directory before anything is
    unpacked, and every file is parsed and type-checked in a staging folder. Whatever goes wrong, even an error no
    check foresaw, becomes an UploadError and nothing is left behind."""
    dest_root = Path(dest_root)
    # One staging folder per upload: whatever goes wrong, only it is removed, never a classmate's upload that
    # arrived in dest_root meanwhile. The finished run is moved out of it under the lock (publish).
    stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=_ensure(dest_root)))
    try:
        return publish(_import(data, stage, filename, owner, max_unpacked, max_records_bytes), dest_root)
    except Exception as e:
        if isinstance(e, UploadError):
            raise
        raise UploadError(f"{filename} could not be read as an ffviz run ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:200] if str(e) else 'no detail'}); nothing was kept") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


STAGING_PREFIX = ".staging-"  # a folder no reader lists (no config.json at its top) and retention never counts


def publish(run_dir: Path, dest_root: Path) -> Path:
    """Move a finished run folder from its staging folder into dest_root, under a name no other run has (the
    folder name it was given, else with -1, -2...). The name is taken by creating it (mkdir is atomic: of two
    uploads, one gets it), then the run folder is renamed over that empty folder, so no reader sees half a run."""
    dest_root = _ensure(Path(dest_root))
    for i in range(1000):
        target = dest_root / (run_dir.name if i == 0 else f"{run_dir.name}-{i}")
        try:
            target.mkdir()
        except FileExistsError:
            continue
        os.rename(run_dir, target)  # onto our own empty folder: replaces it in one step
        return target
    raise UploadError(f"could not find a free folder name for {run_dir.name} under {dest_root}")


def _import(data: bytes, dest_root: Path, filename: str, owner: str | None, max_unpacked: int,
            max_records_bytes: int) -> Path:
    if not data:
        raise UploadError(f"{filename} is empty; upload a run archive (.zip) or an ffviz checkpoint (.pt)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"{filename} is {len(data) / 1e6:.0f} MB; uploads are limited to "
                          f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB")
    if zipfile.is_zipfile(io.BytesIO(data)) and not _is_torch_zip(data):
        run_dir = _import_archive(data, dest_root, filename, max_unpacked, max_records_bytes)
    else:
        try:  # before torch is imported (seconds on a busy server): a reference graph is refused in a blink
            check_pickle_graph(data, what=filename)
        except ValueError as e:
            raise UploadError(f"{filename}: {e}") from None
        from ffviz.store.checkpoint import CheckpointError, load_checkpoint  # torch: only when a checkpoint is uploaded

        try:
            ck = load_checkpoint(data, max_bytes=max_unpacked)
        except CheckpointError as e:
            raise UploadError(f"{filename}: {e}") from None
        run_dir = _import_checkpoint(ck, dest_root, filename)
    # Stamped with the server's own clock: retention orders uploads by this, never by what the file claims.
    # The uploader owns it, whatever the file says (no owner: the teacher's, as a CLI run).
    update_meta(run_dir, uploaded=dt.datetime.now().isoformat(timespec="seconds"),
                **({"owner": owner} if owner else {}))
    return run_dir


def _is_torch_zip(data: bytes) -> bool:
    """torch.save writes a zip too: it holds a data.pkl inside a single top folder."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return any(n.endswith("/data.pkl") for n in z.namelist())
    except zipfile.BadZipFile:
        return False


def _import_checkpoint(ck: dict[str, Any], dest_root: Path, filename: str) -> Path:
    """Everything is checked before the run folder exists (a refusal leaves no folder stuck at "queued")."""
    try:
        cfg = RunConfig.from_dict(ck["config"])
    except (KeyError, ValueError, TypeError) as e:
        raise UploadError(f"{filename}: the checkpoint's config is not valid: {e}") from None
    epoch, params = ck.get("epoch", 0), ck.get("num_parameters")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise UploadError(f"{filename}: the checkpoint's epoch={str(epoch)[:40]!r} is not a whole number")
    if params is not None and (isinstance(params, bool) or not isinstance(params, int)):
        raise UploadError(f"{filename}: the checkpoint's num_parameters={str(params)[:40]!r} is not a whole number")
    from ffviz.store.checkpoint import save_checkpoint
    run_dir = new_run_dir(dest_root, cfg, Path(filename).stem)
    init_run_dir(run_dir, cfg, name=Path(filename).stem)
    folder = RunFolder(run_dir)
    folder.checkpoints.mkdir()
    save_checkpoint(folder.checkpoint("final"), {k: v for k, v in ck.items() if k not in ("format", "version")})
    update_meta(run_dir, status="finished" if epoch >= cfg.epochs else "stopped", epochs_done=epoch,
                num_parameters=params, note="uploaded checkpoint (no history)")
    return run_dir


def _import_archive(data: bytes, dest_root: Path, filename: str, max_unpacked: int, max_records_bytes: int) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
        if sum(i.file_size for i in infos) > max_unpacked:
            raise UploadError(f"{filename} would unpack to more than {max_unpacked / 2**20:.0f} MiB, this server's "
                              "limit max_upload_unpacked")
        tops = {PurePosixPath(i.filename).parts[0] for i in infos if PurePosixPath(i.filename).parts}
        if len(tops) != 1:
            raise UploadError(f"{filename} is not an ffviz run archive: it should hold exactly one run folder")
        members: dict[str, zipfile.ZipInfo] = {}
        for i in infos:
            parts = PurePosixPath(i.filename).parts[1:]
            rel = "/".join(parts)
            if not is_archive_member(parts):
                raise UploadError(f"{filename} contains {i.filename!r}, which is not part of an ffviz run folder")
            if rel.endswith(".jsonl") and i.file_size > max_records_bytes:
                raise UploadError(f"{filename}: {rel} is {i.file_size / 2**20:.0f} MiB; this server's limit "
                                  f"max_records_bytes is {max_records_bytes / 2**20:g} MiB per record log")
            if rel.endswith(".json") and i.file_size > 1024 * 1024:
                raise UploadError(f"{filename}: {rel} is {i.file_size / 2**20:.0f} MiB; a run's {rel} is a few KB")
            members[rel] = i
        for folder, most in ((RunFolder.SNAPSHOTS, MAX_SNAPSHOT_FILES), (RunFolder.CHECKPOINTS, 4)):
            n = sum(rel.startswith(folder + "/") for rel in members)
            if n > most:  # the epoch scrubber and W's history loop over the snapshots
                raise UploadError(f"{filename} holds {n} files in {folder}; a run has at most {most} "
                                  f"(one per epoch, this server's limit max_epochs plus one)")
        if RunFolder.CONFIG not in members:
            raise UploadError(f"{filename} is not an ffviz run archive: it has no {RunFolder.CONFIG}")
        with tempfile.TemporaryDirectory(dir=_ensure(dest_root)) as tmp:
            stage = Path(tmp) / "run"
            for rel, info in members.items():
                target = stage / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as dst:
                    # zipfile stops at the size the directory states and checks the CRC: a member that lies
                    # about its size raises BadZipFile here, which import_upload turns into a refusal.
                    shutil.copyfileobj(src, dst)
            _validate_staged(stage, filename, max_unpacked)
            cfg = RunConfig.from_dict(read_json(RunFolder(stage).config))
            run_dir = new_run_dir(dest_root, cfg, Path(filename).stem)
            run_dir.rmdir()
            shutil.move(str(stage), run_dir)
    folder = RunFolder(run_dir)
    meta = read_json(folder.meta) if folder.meta.exists() else {}
    # Only the keys ffviz writes, of their types (checked above); status: an active run cannot be active here (no
    # process of this server trains it: continue it with Resume).
    meta = {k: v for k, v in meta.items() if k in META_TYPES and k not in ("owner", "uploaded", *PRIVATE_META)}
    if meta.get("status") in ACTIVE or "status" not in meta:
        meta["status"] = "interrupted"
    meta.update(pid=None)
    atomic_write_json(folder.meta, meta)
    return run_dir


def _ensure(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _validate_staged(stage: Path, filename: str, max_unpacked: int) -> None:
    """Everything must parse, line by line and file by file: the config validates; meta.json, test.json and every
    record have the schema's types; snapshots have the known keys, dtypes and shapes; checkpoints load weights-only,
    stored uncompressed, without repeated storages."""
    folder = RunFolder(stage)
    try:
        RunConfig.from_dict(read_json(folder.config))
        if folder.meta.exists():
            meta = read_json(folder.meta)  # owner and the time of receipt are the server's to write
            problems = meta_problems({k: v for k, v in meta.items() if k not in ("owner", "uploaded")}
                                     if isinstance(meta, dict) else meta)
            if problems:
                raise ValueError(f"{RunFolder.META}: {'; '.join(problems[:3])}")
        if folder.test.exists() and not isinstance(parse_record(read_json(folder.test)), TestRecord):
            raise ValueError(f"{RunFolder.TEST} is not a test record")
        for log, kind in (("batches", "batch"), ("epochs", "epoch"), ("events", "event")):
            _check_jsonl(folder.log(log), kind=kind)
        if folder.probes.exists():
            check_probes(folder.probes)
        for snap in sorted(folder.snapshots.glob("*.npz")) if folder.snapshots.exists() else []:
            check_npz(snap, max_bytes=max_unpacked)
        for ck in folder.checkpoints.glob("*.pt") if folder.checkpoints.exists() else []:
            check_pickle_graph(ck.read_bytes(), what=ck.name)
            from ffviz.store.checkpoint import load_checkpoint  # torch: only for an archive with checkpoints
            load_checkpoint(ck, max_bytes=max_unpacked)
    except (ValueError, KeyError, TypeError) as e:  # CheckpointError is a ValueError
        raise UploadError(f"{filename} is not a valid ffviz run archive: {e}") from None


def _check_jsonl(path: Path, *, kind: str) -> None:
    """Every line of a record log a record of its kind, one at a time (nothing kept: memory stays flat)."""
    if not path.exists():
        return
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


def delete_run(run_dir: Path, *, protected_roots: list[Path]) -> None:
    """Delete a run folder; shipped runs (under a protected root) cannot be deleted."""
    run_dir = Path(run_dir).resolve()
    for root in protected_roots:
        if run_dir.is_relative_to(Path(root).resolve()):
            raise PermissionError(f"{run_dir.name} ships with ffviz and cannot be deleted")
    if not RunFolder(run_dir).is_run():
        raise FileNotFoundError(f"{run_dir} is not a run folder")
    shutil.rmtree(run_dir)


# The retention policy: the app keeps the newest DEFAULT_MAX_RUNS runs in its runs folder, and as many uploads in its
# uploads folder; when a run starts (or an upload arrives) the oldest beyond that are deleted. An active run is never
# deleted, nor a shipped one (they live elsewhere). $FFVIZ_MAX_RUNS sets the number.
DEFAULT_MAX_RUNS = 100
MAX_RUNS_ENV = "FFVIZ_MAX_RUNS"


def retention_limit(environ: Mapping[str, str] = os.environ) -> tuple[int, str | None]:
    """(how many runs a runs folder keeps, a note when $FFVIZ_MAX_RUNS was set but unusable and the default holds)."""
    return positive_int(environ, MAX_RUNS_ENV, DEFAULT_MAX_RUNS, example=200,
                        unit=f"keeping the newest {DEFAULT_MAX_RUNS} runs")


EVERYONE = object()  # enforce_retention's default: every owner's runs counted together (the command line's use)


def enforce_retention(root: Path, *, max_runs: int = DEFAULT_MAX_RUNS, active_ids: set[str] | None = None,
                      max_bytes: int | None = None, owner: Any = EVERYONE) -> list[Path]:
    """Bound the runs folder: delete the oldest runs beyond ``max_runs`` (and, with ``max_bytes``, the oldest until
    the folder's runs fit in it), never an active one. Returns what went.

    Age is the server's own record: an upload's time of receipt (``uploaded``, stamped at import), else ``created``
    as the server or CLI wrote it. A future date inside an uploaded meta.json buys nothing.

    ``owner``: only that owner's runs are counted and deleted (None: the teacher's, the runs without an owner), so
    one student's hundred runs push out none of anyone else's; the app always passes it."""
    if max_runs < 1:
        raise ValueError(f"max_runs={max_runs} must be at least 1")
    # Only meta.json is read (not the histories scan_runs summarizes): this runs each time a run starts.
    runs = []
    for d in Path(root).iterdir() if Path(root).is_dir() else ():
        if d.is_dir() and RunFolder(d).is_run():
            try:
                meta_path = RunFolder(d).meta
                meta = clean_meta(read_json(meta_path)) if meta_path.exists() else {}
            except (OSError, ValueError):
                continue  # unreadable: not ours to judge, never deleted
            if owner is not EVERYONE and owner_of(meta) != owner:
                continue  # someone else's: never counted against this owner, never deleted for them
            received = meta.get("uploaded") or meta.get("created", "")
            runs.append((received, d, run_state(d, meta)))
    runs.sort(key=lambda r: (r[0], r[1].name), reverse=True)  # newest first; a tie by the folder's name (its time)
    removed = []
    sizes = {d: folder_size(d) for _, d, _ in runs} if max_bytes is not None else {}
    total = sum(sizes.values())
    for i, (_, d, status) in reversed(list(enumerate(runs))):  # oldest first
        if i < max_runs and (max_bytes is None or total <= max_bytes):
            break
        if status in ACTIVE or (active_ids is not None and d.name in active_ids):
            continue
        shutil.rmtree(d, ignore_errors=True)
        total -= sizes.get(d, 0)
        removed.append(d)
    return removed
