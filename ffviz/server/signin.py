"""The teacher's sign-in, guarded: wrong passwords slow down each try after the first few, per session and per client
address (per person, where the server knows one), and a sign-in lasts a school day, not until the server restarts.

    throttle = SignInThrottle()                       # one per server
    keys = [("session", token), ("client", address)]  # or [("person", owner)] with school accounts or a proxy
    if (wait := throttle.wait(keys)) > 0: refuse unheard, say "try again in {wait:.0f} s"
    elif password_matches(...): throttle.succeeded(keys)  else: throttle.failed(keys)
    teachers = TeacherSessions(hours=8); teachers.add(token); token in teachers

The delay after the n-th wrong password in a row from one key is 0 for the first FREE_TRIES, then BASE_S * 2^(n -
FREE_TRIES), at most CAP_S: a teacher who mistypes waits a second or two; a guesser pays CAP_S per guess (200
guesses from one client take over 95 minutes), and the right password is still accepted once the wait is over.
A try during the wait is not heard at all (not counted, not checked), so asking faster gains nothing. The clock is
injectable, so tests check the schedule without waiting for it.

An address is shared: a student's wrong passwords from the teacher's address must not lock the teacher out, so a
("client", ...) key waits at most ADDRESS_CAP_S. The price: fresh cookies from one address get one try heard every
ADDRESS_CAP_S (720 an hour) instead of every CAP_S; a session's own key, and a person's, still waits up to CAP_S.
Where the server knows people (school accounts, a proxy), the key is the person, who cannot be multiplied.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable

FREE_TRIES = 3
BASE_S = 1.0
CAP_S = 30.0
ADDRESS_CAP_S = 5.0  # the longest a client address's wrong passwords delay a try from a fresh session there
FORGET_S = 3600.0  # a key with no wrong password for an hour starts afresh
MAX_KEYS = 10_000  # beyond this many remembered keys the oldest are dropped (memory stays bounded)
TEACHER_HOURS = 8.0


def delay_after(failures: int, cap: float = CAP_S) -> float:
    """Seconds to wait after this many wrong passwords in a row."""
    if failures < FREE_TRIES:
        return 0.0
    return min(cap, BASE_S * 2.0 ** (failures - FREE_TRIES))


def cap_of(key: Hashable) -> float:
    """The longest wait a key's wrong passwords impose: ADDRESS_CAP_S for a client address, CAP_S otherwise."""
    return ADDRESS_CAP_S if isinstance(key, tuple) and key[:1] == ("client",) else CAP_S


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
                wait = delay_after(failures, cap_of(key))
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


class ClientSessions:
    """The live sessions of each client address (or person), so one address cannot open sessions without end: each
    costs the server memory and every page's share of it (30 tabs slowed a classmate's page to 4.8 s). A session
    counts while ``alive(session_id)`` says so (Streamlit's runtime: its browser is connected)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[Hashable, set[str]] = {}

    def admit(self, key: Hashable, session_id: str, cap: int, alive: Callable[[str], bool]) -> bool:
        """Whether this session may stay: it already counts, or fewer than ``cap`` live sessions share its key."""
        with self._lock:
            held = self._by_key.setdefault(key, set())
            if session_id in held:
                return True
            held -= {s for s in held if not alive(s)}
            if len(held) >= cap:
                return False
            held.add(session_id)
            if len(self._by_key) > MAX_KEYS:  # keys with no live session go (memory stays bounded)
                for k in [k for k, v in self._by_key.items() if not v or not any(alive(s) for s in v)]:
                    self._by_key.pop(k, None)
            return True

    def count(self, key: Hashable, alive: Callable[[str], bool]) -> int:
        with self._lock:
            return sum(1 for s in self._by_key.get(key, ()) if alive(s))
