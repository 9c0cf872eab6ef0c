"""The desk in a real browser: Playwright drives Debian's `chromium` (scripts/system-deps
installs it; Playwright's own browser download is not reachable) against a real uvicorn server
on 127.0.0.1 serving the app on the embedded store.

Screenshots go to reports/desk/ (gitignored; CI keeps it as an artifact)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect

from api.app import create_app
from store import Settings, Store
from store.records import Incident
from tests.conftest import ROOT, make_settings, open_backend
from tests.response.factories import USERS, rumor_incident
from triage.users import add_user

SHOTS = ROOT / "reports" / "desk"
PASSWORD = "Desk-sign-in-Qx7mN2v"


def make_office(store: Store) -> None:
    """The reply tests' office (two press officers, two supervisors, a patrol officer), each
    with a password: the desk signs in through its form."""
    now = datetime.now(UTC)
    for name, role in USERS.items():
        add_user(store, name, role, password=PASSWORD, now=now, actor="test")


# What the API's security headers set on every response: the desk must work under it.
CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


class StrictCsp:
    """ASGI wrapper adding the strict Content-Security-Policy header to every response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_with_csp(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", CSP.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_csp if scope["type"] == "http" else send)


def chromium_path() -> str:
    """The Debian package's real binary (its /usr/bin/chromium is a launcher script)."""
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("chromium is not installed: run scripts/system-deps as root", pytrace=False)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": chromium_path(), "headless": True}


@dataclass
class Desk:
    url: str
    store: Store
    settings: Settings
    incident: Incident
    browser: Browser
    problems: list[str] = field(default_factory=list)

    def new_page(self, width: int = 1366, height: int = 900) -> Page:
        """A fresh browser context (own cookies); CSP violations and script errors recorded."""
        context: BrowserContext = self.browser.new_context(
            viewport={"width": width, "height": height}, locale="zh-CN"
        )
        page = context.new_page()
        page.on(
            "console",
            lambda m: self.problems.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        return page

    def login(self, username: str) -> Page:
        """A fresh browser context signed in as `username`."""
        page = self.new_page()
        page.goto(f"{self.url}/desk/queue")
        expect(page).to_have_url(re.compile(r"/desk/login"))
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.get_by_test_id("who")).to_contain_text(username)
        return page


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


INLINE = (
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # inline script
    re.compile(r"\son[a-z]+\s*=", re.I),  # inline event handler
    re.compile(r"\sstyle\s*=", re.I),  # inline style attribute
    re.compile(r"<style", re.I),
)


def assert_csp_clean(page: Page) -> None:
    """Nothing a strict CSP (default-src 'self', no inline) would block."""
    html = page.request.get(page.url).text()  # as served (scripts may touch the live DOM)
    for pattern in INLINE:
        found = pattern.search(html)
        assert found is None, f"{page.url}: inline {found.group(0)!r}"
    assets = re.findall(r'\ssrc="([^"]*)"', html) + re.findall(r'<link[^>]*href="([^"]*)"', html)
    foreign = [a for a in assets if not a.startswith("/desk/")]
    assert foreign == [], f"{page.url}: assets from elsewhere: {foreign}"


@dataclass
class ChatServer:
    """An OpenAI-compatible chat-completions endpoint on 127.0.0.1: it answers with the
    original draft passed through `edit` (the test chooses a grounded or a bad rewrite)."""

    url: str = ""
    edit: Callable[[str], str] = lambda original: original
    requests: int = 0


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    state = ChatServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            state.requests += 1
            original = body["messages"][-1]["content"].split("原稿：\n", 1)[-1]
            message = {"role": "assistant", "content": state.edit(original)}
            data = json.dumps({"choices": [{"index": 0, "message": message}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def desk(tmp_path: Path, browser: Browser, chat_server: ChatServer) -> Iterator[Desk]:
    settings = make_settings(
        tmp_path, llm_url=chat_server.url, llm_model="test-model", llm_timeout_seconds=5.0
    )
    store = open_backend("sqlite", settings, None)
    make_office(store)
    incident = rumor_incident(store, settings, datetime.now(UTC).replace(microsecond=0))
    sock = _free_socket()
    port = sock.getsockname()[1]
    settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    config = uvicorn.Config(
        StrictCsp(create_app(settings, store=store)),
        log_level="warning",
        lifespan="on",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the desk server did not start"
        time.sleep(0.05)
    desk = Desk(f"http://127.0.0.1:{port}", store, settings, incident, browser)
    try:
        yield desk
        assert desk.problems == [], "the pages broke the CSP or raised script errors"
    finally:
        for context in browser.contexts:
            context.close()
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        store.close()
