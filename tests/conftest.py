"""Shared fixtures: settings built per test (never patched), and a store per backend.

Elasticsearch is real: `TINGFENG_ES_URL` if set (CI starts a node with
`scripts/elasticsearch start`), else this session starts one with the same script. Tests never
skip Elasticsearch; if it cannot start, they fail with the script's reason. Each test gets its
own index prefix, and the indices are deleted afterwards (a leak fails the run).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import Settings, Store
from store.spool import Spool
from tests.esnode import EsNode, started_node
from tests.smtp import SmtpRecorder, smtp_recorder
from tests.webhook import WebhookRecorder, webhook_recorder

ROOT = Path(__file__).resolve().parent.parent
TEST_KEYS = {
    "pseudonym_key": "test-pseudonym-key-0123456789",
    "secret_key": "test-secret-key-0123456789ab",
}


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        **TEST_KEYS,
        "data_dir": tmp_path / "data",
        "index_prefix": f"tftest-{uuid.uuid4().hex[:10]}",
        "es_url": None,
        "kafka_bootstrap": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def es_url() -> str:
    url = os.environ.get("TINGFENG_ES_URL")
    if url:
        return url
    proc = subprocess.run(
        [str(ROOT / "scripts" / "elasticsearch"), "start"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"could not start Elasticsearch: {proc.stderr.strip()[-2000:]}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


def open_backend(backend: str, settings: Settings, es_url: str | None) -> Store:
    spool = Spool(settings.spool_dir)
    if backend == "sqlite":
        from store.sqlite import SqliteStore

        store: Store = SqliteStore(settings.sqlite_path, spool=spool)
    else:
        from store.es import ElasticsearchStore

        assert es_url
        es_settings = settings.model_copy(update={"es_url": es_url})
        store = ElasticsearchStore.from_settings(es_settings, spool=spool)
    store.init()
    return store


@pytest.fixture(params=["sqlite", "elasticsearch"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, settings: Settings, request: pytest.FixtureRequest) -> Iterator[Store]:
    url = request.getfixturevalue("es_url") if backend == "elasticsearch" else None
    if url:
        settings.es_url = url
    s = open_backend(backend, settings, url)
    yield s
    if backend == "elasticsearch":
        s.drop_all()  # type: ignore[attr-defined]
    s.close()


@pytest.fixture
def api_tokens(store: Store, settings: Settings) -> dict[str, str]:
    """Bearer tokens by role: patrol, press, supervisor, admin, service (ingest + feed)."""
    from tests.auth import make_tokens

    return make_tokens(store, settings)


@pytest.fixture
def smtp_server() -> Iterator[SmtpRecorder]:
    """A local SMTP server recording every message (tests of email delivery)."""
    with smtp_recorder() as recorder:
        yield recorder


@pytest.fixture
def webhook_server() -> Iterator[WebhookRecorder]:
    """A local robot-webhook endpoint recording every request (tests of notifications)."""
    with webhook_recorder() as recorder:
        yield recorder


@pytest.fixture
def es_node() -> Iterator[tuple[EsNode, str]]:
    """A second Elasticsearch node of the test's own and its URL (outage tests stop it)."""
    with started_node() as started:
        yield started
