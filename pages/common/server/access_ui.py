"""The session's identity and the teacher in the app: a token kept in a cookie, the sign-in box, the classroom
settings the teacher saves on the server, and the server's limits as this session must obey them.

    who = access_ui.identity()                 # Identity(token, teacher)
    access_ui.guard(meta, "stop this run")     # False (and a message) when this session may only watch
    limits = access_ui.limits()              # ffviz.server.limits.Limits: secrets.toml, environment, classroom

The rules live in ffviz/server/access.py and ffviz/server/limits.py; here they meet Streamlit (cookies, secrets,
widgets).
"""

from __future__ import annotations

import os
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
    password_matches,
    require_steer,
    teacher_password,
    valid_token,
)
from ffviz.server.limits import LimitError, Limits, check_run, format_limit
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


TRUSTED_PROXY_ENV = "FFVIZ_TRUSTED_PROXY"  # "1": the server sits behind a reverse proxy that sets X-Forwarded-For


def client_address() -> str | None:
    """The address this session's browser connects from: Streamlit's (``loopback`` for a browser on this machine,
    which Streamlit reports as none), or behind a reverse proxy the teacher declared (FFVIZ_TRUSTED_PROXY=1) the
    last address of X-Forwarded-For, the one that proxy saw. None without a browser (AppTest). Fresh cookies do
    not change it: the server-wide caps on runs and class-experiment cells count per address."""
    try:
        if os.environ.get(TRUSTED_PROXY_ENV) == "1":
            forwarded = st.context.headers.get("X-Forwarded-For")
            if isinstance(forwarded, str) and forwarded.split(",")[-1].strip():
                return _normal_address(forwarded.split(",")[-1])
        ip = st.context.ip_address
        if isinstance(ip, str) and ip:
            return _normal_address(ip)
        return "loopback" if isinstance(st.context.headers.get("Host"), str) else None
    except Exception:  # noqa: BLE001 - no browser behind this session (AppTest)
        return None


def _cookie() -> str | None:
    try:
        return st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser behind this session (AppTest)
        return None


def identity() -> Identity:
    """This browser's identity: the token in its cookie (set on its first visit), the teacher when signed in or
    when the server has no teacher password."""
    ss = st.session_state
    if not valid_token(ss.get(TOKEN_KEY)):
        cookie = _cookie()
        ss[TOKEN_KEY] = cookie if valid_token(cookie) else new_token()
        ss[COOKIE_SET_KEY] = cookie == ss[TOKEN_KEY]
    token = ss[TOKEN_KEY]
    return Identity(token=token, teacher=password() is None or token in _teachers())


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


# ----------------------------------------------------------------------------------------------------- sidebar
def teacher_panel(controls: tuple[str, ...], labels: dict[str, str]) -> None:
    """The sidebar's teacher box: sign in (when the server has a password), and once signed in, the classroom
    settings every student's session obeys, whatever link it opened."""
    who = identity()
    expected = password()
    with st.sidebar:
        if expected is not None and not who.teacher:
            with st.expander("Teacher sign-in", icon=":material/key:"):
                with st.form("teacher_signin", border=False):
                    st.text_input("Teacher password", type="password", key="teacher_password")
                    st.form_submit_button("Sign in", on_click=_sign_in)
                if st.session_state.pop("_teacher_wrong", False):
                    st.error("That is not the teacher password.", icon=":material/key_off:")
                if wait := st.session_state.pop("_teacher_wait", None):
                    st.warning(f"Too many wrong passwords: that try was not checked. Wait {wait:.0f} s, then "
                               "sign in again.", icon=":material/timer:")
            return
        if not who.teacher:
            return
        box = st.expander("Classroom settings (teacher)", icon=":material/admin_panel_settings:",
                          key="classroom_open", on_change="rerun")
        with box:
            if box.open:  # drawn only while open: ~20 widgets on every page of every session cost the server
                _settings_form(controls, labels, signed_in=expected is not None)


def _normal_address(text: str) -> str:
    """One spelling per client: an IPv4 address as IPv4 (a dual-stack server sees ::ffff:10.0.0.2), every loopback
    address as ``loopback``."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return text.strip()[:64]
    if getattr(ip, "ipv4_mapped", None) is not None:
        ip = ip.ipv4_mapped
    return "loopback" if ip.is_loopback else str(ip)


def _signin_keys() -> list[tuple[str, str]]:
    """Who a try comes from: this session, and its client address (shared by every fresh cookie from it)."""
    client = client_address()
    return [("session", identity().token), *([("client", client)] if client else [])]


def _sign_in() -> None:
    """The password, compared in constant time; the field is emptied either way. A try while this session or its
    client address must still wait (ffviz/server/signin.py) is not checked. A sign-in gives the session a new token (one
    fixed in advance, by a planted cookie, never becomes the teacher's)."""
    expected, given = password(), st.session_state.get("teacher_password") or ""
    st.session_state["teacher_password"] = ""
    keys = _signin_keys()
    if (wait := _throttle().wait(keys)) > 0:
        st.session_state["_teacher_wait"] = max(1.0, wait)
        return
    if expected is not None and password_matches(given, expected):
        _throttle().succeeded(keys)
        ss = st.session_state
        ss[TOKEN_KEY] = new_token()
        ss[COOKIE_SET_KEY] = False  # keep_cookie stores the new token in the browser
        _teachers().add(ss[TOKEN_KEY])
    else:
        _throttle().failed(keys)
        st.session_state["_teacher_wrong"] = True


def _save_settings() -> None:
    """The form's values as the server's classroom settings (the teacher's only: checked again here). Limits equal
    to what the server has without them are not stored, so a later change of the server's own stays in force."""
    if not identity().teacher:
        return
    ss = st.session_state
    secrets = _secrets().get("limits")
    base = Limits.from_sources(os.environ, secrets if isinstance(secrets, dict) else {})[0]
    chosen = {name: int(ss.get(f"cls_limit_{name}", getattr(base, name))) for name, _, _ in base.describe()}
    hide = tuple(ss.get("cls_hide") or ())
    ClassroomSettings(hide=hide, lock=tuple(c for c in ss.get("cls_lock") or () if c not in hide),
                      lock_all=bool(ss.get("cls_lock_all")),
                      limits=tuple((k, v) for k, v in chosen.items() if v != getattr(base, k))).save(runs_root())


def _settings_form(controls: tuple[str, ...], labels: dict[str, str], *, signed_in: bool) -> None:
    settings, problem = classroom_settings()
    if problem:
        st.warning(problem, icon=":material/warning:")
    if not signed_in:
        st.caption("No teacher password is set on this server, so every session is the teacher. Set "
                   "FFVIZ_TEACHER_PASSWORD (or teacher_password in .streamlit/secrets.toml) for a classroom.")
    st.caption("Saved on the server: every student's session obeys them, whatever link it opened. The teacher "
               "is never bound by them.")
    current = limits()
    with st.form("classroom_settings", border=False):
        st.multiselect("Hide from students", controls, default=[c for c in settings.hide if c in controls],
                       format_func=lambda c: labels.get(c, c), key="cls_hide")
        st.toggle("Lock every other setting", value=settings.lock_all, key="cls_lock_all")
        st.multiselect("Lock for students", controls, default=[c for c in settings.lock if c in controls],
                       format_func=lambda c: labels.get(c, c), key="cls_lock")
        st.markdown("**Limits**")
        for name, _, help_ in current.describe():
            st.number_input(name.replace("_", " "), min_value=1, value=getattr(current, name), step=1,
                            key=f"cls_limit_{name}",
                            help=f"{help_} Now {format_limit(name, getattr(current, name))}.")
        st.form_submit_button("Save for the whole class", type="primary", on_click=_save_settings)
    if signed_in:
        st.button("Sign out", key="teacher_signout", on_click=lambda: _teachers().discard(identity().token))


# ----------------------------------------------------------------------------------------------------- limits
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
