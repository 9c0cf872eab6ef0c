"""Elasticsearch stopped mid-stream under a Kafka consumer group: the worker pauses (no spool,
no drops), lag grows while posts keep arriving, and after the restart every post arrives once.

The node is a separate one (own port and data directory, `scripts/elasticsearch`), as in
tests/store/test_outage.py, so the shared node is never disturbed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from store import Settings
from store.base import PostQuery
from store.spool import Spool
from stream.kafka import Producer, delete_topics, ensure_topics, group_id, produce_posts, total_lag
from tests.conftest import open_backend
from tests.esnode import EsNode
from tests.stream.conftest import Worker, kafka_settings, make_post, wait_for

TOTAL = 3000


def test_es_stopped_mid_stream_consumers_pause_and_nothing_is_dropped(
    es_node: tuple[EsNode, str],
    tmp_path: Path,
    kafka_bootstrap: str,
    workers: Callable[..., Worker],
) -> None:
    n, url = es_node
    settings: Settings = kafka_settings(tmp_path, kafka_bootstrap, url)
    ensure_topics(settings)
    store = open_backend("elasticsearch", settings, url)
    raw, group = settings.kafka_topic_posts_raw, group_id(settings, "enrich")
    worker = workers(settings, "enrich")
    producer = Producer(settings)

    def produce(first: int, last: int) -> None:
        produce_posts(producer, settings, [make_post(i, "out") for i in range(first, last)])

    def stored() -> int:
        store.refresh()
        return store.count_posts(PostQuery())

    produce(0, 1000)
    wait_for(lambda: stored() >= 400, 240, "the first posts to be stored", [worker])
    n.run("stop")
    lag_at_stop = total_lag(settings, group, raw)
    produce(1000, 2000)  # posts keep arriving while the store is down
    wait_for(lambda: "pausing" in worker.output(), 60, "the worker to pause", [worker])
    lag_during = total_lag(settings, group, raw)
    assert lag_during >= 1000 and lag_during > lag_at_stop  # the log is the buffer
    time.sleep(3)
    assert total_lag(settings, group, raw) == lag_during  # nothing skipped, nothing committed
    assert worker.proc.poll() is None  # still running, still in its group
    assert n.run("start") == url
    produce(2000, TOTAL)
    producer.close()
    wait_for(lambda: total_lag(settings, group, raw) == 0, 240, "the worker to catch up", [worker])
    assert "resumed" in worker.output()
    store.refresh()
    ids = [p.id for p in store.iter_posts(PostQuery(), batch=2000)]
    assert len(ids) == TOTAL and set(ids) == {f"out-{i:06d}" for i in range(TOTAL)}
    assert Spool(settings.spool_dir).depth() == 0  # nothing went to a local file
    assert worker.stop() == 0
    store.drop_all()  # type: ignore[attr-defined]
    store.close()
    delete_topics(settings)
