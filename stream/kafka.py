"""Clients from settings: topic creation, the idempotent producer, lag and offsets.

Clients are built at the edge (a worker, the API's lifespan, a crawl) and passed in; nothing
here connects at import time. librdkafka logs a refusal every ~50 ms while a port is closed,
so `wait_for_broker` probes the TCP port before any client is made.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from store.base import BulkResult
from store.records import Post
from store.settings import Settings
from stream.errors import KafkaUnavailable, NotConfigured
from stream.messages import encode

if TYPE_CHECKING:
    from confluent_kafka import Message

log = logging.getLogger(__name__)


def bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        raise NotConfigured(
            "TINGFENG_KAFKA_BOOTSTRAP is not set; set it to the brokers (host:port), "
            "e.g. the address `scripts/kafka start` prints"
        )
    return settings.kafka_bootstrap


def group_id(settings: Settings, role: str) -> str:
    return f"{settings.kafka_group_prefix}-{role}"


def topics(settings: Settings) -> list[str]:
    return [
        settings.kafka_topic_posts_raw,
        settings.kafka_topic_posts_enriched,
        settings.kafka_topic_crawl_requests,
        settings.kafka_topic_dead_letter,
    ]


def wait_for_broker(settings: Settings, timeout: float = 30.0) -> None:
    """Block until one bootstrap address accepts TCP connections (KafkaUnavailable after)."""
    addresses = bootstrap(settings).split(",")
    deadline = time.monotonic() + timeout
    while True:
        for address in addresses:
            host, _, port = address.strip().rpartition(":")
            try:
                with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2):
                    return
            except OSError:
                continue
        if time.monotonic() >= deadline:
            raise KafkaUnavailable(
                f"no Kafka broker answers at {settings.kafka_bootstrap} after {timeout:.0f}s; "
                "start one (scripts/kafka start) or fix TINGFENG_KAFKA_BOOTSTRAP"
            )
        time.sleep(0.5)


def ensure_topics(settings: Settings, *, timeout: float = 30.0) -> list[str]:
    """Create the configured topics that do not exist yet; returns the names created."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    wait_for_broker(settings, timeout)
    admin = AdminClient(admin_config(settings))
    retention_ms = str(int(settings.kafka_retention_hours * 3600 * 1000))
    wanted = [
        NewTopic(
            name,
            num_partitions=settings.kafka_partitions,
            replication_factor=-1,  # the broker's default.replication.factor
            config={"retention.ms": retention_ms},
        )
        for name in topics(settings)
    ]
    created = []
    for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result(timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaUnavailable(f"cannot create topic {name}: {exc.args[0].str()}") from None
    if created:
        log.info("created topics %s (%d partitions)", created, settings.kafka_partitions)
    return created


def admin_config(settings: Settings) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap(settings), "log_level": 4}  # warnings and worse


def delete_topics(settings: Settings, *, timeout: float = 30.0) -> None:
    """Delete the configured topics (scratch topics of tests and benchmarks); missing ones
    are skipped."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(admin_config(settings))
    for future in admin.delete_topics(topics(settings), operation_timeout=timeout).values():
        with contextlib.suppress(KafkaException):
            future.result(timeout)


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap(settings),
        "enable.idempotence": True,  # implies acks=all and ordered retries per partition
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
        "message.timeout.ms": 120000,
    }


def consumer_config(settings: Settings, group: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap(settings),
        "group.id": group,
        "enable.auto.commit": False,  # offsets are committed after the store write
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
        "max.poll.interval.ms": 300000,
        "partition.assignment.strategy": "cooperative-sticky",
    }
    config.update(extra)
    return config


class Producer:
    """The idempotent producer (acks=all). `flush` raises if any message was not delivered,
    so a caller commits (or answers a client) only after the log has the messages."""

    def __init__(self, settings: Settings) -> None:
        from confluent_kafka import Producer as _Producer

        wait_for_broker(settings)
        self._producer = _Producer(producer_config(settings))
        self._failed: list[str] = []
        self._closed = False

    def _delivered(self, err: Any, msg: Message) -> None:
        if err is not None:
            self._failed.append(f"{msg.topic()}: {err}")

    def send(
        self,
        topic: str,
        key: str | None,
        value: bytes | BaseModel,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        payload = encode(value) if isinstance(value, BaseModel) else value
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=payload,
                    key=key.encode("utf-8") if key is not None else None,
                    headers=list(headers) if headers else None,
                    on_delivery=self._delivered,
                )
                break
            except BufferError:  # local queue full: let deliveries drain
                self._producer.poll(0.1)
        self._producer.poll(0)

    def send_many(self, topic: str, items: Iterable[tuple[str, BaseModel]]) -> int:
        count = 0
        for key, value in items:
            self.send(topic, key, value)
            count += 1
        return count

    def flush(self, timeout: float = 120.0) -> None:
        left = self._producer.flush(timeout)
        failed, self._failed = self._failed, []
        if left:
            raise KafkaUnavailable(f"{left} messages not delivered after {timeout:.0f}s")
        if failed:
            raise KafkaUnavailable(
                f"{len(failed)} messages not delivered (first: {failed[0]}); retry the batch"
            )

    def close(self) -> None:
        """Flush and destroy the client now (a client left to interpreter shutdown can crash
        it from librdkafka's threads). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._producer.flush(10)
        self._producer.close()


def produce_posts(producer: Producer, settings: Settings, posts: Sequence[Post]) -> BulkResult:
    """Posts to `posts.raw` (key: post id), delivered (acks=all) when this returns; the
    enrichment workers store them."""
    for post in posts:
        producer.send(settings.kafka_topic_posts_raw, post.id, post)
    producer.flush()
    return BulkResult(written=len(posts))


@dataclass
class PartitionLag:
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


def _partitions(admin: Any, topic: str, timeout: float) -> list[int]:
    meta = admin.list_topics(topic, timeout=timeout)
    found = meta.topics.get(topic)
    if found is None or found.error is not None:
        raise KafkaUnavailable(f"topic {topic} does not exist; run `tingfeng pipeline topics`")
    return sorted(found.partitions)


def _offsets(admin: Any, topic: str, parts: list[int], spec: Any, timeout: float) -> dict[int, int]:
    from confluent_kafka import TopicPartition

    futures = admin.list_offsets(
        {TopicPartition(topic, p): spec for p in parts}, request_timeout=timeout
    )
    return {tp.partition: future.result(timeout).offset for tp, future in futures.items()}


def lag(settings: Settings, group: str, topic: str, *, timeout: float = 10.0) -> list[PartitionLag]:
    """Committed offset vs. end offset per partition of `topic` for consumer group `group`.

    The committed offsets are read by a consumer that never subscribes (so it does not join
    the group): librdkafka 2.16's admin `list_consumer_group_offsets` can crash the process
    when the group coordinator is still loading (a NULL consumer-group handle in its
    OffsetFetch error path)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient(admin_config(settings))
    reader = Consumer({**consumer_config(settings, group), "log_level": 4})
    try:
        for attempt in range(20):
            try:
                parts = _partitions(admin, topic, timeout)
                ends = _offsets(admin, topic, parts, OffsetSpec.latest(), timeout)
                starts = _offsets(admin, topic, parts, OffsetSpec.earliest(), timeout)
                found = reader.committed([TopicPartition(topic, p) for p in parts], timeout=timeout)
                committed = {tp.partition: tp.offset for tp in found}
                return [
                    PartitionLag(
                        topic,
                        p,
                        committed[p] if committed.get(p, -1) >= 0 else starts[p],
                        ends[p],
                    )
                    for p in parts
                ]
            except KafkaException as exc:  # coordinator moving or loading: transient
                if attempt == 19:
                    raise KafkaUnavailable(f"cannot read the lag of {group}: {exc}") from None
                time.sleep(0.5)
        raise AssertionError("unreachable")
    finally:
        reader.close()


def total_lag(settings: Settings, group: str, topic: str) -> int:
    return sum(p.lag for p in lag(settings, group, topic))


def reset_group_to_time(
    settings: Settings, group: str, topic: str, since_ms: int, *, timeout: float = 10.0
) -> dict[int, tuple[int, int]]:
    """Set `group`'s committed offset, on every partition of `topic`, to the first message at
    or after `since_ms` (the end if none). Returns partition -> (start, end offset). The group
    must have no active members (Kafka refuses otherwise)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient(admin_config(settings))
    parts = _partitions(admin, topic, timeout)
    ends = _offsets(admin, topic, parts, OffsetSpec.latest(), timeout)
    found = _offsets(admin, topic, parts, OffsetSpec.for_timestamp(since_ms), timeout)
    ranges = {p: (found[p] if found[p] >= 0 else ends[p], ends[p]) for p in parts}
    # committed by a consumer of the group that never subscribes (see `lag` on the admin API)
    writer = Consumer({**consumer_config(settings, group), "log_level": 4})
    try:
        offsets = [TopicPartition(topic, p, start) for p, (start, _end) in ranges.items()]
        for attempt in range(20):
            try:
                writer.commit(offsets=offsets, asynchronous=False)
                break
            except KafkaException as exc:  # coordinator loading, or members still active
                if attempt == 19:
                    raise KafkaUnavailable(
                        f"cannot reset consumer group {group} (is a replay still running?): {exc}"
                    ) from None
                time.sleep(0.5)
    finally:
        writer.close()
    return ranges
