"""An upload checked in a process of its own: the server never imports torch, and whatever a hostile file costs
(memory, CPU, a crash) is that short-lived process's, not the server's.

    run_dir = import_in_process(data, Path("runs/uploaded"), filename="model.pt", owner=token)   # or UploadError

The worker is ``python -m ffviz.server.upload_process FILE DEST ...``: it runs ffviz.store.archive.import_upload (every
check of
ffviz/store/untrusted.py) and prints one JSON line, the run folder or the refusal. The owner's session token travels in
the
environment, never on a command line that ``ps`` shows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ffviz.server.bounded import WAIT_S, WorkerRefused, run_bounded
from ffviz.server.worker_limits import cap_address_space
from ffviz.store.archive import (
    MAX_RECORDS_BYTES,
    MAX_UNPACKED_BYTES,
    STAGING_PREFIX,
    UploadError,
    import_upload,
    publish,
)
from ffviz.store.places import REPO
from ffviz.store.untrusted import check_pickle_graph

OWNER_ENV = "FFVIZ_UPLOAD_OWNER"
TIMEOUT_S = 300.0  # loading torch and checking a 200 MB checkpoint takes seconds; a file that takes longer is refused
STAGE = "{stage}"  # in a worker's command: the staging folder it writes its run folder into
# A worker's address space beyond what it has mapped once torch is loaded (ffviz/server/worker_limits.py): a check
# holds at most a few copies of what one upload may unpack to. Beyond it an allocation fails inside the worker.
BASE_BUDGET = 1024 ** 3


def address_budget(max_unpacked: int) -> int:
    return BASE_BUDGET + 3 * max_unpacked


def import_in_process(data: bytes, dest_root: Path, *, filename: str = "upload", owner: str | None = None,
                      max_unpacked: int = MAX_UNPACKED_BYTES, max_records_bytes: int = MAX_RECORDS_BYTES,
                      timeout: float = TIMEOUT_S) -> Path:
    """import_upload, run in a worker process; returns the new run folder or raises UploadError with its reason."""
    with temp_copy_dir(dest_root) as tmp:
        src = Path(tmp) / "upload.bin"
        src.write_bytes(data)
        env = worker_env()
        env.pop(OWNER_ENV, None)
        if owner:
            env[OWNER_ENV] = owner
        cmd = [sys.executable, "-m", "ffviz.server.upload_process", str(src), STAGE, "--filename", filename,
               "--max-unpacked", str(max_unpacked), "--max-records", str(max_records_bytes),
               "--address-budget", str(address_budget(max_unpacked))]
        # niced by run_worker; the worker caps its own address space once its cheap checks passed and torch is in
        answer, why = run_worker(cmd, Path(dest_root), timeout=timeout, env=env, cwd=tmp, address_space=None,
                                 owner=owner)
    if answer is None or "run_dir" not in answer:
        raise UploadError((answer or {}).get("error") or f"{filename} could not be checked: {why}; nothing was kept")
    return Path(answer["run_dir"])


def run_worker(cmd: list[str], dest_root: Path, *, timeout: float = TIMEOUT_S, env: dict[str, str] | None = None,
               cwd: str | None = None, address_space: int | None = BASE_BUDGET + 3 * MAX_UNPACKED_BYTES,
               torch_first: bool = False, wait: float = WAIT_S, owner: str | None = None) -> tuple[dict | None, str]:
    """Run a worker that writes a run folder and prints one JSON line last: (its answer, "") when it exited 0, else
    (whatever answer it printed, why it failed).

    The worker runs through the server's one bounded runner (ffviz/server/bounded.py: niced, memory-capped, one
    thread, a time limit, a server-wide cap and one per ``owner``, output to disk, killed with the server). It
    writes into a staging folder of its own (``STAGE`` in ``cmd`` stands for it), named after this server's pid so
    that the next server sweeps it if this one dies (ffviz/server/leftovers.py); on success the run folder it names
    in its answer (any value that is a path inside the stage) is moved into dest_root and the answer names its new
    place. A worker that failed, timed out or died mid-way costs only its own staging folder, removed here: a
    classmate's upload that arrived in dest_root meanwhile stays. ``address_space``: see run_bounded."""
    dest_root = Path(dest_root)
    dest_root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=staging_prefix(), dir=dest_root))
    try:
        full = [a.replace(STAGE, str(stage)) for a in cmd]
        try:
            done = run_bounded(full, owner=owner, timeout=timeout, env=env or worker_env(), cwd=cwd,
                               address_space=address_space, torch_first=torch_first, wait=wait)
        except WorkerRefused as e:
            return None, str(e)
        if done.returncode == 0 and done.answer is not None:
            return _published(done.answer, stage, dest_root), ""
        return done.answer, done.why
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def temp_copy_dir(dest_root: Path) -> tempfile.TemporaryDirectory:
    """A folder for the temporary copy of an upload, beside the staging folders and swept as they are."""
    Path(dest_root).mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=staging_prefix(), dir=dest_root)


def staging_prefix() -> str:
    """A staging folder's name: STAGING_PREFIX and this server's pid (ffviz/server/leftovers.py reads it back)."""
    return f"{STAGING_PREFIX}{os.getpid()}-"


def _published(answer: dict, stage: Path, dest_root: Path) -> dict:
    """The answer with each run folder it names inside the stage moved into dest_root (and named there)."""
    out = dict(answer)
    for key, value in answer.items():
        if not isinstance(value, str):
            continue
        path = Path(value)
        if path.is_absolute() and path.resolve().is_relative_to(stage.resolve()) and path.is_dir():
            out[key] = str(publish(path, dest_root))
    return out


def worker_env() -> dict[str, str]:
    """The server's environment, with this copy of ffviz first on the path (the worker imports what the server runs)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                                    os.environ.get("PYTHONPATH")]))}


def precheck(data: bytes, filename: str) -> None:
    """The checks that need no torch, on the upload and on every checkpoint inside an archive: a reference graph in
    a pickle is refused before the seconds an import of torch takes."""
    import io
    import zipfile

    try:
        check_pickle_graph(data, what=filename)
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for info in z.infolist():
                    if info.filename.endswith(".pt") and info.file_size <= MAX_UNPACKED_BYTES:
                        check_pickle_graph(z.read(info), what=f"{filename}: {info.filename.split('/')[-1]}")
    except (ValueError, zipfile.BadZipFile, OSError) as e:
        if "reached twice" in str(e) or "longer than" in str(e):
            raise UploadError(f"{filename} is not a valid ffviz run: {e}") from None
        # anything else: import_upload's own checks say what is wrong


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ffviz.server.upload_process", description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("dest")
    ap.add_argument("--filename", default="upload")
    ap.add_argument("--max-unpacked", type=int, default=MAX_UNPACKED_BYTES)
    ap.add_argument("--max-records", type=int, default=MAX_RECORDS_BYTES)
    ap.add_argument("--address-budget", type=int, default=0, help="cap the address space at what is mapped once "
                    "torch is loaded plus this many bytes (0: no cap)")
    args = ap.parse_args(argv)
    try:
        data = Path(args.file).read_bytes()
        precheck(data, args.filename)  # before torch: a reference graph is refused in a blink
        if args.address_budget:
            import torch  # noqa: F401 - mapped before the cap is measured
            cap_address_space(args.address_budget)
    except UploadError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        return 1
    try:
        run_dir = import_upload(data, Path(args.dest), filename=args.filename,
                                owner=os.environ.get(OWNER_ENV) or None, max_unpacked=args.max_unpacked,
                                max_records_bytes=args.max_records)
    except UploadError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        return 1
    print(json.dumps({"run_dir": str(run_dir)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
