"""The API contract, checked by schemathesis with ALL its checks against the served app.

The app runs under uvicorn on 127.0.0.1 (a seeded embedded store: incidents, drafts' topics,
users of every role); the schemathesis CLI reads the served `/openapi.json` and runs every
phase (examples, coverage, fuzzing, stateful) with `--checks all`: no server error, every
status documented, every response (errors too: the one error shape) valid against its
schema, schema-valid requests accepted, schema-violating ones refused, `Allow` on 405,
authentication not ignored. A supervisor session calls most routes; the service token
(ingest + feed) calls the ingest and feed routes; an admin calls user and token management.
Each run is bounded (examples per operation, fixed seed): a few minutes in all.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app
from store.sqlite import SqliteStore
from tests.auth import make_tokens
from tests.conftest import make_settings
from tests.triage.factories import help_cluster, make_topic, rumor_wave, write
from triage.job import TriageJob

MAX_EXAMPLES = 5
SEED = 12


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    config = make_settings(tmp_path_factory.mktemp("schemathesis"), auth_rate_limit=100_000)
    store = SqliteStore(config.sqlite_path)
    store.init()
    now = datetime.now(UTC)
    rumor, helps = rumor_wave(config, now), help_cluster(config, now)
    write(
        store,
        rumor + helps,
        [
            make_topic("topic-lockdown", "封城谣言", rumor, now=now, burst_ratio=5),
            make_topic("topic-help", "求助", helps, now=now),
        ],
    )
    TriageJob(store, playbook_path=None, notifier=None).run_once(now)
    tokens = make_tokens(store, config)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, store=store), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", tokens
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


# Who calls what: the service token the ingest and feed routes, an admin user and token
# management, a supervisor everything else (operation names are "METHOD path").
SERVICE = r"^(POST /api/v1/posts|GET /api/v1/feeds/.*)$"
ADMIN = (
    r"^(GET /api/v1/users.*|POST /api/v1/users|POST /api/v1/users/[^/]+/tokens"
    r"|POST /api/v1/tokens/.*|POST /api/v1/playbook/check)$"
)
CALLERS = {
    "supervisor": ["--exclude-name-regex", f"{SERVICE}|{ADMIN}"],
    "service": ["--include-name-regex", SERVICE],
    "admin": ["--include-name-regex", ADMIN],
}

# The one rule a schema cannot state: a new password must not be on the common/breached
# password list (thousands of entries, plus the operator's file). For the two operations that
# take a new password, a schema-valid body may get 422 for that reason (it names the field).
CONFIG = """
[[operations]]
include-name = ["POST /api/v1/users", "POST /api/v1/auth/password"]
checks.positive_data_acceptance.expected-statuses = [
  "2xx", "401", "403", "404", "409", "422", "429",
]
"""


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_the_served_api_keeps_its_contract(
    served: tuple[str, dict[str, str]], tmp_path: Path, caller: str
) -> None:
    url, tokens = served
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    cli = Path(sys.executable).with_name("schemathesis")
    proc = subprocess.run(
        [
            str(cli),
            "--no-color",
            "--config-file",
            str(config),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {tokens[caller]}",
            *CALLERS[caller],
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--max-failures",
            "100",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,
    )
    summary = proc.stdout[-12000:]
    assert proc.returncode == 0, f"schemathesis found contract failures:\n{summary}"
    last = proc.stdout.strip().splitlines()[-1]
    assert "failure" not in last and "error" not in last, summary
