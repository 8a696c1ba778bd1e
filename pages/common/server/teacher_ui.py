"""The sidebar's teacher box: the password sign-in (throttled), and for the teacher the classroom settings every
student's session obeys, with what the server's sign-in mode means for the class.

    teacher_ui.teacher_panel(CONTROLS, labels)      # streamlit_app.py, on every page

Who is the teacher is decided in access_ui.identity (ffviz/server/access.py's rules); here it meets widgets.
"""

from __future__ import annotations

import os

import streamlit as st

from ffviz.server.access import ClassroomSettings, new_token, password_matches
from ffviz.server.limits import Limits, format_limit
from ffviz.store.places import runs_root
from pages.common.server.access_ui import (
    COOKIE_SET_KEY,
    TOKEN_KEY,
    _secrets,
    _teachers,
    _throttle,
    classroom_settings,
    client_address,
    identity,
    limits,
    mode,
    password,
)


def teacher_panel(controls: tuple[str, ...], labels: dict[str, str]) -> None:
    """Sign in (when the server has a password and this session is not a teacher), and for the teacher the classroom
    settings. Students see no settings at all; where no teacher is named, the sidebar says everyone is one."""
    who = identity()
    expected = password()
    with st.sidebar:
        if expected is not None and not who.teacher:
            _signin_box()
            return
        if not who.teacher:
            return
        nobody = expected is None and not mode().teachers
        if nobody:
            st.caption(":material/groups: Everyone is the teacher here: this server names no teacher (no password, "
                       "no teacher accounts), so every session may change every run and the classroom settings.")
        box = st.expander("Classroom settings (teacher)", icon=":material/admin_panel_settings:",
                          key="classroom_open", on_change="rerun")
        with box:
            if box.open:  # drawn only while open: ~20 widgets on every page of every session cost the server
                _settings_form(controls, labels, signed_in=not nobody, by_password=expected is not None)


def _signin_box() -> None:
    with st.expander("Teacher sign-in", icon=":material/key:"):
        with st.form("teacher_signin", border=False):
            st.text_input("Teacher password", type="password", key="teacher_password")
            st.form_submit_button("Sign in", on_click=_sign_in)
        if st.session_state.pop("_teacher_wrong", False):
            st.error("That is not the teacher password.", icon=":material/key_off:")
        if wait := st.session_state.pop("_teacher_wait", None):
            st.warning(f"Too many wrong passwords: that try was not checked. Wait {wait:.0f} s, then "
                       "sign in again.", icon=":material/timer:")


def _signin_keys() -> list[tuple[str, str]]:
    """Who a try comes from: the person, where the server knows one (who cannot be multiplied); else this session
    and its client address (shared by every fresh cookie from it, ffviz/server/signin.py)."""
    who = identity()
    if who.person:
        return [("person", who.token)]
    client = client_address()
    return [("session", who.token), *([("client", client)] if client else [])]


def _sign_in() -> None:
    """The password, compared in constant time; the field is emptied either way. A try while this session or its
    client address must still wait (ffviz/server/signin.py) is not checked. A sign-in gives the session a new token
    (one fixed in advance, by a planted cookie, never becomes the teacher's); a person keeps who they are."""
    expected, given = password(), st.session_state.get("teacher_password") or ""
    st.session_state["teacher_password"] = ""
    keys = _signin_keys()
    if (wait := _throttle().wait(keys)) > 0:
        st.session_state["_teacher_wait"] = max(1.0, wait)
        return
    if expected is not None and password_matches(given, expected):
        _throttle().succeeded(keys)
        if identity().person:  # a person stays who they are, now with the teacher's role
            _teachers().add(identity().token)
            return
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


def _settings_form(controls: tuple[str, ...], labels: dict[str, str], *, signed_in: bool, by_password: bool) -> None:
    settings, problem = classroom_settings()
    if problem:
        st.warning(problem, icon=":material/warning:")
    m = mode()
    st.caption(m.explain())
    for note in m.problems:
        st.warning(note, icon=":material/warning:")
    if not signed_in:
        st.caption("No teacher password is set on this server, so every session is the teacher. Set "
                   "FFVIZ_TEACHER_PASSWORD (or teacher_password in .streamlit/secrets.toml), or teacher accounts "
                   "(teachers in secrets.toml), for a classroom.")
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
    if by_password and identity().token in _teachers():
        st.button("Sign out", key="teacher_signout", on_click=lambda: _teachers().discard(identity().token))
