"""A teacher's hidden and locked controls, for the whole session: what the link it opened with says, with the
server's classroom settings on top. Every page's widgets ask here before they draw.

    if not classroom.hidden("lr"): st.slider(..., disabled=classroom.locked("lr"))

The link is read once, by share_ui.apply_link, into session state (keys.SHARE_KEY); this module only reads it, so
the settings and the link modules both depend on it and not on each other.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from pages.common.frame.keys import SHARE_KEY
from pages.common.frame.links import ShareState
from pages.common.server import access_ui


def link() -> ShareState:
    """What the link this session opened with says (its own hide and lock, nothing of the server's)."""
    return st.session_state.get(SHARE_KEY) or ShareState()


def current() -> ShareState:
    """The link's state with the teacher's classroom settings on top (for a student): a link can hide or lock more
    than the server does, never less."""
    own = link()
    if access_ui.identity().teacher:
        return own
    server, _ = access_ui.classroom_settings()
    if not server.classroom:
        return own
    hide = tuple(dict.fromkeys((*own.hide, *server.hide)))
    return dataclasses.replace(own, hide=hide, lock=tuple(dict.fromkeys((*own.lock, *server.lock))),
                               lock_all=own.lock_all or server.lock_all)


def hidden(control: str) -> bool:
    """True when the session's link hides this control: the page does not draw it."""
    return current().is_hidden(control)


def locked(control: str) -> bool:
    """True when the session's link locks this control: the page draws it disabled."""
    return current().is_locked(control)


def button(control: str, *args, disabled: bool = False, **kwargs) -> bool:
    """st.button under a classroom link: not drawn when hidden, drawn disabled when locked."""
    if hidden(control):
        return False
    return st.button(*args, disabled=disabled or locked(control), **kwargs)
