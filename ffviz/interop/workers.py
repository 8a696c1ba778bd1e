"""The app's way to the interop commands: each runs in a process of its own, as uploads are checked
(ffviz/server/upload_process.py), so the server imports neither torch nor tensorboard and a hostile folder costs
only that short-lived process.

    data = tensorboard_zip(run_dir)                       # the run's TensorBoard event folder, zipped, for download
    run_dir, why = import_logs_in_process(files, dest)    # {file name: bytes} of the authors' logs -> a run, or why not
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ffviz.server.upload_process import STAGE, run_worker, worker_env

TIMEOUT_S = 300.0
# Each of the authors' log files, at most (a 150-epoch paper run writes ~16 MB of weights text; CSVs are KBs).
MAX_LOG_FILE_BYTES = {"all_epochs_layer_weights.txt": 64 * 2**20}
MAX_CSV_BYTES = 8 * 2**20


class WorkerError(RuntimeError):
    """An interop worker that failed; the message says why."""


def tensorboard_zip(run_dir: Path, *, timeout: float = TIMEOUT_S) -> bytes:
    """``python -m ffviz export --tensorboard`` of one run in a worker process, its event folder as a zip."""
    run_dir = Path(run_dir)
    with tempfile.TemporaryDirectory(prefix="ffviz-tb-") as tmp:
        cmd = [sys.executable, "-m", "ffviz", "export", "--tensorboard", tmp, str(run_dir.resolve())]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=worker_env(), cwd=tmp)
        except subprocess.TimeoutExpired:
            raise WorkerError(f"the export took longer than {timeout:.0f} s") from None
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise WorkerError(lines[-1].removeprefix("error: ") if lines else f"exit code {done.returncode}")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted((Path(tmp) / run_dir.name).rglob("*")):
                if f.is_file():
                    z.write(f, f"{run_dir.name}/{f.name}")
        return buf.getvalue()


def import_logs_in_process(files: dict[str, bytes], dest_root: Path, *, dataset: str | None = None,
                           name: str | None = None, timeout: float = TIMEOUT_S) -> tuple[Path | None, str]:
    """The authors' log files (by name) as a run under dest_root, checked in a worker: (run folder, "") or
    (None, why not). Only their file names are accepted, each within its size."""
    from ffviz.interop.authors_format import LOG_FILES  # numpy only

    if not files:
        return None, "choose their log files first (info_17L.csv, layer_losses_17L.csv, all_epochs_layer_weights.txt…)"
    odd = [n for n in files if Path(n).name not in LOG_FILES]
    if odd:
        return None, (f"{odd[0][:60]!r} is not one of the files the authors' script writes ({', '.join(LOG_FILES)}); "
                      "choose those only")
    for n, data in files.items():
        limit = MAX_LOG_FILE_BYTES.get(Path(n).name, MAX_CSV_BYTES)
        if len(data) > limit:
            return None, f"{Path(n).name} is {len(data) / 2**20:.1f} MiB; at most {limit / 2**20:.0f} MiB is accepted"
    with tempfile.TemporaryDirectory(prefix="ffviz-logs-") as tmp:
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
        answer, why = run_worker(cmd, Path(dest_root), timeout=timeout, cwd=tmp, torch_first=True)
    return (Path(answer["run"]), "") if answer and "run" in answer else (None, why)
