"""The teacher's sign-in, guarded: wrong passwords slow down each try after the first few, per session and per client
address, and a sign-in lasts a school day, not until the server restarts.

    throttle = SignInThrottle()                       # one per server
    keys = [("session", token), ("client", address)]
    if (wait := throttle.wait(keys)) > 0: refuse unheard, say "try again in {wait:.0f} s"
    elif password_matches(...): throttle.succeeded(keys)  else: throttle.failed(keys)
    teachers = TeacherSessions(hours=8); teachers.add(token); token in teachers

The delay after the n-th wrong password in a row from one key is 0 for the first FREE_TRIES, then BASE_S * 2^(n -
FREE_TRIES), at most CAP_S: a teacher who mistypes waits a second or two; a guesser pays CAP_S per guess (200
guesses from one client take over 95 minutes), and the right password is still accepted once the wait is over.
A try during the wait is not heard at all (not counted, not checked), so asking faster gains nothing. The clock is
injectable, so tests check the schedule without waiting for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable

FREE_TRIES = 3
BASE_S = 1.0
CAP_S = 30.0
FORGET_S = 3600.0  # a key with no wrong password for an hour starts afresh
MAX_KEYS = 10_000  # beyond this many remembered keys the oldest are dropped (memory stays bounded)
TEACHER_HOURS = 8.0


def delay_after(failures: int) -> float:
    """Seconds to wait after this many wrong passwords in a row."""
    if failures < FREE_TRIES:
        return 0.0
    return min(CAP_S, BASE_S * 2.0 ** (failures - FREE_TRIES))


class SignInThrottle:
    """Wrong-password counts per key (a session token, a client address), each with the time its next try is heard."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._state: dict[Hashable, tuple[int, float, float]] = {}  # key -> (failures, last failure, next allowed)

    def wait(self, keys: Iterable[Hashable]) -> float:
        """Seconds until a try from all these keys is heard (0: now)."""
        now = self.clock()
        with self._lock:
            return max((self._get(k, now)[2] - now for k in keys), default=0.0) if self._state else 0.0

    def failed(self, keys: Iterable[Hashable]) -> float:
        """Record a wrong password from these keys; returns the wait before the next try is heard."""
        now = self.clock()
        longest = 0.0
        with self._lock:
            for key in keys:
                failures = self._get(key, now)[0] + 1
                wait = delay_after(failures)
                self._state[key] = (failures, now, now + wait)
                longest = max(longest, wait)
            if len(self._state) > MAX_KEYS:
                for key, _ in sorted(self._state.items(), key=lambda kv: kv[1][1])[:len(self._state) - MAX_KEYS]:
                    del self._state[key]
        return longest

    def succeeded(self, keys: Iterable[Hashable]) -> None:
        with self._lock:
            for key in keys:
                self._state.pop(key, None)

    def failures(self, key: Hashable) -> int:
        with self._lock:
            return self._get(key, self.clock())[0]

    def _get(self, key: Hashable, now: float) -> tuple[int, float, float]:
        entry = self._state.get(key)
        if entry is None or now - entry[1] > FORGET_S:
            return 0, now, now
        return entry


class TeacherSessions:
    """The session tokens signed in as the teacher, each until ``hours`` after its sign-in."""

    def __init__(self, *, hours: float = TEACHER_HOURS, clock: Callable[[], float] = time.time) -> None:
        self.seconds = hours * 3600.0
        self.clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def add(self, token: str) -> None:
        with self._lock:
            now = self.clock()
            self._until = {t: u for t, u in self._until.items() if u > now}  # the expired ones go
            self._until[token] = now + self.seconds

    def discard(self, token: str) -> None:
        with self._lock:
            self._until.pop(token, None)

    def __contains__(self, token: object) -> bool:
        with self._lock:
            until = self._until.get(token) if isinstance(token, str) else None
            return until is not None and until > self.clock()
