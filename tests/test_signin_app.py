"""The sign-in gate and the teacher's panel under Streamlit's AppTest (its ``user`` and ``secrets``): with [auth],
a visitor not signed in sees only the sign-in page; a signed-in student is their account, without the teacher's panel;
an account the server lists as a teacher gets it, saying which mode the server is in; without any teacher named, the
sidebar says everyone is the teacher here.

    python -m pytest -q tests/test_signin_app.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "ffviz",
        "client_secret": "s", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}


@pytest.fixture
def clean(runs, monkeypatch):
    for name in ("FFVIZ_TEACHER_PASSWORD", "FFVIZ_TRUSTED_PROXY", "FFVIZ_PROXY_USER_HEADER", "FFVIZ_TEACHERS"):
        monkeypatch.delenv(name, raising=False)
    return runs


def app(user: dict | None, *, auth: bool = True, open_panel: bool = False) -> AppTest:
    from pages.common.server import access_ui

    access_ui._SECRETS[0] = float("-inf")  # secrets.toml is re-read at most once a second: this test's, now
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
    if open_panel:  # "Classroom settings" opened (AppTest keeps the sidebar of its first run)
        at.session_state["classroom_open"] = True
    if auth:
        at.secrets["auth"] = AUTH
        at.secrets["teachers"] = ["teacher@school.edu"]
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return " ".join([*(c.value for c in at.caption), *(m.value for m in at.markdown), *(t.value for t in at.title)])


def test_a_visitor_not_signed_in_sees_only_the_sign_in_page(clean):
    at = app({"is_logged_in": False})
    assert [t.value for t in at.title] == ["ffviz · sign in"]
    assert any(b.label == "Sign in with your school account" for b in at.button)
    assert "Classroom settings (teacher)" not in [e.label for e in at.expander]


def test_a_signed_in_student_is_their_account_without_the_teachers_panel(clean):
    at = app({"is_logged_in": True, "sub": "s-1", "iss": "https://idp", "email": "sam@school.edu"})
    assert "Signed in as" in texts(at) and "(student)" in texts(at)
    assert "Classroom settings (teacher)" not in [e.label for e in at.expander]
    assert "Teacher sign-in" not in [e.label for e in at.expander]  # no password: teachers are accounts


def test_a_listed_teacher_account_gets_the_panel_and_it_says_the_mode(clean):
    at = app({"is_logged_in": True, "sub": "t-1", "email": "Teacher@School.edu", "name": "Ms T"}, open_panel=True)
    assert "(teacher)" in texts(at)
    assert "Classroom settings (teacher)" in [e.label for e in at.expander]
    assert "Sign-in: school accounts (OpenID Connect" in texts(at)


def test_without_any_teacher_the_sidebar_says_everyone_is_the_teacher(clean):
    at = app(None, auth=False)
    assert "Everyone is the teacher here" in texts(at)
