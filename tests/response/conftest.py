"""Fixtures of the reply tests: settings with a short effect window and a local LLM endpoint,
an API client with the office's users, and an OpenAI-compatible chat-completions server on
127.0.0.1 whose answers the test chooses (good, hallucinating, malformed)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from store import Settings, Store
from tests.conftest import make_settings, open_backend
from tests.response.factories import make_users

Answer = Callable[[str], tuple[int, str]]  # original draft -> (HTTP status, body)


@dataclass
class LlmServer:
    url: str
    answer: Answer = lambda draft: (200, "")
    requests: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0


def chat_answer(content: str) -> str:
    return json.dumps({"id": "x", "object": "chat.completion",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})  # fmt: skip


@pytest.fixture
def llm_server() -> Iterator[LlmServer]:
    server_state = LlmServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            server_state.requests.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), "json": body}
            )
            draft = body["messages"][-1]["content"].split("原稿：\n", 1)[-1]
            if server_state.delay:
                time.sleep(server_state.delay)
            status, payload = server_state.answer(draft)
            data = payload.encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_state
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(tmp_path: Path, llm_server: LlmServer) -> Settings:
    return make_settings(
        tmp_path,
        llm_url=llm_server.url,
        llm_model="test-model",
        llm_api_key="test-llm-key",
        llm_timeout_seconds=1.0,
        effect_window_hours=6,
        effect_close_window_hours=3,
        effect_close_threshold_per_hour=1.0,
        effect_reescalate_ratio=0.5,
        reply_office_name="武汉市新闻办",
    )


@dataclass
class Office:
    client: TestClient
    headers: dict[str, dict[str, str]]

    def call(self, user: str, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, path, headers=self.headers[user], **kwargs)


@pytest.fixture
def office(settings: Settings, store: Store) -> Iterator[Office]:
    headers = make_users(store, settings)
    with TestClient(create_app(settings, store=store)) as client:
        yield Office(client, headers)


@pytest.fixture
def lite(settings: Settings) -> Iterator[Store]:
    """For behaviour that does not depend on the backend: the embedded store only."""
    store = open_backend("sqlite", settings, None)
    yield store
    store.close()
