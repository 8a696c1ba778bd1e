"""Runs in and out of this server as files: a run folder as a .zip for download, an uploaded archive or checkpoint
as a new run folder, and the deletion of a run.

    export_archive_to(run_dir, Path("out.zip"))   # the run folder as a zip, written to disk (never held in memory)
    data = export_archive(run_dir)                # the same as bytes (tests, the CLI)
    new_dir = import_upload(data, Path("runs/uploaded"))   # a run archive or a bare checkpoint

Uploads are untrusted: archives are unpacked member by member with every name and size checked, checkpoints are read
with weights-only loading (see ffviz/store/checkpoint.py), every record is checked for consistency
(ffviz/store/run_checks.py), and nothing lands in the runs folder until it all checked out.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from ffviz.config import RunConfig
from ffviz.store.folder import ACTIVE, RunFolder, is_archive_member
from ffviz.store.run_checks import MAX_EPOCH, MAX_SNAPSHOT_FILES, check_config_value, check_run_folder
from ffviz.store.runs import init_run_dir, new_run_dir, update_meta
from ffviz.store.storage import atomic_write_json, read_json
from ffviz.store.untrusted import MAX_INT, META_TYPES, check_pickle_graph

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
MAX_UNPACKED_BYTES = 256 * 1024 * 1024  # ffviz.server.limits.Limits.max_upload_unpacked; the app passes the server's
MAX_RECORDS_BYTES = 16 * 1024 * 1024  # one record log (Limits.max_records_bytes)
PRIVATE_META = ("owner", "pid", "client", "max_bytes")  # meta.json keys that stay on this server (a session token,
# a process id, the client address that started it, the disk it may use)
# What a run folder may contain; anything else in an archive is refused.


class UploadError(ValueError):
    """An uploaded file that cannot become a run; the message says why and what to do."""


# ----------------------------------------------------------------------------------------------------- export
def export_archive(run_dir: Path) -> bytes:
    """The run folder as a zip, in memory (tests and small runs; the app writes it to disk: export_archive_to)."""
    buf = io.BytesIO()
    export_archive_to(run_dir, buf)
    return buf.getvalue()


def export_archive_to(run_dir: Path, out: Path | io.BytesIO) -> None:
    """The run folder as a zip written to ``out`` member by member (the final checkpoint only, when there is one, to
    keep it small): what it holds is never all in memory at once."""
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    has_final = folder.checkpoint("final").exists()
    last = folder.checkpoint("last").relative_to(run_dir).as_posix()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
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
            # npz and checkpoints are stored uncompressed already (and must stay so: uploads refuse compressed
            # entries); deflating them again costs the server seconds of CPU per download for nothing
            kind = zipfile.ZIP_STORED if f.suffix in (".npz", ".pt") else zipfile.ZIP_DEFLATED
            z.write(f, f"{run_dir.name}/{rel}", compress_type=kind)


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
    try:  # plain and small before anything reads it: a tuple graph costs 2^depth to print
        check_config_value(ck["config"], what="the checkpoint's config")
        cfg = RunConfig.from_dict(ck["config"])
    except (KeyError, ValueError, TypeError) as e:
        raise UploadError(f"{filename}: the checkpoint's config is not valid: {e}") from None
    epoch, params = ck.get("epoch", 0), ck.get("num_parameters")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCH:
        raise UploadError(f"{filename}: the checkpoint's epoch={str(epoch)[:40]!r} is not a whole number from 0 to "
                          f"{MAX_EPOCH:,}")
    if params is not None and (isinstance(params, bool) or not isinstance(params, int) or not 0 <= params <= MAX_INT):
        raise UploadError(f"{filename}: the checkpoint's num_parameters={str(params)[:40]!r} is not a whole number "
                          f"from 0 to {MAX_INT:,}")
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
            _validate_staged(stage, filename, max_unpacked, max_records_bytes)
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


def _validate_staged(stage: Path, filename: str, max_unpacked: int, max_records_bytes: int) -> None:
    """The one validation of a run folder from outside (ffviz/store/run_checks.py): every file parses with the
    schema's types, every number is bounded and the files agree with each other."""
    try:
        check_run_folder(stage, max_unpacked=max_unpacked, max_records_bytes=max_records_bytes)
    except (ValueError, KeyError, TypeError, RecursionError) as e:  # CheckpointError is a ValueError
        raise UploadError(f"{filename} is not a valid ffviz run archive: {e}") from None


def delete_run(run_dir: Path, *, protected_roots: list[Path]) -> None:
    """Delete a run folder; shipped runs (under a protected root) cannot be deleted."""
    run_dir = Path(run_dir).resolve()
    for root in protected_roots:
        if run_dir.is_relative_to(Path(root).resolve()):
            raise PermissionError(f"{run_dir.name} ships with ffviz and cannot be deleted")
    if not RunFolder(run_dir).is_run():
        raise FileNotFoundError(f"{run_dir} is not a run folder")
    shutil.rmtree(run_dir)
