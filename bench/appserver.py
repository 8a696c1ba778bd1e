"""The app served as a user starts it (``streamlit run streamlit_app.py``), on loopback, for the benchmarks; and what
the server process holds (resident memory, threads) read from /proc.

    with AppServer(runs_dir) as server:
        server.url                 # http://127.0.0.1:<free port>
        server.rss_mb(), server.threads()
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, runs_dir: Path, *, env: dict[str, str] | None = None, start_timeout: float = 120.0) -> None:
        self.runs_dir = Path(runs_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile("w+")
        self._env = {**os.environ, "FFVIZ_RUNS_DIR": str(self.runs_dir), **(env or {})}
        self._timeout = start_timeout
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> AppServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=self._env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + self._timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Streamlit server exited (code {self.proc.returncode}):\n{self.output()}")
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read() == b"ok":
                    return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the Streamlit server did not start within {self._timeout:.0f} s:\n{self.output()}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        from ffviz.runner.manager import stop_runs

        stop_runs(self.runs_dir)  # each run is a process of its own and would outlive the server

    def output(self) -> str:
        """What the server printed (its log), for a failure message."""
        self.log.seek(0)
        return self.log.read()[-5000:]

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def rss_mb(self) -> float:
        """The server's resident memory, MiB (Linux)."""
        return self._status("VmRSS") / 1024

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far, user and system, all threads (Linux)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def children_cpu_seconds(self) -> float:
        """CPU time of the server's ended child processes (the runs it launched and reaped), user and system
        (Linux: cutime and cstime, counted once the server has waited for them)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")

    def threads(self) -> int:
        """The server process's threads: Python's, the web server's, the run scheduler's (Linux)."""
        return self._status("Threads")
