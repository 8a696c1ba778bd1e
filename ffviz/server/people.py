"""Who a visitor is, by the server's sign-in mode: a school account (OpenID Connect), the user an authenticating proxy
names, or, on a trusted lab network only, a browser token plus its client address.

    mode = SignInMode.from_sources(os.environ, secrets)     # .kind: "oidc" | "proxy" | "token"
    owner = person_owner("oidc", subject)                   # "oidc:<subject>", written as a run's owner
    key = client_key(headers, peer, trusted=mode.trusted_proxy)   # the address a session's bounds count under

A person (the first two modes) owns their runs from any browser and is bound as one, however many tabs or cookies;
a class behind one school address is thirty people, not one. Without a person, a browser token owns runs and the
bounds that fresh cookies must not multiply count per client address.

Forwarded headers (X-Forwarded-For, the proxy's user header) are honoured only when the teacher declared a proxy
(``FFVIZ_TRUSTED_PROXY=1``, ``trusted_proxy = true`` in secrets.toml, or a proxy user header): Streamlit's web server
(uvicorn) rewrites the peer address from X-Forwarded-For for every loopback client by default, so without the
declaration ``client_key`` undoes that rewrite and counts such a session as loopback.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TRUSTED_PROXY_ENV = "FFVIZ_TRUSTED_PROXY"  # "1": a reverse proxy in front sets X-Forwarded-For
PROXY_USER_ENV = "FFVIZ_PROXY_USER_HEADER"  # the header an authenticating proxy names the signed-in user in
TEACHERS_ENV = "FFVIZ_TEACHERS"  # comma-separated accounts (email, subject or proxy user name) that are teachers
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MAX_USER = 200  # characters of a user name or subject kept (a header or claim longer than this is refused)


@dataclass(frozen=True)
class SignInMode:
    """The server's sign-in mode and what goes with it, from the environment and secrets.toml."""

    kind: str  # "oidc": secrets.toml has [auth]; "proxy": a proxy user header is declared; "token": neither
    user_header: str | None = None  # proxy mode: the header that names the user
    teachers: frozenset[str] = frozenset()  # accounts with the teacher role (compared case-insensitively)
    trusted_proxy: bool = False  # forwarded headers honoured
    problems: tuple[str, ...] = ()

    @classmethod
    def from_sources(cls, environ: Mapping[str, str], secrets: Mapping[str, Any] | None = None) -> SignInMode:
        secrets = secrets or {}
        problems: list[str] = []
        header = environ.get(PROXY_USER_ENV) or secrets.get("proxy_user_header") or None
        if header is not None and not (isinstance(header, str) and _HEADER.match(header)):
            problems.append(f"proxy_user_header={header!r} is not a header name (letters, digits, '-'); the proxy "
                            "mode is off until it is one.")
            header = None
        teachers = _accounts(environ.get(TEACHERS_ENV)) | _accounts(secrets.get("teachers"))
        trusted = environ.get(TRUSTED_PROXY_ENV) == "1" or secrets.get("trusted_proxy") is True
        if isinstance(secrets.get("auth"), Mapping) and secrets["auth"]:
            if header:
                problems.append("Both [auth] and a proxy user header are set: [auth] (school accounts) is used, "
                                "the header is ignored.")
            return cls("oidc", None, teachers, trusted, tuple(problems))
        if header:
            return cls("proxy", header, teachers, True, tuple(problems))  # naming the header declares the proxy
        return cls("token", None, frozenset(), trusted, tuple(problems))

    @property
    def person(self) -> bool:
        """A person is known in this mode: owners and bounds are per person, not per browser and address."""
        return self.kind != "token"

    def is_teacher(self, *names: str | None) -> bool:
        """Whether any of a person's names (email, subject, user name) is one of the teacher accounts."""
        return any(n is not None and n.strip().lower() in self.teachers for n in names)

    def explain(self) -> str:
        """What this mode means for a class, for the teacher's panel."""
        if self.kind == "oidc":
            return ("Sign-in: school accounts (OpenID Connect, [auth] in secrets.toml). Each student is their "
                    "account: their runs follow them to any browser, and every per-student limit counts per "
                    "account, so a class behind one school address gets thirty shares, not one.")
        if self.kind == "proxy":
            return (f"Sign-in: the authenticating proxy in front names the user in {self.user_header}. Each student "
                    "is that user, from any browser; every per-student limit counts per user. Only the proxy may "
                    "reach this server's port, or anyone could send that header.")
        return ("Sign-in: browser tokens (no [auth], no proxy declared). A student is a cookie; the limits that "
                "fresh cookies must not multiply count per network address. On a lab network where each machine "
                "has its own address that holds; a class behind one address (a cloud server reached from one "
                "school network) shares one address's limits. Use school accounts or a proxy there "
                "(README: One server for a classroom).")


def _accounts(value: Any) -> frozenset[str]:
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    return frozenset(str(v).strip().lower() for v in items if str(v).strip())


def person_owner(kind: str, subject: str) -> str:
    """A person's owner string, as written in a run's meta.json: never equal to a browser token (32 hex digits)."""
    return f"{kind}:{subject}"


def oidc_subject(user: Mapping[str, Any]) -> str | None:
    """The provider's subject (with its issuer, when the provider gives one: two providers' subjects never collide)
    of a signed-in user's claims; None when absent or too long."""
    sub = user.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_USER:
        return None
    iss = user.get("iss")
    return f"{iss}#{sub}" if isinstance(iss, str) and iss and len(iss) <= MAX_USER else sub


def display_name(user: Mapping[str, Any], fallback: str) -> str:
    """How a person is shown: name, else email, else the fallback (subject or user name)."""
    for claim in ("name", "email", "preferred_username"):
        value = user.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_USER]
    return fallback[:MAX_USER]


def proxy_user(headers: Mapping[str, str], header: str) -> str | None:
    """The user the proxy names in ``header``; None when absent, empty, too long or holding control characters."""
    value = headers.get(header)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_USER or any(ord(c) < 32 for c in value):
        return None
    return value


# ----------------------------------------------------------------------------------------------------- addresses
def client_key(headers: Mapping[str, str], peer: str | None, *, trusted: bool) -> str | None:
    """The client address a session's bounds count under. ``peer``: the address the web server reports (None for
    loopback, as Streamlit says it); ``headers``: the request's. With a declared proxy, the last X-Forwarded-For
    entry (the address the proxy saw). Without one, the header is ignored: uvicorn has already replaced the peer by
    one of its entries when the real peer was a loopback client, so a peer that is one of those entries was
    loopback (a remote client listing its own address lands in the loopback bucket, which gains it nothing)."""
    forwarded = headers.get("X-Forwarded-For") if headers else None
    entries = [e.strip() for e in forwarded.split(",")] if isinstance(forwarded, str) else []
    if trusted and entries and entries[-1]:
        return normal_address(entries[-1])
    if peer is None:
        return "loopback" if headers and isinstance(headers.get("Host"), str) else None
    if not trusted and any(e and (e == peer or _host_of(e) == peer) for e in entries):
        return "loopback"
    return normal_address(peer)


def _host_of(entry: str) -> str:
    """An X-Forwarded-For entry's host without its port ("1.2.3.4:5", "[::1]:5"), as uvicorn reads it."""
    if entry.startswith("[") and "]" in entry:
        return entry[1:entry.index("]")]
    return entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry


def normal_address(text: str) -> str:
    """One spelling per client: an IPv4 address as IPv4 (a dual-stack server sees ::ffff:10.0.0.2), every loopback
    address as ``loopback``."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return text.strip()[:64]
    if getattr(ip, "ipv4_mapped", None) is not None:
        ip = ip.ipv4_mapped
    return "loopback" if ip.is_loopback else str(ip)
