"""Source health: run stats, coverage-gap and credentials alerts raised and resolved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crawlers.health import RunStats, evaluate_alerts, record_run, source_health
from crawlers.sources import parse_sources
from ingest.posts import RawPost, build_post
from store import Settings, Store
from store.records import Alert

SOURCES = parse_sources(
    {
        "sources": [
            {
                "name": "city-rss",
                "type": "feed",
                "platform": "gov",
                "urls": ["https://x.example/rss"],
                "max_failures": 2,
                "freshness_limit": "6h",
            },
            {
                "name": "city-weibo",
                "type": "weibo",
                "api_url": "https://m.weibo.example/api?c=1",
                "credentials": "weibo",
            },
            {
                "name": "idle",
                "type": "feed",
                "platform": "gov",
                "urls": ["https://y.example/"],
                "enabled": False,
            },
        ]
    }
)
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def run(store: Store, name: str, at: datetime, *, pages: int = 1, status: str | None = None) -> str:
    stats = RunStats(source=name, started_at=at, pages=pages, fetched=3, new=2, duplicate=1)
    if status:
        stats.stop(status, "test")
    stats.errors["timeout"] += 0 if pages else 1
    status_ = record_run(
        store,
        SOURCES.get(name),
        stats,
        finished_at=at + timedelta(seconds=5),
        close_reason="finished",
    ).status
    store.refresh()  # Elasticsearch: make the run and its alerts visible to the next search
    return status_


def open_kinds(store: Store, name: str) -> list[str]:
    alerts = store.find("alerts", Alert, where={"source": name})
    return sorted(a.kind for a in alerts if a.resolved_at is None)


def test_consecutive_failures_raise_then_resolve_a_coverage_gap(
    store: Store, settings: Settings
) -> None:
    recent = datetime.now(UTC) - timedelta(minutes=30)
    raw = RawPost(source="city-rss", platform="gov", native_id="1", text="通知", created_at=recent)
    store.write_posts([build_post(raw, settings)])
    store.refresh()
    now = datetime.now(UTC)
    assert run(store, "city-rss", now - timedelta(minutes=20)) == "ok"
    assert run(store, "city-rss", now - timedelta(minutes=15), pages=0) == "failed"
    assert open_kinds(store, "city-rss") == []  # one failure is not a gap yet
    assert run(store, "city-rss", now - timedelta(minutes=10), pages=0) == "failed"
    assert open_kinds(store, "city-rss") == ["coverage_gap"]
    alert = store.find("alerts", Alert, where={"source": "city-rss"})[0]
    assert "连续 2 次采集失败" in alert.message
    run(store, "city-rss", now - timedelta(minutes=9), pages=0)
    assert len(store.find("alerts", Alert, where={"source": "city-rss"})) == 1  # not raised twice
    assert run(store, "city-rss", now - timedelta(minutes=5)) == "ok"
    assert open_kinds(store, "city-rss") == []
    [resolved] = store.find("alerts", Alert, where={"source": "city-rss"})
    assert resolved.resolved_at is not None


def test_stale_source_raises_a_freshness_gap(store: Store, settings: Settings) -> None:
    old = datetime.now(UTC) - timedelta(hours=9)
    raw = RawPost(source="city-rss", platform="gov", native_id="1", text="通知", created_at=old)
    store.write_posts([build_post(raw, settings)])
    store.refresh()
    run(store, "city-rss", datetime.now(UTC) - timedelta(minutes=1))
    [alert] = store.find("alerts", Alert, where={"source": "city-rss"})
    assert alert.kind == "coverage_gap" and "时效要求" in alert.message
    health = {h.name: h for h in source_health(store, SOURCES, now=datetime.now(UTC))}
    assert health["city-rss"].state == "stale"
    assert health["city-rss"].freshness_s is not None and health["city-rss"].freshness_s > 8 * 3600


def test_expired_credentials_alert_and_states(store: Store) -> None:
    assert run(store, "city-weibo", T0, status="credentials_expired") == "credentials_expired"
    assert open_kinds(store, "city-weibo") == ["credentials_expired"]
    evaluate_alerts(store, SOURCES.get("city-weibo"), now=T0 + timedelta(minutes=1))
    store.refresh()
    assert len(store.find("alerts", Alert, where={"source": "city-weibo"})) == 1
    health = {h.name: h for h in source_health(store, SOURCES, now=T0 + timedelta(minutes=2))}
    assert health["city-weibo"].state == "credentials_expired"
    assert health["city-weibo"].open_alerts and health["city-weibo"].consecutive_failures == 1
    assert health["idle"].state == "disabled"
    assert health["city-rss"].state == "never_run"
    assert run(store, "city-weibo", T0 + timedelta(hours=1)) == "ok"
    assert open_kinds(store, "city-weibo") == []
