"""Sweeps on disk: a grid of settings times a list of seeds, each (cell, seed) a normal run, grouped as one sweep.

    python -m ffviz sweep --recipe classroom --grid lambda_entropy=0,0.01,0.1 --grid lambda_orth=0,0.001,0.1 --seeds 1,2

    spec = SweepSpec(base=recipe_config("classroom"), axes=(parse_axis("lambda_entropy=0,0.01"),), seeds=(1, 2))
    sweep = Sweep.create(runs_root, spec)                  # runs/sweeps/<id>/sweep.json, nothing trained yet
    launch(sweep, RunManager(runs_root, max_running=2))    # one run per free slot, through the app's launcher

On disk, next to the runs (which stay ordinary run folders in the runs root, so every page opens them):

    runs/sweeps/<sweep id>/sweep.json             the spec: base config, axes, seeds, the cells in row-major order
    runs/sweeps/<sweep id>/slots/c003-s2.json     one (cell, seed): its run id, and who claimed it until when
    runs/sweeps/<sweep id>/slots/.lock            taken (flock) while a slot is claimed, so two claims never collide

A slot file is written atomically and only under the lock. A run's meta.json gets ``sweep``, ``cell`` and ``seed``
once the run has ended (while it trains, its writer owns meta.json). A class experiment hands slots out one by one
(ffviz/runner/sweep_leases.py); the spec is ffviz/runner/sweep_spec.py. A launched sweep's runs wait in the sweeps'
own share of the queue (ffviz/runner/manager.py), and ``cancel`` takes them all back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ffviz.config import RunConfig
from ffviz.figures.sweep import RunOutcome, run_outcome
from ffviz.runner.manager import SWEEP_QUEUE_KEY
from ffviz.runner.sweep_leases import Slot, SlotLeases
from ffviz.runner.sweep_spec import SweepError, SweepSpec, cell_label
from ffviz.store.folder import ACTIVE, ENDED_BADLY, RunFolder, is_folder_name
from ffviz.store.runs import RunReader, open_reader, update_meta
from ffviz.store.runstate import run_state as folder_state
from ffviz.store.storage import atomic_write_json, read_json

SWEEP_FILE = "sweep.json"  # a sweep folder's one file (its runs are run folders: ffviz/store/folder.py)
FORMAT = "ffviz-sweep"
FORMAT_VERSION = 1
SWEEPS_DIR = "sweeps"  # under the runs root


# ----------------------------------------------------------------------------------------------------- on disk
class Submitter(Protocol):
    """What a sweep needs of whoever starts its runs: ffviz.runner.manager.RunManager's public API (not to be
    confused with ffviz.runner.launcher.Launcher, which starts one run's process)."""

    root: Path

    def submit(self, cfg: RunConfig, *, name: str | None = None, meta: dict[str, Any] | None = None) -> str: ...

    def cancel(self, run_id: str) -> None: ...

    def wait(self, run_id: str, timeout: float | None = None) -> bool: ...


def sweeps_root(runs_root: Path | str) -> Path:
    return Path(runs_root) / SWEEPS_DIR


@dataclass
class Sweep(SlotLeases):
    """A sweep folder. Its runs live in ``runs_root`` (the folder above ``sweeps/``)."""

    dir: Path
    spec: SweepSpec
    kind: str = "launched"  # "launched" (every slot started at once) or "class" (slots claimed one by one)
    created: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.dir.name

    @property
    def runs_root(self) -> Path:
        return self.dir.parent.parent

    @classmethod
    def create(cls, runs_root: Path | str, spec: SweepSpec, *, kind: str = "launched", owner: str | None = None
               ) -> Sweep:
        if kind not in ("launched", "class"):
            raise SweepError(f"kind={kind!r}: choose launched or class")
        root = sweeps_root(runs_root)
        root.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{_slug(spec.name)}"
        for i in range(1000):
            path = root / (base if i == 0 else f"{base}-{i}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise SweepError(f"could not create a sweep folder under {root}")
        (path / "slots").mkdir()
        created = dt.datetime.now().isoformat(timespec="seconds")
        d = {"format": FORMAT, "version": FORMAT_VERSION, "kind": kind, "created": created, "owner": owner,
             **spec.to_dict()}
        atomic_write_json(path / SWEEP_FILE, d)
        return cls(path, spec, kind, created, d)

    @classmethod
    def open(cls, path: Path | str) -> Sweep:
        path = Path(path)
        try:
            d = read_json(path / SWEEP_FILE)
        except (OSError, ValueError) as e:
            raise SweepError(f"{path} is not a readable sweep folder ({SWEEP_FILE}: {e})") from None
        if d.get("format") != FORMAT or not isinstance(d.get("version"), int) or d["version"] > FORMAT_VERSION:
            raise SweepError(f"{path}/sweep.json is not an ffviz sweep this version reads")
        try:
            spec = SweepSpec.from_dict(d)
        except (KeyError, TypeError, ValueError) as e:
            raise SweepError(f"{path}/sweep.json does not describe a valid sweep: {e}") from None
        return cls(path, spec, d.get("kind", "launched"), d.get("created", ""), d)

    # --- slots ---
    def slot_order(self) -> list[tuple[int, int]]:
        """(cell, seed) in the order slots are handed out: every cell once with the first seed, then the next seed,
        so a class that does not fill the grid still covers every cell."""
        return [(c, s) for s in self.spec.seeds for c in range(len(self.spec.cells()))]

    def slots(self) -> list[Slot]:
        """Every slot, in hand-out order, with what its file says (an unreadable file counts as an empty slot)."""
        out = []
        for cell, seed in self.slot_order():
            slot = Slot(cell, seed)
            try:
                d = read_json(self.dir / "slots" / f"{slot.key}.json")
                client = d.get("client")
                slot = Slot(cell, seed, d.get("run_id"), d.get("claimed_by"), float(d.get("renewed") or 0.0),
                            client if isinstance(client, str) else None)
            except (OSError, ValueError, TypeError):
                pass
            out.append(slot)
        return out

    def _write(self, slot: Slot) -> None:
        atomic_write_json(self.dir / "slots" / f"{slot.key}.json", slot.to_dict())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the sweep's lock (an flock, so it holds across the server's threads and other processes)."""
        with open(self.dir / "slots" / ".lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def run_dir(self, run_id: str) -> Path:
        return self.runs_root / run_id

    def run_state(self, run_id: str | None) -> str | None:
        """The state a slot's run is in, from its folder (None: no run, or its folder is gone)."""
        if not run_id:
            return None
        try:
            # a queued run has no process yet: it counts as queued (the launcher's queue survives in its folder)
            return folder_state(self.run_dir(run_id), read_json(RunFolder(self.run_dir(run_id)).meta))
        except (OSError, ValueError):
            return None

    def assign(self, cell: int, seed: int, run_id: str) -> None:
        """Record that this slot's run is run_id (a launched sweep, or a claim that started its run)."""
        with self._locked():
            current = {(s.cell, s.seed): s for s in self.slots()}[(cell, seed)]
            self._write(replace(current, run_id=run_id, renewed=time.time()))

    def run_name(self, slot: Slot) -> str:
        return f"{self.spec.name} {cell_label(self.spec.cells()[slot.cell])} seed {slot.seed}"

    def start_slot(self, slot: Slot, launcher: Submitter) -> str:
        """Submit the slot's run to the launcher and record it; returns the run id. A launched sweep's runs wait
        in the sweeps' share of the queue; a class experiment's cell is its student's own run."""
        meta = {SWEEP_QUEUE_KEY: self.id} if self.kind == "launched" else None
        run_id = launcher.submit(self.spec.config(slot.cell, slot.seed), name=self.run_name(slot), meta=meta)
        self.assign(slot.cell, slot.seed, run_id)
        return run_id

    @property
    def owner(self) -> str | None:
        owner = self.meta.get("owner")
        return owner if isinstance(owner, str) else None

    @property
    def cancelled(self) -> bool:
        return bool(self.meta.get("cancelled"))

    def cancel(self, launcher: Submitter) -> list[str]:
        """Stop the sweep: its queued runs leave the queue at once, its running ones stop at their next batch, and
        nothing of it starts again (finished cells stay on the grid). Returns the runs it stopped."""
        self.meta = {**read_json(self.dir / SWEEP_FILE), "cancelled": time.time()}
        atomic_write_json(self.dir / SWEEP_FILE, self.meta)
        stopped = []
        for slot in self.slots():
            if slot.run_id and self.run_state(slot.run_id) in ACTIVE:
                try:
                    launcher.cancel(slot.run_id)
                except KeyError:
                    continue
                stopped.append(slot.run_id)
        return stopped

    def tag_ended_runs(self, slots: Sequence[Slot] | None = None, *, skip: set[str] | None = None) -> int:
        """Write sweep, cell and seed into the meta.json of every run of this sweep that has ended and lacks them
        (once a run has ended nothing else writes its meta). ``skip``: run ids known to be tagged already (the
        caller's memory, so a page that polls does not reread them); tagged ones are added to it. Returns how many
        were tagged."""
        n = 0
        for slot in self.slots() if slots is None else slots:
            if not slot.run_id or (skip is not None and slot.run_id in skip):
                continue
            state = self.run_state(slot.run_id)
            if state is None or state in ACTIVE:
                continue
            path = self.run_dir(slot.run_id)
            try:
                if read_json(RunFolder(path).meta).get("sweep") == self.id:
                    if skip is not None:
                        skip.add(slot.run_id)
                    continue
            except (OSError, ValueError):
                continue
            update_meta(path, sweep=self.id, cell=self.spec.cells()[slot.cell], cell_index=slot.cell, seed=slot.seed)
            n += 1
            if skip is not None:
                skip.add(slot.run_id)
        return n


def outcomes(sweep: Sweep, *, read: Callable[[Path], RunReader | None] | None = None,
             state_of: Callable[[str], str | None] | None = None,
             slots: Sequence[Slot] | None = None) -> dict[int, list[RunOutcome]]:
    """Each cell's runs reduced to their numbers (figures.sweep.run_outcome), from their folders. ``read`` gives a
    run folder's reader (the app passes its shared, cached ones); ``state_of`` a run's state (the app's manager
    knows a queued run before its folder says so)."""
    out: dict[int, list[RunOutcome]] = {}
    for slot in sweep.slots() if slots is None else slots:
        if not slot.run_id:
            continue
        state = (state_of(slot.run_id) if state_of else None) or sweep.run_state(slot.run_id)
        try:
            reader = read(sweep.run_dir(slot.run_id)) if read else open_reader(sweep.run_dir(slot.run_id))
        except (OSError, ValueError):
            reader = None
        if reader is None or state is None:
            continue
        out.setdefault(slot.cell, []).append(run_outcome(reader.epochs, reader.test, state))
    return out


def launch(sweep: Sweep, launcher: Submitter) -> list[str]:
    """Start a run for every slot that has none (or whose run ended badly); returns the new run ids. A cancelled
    sweep starts nothing."""
    if sweep.cancelled:
        return []
    started = []
    now = time.time()
    for slot in sweep.slots():
        if not slot.run_id or (sweep.run_state(slot.run_id) in ENDED_BADLY and sweep.is_free(slot, now, 0.0)):
            started.append(sweep.start_slot(slot, launcher))
    return started


def run_sweep(spec: SweepSpec, launcher: Submitter, *, on_end: Any = None) -> Sweep:
    """Create the sweep, start every run through the launcher (which bounds how many train at once), wait for all of
    them and tag their folders. ``on_end(slot, state)`` is called as each run ends, in hand-out order."""
    sweep = Sweep.create(launcher.root, spec)
    launch(sweep, launcher)
    for slot in sweep.slots():
        launcher.wait(slot.run_id)
        if on_end is not None:
            on_end(slot, sweep.run_state(slot.run_id))
    sweep.tag_ended_runs()
    return sweep


def list_sweeps(runs_root: Path | str) -> list[Sweep]:
    """The readable sweeps under the runs root, newest first (an unreadable folder is skipped, never fatal)."""
    root = sweeps_root(runs_root)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir(), key=lambda p: p.name, reverse=True):
        if (d / SWEEP_FILE).is_file():
            try:
                out.append(Sweep.open(d))
            except SweepError:
                continue
    return out


def find_sweep(runs_root: Path | str, sweep_id: str | None) -> Sweep | None:
    """The sweep with this id (a plain folder name; anything else is never looked up)."""
    if not is_folder_name(sweep_id):
        return None
    path = sweeps_root(runs_root) / sweep_id
    try:
        return Sweep.open(path) if (path / SWEEP_FILE).is_file() else None
    except SweepError:
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:50] or "sweep"


def describe(sweep: Sweep) -> str:
    """One line for pickers and the CLI: "name · lambda_entropy x lambda_orth · 9 cells x 2 seeds"."""
    axes = " x ".join(a.field for a in sweep.spec.axes)
    kind = " · class experiment" if sweep.kind == "class" else ""
    return (f"{sweep.spec.name} · {axes} · {len(sweep.spec.cells())} cells x {len(sweep.spec.seeds)} seeds{kind}"
            f" · {sweep.created.replace('T', ' ')[:16]}")


def dumps(sweep: Sweep) -> str:
    return json.dumps({"sweep": sweep.id, "dir": str(sweep.dir),
                       "runs": {s.key: s.run_id for s in sweep.slots()}})
