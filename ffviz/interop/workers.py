"""The app's way to the interop commands: each runs in a process of its own, as uploads are checked
(ffviz/server/upload_process.py), so the server imports neither torch nor tensorboard and a hostile folder costs
only that short-lived process.

    tensorboard_zip_to(run_dir, out, owner=token)         # the run's TensorBoard event folder, zipped, into a file
    run_dir, why = import_logs_in_process(files, dest)    # {file name: bytes} of the authors' logs -> a run, or why not
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import zipfile
from pathlib import Path

from ffviz.server.bounded import WorkerRefused, run_bounded
from ffviz.server.upload_process import STAGE, run_worker, temp_copy_dir, worker_env

TIMEOUT_S = 300.0
# An export's address space beyond torch's: one run's records and a snapshot at a time (an imported run's export took
# ~720 MiB resident in the third review, torch's own share included)
EXPORT_BUDGET = 1024 ** 3
# Each of the authors' log files, at most (a 150-epoch paper run writes ~16 MB of weights text; CSVs are KBs).
MAX_LOG_FILE_BYTES = {"all_epochs_layer_weights.txt": 64 * 2**20}
MAX_CSV_BYTES = 8 * 2**20


class WorkerError(RuntimeError):
    """An interop worker that failed; the message says why."""


def tensorboard_zip_to(run_dir: Path, out: Path, *, owner: str | None = None, timeout: float = TIMEOUT_S) -> None:
    """``python -m ffviz export --tensorboard`` of one run, zipped into ``out``, all in a bounded worker
    (ffviz/server/bounded.py): the server neither exports nor zips. Raises WorkerError saying why it failed (or was
    refused: the owner's own export still running, the server busy)."""
    run_dir, out = Path(run_dir).resolve(), Path(out).resolve()
    cmd = [sys.executable, "-m", "ffviz.interop.workers", "tensorboard-zip", str(run_dir), str(out)]
    try:
        done = run_bounded(cmd, owner=owner, timeout=timeout, env=worker_env(), cwd=str(out.parent),
                           address_space=EXPORT_BUDGET, torch_first=True)
    except WorkerRefused as e:
        raise WorkerError(str(e)) from None
    if done.returncode != 0 or not out.is_file():
        out.unlink(missing_ok=True)
        raise WorkerError(done.why or "the export wrote nothing")


def tensorboard_zip(run_dir: Path, *, timeout: float = TIMEOUT_S) -> bytes:
    """tensorboard_zip_to, as bytes (tests and the command line; the app serves the file from disk)."""
    with tempfile.TemporaryDirectory(prefix="ffviz-tb-") as tmp:
        out = Path(tmp) / "tb.zip"
        tensorboard_zip_to(run_dir, out, timeout=timeout)
        return out.read_bytes()


def _zip_export(run_dir: Path, out: Path) -> int:
    """In the worker: the run's event folder, exported into a temporary folder beside ``out``, zipped into it."""
    from ffviz.interop.tensorboard import ExportError, export_run

    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".tb-") as tmp:
        try:
            folder = export_run(run_dir, Path(tmp))
        except ExportError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(folder.rglob("*")):
                if f.is_file():
                    z.write(f, f"{run_dir.name}/{f.name}")
    print(json.dumps({"status": "finished", "zip": str(out)}), flush=True)
    return 0


def logs_files_problem(sizes: list[tuple[str, int]]) -> str:
    """What is wrong with a set of the authors' log files, by name and size ("" when nothing): none, more than one
    of each of their files, a name that is not theirs, or one beyond its size."""
    from ffviz.interop.authors_format import LOG_FILES  # numpy only

    if not sizes:
        return "choose their log files first (info_17L.csv, layer_losses_17L.csv, all_epochs_layer_weights.txt…)"
    odd = [n for n, _ in sizes if Path(n).name not in LOG_FILES]
    if odd:
        return (f"{odd[0][:60]!r} is not one of the files the authors' script writes ({', '.join(LOG_FILES)}); "
                "choose those only")
    if len(sizes) > len(LOG_FILES):
        return f"{len(sizes)} files; their script writes at most {len(LOG_FILES)} ({', '.join(LOG_FILES)})"
    for n, size in sizes:
        limit = MAX_LOG_FILE_BYTES.get(Path(n).name, MAX_CSV_BYTES)
        if size > limit:
            return f"{Path(n).name} is {size / 2**20:.1f} MiB; at most {limit / 2**20:.0f} MiB is accepted"
    return ""


def import_logs_in_process(files: dict[str, bytes], dest_root: Path, *, dataset: str | None = None,
                           name: str | None = None, owner: str | None = None,
                           timeout: float = TIMEOUT_S) -> tuple[Path | None, str]:
    """The authors' log files (by name) as a run under dest_root, checked in a worker: (run folder, "") or
    (None, why not). Only their file names are accepted, each within its size."""
    why = logs_files_problem([(n, len(data)) for n, data in files.items()])
    if why:
        return None, why
    with temp_copy_dir(dest_root) as tmp:
        folder = Path(tmp) / "logs"
        folder.mkdir()
        for n, data in files.items():
            (folder / Path(n).name).write_bytes(data)
        # the worker writes into a staging folder of its own (STAGE); run_worker moves the run into dest_root
        cmd = [sys.executable, "-m", "ffviz", "import-logs", str(folder), "--runs-dir", STAGE]
        if dataset:
            cmd += ["--dataset", dataset]
        if name:
            cmd += ["--name", re.sub(r"[^\w .()'-]+", "_", name)[:80]]
        # the CLI loads torch: the address-space cap is set once it is in (ffviz/server/worker_limits.py)
        answer, why = run_worker(cmd, Path(dest_root), timeout=timeout, cwd=tmp, torch_first=True, owner=owner)
    return (Path(answer["run"]), "") if answer and "run" in answer else (None, why)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "tensorboard-zip":
        print("usage: python -m ffviz.interop.workers tensorboard-zip RUN_DIR OUT.zip", file=sys.stderr)
        return 2
    return _zip_export(Path(argv[1]), Path(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
