"""The sign-in gate, before any page: with school accounts ([auth] in secrets.toml) every visitor signs in through
the provider first; behind a declared proxy, a request without its user header is refused; one address (one person)
holds at most max_sessions_per_client sessions. The sidebar says who is signed in, with Sign out.

    if (blocked := signin_ui.gate()) is not None: ...   # streamlit_app.py: run that page instead of the app
    signin_ui.who_box()                         # in the sidebar

Who a person is comes from access_ui.person (ffviz/server/people.py's rules).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from ffviz.server.signin import ClientSessions
from pages.common.server.access_ui import _secrets, client_address, identity, limits, mode, person


@st.cache_resource(show_spinner=False)
def _sessions() -> ClientSessions:
    """Live sessions per client address (per person where the server knows people)."""
    return ClientSessions()


def gate() -> Callable[[], None] | None:
    """None when this session may see the app; else the page to show instead (it says why and what to do). A page
    of its own, run by the navigation: a widget drawn before st.navigation would change its id on the next run."""
    m = mode()
    if m.kind == "oidc" and person() is None:
        return _oidc_page
    if m.kind == "proxy" and person() is None:
        return _no_proxy_user_page
    return None if _admit() else _too_many_tabs_page


def _no_proxy_user_page() -> None:
    st.title("ffviz · sign in through your school's portal")
    st.error(f"This server takes the signed-in user from the proxy in front of it ({mode().user_header}), and this "
             "request came without one. Open the app through the address your teacher gave (the proxy), "
             "not this server's port.", icon=":material/lock:")


def _providers() -> list[str | None]:
    """The [auth] providers of secrets.toml: named ones ([auth.google]) or the default (client_id in [auth])."""
    auth = _secrets().get("auth")
    if not isinstance(auth, dict):
        return [None]
    named = [k for k, v in auth.items() if isinstance(v, dict) and "client_id" in v]
    return [*named] if named and "client_id" not in auth else [None, *named]


def _oidc_page() -> None:
    st.title("ffviz · sign in")
    st.write("This class's server signs students and teachers in with their school accounts. Your runs belong to "
             "your account: you find them again from any browser.")
    for provider in _providers():
        label = "Sign in with your school account" if provider is None else f"Sign in with {provider}"
        if st.button(label, type="primary", icon=":material/login:", key=f"login_{provider}"):
            st.login(provider) if provider else st.login()


def _session_id() -> str | None:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return ctx.session_id if ctx is not None else None
    except Exception:  # noqa: BLE001 - no script context
        return None


def _alive(session_id: str) -> bool:
    from streamlit import runtime

    return runtime.exists() and runtime.get_instance().is_active_session(session_id)


def _admit() -> bool:
    """At most max_sessions_per_client live sessions per client address (per person); the teacher's uncounted."""
    key, sid = client_address(), _session_id()
    if key is None or sid is None or not _alive(sid) or identity().teacher:
        return True
    return _sessions().admit(key, sid, limits().max_sessions_per_client, _alive)


def _too_many_tabs_page() -> None:
    where = "your account" if mode().person else "your network address"
    cap = limits().max_sessions_per_client
    st.title("ffviz · too many open tabs")
    st.error(f"{where.capitalize()} already has {cap} sessions open on this server (its limit "
             "max_sessions_per_client). Close some tabs of this app, then reload this one.", icon=":material/tab:")


def who_box() -> None:
    """Who this session is, in the sidebar, with Sign out where the server signs people in itself."""
    who = identity()
    if not who.person:
        return
    role = "teacher" if who.teacher else "student"
    with st.sidebar:
        st.caption(f":material/account_circle: Signed in as **{_plain(who.name or '')}** ({role})")
        if mode().kind == "oidc":
            st.button("Sign out", key="oidc_signout", icon=":material/logout:", on_click=_logout)
        else:
            st.caption("Sign out through the portal that signed you in (oauth2-proxy: /oauth2/sign_out).")


def _logout() -> None:
    st.logout()


def _plain(text: Any) -> str:
    """A name as typed: Markdown's special characters escaped ('@' too: an email is not made a link)."""
    import re

    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:@])", r"\\\1", str(text))[:120]
