"""Fixtures for digest tests: a rendered fixture digest (built once per session, it is the slow
part), and real local servers: SMTP (aiosmtpd) and a robot webhook (HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from digest.jobs import make_digest
from digest.model import Digest
from digest.render import Rendered
from store import Settings
from store.sqlite import SqliteStore
from tests.conftest import make_settings
from tests.digest import fixture_day as fx

PUBLIC = "https://tingfeng.example.gov.cn"


@dataclass
class Built:
    settings: Settings
    store: SqliteStore
    digest: Digest
    rendered: Rendered


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    settings = make_settings(tmp_path_factory.mktemp("digest"), public_url=PUBLIC)
    store = SqliteStore(settings.sqlite_path)
    store.init()
    fx.load(store, settings)
    digest, rendered = make_digest(
        store, kind="daily", day=fx.DAY, tz=settings.timezone, public_url=PUBLIC
    )
    yield Built(settings, store, digest, rendered)
    store.close()


@pytest.fixture(scope="session")
def built_empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    settings = make_settings(tmp_path_factory.mktemp("empty"), public_url=PUBLIC)
    store = SqliteStore(settings.sqlite_path)
    store.init()
    digest, rendered = make_digest(
        store, kind="daily", day=fx.DAY, tz=settings.timezone, public_url=PUBLIC
    )
    yield Built(settings, store, digest, rendered)
    store.close()


@dataclass
class WebhookRecorder:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def webhook_server() -> Iterator[WebhookRecorder]:
    recorder = WebhookRecorder(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            recorder.received.append({"path": self.path, "json": json.loads(body)})
            payload = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}/robot/send?access_token=t"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()


def pdf_text(pdf: bytes) -> list[str]:
    import io

    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def pdf_fonts(pdf: bytes) -> set[str]:
    import io

    from pypdf import PdfReader

    names: set[str] = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        fonts = page.get("/Resources", {}).get("/Font", {})
        for ref in fonts.values():
            names.add(str(ref.get_object().get("/BaseFont")))
    return names
