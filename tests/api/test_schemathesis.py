"""Property-based API testing against the app's own OpenAPI (schemathesis): whatever the
input, no 5xx, and every 4xx in the one error shape. Bounded (a few examples per operation)
so it runs in seconds; called as a supervisor, with seeded incidents so some ids exist.
A 503 passes only in the error shape (a stated refusal: store down, LLM not configured)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from store.sqlite import SqliteStore
from tests.auth import bearer, make_tokens
from tests.conftest import make_settings
from tests.triage.factories import help_cluster, make_topic, rumor_wave, write
from triage.job import TriageJob

MAX_EXAMPLES = 3


@pytest.fixture(scope="module")
def seeded_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
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
    yield create_app(config, store=store), bearer(tokens["supervisor"])
    store.close()


@pytest.fixture(scope="module")
def session(seeded_app: Any) -> Iterator[Any]:
    """schemathesis' own ASGI session (a requests.Session) on the seeded app, lifespan run."""
    from schemathesis.python.asgi import get_client

    app, _ = seeded_app
    with get_client(app) as client:
        yield client


@pytest.fixture(scope="module")
def headers(seeded_app: Any) -> dict[str, str]:
    return seeded_app[1]  # type: ignore[no-any-return]


# The schema is the app's own OpenAPI; building it needs no store (routes only).
schema = schemathesis.openapi.from_dict(create_app(make_settings(Path("/nonexistent"))).openapi())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_one_error_shape(
    case: Any, session: Any, headers: dict[str, str]
) -> None:
    response = case.call(
        base_url="http://testserver", session=session, headers={**(case.headers or {}), **headers}
    )
    where = f"{case.method} {case.path}: {response.text[:500]}"
    # 503 is allowed only as a stated, shaped refusal (store down, optional service not set up)
    assert response.status_code < 500 or response.status_code == 503, where
    if 400 <= response.status_code < 500 or response.status_code == 503:
        body = response.json()
        assert set(body) == {"error"}, where
        error = body["error"]
        assert set(error) == {"code", "message", "details"}, error
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["details"], list)
