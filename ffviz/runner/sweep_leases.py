"""Class experiments' claims on a sweep's slots: each student's session holds the next free (cell, seed) while its page
is open, and a claim that never got a run, or whose run failed or was stopped, lapses after its lease.

    slot = sweep.claim(token, client="10.0.0.7", per_client=2)     # Sweep (ffviz/runner/sweep_store.py) has these
    sweep.renew(token)

A mixin of Sweep: the slot files and their lock are the store's (sweep_store.py); the hand-out rules are here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ffviz.store.folder import ENDED_BADLY

LEASE_SECONDS = 90.0  # a class-experiment claim with no run lapses this long after its holder was last seen


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


class SlotLeases:
    """Claiming, renewing and freeing slots; needs the store's slots(), _locked(), _write() and run_state()."""

    def is_free(self, slot: Slot, now: float, lease: float) -> bool:
        """A slot no one holds: never claimed, or a claim that lapsed with no run or with a run that ended badly."""
        state = self.run_state(slot.run_id)
        if slot.run_id and state is not None and state not in ENDED_BADLY:
            return False  # training, queued or finished: the cell is being (or has been) filled
        never_taken = slot.claimed_by is None and not slot.run_id
        return never_taken or now - slot.renewed > lease

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
                    # a lapsed run is dropped: the cell is this session's to train again
                    slot = replace(slot, run_id=None, claimed_by=token, renewed=now, client=client)
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
