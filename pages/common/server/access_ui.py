"""The session's identity and the teacher in the app: a token kept in a cookie, the sign-in box, the classroom
settings the teacher saves on the server, and the server's limits as this session must obey them.

    who = access_ui.identity()                 # Identity(token: the owner, teacher, name, kind)
    access_ui.guard(meta, "stop this run")     # False (and a message) when this session may only watch
    limits = access_ui.limits()              # ffviz.server.limits.Limits: secrets.toml, environment, classroom

The rules live in ffviz/server/access.py, people.py (the sign-in mode: school accounts, a proxy's user, or browser
tokens) and limits.py; here they meet Streamlit (st.user, headers, cookies, secrets, widgets).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import streamlit as st

from ffviz.data.registry import DATA_DIR_ENV, DOWNLOADS_ENV
from ffviz.server.access import (
    COOKIE,
    SETTINGS_FILE,
    ClassroomSettings,
    Identity,
    NotOwner,
    new_token,
    owner_of,
    require_steer,
    teacher_password,
    valid_token,
)
from ffviz.server.limits import LimitError, Limits, check_run, format_limit
from ffviz.server.people import SignInMode, client_key, display_name, oidc_subject, person_owner, proxy_user
from ffviz.server.signin import SignInThrottle, TeacherSessions
from ffviz.store.catalog import folder_size
from ffviz.store.folder import RunFolder
from ffviz.store.places import runs_root
from ffviz.store.runs import list_runs
from ffviz.store.storage import read_json

TOKEN_KEY = "_ffviz_token"
COOKIE_SET_KEY = "_ffviz_cookie_set"
DENIED_KEY = "_ffviz_denied"  # the last refused action's message, shown once
COOKIE_DAYS = 180


# (when read, what was read): every widget asks whether it is hidden, so the file is read at most once a second.
_SECRETS: list[Any] = [0.0, {}]


def _secrets() -> dict[str, Any]:
    """.streamlit/secrets.toml as a dict; empty when there is none (st.secrets raises then)."""
    now = time.monotonic()
    if now - _SECRETS[0] > 1.0:
        try:
            _SECRETS[1] = dict(st.secrets.to_dict())
        except Exception:  # noqa: BLE001 - no secrets file, or one that does not parse: the server runs without it
            _SECRETS[1] = {}
        _SECRETS[0] = now
    return _SECRETS[1]


def password() -> str | None:
    return teacher_password(os.environ, _secrets())


@st.cache_resource(show_spinner=False)
def _teachers() -> TeacherSessions:
    """Session tokens signed in as the teacher, each for a school day (ffviz/server/signin.py; a reload keeps it)."""
    return TeacherSessions()


@st.cache_resource(show_spinner=False)
def _throttle() -> SignInThrottle:
    """Wrong teacher passwords, per session and per client address: each try after the first few waits longer."""
    return SignInThrottle()


def mode() -> SignInMode:
    """The server's sign-in mode (ffviz/server/people.py): [auth] in secrets.toml, a declared proxy user header, or
    browser tokens."""
    return SignInMode.from_sources(os.environ, _secrets())


def _headers() -> Any:
    try:
        return st.context.headers
    except Exception:  # noqa: BLE001 - no browser behind this session (AppTest)
        return {}


def person() -> tuple[str, str] | None:
    """(owner, shown name) of the person signed in to this session, in the school-accounts and proxy modes; None
    in the token mode, or before the person has signed in (the sign-in gate stops the page then)."""
    m = mode()
    if m.kind == "oidc":
        try:
            claims = st.user.to_dict() if st.user.is_logged_in else {}
        except Exception:  # noqa: BLE001 - Streamlit without a user context (AppTest)
            claims = {}
        subject = oidc_subject(claims)
        return (person_owner("oidc", subject), display_name(claims, subject)) if subject else None
    if m.kind == "proxy" and m.user_header:
        user = proxy_user(_headers(), m.user_header)
        return (person_owner("proxy", user), user) if user else None
    return None


def _person_is_teacher(m: SignInMode) -> bool:
    if m.kind == "oidc":
        try:
            claims = st.user.to_dict()
        except Exception:  # noqa: BLE001 - no user context
            return False
        return m.is_teacher(*(claims.get(c) for c in ("email", "sub", "preferred_username")
                              if isinstance(claims.get(c), str)))
    return m.is_teacher(proxy_user(_headers(), m.user_header or ""))


def client_address() -> str | None:
    """What the per-client bounds (runs, class-experiment cells, uploads disk, sessions, the sign-in throttle) count
    under: the person, where the server knows one; else the address this session's browser connects from
    (``loopback`` for this machine), X-Forwarded-For's last entry only behind a proxy the teacher declared
    (ffviz/server/people.py: client_key). None without a browser (AppTest). Fresh cookies do not change it."""
    if (who := person()) is not None:
        return who[0]
    try:
        ip = st.context.ip_address
        return client_key(_headers(), ip if isinstance(ip, str) and ip else None, trusted=mode().trusted_proxy)
    except Exception:  # noqa: BLE001 - no browser behind this session (AppTest)
        return None


def _cookie() -> str | None:
    try:
        return st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser behind this session (AppTest)
        return None


def identity() -> Identity:
    """This session's identity: the person signed in (school accounts, a proxy), else the token in its browser's
    cookie (set on its first visit). The teacher: a teacher account, a session signed in with the password, or
    everyone when the server names no teacher at all."""
    ss = st.session_state
    if not valid_token(ss.get(TOKEN_KEY)):
        cookie = _cookie()
        ss[TOKEN_KEY] = cookie if valid_token(cookie) else new_token()
        ss[COOKIE_SET_KEY] = cookie == ss[TOKEN_KEY]
    m = mode()
    nobody = password() is None and not m.teachers  # no teacher named: one person on a laptop
    if (who := person()) is not None:
        teacher = nobody or who[0] in _teachers() or _person_is_teacher(m)
        return Identity(token=who[0], teacher=teacher, name=who[1], kind=m.kind)
    token = ss[TOKEN_KEY]
    return Identity(token=token, teacher=nobody or token in _teachers())


def keep_cookie() -> None:
    """Store a new session's token in the browser, so a reload or a tab opened later is the same owner. Not in the
    URL: a link a student shares must not hand over their runs."""
    ss = st.session_state
    if ss.get(COOKIE_SET_KEY):
        return
    ss[COOKIE_SET_KEY] = True
    token = identity().token
    # SameSite=Strict: no other site's page sends it; Secure wherever the page came over https. (Streamlit gives a
    # page no way to set an HttpOnly cookie: the token is random and never leaves this site.)
    st.html(f"<script>document.cookie = '{COOKIE}={token}; path=/; max-age={COOKIE_DAYS * 86400}; "
            "SameSite=Strict' + (location.protocol === 'https:' ? '; Secure' : '');</script>",
            unsafe_allow_javascript=True, width="content")


def guard(meta: dict[str, Any], what: str) -> bool:
    """True when this session may steer the run whose meta.json this is; else False and a message to show. Every
    steering callback asks, so a request for a disabled control is refused here too."""
    try:
        require_steer(identity(), meta, what)
    except NotOwner as e:
        st.session_state[DENIED_KEY] = str(e)
        return False
    return True


def show_denied() -> None:
    if message := st.session_state.pop(DENIED_KEY, None):
        st.error(message, icon=":material/block:")


# ----------------------------------------------------------------------------------------------------- settings
_SETTINGS_CACHE: dict[str, tuple[int, ClassroomSettings, str | None]] = {}


def classroom_settings() -> tuple[ClassroomSettings, str | None]:
    """The teacher's saved settings (read again only when the file changes) and a problem reading them, if any."""
    path = runs_root() / SETTINGS_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return ClassroomSettings(), None
    cached = _SETTINGS_CACHE.get(str(path))
    if cached is None or cached[0] != stamp:
        cached = (stamp, *ClassroomSettings.read(runs_root()))
        _SETTINGS_CACHE[str(path)] = cached
    return cached[1], cached[2]


def limits() -> Limits:
    """The limits this server holds: defaults, secrets.toml's [limits], FFVIZ_LIMIT_* variables, the teacher's."""
    settings, _ = classroom_settings()
    secrets = _secrets().get("limits")
    return Limits.from_sources(os.environ, secrets if isinstance(secrets, dict) else {}, dict(settings.limits))[0]


def limit_notes() -> list[str]:
    settings, problem = classroom_settings()
    secrets = _secrets().get("limits")
    notes = Limits.from_sources(os.environ, secrets if isinstance(secrets, dict) else {}, dict(settings.limits))[1]
    return notes + ([problem] if problem else [])


# ----------------------------------------------------------------------------------------------------- limits
# Held from a Start's check to its run being listed: concurrent Starts (thirty students at once) are admitted one
# after another, so the per-student and per-address counts see each other's runs (without it, 6 Starts at once from
# one address made 5 runs under a bound of 4).
ADMISSION = threading.RLock()


def check_submit(cfg: Any, active: list[Any], *, new_run: bool = True) -> bool:
    """Whether this session may start (or continue) a run of cfg under the server's limits, given the manager's
    active runs; when not, the refusal (naming the limit and its value) is kept to show on the page. Counted per
    session (its token) and per client address (fresh cookies do not multiply a share); disk per session too."""
    who = identity()
    client = client_address()
    metas = [(info, _meta(info.dir)) for info in active]
    mine = sum(1 for _, meta in metas if owner_of(meta) == who.token)
    theirs = sum(1 for _, meta in metas if client is not None and meta.get("client") == client)
    queued = sum(1 for info in active if info.state == "queued" and not getattr(info, "sweep", None))  # own queue
    used = owned = 0
    if new_run:
        for p in list_runs(runs_root()):
            size = folder_size(p)
            used += size
            if owner_of(_meta(p)) == who.token:
                owned += size
    try:
        check_run(cfg, limits(), owner_active=mine, queued=queued, runs_bytes=used, new_run=new_run,
                  client_active=0 if who.teacher else theirs, owner_bytes=0 if who.teacher else owned)
    except LimitError as e:
        st.session_state[DENIED_KEY] = f"Not started: {e}"
        return False
    return True


def run_meta() -> dict[str, Any]:
    """What the server writes into the meta.json of every run this session starts or copies: its owner (the session
    token), its client address, and the disk the run may use while it trains (ffviz/runner/run_writer.py stops it
    beyond)."""
    out: dict[str, Any] = {"owner": identity().token, "max_bytes": limits().max_run_bytes}
    if client := client_address():
        out["client"] = client
    return out


def upload_meta() -> dict[str, Any]:
    """What the server writes into an upload's meta.json: its owner, and the key the per-client uploads bound counts
    it under (the client address, or the person)."""
    out: dict[str, Any] = {"owner": identity().token}
    if client := client_address():
        out["client"] = client
    return out


def refuse_upload(run_dir: Path) -> str | None:
    """After an upload was kept (and its owner's retention applied): None when the uploads of this session's client
    address (person) stay within max_uploads_bytes; else the new upload is removed and the refusal returned. Fresh
    cookies from one address share one bound (issue 27: three cookies had kept 8.7 MiB under a 4 MiB bound)."""
    client, who = client_address(), identity()
    if client is None or who.teacher:
        return None
    bound = limits().max_uploads_bytes
    used = sum(folder_size(p) for p in list_runs(Path(run_dir).parent) if _meta(p).get("client") == client)
    if used <= bound:
        return None
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)
    where = "your account" if who.person else "your network address"
    return (f"Not kept: the uploads of {where} would use {used / 2**20:.1f} MiB; this server's limit "
            f"max_uploads_bytes is {format_limit('max_uploads_bytes', bound)}. Delete some uploads first, or ask "
            "the teacher to raise the limit.")


def _meta(run_dir: Any) -> dict[str, Any]:
    try:
        return read_json(RunFolder(run_dir).meta)
    except (OSError, ValueError):
        return {}


def apply_data_settings(repo: Any) -> None:
    """Where datasets live and whether they may be downloaded belong to the server, never to a page, link or upload:
    $FFVIZ_DATA_DIR and $FFVIZ_DOWNLOADS as the server was started with, else secrets.toml's data_root and
    allow_downloads, else <repo>/data and no downloads. Runs read them from the environment (ffviz.data.registry)."""
    secrets = _secrets()
    os.environ.setdefault(DATA_DIR_ENV, str(secrets.get("data_root") or Path(repo) / "data"))
    os.environ.setdefault(DOWNLOADS_ENV, "1" if secrets.get("allow_downloads") is True else "0")
