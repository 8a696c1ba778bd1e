"""A run's folder, every file named once: the only place in ffviz/ and pages/ that spells a run's file names.

    folder = RunFolder("runs/20261126-172000-learnable-classroom")
    folder.config, folder.meta, folder.test          # Paths: config.json, meta.json, test.json
    folder.log("epochs")                             # epochs.jsonl (or "batches", "events"): one record per line
    folder.snapshot(3)                               # snapshots/epoch_0003.npz
    folder.checkpoint("last")                        # checkpoints/last.pt (or "final")
    folder.heartbeat, folder.launch, folder.control, folder.process_log, folder.probes

What each file holds, and who writes it:

    config.json        the RunConfig the run started with (live changes are events)       ffviz/store/runs.py
    meta.json          status, device, parameter count, dataset facts, error; atomic       the run, the server
    batches.jsonl      BatchRecord per line (appended; a torn last line is ignored)        ffviz/runner/run_writer.py
    epochs.jsonl       EpochRecord per line, from epoch 0
    events.jsonl       EventRecord per line
    test.json          TestRecord, once finished
    probes.npz         the probe images' pixels (uint8), so a page shows them without the dataset or torch
    snapshots/epoch_0003.npz   Snapshot of each epoch (W of every layer, probe goodness, predictions)
    checkpoints/last.pt        after every epoch;  checkpoints/final.pt  once finished   ffviz/store/checkpoint.py
    heartbeat.json     the run process's pid and host, rewritten every second               ffviz/store/runstate.py
    launch.json        the launcher's pid, host and command; its exit code once reaped      ffviz/runner/manager.py
    control.json       commands a server wrote for the run                                  ffviz/runner/steering.py
    process.log        the run process's output, when a server launched it                  ffviz/runner/launcher.py
    stage.json         where a starting run is (its process, the data, the first batch)     ffviz/store/stage.py
    notes.json         the owner's title and note for the run (plain text)                  ffviz/store/notes.py

The states a run can be in are named here too (STATES and their groups), the values meta.json's status takes;
which one holds is ffviz/store/runstate.py's to say. Plain paths and names only (no reading, no torch): the reader
is ffviz/store/runs.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

Log = Literal["batches", "epochs", "events"]
CheckpointKind = Literal["last", "final"]

LOGS: tuple[Log, ...] = ("batches", "epochs", "events")
# The states a run can be in, stated once: meta.json's "status" names one of the first seven, and
# ffviz/store/runstate.py says which holds (a run whose process is gone reads "interrupted").
STATES = ("queued", "starting", "running", "paused", "finished", "stopped", "failed", "interrupted")
ACTIVE = ("queued", "starting", "running", "paused")  # a run in one of these states may still write records
ENDED = ("finished", "stopped", "failed", "interrupted")
LIVE = ("starting", "running", "paused")  # a process claims the run: its heartbeat says whether it still lives
ENDED_AS_ASKED = ("finished", "stopped")  # trained to its end, or stopped by a person: the CLI exits 0
CONTINUABLE = ("finished", "stopped", "interrupted")  # a new run may go on from its last checkpoint
ENDED_EARLY = ("stopped", "interrupted")  # before its last epoch: Continue takes it on in place
ENDED_BADLY = ("failed", "stopped", "interrupted")  # a sweep's cell starts again
CHECKPOINT_KINDS: tuple[CheckpointKind, ...] = ("last", "final")  # newest first: last.pt follows every epoch
_SNAPSHOT = re.compile(r"epoch_(\d{4,})\.npz")
_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def is_folder_name(text: object) -> bool:
    """A run's or a sweep's folder name as a link or a picker may carry it: letters, digits and . _ -, at most 200,
    never a path (no separator, no "..", no leading dot). Anything else is never looked up."""
    return isinstance(text, str) and bool(_FOLDER_NAME.fullmatch(text)) and ".." not in text


class RunFolder:
    """The paths of one run folder. Class attributes are the bare names (what an archive's members are checked
    against); properties and methods are the paths under ``dir``."""

    CONFIG = "config.json"
    META = "meta.json"
    TEST = "test.json"
    PROBES = "probes.npz"
    HEARTBEAT = "heartbeat.json"
    LAUNCH = "launch.json"
    CONTROL = "control.json"
    PROCESS_LOG = "process.log"
    STAGE = "stage.json"
    NOTES = "notes.json"
    SNAPSHOTS = "snapshots"
    CHECKPOINTS = "checkpoints"
    LOG_FILES: dict[str, str] = {"batches": "batches.jsonl", "epochs": "epochs.jsonl", "events": "events.jsonl"}
    # What a run archive may carry (a download, an upload): the run's records and arrays, never its process files.
    ARCHIVE_FILES: tuple[str, ...] = (CONFIG, META, *LOG_FILES.values(), TEST, PROBES, NOTES)
    ARCHIVE_DIRS: dict[str, str] = {SNAPSHOTS: ".npz", CHECKPOINTS: ".pt"}  # folder -> the suffix of its files

    def __init__(self, run_dir: Path | str) -> None:
        self.dir = Path(run_dir)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.dir)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and other.dir == self.dir

    def __hash__(self) -> int:
        return hash(self.dir)

    # ------------------------------------------------------------------------------------------- files
    @property
    def config(self) -> Path:
        return self.dir / self.CONFIG

    @property
    def meta(self) -> Path:
        return self.dir / self.META

    @property
    def test(self) -> Path:
        return self.dir / self.TEST

    @property
    def probes(self) -> Path:
        return self.dir / self.PROBES

    @property
    def heartbeat(self) -> Path:
        return self.dir / self.HEARTBEAT

    @property
    def launch(self) -> Path:
        return self.dir / self.LAUNCH

    @property
    def control(self) -> Path:
        return self.dir / self.CONTROL

    @property
    def process_log(self) -> Path:
        return self.dir / self.PROCESS_LOG

    @property
    def stage(self) -> Path:
        return self.dir / self.STAGE

    @property
    def notes(self) -> Path:
        return self.dir / self.NOTES

    def log(self, kind: str) -> Path:
        """batches.jsonl, epochs.jsonl or events.jsonl."""
        if kind not in self.LOG_FILES:
            raise ValueError(f"no record log {kind!r} in a run folder; choose one of {', '.join(LOGS)}")
        return self.dir / self.LOG_FILES[kind]

    # ------------------------------------------------------------------------------ snapshots, checkpoints
    @property
    def snapshots(self) -> Path:
        return self.dir / self.SNAPSHOTS

    @property
    def checkpoints(self) -> Path:
        return self.dir / self.CHECKPOINTS

    def snapshot(self, epoch: int) -> Path:
        return self.snapshots / f"epoch_{int(epoch):04d}.npz"

    def snapshot_epochs(self) -> list[int]:
        """The epochs whose snapshot is on disk, in order."""
        if not self.snapshots.is_dir():
            return []
        return sorted(int(m[1]) for p in self.snapshots.iterdir() if (m := _SNAPSHOT.fullmatch(p.name)))

    def checkpoint(self, kind: str = "last") -> Path:
        if kind not in CHECKPOINT_KINDS:
            raise ValueError(f"no checkpoint {kind!r} in a run folder; choose one of {', '.join(CHECKPOINT_KINDS)}")
        return self.checkpoints / f"{kind}.pt"

    def existing_checkpoints(self, order: tuple[str, ...] = CHECKPOINT_KINDS) -> list[Path]:
        """The checkpoints on disk, in ``order`` (newest first by default: last.pt, then final.pt)."""
        return [p for p in (self.checkpoint(k) for k in order) if p.exists()]

    def newest_checkpoint(self) -> Path | None:
        found = self.existing_checkpoints()
        return found[0] if found else None

    def make_dirs(self) -> None:
        """The folders a writer fills: snapshots/ and checkpoints/."""
        self.snapshots.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)

    # ----------------------------------------------------------------------------------------- identity
    def is_run(self) -> bool:
        """A folder is a run once its config is written (before its first epoch)."""
        return self.config.is_file()


def is_archive_member(parts: tuple[str, ...]) -> bool:
    """Whether a path inside a run archive, split into its parts (meta.json; snapshots, epoch_0003.npz), is one
    a run holds: never a run process's own files (heartbeat, control, launch, process.log) nor anything else."""
    return (len(parts) == 1 and parts[0] in RunFolder.ARCHIVE_FILES) or (
        len(parts) == 2 and parts[0] in RunFolder.ARCHIVE_DIRS and parts[1].endswith(RunFolder.ARCHIVE_DIRS[parts[0]])
        and ".." not in parts[1] and not parts[1].startswith("."))


def run_folders(root: Path | str) -> list[Path]:
    """The run folders directly under root (in no particular order)."""
    root = Path(root)
    return [d for d in root.iterdir() if d.is_dir() and RunFolder(d).is_run()] if root.is_dir() else []
