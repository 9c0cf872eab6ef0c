"""Bad messages on posts.raw go to the dead-letter topic with the reason; the consumer keeps
going and commits past them. The worker runs in a thread of the test (same code path as the
process: `nlp.worker.run_enrich_worker`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import Consumer

from nlp.worker import run_enrich_worker
from store import Settings, Store
from store.base import PostQuery
from stream.kafka import Producer, group_id, total_lag
from tests.stream.conftest import make_post, wait_for


@contextmanager
def enrich_thread(settings: Settings) -> Iterator[None]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_enrich_worker(settings, stop.is_set)
        except BaseException as exc:  # surfaced in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(60)
    assert not errors, f"worker raised {errors[0]!r}"


def read_topic(settings: Settings, topic: str, count: int, timeout: float = 30) -> list[object]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.kafka_group_prefix}-reader",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    out: list[object] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                out.append(msg)
    finally:
        consumer.close()
    return out


def test_bad_messages_go_to_the_dead_letter_topic_with_reason(
    ksettings: Settings, es_store: Store
) -> None:
    raw = ksettings.kafka_topic_posts_raw
    producer = Producer(ksettings)
    good = [make_post(i, "dlq") for i in range(200)]
    for post in good[:100]:
        producer.send(raw, post.id, post)
    producer.send(raw, "bad-json", b'{"id": "x", "text": ')
    no_text = make_post(999, "dlq").model_dump(mode="json")
    del no_text["text"]
    producer.send(raw, "dlq-000999", json.dumps(no_text).encode())
    producer.send(raw, "not-its-id", make_post(998, "dlq"))
    for post in good[100:]:  # after the bad ones: the consumer keeps going
        producer.send(raw, post.id, post)
    producer.close()

    with enrich_thread(ksettings):
        wait_for(
            lambda: total_lag(ksettings, group_id(ksettings, "enrich"), raw) == 0,
            180,
            "the worker to consume past the bad messages",
        )
    es_store.refresh()
    stored = {p.id for p in es_store.iter_posts(PostQuery())}
    assert stored == {p.id for p in good}

    dead = read_topic(ksettings, ksettings.kafka_topic_dead_letter, 3)
    reasons = {
        msg.key().decode(): dict(msg.headers())["reason"].decode()  # type: ignore[attr-defined]
        for msg in dead
    }
    assert set(reasons) == {"bad-json", "dlq-000999", "not-its-id"}
    assert reasons["bad-json"].startswith("invalid JSON")
    assert reasons["dlq-000999"].startswith("schema violation (Post): text:")
    assert "is not the post id" in reasons["not-its-id"]
    for msg in dead:
        headers = dict(msg.headers())  # type: ignore[attr-defined]
        assert headers["source.topic"].decode() == raw
        assert int(headers["source.offset"]) >= 0
