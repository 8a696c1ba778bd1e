"""Downloads served from disk: a run's archive, its checkpoint or its TensorBoard export is written once to a file
under the app's static folder and the browser fetches it from there, in chunks (Streamlit's static serving). Nothing
of it passes through the server's memory: ``st.download_button`` keeps every byte it is given in memory for the
session (3 tabs downloading a 184 MiB archive held +1.7 GiB in the third review).

    shelf = Shelf(Path("static"))                                    # one per server
    url = shelf.offer("run.zip", key=("archive", run_id, sig), build=lambda path: export_archive_to(run_dir, path))

Each file lies at ``dl/<pid>-<nonce>/<token>/<name>``: the token is a keyed hash of ``key`` with a secret of this
server process, so a URL cannot be guessed, and the same run unchanged is built once however many ask for it. Files
older than TTL_S go, and the oldest beyond MAX_BYTES, when the next is offered; a dead server's folder is swept when
the next server starts (ffviz/server/leftovers.py). No Streamlit here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from urllib.parse import quote

from ffviz.server.leftovers import sweep_leftovers

URL_PREFIX = "app/static"  # where Streamlit serves <app folder>/static (server.enableStaticServing)
TTL_S = 1800.0
# Streamlit serves at most 200 MiB per static file and turns static serving off at start when the folder holds more
# than 1 GB: the shelf stays well under both.
MAX_FILE_BYTES = 200 * 2**20
MAX_BYTES = 768 * 2**20


class TooLarge(ValueError):
    """A file too large to be served from the static folder; the message says what to do instead."""


class Shelf:
    def __init__(self, static_root: Path) -> None:
        self.base = Path(static_root) / "dl"
        self.base.mkdir(parents=True, exist_ok=True)
        sweep_leftovers([self.base], prefixes=("",))  # what a killed server left here
        self.dir = self.base / f"{os.getpid()}-{secrets.token_hex(4)}"
        self.dir.mkdir()
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()

    def token(self, key: Hashable) -> str:
        return hmac.new(self._secret, repr(key).encode(), hashlib.sha256).hexdigest()[:32]

    def offer(self, name: str, *, key: Hashable, build: Callable[[Path], None]) -> str:
        """The URL path (relative to the app's base URL) of ``name``, built by ``build(path)`` unless a file for
        ``key`` is already on the shelf. Raises TooLarge for a file beyond what static serving sends."""
        folder = self.dir / self.token(key)
        target = folder / name
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            part = folder / f".part-{secrets.token_hex(4)}"
            try:
                build(part)
                os.replace(part, target)  # a concurrent build of the same key: either copy is whole
            finally:
                part.unlink(missing_ok=True)
        else:
            os.utime(target)  # offered again: it stays another TTL_S
        size = target.stat().st_size
        if size > MAX_FILE_BYTES:
            shutil.rmtree(folder, ignore_errors=True)
            raise TooLarge(f"{name} is {size / 2**20:.0f} MiB; the browser can fetch at most "
                           f"{MAX_FILE_BYTES / 2**20:.0f} MiB from this server: copy the run folder from the server's "
                           "disk instead")
        self.prune()
        return f"{URL_PREFIX}/dl/{self.dir.name}/{folder.name}/{quote(name)}"

    def prune(self, *, now: float | None = None) -> None:
        """Files older than TTL_S go, then the oldest until the shelf holds at most MAX_BYTES."""
        now = time.time() if now is None else now
        with self._lock:
            files = []
            for f in self.dir.glob("*/*"):
                try:
                    st = f.stat()
                except OSError:
                    continue
                if not f.name.startswith(".part-"):
                    files.append((st.st_mtime, st.st_size, f))
            files.sort()
            total = sum(size for _, size, _ in files)
            for mtime, size, f in files:
                if now - mtime <= TTL_S and total <= MAX_BYTES:
                    continue
                shutil.rmtree(f.parent, ignore_errors=True)
                total -= size


def link_or_copy(src: Path, dest: Path) -> None:
    """dest as a hard link to src (no bytes copied), else a copy streamed in chunks."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
