"""The importer against a local stand-in that checks the documented request shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from dashboards.build import DATA_VIEWS_FILE, ndjson_files
from dashboards.errors import KibanaUnavailable
from dashboards.importer import KibanaImporter, make_client
from dashboards.lens import data_view_object
from dashboards.spec import load_data_views
from tests.conftest import TEST_KEYS
from tests.dashboards.fake_kibana import FakeKibana

FILES = [p for p in ndjson_files() if p.stem != DATA_VIEWS_FILE]
OBJECT_COUNT = sum(len(p.read_text("utf-8").splitlines()) for p in FILES)


def _views(prefix: str = "tingfeng") -> list[dict]:
    return [data_view_object(v, prefix) for v in load_data_views()]


def _importer(
    kibana: FakeKibana, password: str = "kibana-pass", wait: float = 5.0
) -> KibanaImporter:
    client = make_client(kibana.url, "elastic", password, timeout=5)
    return KibanaImporter(client, wait_seconds=wait, retry_interval=0.01)


def test_imports_data_views_then_every_object() -> None:
    with FakeKibana() as kibana:
        report = _importer(kibana).run(_views("city"), FILES)
    assert kibana.problems == []
    assert report.ok
    assert len(report.results) == len(_views()) + OBJECT_COUNT
    assert {v["title"] for v in kibana.data_views.values()} == {
        f"city-{name}"
        for name in ("posts", "topics", "incidents", "source-runs", "alerts", "audit")
    }
    assert len(kibana.imported) == OBJECT_COUNT
    assert kibana.filenames == [p.name for p in FILES]
    # data views go first: every later request is an import
    paths = [path for _, path in kibana.requests]
    assert all(p == "/api/data_views/data_view" for p in paths[: len(_views())])
    assert all(p == "/api/saved_objects/_import?overwrite=true" for p in paths[len(_views()) :])


def test_reimport_overwrites() -> None:
    with FakeKibana() as kibana:
        first = _importer(kibana).run(_views(), FILES)
        second = _importer(kibana).run(_views(), FILES)
    assert first.ok and second.ok
    assert kibana.problems == []


def test_per_object_failures_are_reported() -> None:
    with FakeKibana() as kibana:
        kibana.fail_ids = {"tingfeng-patrol-hot-topics", "tingfeng-dashboard-overview"}
        report = _importer(kibana).run(_views(), FILES)
    assert not report.ok
    assert {r.id for r in report.failures} == kibana.fail_ids
    assert all("missing_references" in r.reason for r in report.failures)
    assert len(report.results) - len(report.failures) == len(_views()) + OBJECT_COUNT - 2


def test_retries_while_kibana_is_starting() -> None:
    with FakeKibana() as kibana:
        kibana.not_ready = 3
        report = _importer(kibana).run(_views()[:1], FILES[:1])
    assert report.ok
    assert len(kibana.requests) == 3 + 2


def test_gives_up_when_kibana_never_becomes_ready() -> None:
    with FakeKibana() as kibana:
        kibana.not_ready = 10_000
        with pytest.raises(KibanaUnavailable, match="not ready"):
            _importer(kibana, wait=0.2).run(_views()[:1], [])


def test_connection_refused_is_retried_then_reported() -> None:
    with FakeKibana() as kibana:
        url = kibana.url
    client = make_client(url, "elastic", "x", timeout=1)
    importer = KibanaImporter(client, wait_seconds=0.2, retry_interval=0.05)
    with pytest.raises(KibanaUnavailable, match="ConnectError"):
        importer.run(_views()[:1], [])


def test_wrong_credentials_fail_every_object() -> None:
    with FakeKibana() as kibana:
        report = _importer(kibana, password="wrong").run(_views()[:2], FILES[:1])
    assert not report.ok
    assert len(report.failures) == len(report.results)
    assert all("401" in r.reason for r in report.failures)


def _env(tmp_path: Path, kibana: FakeKibana, password: str) -> dict[str, str]:
    return {
        "TINGFENG_PSEUDONYM_KEY": TEST_KEYS["pseudonym_key"],
        "TINGFENG_SECRET_KEY": TEST_KEYS["secret_key"],
        "TINGFENG_DATA_DIR": str(tmp_path),
        "TINGFENG_KIBANA_USERNAME": "elastic",
        "TINGFENG_KIBANA_PASSWORD": password,
    }


def test_cli_import_exits_zero_on_success_and_nonzero_on_any_failure(tmp_path: Path) -> None:
    runner = CliRunner()
    with FakeKibana() as kibana:
        env = _env(tmp_path, kibana, "kibana-pass")
        ok = runner.invoke(app, ["dashboards", "import", "--kibana", kibana.url], env=env)
        kibana.fail_ids = {"tingfeng-incidents-by-state"}
        bad = runner.invoke(app, ["dashboards", "import", "--kibana", kibana.url], env=env)
    assert ok.exit_code == 0, ok.output
    assert f"{len(_views()) + OBJECT_COUNT} ok, 0 failed" in ok.output
    assert bad.exit_code == 1
    assert "1 failed" in bad.output
