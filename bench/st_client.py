"""A Streamlit session without a browser: what the frontend sends and waits for, over the app's websocket.

    async with AppSession("http://127.0.0.1:8501") as s:
        page = await s.open("train", "preset=classroom-mini&epochs=2")   # a page load, timed
        page.button("Start")                                              # its widgets, as the server drew them
        await s.click(page.button("Start"))
        await s.watch(5.0)                                                # live fragments rerun as in a browser

The load test drives thirty of these against one server: a browser per student would measure the students'
laptops (Plotly drawing), not the server. A page counts as loaded when the server has sent every element of the page's
script run and said the run finished; an exception element, an error from the server or a dropped connection is a
failed request. Fragments with ``run_every`` (the live charts) are rerun on their interval, as the frontend does.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlparse

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

FINISHED = ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY
FINISHED_FRAGMENT = ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
COMPILE_ERROR = ForwardMsg.ScriptFinishedStatus.FINISHED_WITH_COMPILE_ERROR


class RequestFailed(RuntimeError):
    """The server answered with an error, a traceback on the page, or not at all."""


@dataclass
class Page:
    """One full script run's elements, as the frontend would lay them out (only what the load test reads)."""

    name: str
    seconds: float = 0.0  # request sent -> the script run's last element and its "finished"
    buttons: dict[str, tuple[str, bool]] = field(default_factory=dict)  # label -> (widget id, disabled)
    texts: list[str] = field(default_factory=list)  # markdown, alerts, headings, captions
    charts: int = 0  # Plotly charts
    exceptions: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # a link button's label -> its URL

    def button(self, label: str) -> str:
        """The widget id of the button with this label (KeyError when the page has none)."""
        return self.buttons[label][0]



class AppSession:
    """One browser tab's conversation with the server: page loads, button clicks, live fragment reruns."""

    def __init__(self, base_url: str, *, timeout: float = 60.0, cookies: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.cookies = dict(cookies or {})  # sent with the websocket's handshake, as a browser's tab does
        self.headers = dict(headers or {})  # sent with the websocket's handshake too (a proxy's user header)
        self.timeout = timeout
        self._ws = None
        self._query = ""
        self._page = ""
        self._page_hash = ""
        self._fragments: dict[str, float] = {}  # fragment id -> rerun interval (s), for the page on screen
        self._due: dict[str, float] = {}  # fragment id -> when its timer fires (time.monotonic())
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._reader: asyncio.Task | None = None
        self.requests = 0  # page loads, clicks and fragment reruns sent

    def _handshake_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    async def __aenter__(self) -> AppSession:
        # What a browser fetches first: the page itself, then the websocket.
        html = await asyncio.to_thread(_get, f"{self.base}/")
        if b"<html" not in html[:2000].lower():
            raise RequestFailed("GET / did not return the app's HTML")
        host = urlparse(self.base).netloc
        self._ws = await websockets.connect(f"ws://{host}/_stcore/stream", subprotocols=["streamlit"],
                                            origin=f"http://{host}", max_size=None, open_timeout=self.timeout,
                                            additional_headers=self._handshake_headers() or None)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the tab."""
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None

    # --- what a user does ---
    async def open(self, page: str, query: str = "") -> Page:
        """Go to a page (its URL path, "" for Home) with a query string, as a click in the sidebar or a link."""
        self._page, self._query, self._page_hash = page, query, ""
        return await self._rerun()

    async def click(self, widget_id: str) -> Page:
        """Press a button; returns the page as the script run that follows draws it."""
        return await self._rerun(trigger=widget_id)

    @property
    def live(self) -> bool:
        """Whether the page on screen has fragments that rerun on a timer (a run that may still change)."""
        return bool(self._fragments)

    async def watch(self, seconds: float) -> list[Page]:
        """Stay on the page: rerun its live fragments on their intervals, as the frontend's timers do. Returns what
        each rerun drew."""
        deadline = time.monotonic() + seconds
        done: list[Page] = []
        while self._due:
            fid, when = min(self._due.items(), key=lambda kv: kv[1])
            if when > deadline:
                break
            await asyncio.sleep(max(0.0, when - time.monotonic()))
            done.append(await self._rerun(fragment=fid))
            if fid in self._fragments:  # the timer restarts when the rerun is done, as the frontend's does
                self._due[fid] = time.monotonic() + self._fragments[fid]
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        return done

    # --- the protocol ---
    async def _rerun(self, *, trigger: str | None = None, fragment: str | None = None) -> Page:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self._query
        cs.page_name = self._page
        cs.page_script_hash = self._page_hash
        if trigger is not None:
            state = cs.widget_states.widgets.add()
            state.id = trigger
            state.trigger_value = True
        if fragment is not None:
            cs.fragment_id = fragment
            cs.is_auto_rerun = True
        page = Page(name=self._page or "home")
        self.requests += 1
        t0 = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        deadline = time.monotonic() + self.timeout
        registered: dict[str, float] = {}  # fragment id -> interval, registered by the script run in progress
        while True:
            try:
                fwd = await asyncio.wait_for(self._inbox.get(), max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:  # TimeoutError itself only from Python 3.11
                raise RequestFailed(f"{page.name}: no finished script run within {self.timeout:.0f} s") from None
            if isinstance(fwd, Exception):
                raise RequestFailed(f"{page.name}: connection lost: {fwd}") from fwd
            kind = fwd.WhichOneof("type")
            if kind == "new_session":  # a script run starts (a full one or a fragment's)
                registered = {}
            elif kind == "navigation":  # the page this run drew: later reruns (clicks, fragments) name it
                self._page_hash = fwd.navigation.page_script_hash
            elif kind == "page_not_found":
                raise RequestFailed(f"page {self._page!r} not found")
            elif kind == "auto_rerun":
                registered[fwd.auto_rerun.fragment_id] = fwd.auto_rerun.interval
            elif kind == "stop_auto_rerun":
                self._fragments.pop(fwd.stop_auto_rerun.fragment_id, None)
                self._due.pop(fwd.stop_auto_rerun.fragment_id, None)
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                _collect(page, fwd.delta.new_element)
            elif kind == "script_finished":
                status = fwd.script_finished
                if status == COMPILE_ERROR:
                    raise RequestFailed(f"{page.name}: the script did not compile")
                # a fragment may end in a full rerun (the run it shows changed state): that counts as its answer
                if status == FINISHED:  # a full run: the page's timers are exactly the ones it registered
                    self._fragments = registered
                    self._due = {fid: self._due.get(fid, time.monotonic() + every) for fid, every in registered.items()}
                elif status == FINISHED_FRAGMENT:
                    self._fragments.update(registered)
                    for fid, every in registered.items():
                        self._due.setdefault(fid, time.monotonic() + every)
                if status == FINISHED or (status == FINISHED_FRAGMENT and fragment is not None):
                    page.seconds = time.perf_counter() - t0
                    if page.exceptions:
                        raise RequestFailed(f"{page.name}: exception on the page: {page.exceptions[0]}")
                    return page
                # FINISHED_EARLY_FOR_RERUN (st.rerun, a callback): the page comes with the next run

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                fwd = ForwardMsg()
                fwd.ParseFromString(data)
                if fwd.WhichOneof("type") == "ref_hash":  # a cached message; this client never reports a cache
                    raise RequestFailed("the server sent a cached-message reference")
                await self._inbox.put(fwd)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a dropped connection wakes whoever waits
            await self._inbox.put(e)


def _collect(page: Page, el) -> None:
    kind = el.WhichOneof("type")
    if kind in ("button", "download_button"):
        b = getattr(el, kind)
        page.buttons[b.label] = (b.id, b.disabled)
    elif kind == "link_button":
        page.links[el.link_button.label] = el.link_button.url
    elif kind == "exception":
        page.exceptions.append(f"{el.exception.type}: {el.exception.message}")
    elif kind == "plotly_chart":
        page.charts += 1
    elif kind == "markdown":
        page.texts.append(el.markdown.body)
    elif kind == "alert":
        page.texts.append(el.alert.body)
    elif kind == "heading":
        page.texts.append(el.heading.body)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        if r.status != 200:
            raise RequestFailed(f"GET {url}: HTTP {r.status}")
        return r.read()
