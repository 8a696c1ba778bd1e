"""Who may do what on a shared server: each session an owner, one teacher, and the classroom settings no link undoes.

    me = Identity(token=new_token(), teacher=False)
    can_steer(me, meta)                  # its owner or the teacher: pause, stop, change, continue, resume, delete
    why_not(me, meta)                    # the one line a disabled control shows, or None
    settings = ClassroomSettings.load(runs_root)        # hidden and locked controls, limits: a file on the server

As on a JupyterHub: every user owns their work and an admin sees all. A run's owner is written into its meta.json
when it is started (or uploaded, or continued from a shipped run): the person (``oidc:<subject>``, ``proxy:<user>``,
ffviz/server/people.py) where the server knows one, else the session token, random, kept in the browser (a cookie),
never in a share link. A run without one (the command line's, the shipped ones) belongs to the teacher. The teacher
is an account the server's settings list (``teachers``, with school accounts or a proxy), or whoever gives the
server's password (``FFVIZ_TEACHER_PASSWORD`` or ``teacher_password`` in .streamlit/secrets.toml); with neither,
one person on a laptop, everyone is the teacher.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffviz.store.runs import owner_of
from ffviz.store.storage import atomic_write_json

PASSWORD_ENV = "FFVIZ_TEACHER_PASSWORD"
PASSWORD_SECRET = "teacher_password"
COOKIE = "ffviz_session"
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
SETTINGS_FILE = "classroom.json"


def new_token() -> str:
    """A session's identity: 128 random bits, as hex."""
    return secrets.token_hex(16)


def valid_token(value: Any) -> bool:
    return isinstance(value, str) and bool(_TOKEN.match(value))


def teacher_password(environ: Mapping[str, str], secrets_: Mapping[str, Any] | None = None) -> str | None:
    """The server's teacher password: the environment first, then secrets.toml; None (or empty) when unset."""
    value = environ.get(PASSWORD_ENV) or (secrets_ or {}).get(PASSWORD_SECRET)
    return str(value) if value else None


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison: the time a wrong guess takes says nothing about the password."""
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class Identity:
    token: str  # the owner this session writes into runs: the person ("oidc:...", "proxy:...") or the browser token
    teacher: bool  # a teacher account, signed in with the password, or no teacher is set at all
    name: str | None = None  # how the person is shown (name or email); None for a browser token
    kind: str = "token"  # the server's sign-in mode: "oidc", "proxy" or "token"

    @property
    def owner(self) -> str:
        return self.token

    @property
    def person(self) -> bool:
        return self.kind != "token"

    def owns(self, owner: str | None) -> bool:
        return self.teacher or (owner is not None and hmac.compare_digest(owner.encode(), self.token.encode()))


def can_steer(who: Identity, meta: Mapping[str, Any]) -> bool:
    """Pause, step, stop, change live, continue, resume or delete this run: its owner, or the teacher."""
    return who.owns(owner_of(meta))


def why_not(who: Identity, meta: Mapping[str, Any]) -> str | None:
    """The one line a control shows when this session may only watch the run; None when it may steer it."""
    if can_steer(who, meta):
        return None
    if owner_of(meta) is None:
        return "This run belongs to the teacher: you can watch it, not change it."
    if who.person:
        return "Another person started this run: you can watch it, not change it."
    return "Another session started this run: you can watch it, not change it."


class NotOwner(PermissionError):
    """A request to steer a run by a session that does not own it (a disabled button pressed all the same)."""


def require_steer(who: Identity, meta: Mapping[str, Any], what: str) -> None:
    """Raise NotOwner, saying why, unless ``who`` may steer the run: every steering action calls it server-side,
    so a crafted request fares no better than the disabled button."""
    reason = why_not(who, meta)
    if reason is not None:
        raise NotOwner(f"Refused to {what}: {reason}")


# ----------------------------------------------------------------------------------------------------- classroom
@dataclass(frozen=True)
class ClassroomSettings:
    """What the teacher set for the whole server, kept in <runs root>/classroom.json: the controls students do not
    see (hide) or see disabled (lock, lock_all: every setting), and limits that replace the server's (by name, see
    ffviz.server.limits.Limits). The teacher is never bound by hide and lock; limits bind everyone's runs."""

    hide: tuple[str, ...] = ()
    lock: tuple[str, ...] = ()
    lock_all: bool = False
    limits: tuple[tuple[str, int], ...] = ()

    @classmethod
    def load(cls, root: Path) -> ClassroomSettings:
        """The settings file, or none when absent; a file that does not read gives none (and the teacher sees it
        said on the settings panel via ``problem``)."""
        return cls.read(root)[0]

    @classmethod
    def read(cls, root: Path) -> tuple[ClassroomSettings, str | None]:
        path = Path(root) / SETTINGS_FILE
        if not path.exists():
            return cls(), None
        try:
            raw = json.loads(path.read_text())
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            return cls(hide=_names(raw.get("hide")), lock=_names(raw.get("lock")),
                       lock_all=raw.get("lock_all") is True,
                       limits=tuple(sorted((str(k), int(v)) for k, v in (raw.get("limits") or {}).items()
                                           if isinstance(v, int) and not isinstance(v, bool) and v >= 1))), None
        except (OSError, ValueError, TypeError, AttributeError, RecursionError) as e:
            return cls(), f"{path} could not be read ({e}); no classroom settings apply until it is saved again"

    def save(self, root: Path) -> None:
        data = dataclasses.asdict(self)
        data["limits"] = dict(self.limits)
        atomic_write_json(Path(root) / SETTINGS_FILE, data)

    @property
    def classroom(self) -> bool:
        return bool(self.hide or self.lock or self.lock_all)


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(v for v in value if isinstance(v, str) and len(v) <= 100))
