"""Sweeps: a grid of settings times a list of seeds, each (cell, seed) a normal run, grouped on disk as one sweep.

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
(see ``Sweep.claim``): a claim that never got a run, or whose run failed or was stopped, lapses after its lease.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import itertools
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ffviz.config import FIELDS, RunConfig
from ffviz.figures.sweep import RunOutcome, run_outcome
from ffviz.store.folder import ACTIVE, ENDED_BADLY, RunFolder, is_folder_name
from ffviz.store.runs import RunReader, open_reader, update_meta
from ffviz.store.runstate import run_state as folder_state
from ffviz.store.storage import atomic_write_json, read_json

SWEEP_FILE = "sweep.json"  # a sweep folder's one file (its runs are run folders: ffviz/store/folder.py)
FORMAT = "ffviz-sweep"
FORMAT_VERSION = 1
SWEEPS_DIR = "sweeps"  # under the runs root
MAX_AXES = 2  # a heatmap has two axes; more would need slices of the grid
# The most runs (cells x seeds) one sweep may hold. A server-wide limits module would own this; until there is one,
# it bounds what a page, a link or the CLI can ask of one sweep.
MAX_SWEEP_RUNS = 36
LEASE_SECONDS = 90.0  # a class-experiment claim with no run lapses this long after its holder was last seen
_NOT_SWEPT = ("seed", "data_root", "device")  # seeds are the other dimension; where data lives is the server's


class SweepError(ValueError):
    """A sweep that cannot be made or read; the message names what was wrong and what to do."""


# ----------------------------------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class Axis:
    """One swept setting: a RunConfig field and the values it takes, in order."""

    field: str
    values: tuple[Any, ...]

    @property
    def label(self) -> str:
        return self.field


def parse_axis(text: str) -> Axis:
    """``"lambda_entropy=0,0.01,0.1"`` -> Axis; values are checked against the field when the spec is built."""
    name, sep, values = str(text).partition("=")
    name = name.strip().replace("-", "_")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not name or not items:
        raise SweepError(f"--grid {text!r}: write it as FIELD=V1,V2,... (e.g. lambda_entropy=0,0.01,0.1)")
    return Axis(name, tuple(items))


def parse_seeds(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"1,2"`` -> (1, 2); every seed a whole number >= 0, none twice."""
    items = [s.strip() for s in text.split(",") if s.strip()] if isinstance(text, str) else list(text)
    try:
        seeds = tuple(int(s) for s in items)
    except (TypeError, ValueError):
        raise SweepError(f"seeds={text!r}: give whole numbers separated by commas, e.g. 1,2,3") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise SweepError(f"seeds={text!r}: give at least one seed, each >= 0 and none twice")
    return seeds


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep trains: ``base`` with each cell's values on top, once per seed."""

    base: RunConfig
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    name: str = "sweep"
    max_runs: int = field(default=MAX_SWEEP_RUNS, compare=False)  # a bound on creation, not part of the sweep

    def __post_init__(self) -> None:
        if not 1 <= len(self.axes) <= MAX_AXES:
            raise SweepError(f"a sweep has 1 or {MAX_AXES} swept settings (--grid); got {len(self.axes)}")
        names = [a.field for a in self.axes]
        for name in names:
            if name not in FIELDS:
                raise SweepError(f"--grid {name}: not a setting; valid settings: {', '.join(sorted(FIELDS))}")
            if name in _NOT_SWEPT:
                raise SweepError(f"--grid {name}: {name} cannot be swept"
                                 + (" (use --seeds for seeds)" if name == "seed" else ""))
        if len(set(names)) != len(names):
            raise SweepError(f"each setting may be swept once; got {', '.join(names)}")
        object.__setattr__(self, "seeds", parse_seeds(self.seeds))
        # Each value as the config holds it (0 and 0.0 are one value), checked against its field's rules.
        axes = []
        for axis in self.axes:
            try:
                values = tuple(getattr(self.base.replace(**{axis.field: v}), axis.field) for v in axis.values)
            except ValueError as e:
                raise SweepError(f"--grid {axis.field}: {e}") from None
            if len(set(map(repr, values))) != len(values):
                raise SweepError(f"--grid {axis.field}: a value is listed twice")
            axes.append(Axis(axis.field, values))
        object.__setattr__(self, "axes", tuple(axes))
        if self.num_runs > self.max_runs:
            raise SweepError(f"{len(self.cells())} cells x {len(self.seeds)} seeds = {self.num_runs} runs; one sweep "
                             f"may hold at most {self.max_runs}. Use fewer values or seeds.")
        for cell in range(len(self.cells())):  # every cell's config must validate together (e.g. lr_min <= lr)
            try:
                self.config(cell, self.seeds[0])
            except ValueError as e:
                raise SweepError(f"the cell {self.cells()[cell]} is not a valid config: {e}") from None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a.values) for a in self.axes)

    @property
    def num_runs(self) -> int:
        return len(self.cells()) * len(self.seeds)

    def cells(self) -> list[dict[str, Any]]:
        """Every combination of the axes' values, row-major (the last axis varies fastest)."""
        return [dict(zip((a.field for a in self.axes), combo, strict=True))
                for combo in itertools.product(*(a.values for a in self.axes))]

    def config(self, cell: int, seed: int) -> RunConfig:
        return self.base.replace(**self.cells()[cell], seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base.to_dict(),
                "axes": [{"field": a.field, "values": list(a.values)} for a in self.axes],
                "seeds": list(self.seeds), "cells": self.cells()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        return cls(base=RunConfig.from_dict(d["base"]), axes=tuple(Axis(a["field"], tuple(a["values"]))
                                                                  for a in d["axes"]),
                   seeds=tuple(d["seeds"]), name=d.get("name", "sweep"), max_runs=10**6)  # a written sweep stands


def cell_label(values: dict[str, Any]) -> str:
    """``{"lambda_entropy": 0.01, "lambda_orth": 0.0}`` -> ``"lambda_entropy=0.01, lambda_orth=0"``."""
    return ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# ----------------------------------------------------------------------------------------------------- on disk
@dataclass
class Slot:
    """One (cell, seed) of a sweep and what became of it."""

    cell: int
    seed: int
    run_id: str | None = None
    claimed_by: str | None = None  # a class-experiment session's token
    renewed: float = 0.0  # when its holder was last seen (time.time())
    client: str | None = None  # the holder's client address, when the server knows it

    @property
    def key(self) -> str:
        return f"c{self.cell:03d}-s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.cell, "seed": self.seed, "run_id": self.run_id, "claimed_by": self.claimed_by,
                "renewed": self.renewed, "client": self.client}


class Submitter(Protocol):
    """What a sweep needs of whoever starts its runs: ffviz.runner.manager.RunManager's public API (not to be
    confused with ffviz.runner.launcher.Launcher, which starts one run's process)."""

    root: Path

    def submit(self, cfg: RunConfig, *, name: str | None = None) -> str: ...

    def wait(self, run_id: str, timeout: float | None = None) -> bool: ...


def sweeps_root(runs_root: Path | str) -> Path:
    return Path(runs_root) / SWEEPS_DIR


@dataclass
class Sweep:
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
    def create(cls, runs_root: Path | str, spec: SweepSpec, *, kind: str = "launched") -> Sweep:
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
        atomic_write_json(path / SWEEP_FILE, {"format": FORMAT, "version": FORMAT_VERSION, "kind": kind,
                                              "created": created, **spec.to_dict()})
        return cls(path, spec, kind, created)

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

    def is_free(self, slot: Slot, now: float, lease: float) -> bool:
        """A slot no one holds: never claimed, or a claim that lapsed with no run or with a run that ended badly."""
        state = self.run_state(slot.run_id)
        if slot.run_id and state is not None and state not in ENDED_BADLY:
            return False  # training, queued or finished: the cell is being (or has been) filled
        never_taken = slot.claimed_by is None and not slot.run_id
        return never_taken or now - slot.renewed > lease

    def assign(self, cell: int, seed: int, run_id: str) -> None:
        """Record that this slot's run is run_id (a launched sweep, or a claim that started its run)."""
        with self._locked():
            current = {(s.cell, s.seed): s for s in self.slots()}[(cell, seed)]
            self._write(replace(current, run_id=run_id, renewed=time.time()))

    def claim(self, token: str, *, lease: float = LEASE_SECONDS, now: float | None = None,
              client: str | None = None, per_client: int | None = None) -> Slot | None:
        """The slot this session holds, or the next free one, now held by it (None: every slot is taken, or this
        session's client address already holds ``per_client`` slots: fresh cookies from one address do not take
        more than its share)."""
        now = time.time() if now is None else now
        with self._locked():
            slots = self.slots()
            for slot in slots:
                if slot.claimed_by == token and not self.is_free(slot, now, lease):
                    slot = replace(slot, renewed=now)
                    self._write(slot)
                    return slot
            if client is not None and per_client is not None and self._held_by_client(slots, client, now,
                                                                                        lease) >= per_client:
                return None
            for slot in slots:
                if self.is_free(slot, now, lease):
                    slot = Slot(slot.cell, slot.seed, None, token, now, client)  # a lapsed run is dropped
                    self._write(slot)
                    return slot
        return None

    def _held_by_client(self, slots: Sequence[Slot], client: str, now: float, lease: float) -> int:
        return sum(1 for s in slots if s.client == client and not self.is_free(s, now, lease))

    def client_share_taken(self, client: str | None, per_client: int, *, lease: float = LEASE_SECONDS) -> bool:
        """Whether this client address already holds its share of the slots."""
        return client is not None and self._held_by_client(self.slots(), client, time.time(), lease) >= per_client

    def held_by(self, token: str) -> Slot | None:
        return next((s for s in self.slots() if s.claimed_by == token), None)

    def renew(self, token: str, *, now: float | None = None) -> None:
        """The holder is still here: push its lease on."""
        now = time.time() if now is None else now
        with self._locked():
            for slot in self.slots():
                if slot.claimed_by == token:
                    self._write(replace(slot, renewed=now))

    def run_name(self, slot: Slot) -> str:
        return f"{self.spec.name} {cell_label(self.spec.cells()[slot.cell])} seed {slot.seed}"

    def start_slot(self, slot: Slot, launcher: Submitter) -> str:
        """Submit the slot's run to the launcher and record it; returns the run id."""
        run_id = launcher.submit(self.spec.config(slot.cell, slot.seed), name=self.run_name(slot))
        self.assign(slot.cell, slot.seed, run_id)
        return run_id

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
    """Start a run for every slot that has none (or whose run ended badly); returns the new run ids."""
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
