"""The consumer loop every worker runs: batch, handle, commit; dead letters; pause on outage.

    consumer = BatchConsumer(settings, group="tingfeng-enrich", topic=settings.kafka_topic_posts_raw,
                             model=Post, handler=handle, producer=producer)
    consumer.run(stop)            # until stop() is true (SIGTERM in a worker)

For each batch (up to `batch_size` messages or `wait_s` seconds):
1. every message is decoded as `model`; invalid JSON and schema violations go to the
   dead-letter topic with the reason (header `reason`) and are not handed on;
2. `handler(deliveries)` does the work (store write, follow-up messages) and returns the
   deliveries it rejected, with a reason, which also go to the dead-letter topic;
3. the offsets are committed (synchronously) only after 1-2 succeeded: at-least-once
   delivery; handlers write with deterministic ids, so the effect is exactly once.

If the handler raises `StoreUnavailable` or `KafkaUnavailable`, the assigned partitions are
paused (the log is the buffer; lag grows), the same batch is retried every `retry_s` seconds,
and the partitions are resumed once it succeeds: nothing is dropped, nothing is spooled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from store.errors import StoreUnavailable
from store.settings import Settings
from stream.errors import InvalidMessage, KafkaUnavailable
from stream.kafka import Producer, consumer_config, wait_for_broker
from stream.messages import decode

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message, TopicPartition

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
OUTAGES = (StoreUnavailable, KafkaUnavailable)


@dataclass
class Delivery(Generic[M]):
    """One decoded message and where it came from."""

    value: M
    key: str | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int


Rejects = list[tuple[Delivery[Any], str]]
Handler = Callable[[list[Delivery[M]]], Rejects | None]


@dataclass
class ConsumeStats:
    batches: int = 0
    handled: int = 0
    dead_lettered: int = 0
    commits_failed: int = 0
    paused_s: float = 0.0
    pauses: int = 0
    reasons: list[str] = field(default_factory=list)


class BatchConsumer(Generic[M]):
    def __init__(
        self,
        settings: Settings,
        *,
        group: str,
        topic: str,
        model: type[M],
        handler: Handler[M],
        producer: Producer,
        batch_size: int = 500,
        wait_s: float = 0.5,
        retry_s: float = 2.0,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.group = group
        self.topic = topic
        self.model = model
        self.handler = handler
        self.producer = producer
        self.batch_size = batch_size
        self.wait_s = wait_s
        self.retry_s = retry_s
        self.config = consumer_config(settings, group, **(config or {}))
        self.stats = ConsumeStats()
        self.positions: dict[int, int] = {}  # partition -> next offset, after commit
        # (topic, partition) -> next offset handled but not yet committed (a commit refused
        # during a rebalance is retried while the partition stays ours)
        self._pending: dict[tuple[str, int], int] = {}
        self._consumer: Consumer | None = None

    # -- the loop ------------------------------------------------------------------------------
    def run(
        self,
        stop: Callable[[], bool],
        *,
        until: dict[int, int] | None = None,
    ) -> ConsumeStats:
        """Consume until `stop()` is true, or (replay) until every partition of `until`
        (partition -> end offset) has been committed up to its end offset."""
        from confluent_kafka import Consumer

        wait_for_broker(self.settings)
        consumer = Consumer(self.config)
        self._consumer = consumer
        consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        last_report = time.monotonic()
        try:
            while not stop() and not self._reached(until):
                messages = consumer.consume(self.batch_size, timeout=self.wait_s)
                batch = [m for m in messages if self._usable(m)]
                if batch:
                    self._process(consumer, batch, stop)
                elif self._pending:
                    self._commit_pending(consumer)
                if time.monotonic() - last_report > 30:
                    last_report = time.monotonic()
                    log.info(
                        "%s on %s: %d handled, %d dead-lettered, %d batches, paused %.0fs",
                        self.group,
                        self.topic,
                        self.stats.handled,
                        self.stats.dead_lettered,
                        self.stats.batches,
                        self.stats.paused_s,
                    )
        finally:
            self._consumer = None
            if self._pending:
                self._commit_pending(consumer)
            consumer.close()  # leaves the group: its partitions move at once
            self.producer.close()
        log.info(
            "%s on %s stopped: %d handled, %d dead-lettered in %d batches",
            self.group,
            self.topic,
            self.stats.handled,
            self.stats.dead_lettered,
            self.stats.batches,
        )
        return self.stats

    def _reached(self, until: dict[int, int] | None) -> bool:
        if until is None:
            return False
        return all(self.positions.get(p, -1) >= end for p, end in until.items())

    def _usable(self, msg: Message) -> bool:
        err = msg.error()
        if err is None:
            return True
        if err.fatal():
            raise KafkaUnavailable(f"fatal consumer error on {self.topic}: {err.str()}")
        log.debug("consumer event on %s: %s", self.topic, err.str())
        return False

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            log.info(
                "%s took partitions %s of %s",
                self.group,
                sorted(tp.partition for tp in partitions),
                self.topic,
            )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            log.info(
                "%s gave up partitions %s of %s",
                self.group,
                sorted(tp.partition for tp in partitions),
                self.topic,
            )
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        if revoked & self._pending.keys():
            self._commit_pending(consumer, only=revoked)  # still ours inside this callback
        for where in revoked:
            self._pending.pop(where, None)  # not committed: the new owner redoes them
        for tp in partitions:
            self.positions.pop(tp.partition, None)

    # -- one batch -----------------------------------------------------------------------------
    def _process(self, consumer: Consumer, batch: list[Message], stop: Callable[[], bool]) -> None:
        good: list[Delivery[M]] = []
        dead: list[tuple[Message, str]] = []
        for msg in batch:
            key = msg.key()
            try:
                value = decode(msg.value(), self.model)
            except InvalidMessage as exc:
                dead.append((msg, str(exc)))
                continue
            good.append(
                Delivery(
                    value=value,
                    key=key.decode("utf-8", "replace") if key is not None else None,
                    topic=msg.topic() or self.topic,
                    partition=msg.partition() or 0,
                    offset=msg.offset() or 0,
                    timestamp_ms=msg.timestamp()[1],
                )
            )
        by_offset = {(m.partition(), m.offset()): m for m in batch}
        paused_at: float | None = None
        while True:
            try:
                rejects = self.handler(good) if good else None
                for delivery, reason in rejects or []:
                    dead.append((by_offset[(delivery.partition, delivery.offset)], reason))
                self._dead_letter(dead)
                break
            except OUTAGES as exc:
                if paused_at is None:
                    paused_at = time.monotonic()
                    self.stats.pauses += 1
                    log.warning(
                        "%s: %s; pausing %s (the log keeps the messages) and retrying every %.0fs",
                        self.group,
                        exc,
                        self.topic,
                        self.retry_s,
                    )
                self._hold(consumer)
                if stop():
                    return  # not committed: the next owner redoes the batch
        if paused_at is not None:
            self.stats.paused_s += time.monotonic() - paused_at
            consumer.resume(consumer.assignment())
            log.info(
                "%s: resumed %s after %.1fs", self.group, self.topic, time.monotonic() - paused_at
            )
        self.stats.batches += 1
        self.stats.handled += len(good)
        self._commit(consumer, batch)

    def _hold(self, consumer: Consumer) -> None:
        """Pause everything assigned and keep polling (group membership) while waiting; a
        message that still arrives (a partition assigned meanwhile) is sought back."""
        from confluent_kafka import TopicPartition

        consumer.pause(consumer.assignment())
        deadline = time.monotonic() + self.retry_s
        while (left := deadline - time.monotonic()) > 0:
            arrived = consumer.consume(100, timeout=min(left, 0.5))
            first: dict[tuple[str, int], int] = {}
            for msg in arrived:
                if msg.error() is None:
                    where = (msg.topic() or self.topic, msg.partition() or 0)
                    first[where] = min(first.get(where, msg.offset() or 0), msg.offset() or 0)
            for (topic, partition), offset in first.items():
                tp = TopicPartition(topic, partition, offset)
                consumer.seek(tp)
                consumer.pause([tp])

    def _dead_letter(self, dead: Sequence[tuple[Message, str]]) -> None:
        if not dead:
            return
        for msg, reason in dead:
            key = msg.key()
            self.producer.send(
                self.settings.kafka_topic_dead_letter,
                key.decode("utf-8", "replace") if key is not None else None,
                msg.value() or b"",
                headers=[
                    ("reason", reason.encode("utf-8")),
                    ("source.topic", (msg.topic() or "").encode()),
                    ("source.partition", str(msg.partition()).encode()),
                    ("source.offset", str(msg.offset()).encode()),
                    ("group", self.group.encode()),
                ],
            )
            self.stats.reasons.append(reason)
            log.warning(
                "%s: dead-lettered %s[%s]@%s: %s",
                self.group,
                msg.topic(),
                msg.partition(),
                msg.offset(),
                reason,
            )
        del self.stats.reasons[:-100]
        self.producer.flush()
        self.stats.dead_lettered += len(dead)

    def _commit(self, consumer: Consumer, batch: list[Message]) -> None:
        for msg in batch:
            where = (msg.topic() or self.topic, msg.partition() or 0)
            self._pending[where] = max(self._pending.get(where, 0), (msg.offset() or 0) + 1)
        self._commit_pending(consumer)

    def _commit_pending(self, consumer: Consumer, only: set[tuple[str, int]] | None = None) -> None:
        """Commit what was handled on partitions still assigned. A commit refused during a
        rebalance (e.g. ILLEGAL_GENERATION) stays pending and is retried after the next poll,
        which completes the rebalance: a partition kept through a cooperative rebalance is not
        redelivered, so dropping its commit would leave its lag behind for good."""
        from confluent_kafka import KafkaException, TopicPartition

        assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        for where in [w for w in self._pending if w not in assigned]:
            del self._pending[where]  # no longer ours: the new owner redoes them
        wanted = {w: o for w, o in self._pending.items() if only is None or w in only}
        if not wanted:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in wanted.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self.stats.commits_failed += 1
            log.warning("%s: commit failed (%s); retrying after the rebalance", self.group, exc)
            return
        for tp in offsets:
            self.positions[tp.partition] = tp.offset
            if self._pending.get((tp.topic, tp.partition)) == tp.offset:
                del self._pending[(tp.topic, tp.partition)]
