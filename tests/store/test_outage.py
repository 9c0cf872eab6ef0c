"""Outage safety: a real Elasticsearch node is stopped in the middle of an ingest and started
again; every post arrives exactly once. Plus the spool's own ordering, without any store.

The node is a separate one (own port and data directory, started and stopped with
`scripts/elasticsearch`), so the shared development/CI node is never disturbed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from store import Settings
from store.base import BulkResult, PostQuery
from store.errors import StoreUnavailable
from store.es import ElasticsearchStore
from store.records import Alert, Post, Record
from store.spool import Spool
from tests.conftest import make_settings
from tests.esnode import EsNode

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
BATCHES, BATCH_SIZE = 40, 50


def _post(i: int) -> Post:
    return Post(
        id=f"outage-{i:05d}",
        source="outage",
        platform="weibo",
        native_id=str(i),
        text=f"停电第{i}条",
        text_norm=f"停电第{i}条",
        tokens=f"停电 第 {i} 条",
        segmenter="test",
        created_at=T0 + timedelta(seconds=i),
        fetched_at=T0,
    )


def test_node_stopped_mid_ingest_every_post_arrives_once(
    es_node: tuple[EsNode, str], tmp_path: Path
) -> None:
    n, url = es_node
    settings: Settings = make_settings(tmp_path, es_url=url)
    spool = Spool(settings.spool_dir)
    store = ElasticsearchStore.from_settings(settings, spool=spool)
    store.init()
    posts = [_post(i) for i in range(BATCHES * BATCH_SIZE)]
    batches = [posts[i : i + BATCH_SIZE] for i in range(0, len(posts), BATCH_SIZE)]
    results: list[BulkResult] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def ingest() -> None:
        try:
            for batch in batches:
                results.append(store.write_posts(batch))
                time.sleep(0.05)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=ingest)
    writer.start()
    while len(results) < 5 and not done.is_set():
        time.sleep(0.02)
    n.run("stop")  # while the writer keeps going
    assert done.wait(120), "ingest did not finish"
    writer.join()
    assert not errors, f"ingest raised {errors[0]!r}"
    spooled = sum(r.spooled for r in results)
    assert spooled > 0 and spool.depth() == spooled
    assert all(not r.failed for r in results)

    assert n.run("start") == url
    replayed = store.replay_spool()
    assert replayed.written == spooled and not replayed.failed
    assert spool.depth() == 0
    store.refresh()
    assert store.count_posts(PostQuery()) == len(posts)
    seen = {p.id for p in store.iter_posts(PostQuery(), batch=500)}
    assert seen == {p.id for p in posts}
    status = store.status()
    assert status.reachable and status.counts["posts"] == len(posts)
    store.drop_all()
    store.close()


def test_spool_replays_batches_in_order_and_keeps_the_rest_on_outage(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    alerts = [
        Alert(id=f"al{i}", kind="coverage_gap", message=f"缺口{i}", raised_at=T0) for i in range(3)
    ]
    spool.append("posts", [_post(1), _post(2)])
    spool.append("alerts", alerts)
    spool.append("posts", [_post(3)])
    assert spool.depth() == 6
    seen: list[tuple[str, list[str]]] = []
    payload: list[Record] = []
    down = {"after": 1}

    def flaky(kind: str, records: Sequence[Record]) -> BulkResult:
        if len(seen) >= down["after"]:
            raise StoreUnavailable("still down")
        seen.append((kind, [r.id for r in records]))
        payload.extend(records)
        return BulkResult(written=len(records))

    with pytest.raises(StoreUnavailable):
        spool.replay(flaky)
    assert seen == [("posts", [_post(1).id, _post(2).id])]
    assert spool.depth() == 4  # the first batch is gone, the others wait
    spool.append("posts", [_post(4)])  # arrives while still down: queued behind the rest

    down["after"] = 99
    result = spool.replay(flaky)
    assert result.written == 5
    assert seen == [
        ("posts", [_post(1).id, _post(2).id]),
        ("alerts", ["al0", "al1", "al2"]),
        ("posts", [_post(3).id]),
        ("posts", [_post(4).id]),
    ]
    assert spool.depth() == 0
    # replayed records are the records that were spooled, field for field, as their own type
    assert payload == [_post(1), _post(2), *alerts, _post(3), _post(4)]
