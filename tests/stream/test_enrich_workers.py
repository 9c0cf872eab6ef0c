"""Enrichment workers on real Kafka and real Elasticsearch, as separate processes: every post
stored exactly once through two workers, a SIGKILL mid-batch, and a rebalance."""

from __future__ import annotations

from collections.abc import Callable

from store import Settings, Store
from store.base import PostQuery
from stream.kafka import Producer, group_id, produce_posts, total_lag
from tests.stream.conftest import Worker, make_post, wait_for

N = 10_000


def _stored(store: Store) -> int:
    store.refresh()
    return store.count_posts(PostQuery())


def _all_ids(store: Store) -> list[str]:
    store.refresh()
    return [p.id for p in store.iter_posts(PostQuery(), batch=2000)]


def _produce(settings: Settings, start: int, stop: int) -> None:
    producer = Producer(settings)
    for first in range(start, stop, 1000):
        produce_posts(
            producer, settings, [make_post(i) for i in range(first, min(stop, first + 1000))]
        )
    producer.close()


def test_two_workers_sigkill_mid_batch_every_id_once(
    ksettings: Settings, es_store: Store, workers: Callable[..., Worker]
) -> None:
    a = workers(ksettings, "enrich")
    b = workers(ksettings, "enrich")
    _produce(ksettings, 0, N)
    group = group_id(ksettings, "enrich")
    # A worker is killed while batches are in flight: its uncommitted batch is redone.
    wait_for(lambda: _stored(es_store) >= 2000, 240, "the first 2000 posts", [a, b])
    a.kill()
    a2 = workers(ksettings, "enrich")
    wait_for(
        lambda: total_lag(ksettings, group, ksettings.kafka_topic_posts_raw) == 0,
        300,
        "the enrich group to catch up",
        [a2, b],
    )
    ids = _all_ids(es_store)
    assert len(ids) == N
    assert set(ids) == {f"k-{i:06d}" for i in range(N)}
    version = es_store.get_posts(["k-000000"])[0].nlp.version
    assert version and es_store.count_posts(PostQuery(terms={"nlp.version": [version]})) == N
    assert b.stop() == 0 and a2.stop() == 0
    assert f"dead-lettered {ksettings.kafka_topic_posts_raw}" not in a2.output() + b.output()


def test_rebalance_three_workers_stop_one_no_loss(
    ksettings: Settings, es_store: Store, workers: Callable[..., Worker]
) -> None:
    group = group_id(ksettings, "enrich")
    three = [workers(ksettings, "enrich") for _ in range(3)]
    _produce(ksettings, 0, 2000)
    wait_for(lambda: _stored(es_store) >= 500, 240, "the first 500 posts", three)
    taken_before = sum(w.output().count("took partitions") for w in three[1:])
    assert three[0].stop() == 0  # leaves the group: its partitions move to the other two
    _produce(ksettings, 2000, 4000)
    wait_for(
        lambda: total_lag(ksettings, group, ksettings.kafka_topic_posts_raw) == 0,
        300,
        "the two remaining workers to catch up",
        three[1:],
    )
    assert set(_all_ids(es_store)) == {f"k-{i:06d}" for i in range(4000)}
    assert _stored(es_store) == 4000
    # lag 0 on every partition, and the survivors took more partitions after the stop
    assert sum(w.output().count("took partitions") for w in three[1:]) > taken_before
