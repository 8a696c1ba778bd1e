"""An upload checked in a process of its own: the server never imports torch, and whatever a hostile file costs
(memory, CPU, a crash) is that short-lived process's, not the server's.

    run_dir = import_in_process(data, Path("runs/uploaded"), filename="model.pt", owner=token)   # or UploadError

The worker is ``python -m ffviz.server.upload_process FILE DEST ...``: it runs ffviz.store.catalog.import_upload (every
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
import subprocess
import sys
import tempfile
from pathlib import Path

from ffviz.store.catalog import MAX_RECORDS_BYTES, MAX_UNPACKED_BYTES, UploadError, import_upload

OWNER_ENV = "FFVIZ_UPLOAD_OWNER"
TIMEOUT_S = 300.0  # loading torch and checking a 200 MB checkpoint takes seconds; a file that takes longer is refused
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def import_in_process(data: bytes, dest_root: Path, *, filename: str = "upload", owner: str | None = None,
                      max_unpacked: int = MAX_UNPACKED_BYTES, max_records_bytes: int = MAX_RECORDS_BYTES,
                      timeout: float = TIMEOUT_S) -> Path:
    """import_upload, run in a worker process; returns the new run folder or raises UploadError with its reason."""
    with tempfile.TemporaryDirectory(prefix="ffviz-upload-") as tmp:
        src = Path(tmp) / "upload.bin"
        src.write_bytes(data)
        env = worker_env()
        env.pop(OWNER_ENV, None)
        if owner:
            env[OWNER_ENV] = owner
        cmd = [sys.executable, "-m", "ffviz.server.upload_process", str(src), str(dest_root), "--filename", filename,
               "--max-unpacked", str(max_unpacked), "--max-records", str(max_records_bytes)]
        answer, why = run_worker(cmd, Path(dest_root), timeout=timeout, env=env, cwd=tmp)
    if answer is None or "run_dir" not in answer:
        raise UploadError((answer or {}).get("error") or f"{filename} could not be checked: {why}; nothing was kept")
    return Path(answer["run_dir"])


def run_worker(cmd: list[str], dest_root: Path, *, timeout: float = TIMEOUT_S, env: dict[str, str] | None = None,
               cwd: str | None = None) -> tuple[dict | None, str]:
    """Run a worker that writes a run folder under dest_root and prints one JSON line last: (its answer, "") when it
    exited 0, else (whatever answer it printed, why it failed). A worker that failed, timed out or died mid-way
    (killed, out of memory) leaves nothing under dest_root."""
    dest_root.mkdir(parents=True, exist_ok=True)
    before = set(dest_root.iterdir())
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env or worker_env(), cwd=cwd)
    except subprocess.TimeoutExpired:
        _remove_new(dest_root, before)
        return None, f"it took longer than {timeout:.0f} s"
    answer = _last_json(done.stdout)
    if done.returncode == 0 and answer is not None:
        return answer, ""
    _remove_new(dest_root, before)
    lines = done.stderr.strip().splitlines()
    return answer, (lines[-1].removeprefix("error: ") if lines else f"the worker ended with code {done.returncode}")


def worker_env() -> dict[str, str]:
    """The server's environment, with this copy of ffviz first on the path (the worker imports what the server runs)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT),
                                                                    os.environ.get("PYTHONPATH")]))}


def _last_json(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            out = json.loads(line)
        except ValueError:
            continue
        return out if isinstance(out, dict) else None
    return None


def _remove_new(dest_root: Path, before: set[Path]) -> None:
    for made in set(dest_root.iterdir()) - before:
        shutil.rmtree(made, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ffviz.server.upload_process", description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("dest")
    ap.add_argument("--filename", default="upload")
    ap.add_argument("--max-unpacked", type=int, default=MAX_UNPACKED_BYTES)
    ap.add_argument("--max-records", type=int, default=MAX_RECORDS_BYTES)
    args = ap.parse_args(argv)
    try:
        run_dir = import_upload(Path(args.file).read_bytes(), Path(args.dest), filename=args.filename,
                                owner=os.environ.get(OWNER_ENV) or None, max_unpacked=args.max_unpacked,
                                max_records_bytes=args.max_records)
    except UploadError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        return 1
    print(json.dumps({"run_dir": str(run_dir)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
