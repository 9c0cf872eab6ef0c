"""`tingfeng worker enrich`: the enrichment stage as a Kafka consumer group.

Each worker reads `posts.raw` in batches, runs the enrichment steps (the same ones as the
in-process job, `nlp.enrich.default_steps`), writes the posts to the store (deterministic
ids: a redelivered post is an upsert), produces one `posts.enriched` event per post, and only
then commits its offsets. Start more workers (up to the topic's partitions) to scale.

A post that is already stored keeps its topic (so a redelivery or a replay never counts it
into a topic twice), and a post already at the current pipeline version keeps its whole
`nlp` block (a redelivery re-runs nothing). The store has no spool here: while it is down
the consumer pauses and the log is the buffer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nlp.enrich import Step, default_steps, pipeline_version
from nlp.predict import Predictor
from store.base import Store
from store.errors import StoreUnavailable
from store.records import Post
from store.settings import Settings
from stream.consume import BatchConsumer, ConsumeStats, Delivery, Rejects
from stream.errors import KafkaUnavailable
from stream.kafka import Producer, ensure_topics, group_id
from stream.messages import EnrichedEvent

log = logging.getLogger(__name__)


def open_unspooled_store(settings: Settings) -> Store:
    """The configured store without the outage spool: writes raise StoreUnavailable, so a
    consumer pauses instead of committing messages that only reached a local file."""
    if settings.es_url:
        from store.es import ElasticsearchStore

        store: Store = ElasticsearchStore.from_settings(settings, spool=None)
    else:
        from store.sqlite import SqliteStore

        store = SqliteStore(settings.sqlite_path, spool=None)
    store.init()
    return store


class EnrichHandler:
    """Enrich, store, announce: one batch of `posts.raw` deliveries."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        producer: Producer,
        steps: Sequence[Step],
    ) -> None:
        self.settings = settings
        self.store = store
        self.producer = producer
        self.steps = list(steps)
        self.version = pipeline_version(self.steps)

    def warm_up(self) -> None:
        """Load the models and indexes before the first batch (they load lazily), on a
        throwaway post; the topic step is left out: it writes topics."""
        from nlp.topics import TopicStep

        now = datetime.now(UTC)
        text = "听说自来水里检出病毒，大家不要喝"
        probe = Post(
            id="warm-up", source="warm-up", platform="warm-up", text=text, text_norm=text,
            tokens="听说 自来水 里 检出 病毒 ， 大家 不要 喝", segmenter="warm-up",
            created_at=now, fetched_at=now,
        )  # fmt: skip
        for step in self.steps:
            if not isinstance(step, TopicStep):
                step([probe])

    def __call__(self, deliveries: list[Delivery[Post]]) -> Rejects:
        rejects: Rejects = []
        latest: dict[str, Delivery[Post]] = {}
        for d in deliveries:
            if d.key is not None and d.key != d.value.id:
                rejects.append((d, f"key {d.key!r} is not the post id {d.value.id!r}"))
                continue
            latest[d.value.id] = d  # the newest message of a post wins (engagement updates)
        posts = [d.value.model_copy(deep=True) for d in latest.values()]
        stored = {p.id: p for p in self.store.get_posts([p.id for p in posts])}
        fresh: list[Post] = []
        for post in posts:
            old = stored.get(post.id)
            if old is not None and old.nlp.version == self.version:
                post.nlp = old.nlp  # already enriched by this pipeline: nothing to re-run
            else:
                if old is not None:
                    post.nlp.topic_id = old.nlp.topic_id  # never counted into a topic twice
                fresh.append(post)
        if fresh:
            try:
                for step in self.steps:
                    step(fresh)
            except (StoreUnavailable, KafkaUnavailable):
                raise
            except Exception as exc:  # a failing step must not stop the stream: dead letters
                log.exception("enrichment failed on a batch of %d posts", len(fresh))
                failed = {p.id for p in fresh}
                rejects += [
                    (d, f"enrichment failed: {type(exc).__name__}: {exc}")
                    for d in latest.values()
                    if d.value.id in failed
                ]
                posts = [p for p in posts if p.id not in failed]
            for post in fresh:
                post.nlp.version = self.version
        result = self.store.write_posts(posts)
        refused = dict(result.failed)
        rejects += [
            (d, f"store rejected the post: {refused[d.value.id]}")
            for d in latest.values()
            if d.value.id in refused
        ]
        now = datetime.now(UTC)
        for post in posts:
            if post.id not in refused:
                self.producer.send(
                    self.settings.kafka_topic_posts_enriched, post.id, EnrichedEvent.of(post, now)
                )
        self.producer.flush()
        return rejects


def enrich_consumer(
    settings: Settings,
    store: Store,
    *,
    predictor: Predictor | None = None,
    steps: Sequence[Step] | None = None,
    group: str | None = None,
    batch_size: int | None = None,
) -> BatchConsumer[Post]:
    ensure_topics(settings)
    predictor = predictor or Predictor.from_settings(settings)
    producer = Producer(settings)
    handler = EnrichHandler(
        settings,
        store,
        producer,
        steps if steps is not None else default_steps(predictor, store),
    )
    handler.warm_up()
    return BatchConsumer(
        settings,
        group=group or group_id(settings, "enrich"),
        topic=settings.kafka_topic_posts_raw,
        model=Post,
        handler=handler,
        producer=producer,
        batch_size=batch_size or settings.enrich_batch_size,
        wait_s=0.2,  # a batch is what arrived within 0.2 s (or a full batch): low latency
    )


@dataclass
class ReplayResult:
    version: str
    group: str
    messages: int  # in the period, over every partition
    stats: ConsumeStats


def replay(
    settings: Settings,
    since: datetime,
    *,
    model_version: str | None = None,
    predictor: Predictor | None = None,
    steps: Sequence[Step] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> ReplayResult:
    """Re-label every post produced to `posts.raw` since `since`: the dedicated consumer group
    `<prefix>-replay` is reset to that time and consumed up to the end offsets of the moment of
    the reset, through the normal enrichment (same ids: upserts, no duplicates; topics kept).
    `model_version`, if given, must equal the pipeline version the installed models give."""
    from nlp.errors import NlpError
    from stream.kafka import reset_group_to_time

    store = open_unspooled_store(settings)
    try:
        consumer = enrich_consumer(
            settings, store, predictor=predictor, steps=steps, group=group_id(settings, "replay")
        )
        version = consumer.handler.version  # type: ignore[attr-defined]
        if model_version is not None and model_version != version:
            raise NlpError(
                f"--model-version {model_version} is not the installed pipeline ({version}); "
                "point TINGFENG_NLP_MODELS_DIR (or --models-dir) at that version's models"
            )
        ranges = reset_group_to_time(
            settings, consumer.group, consumer.topic, int(since.timestamp() * 1000)
        )
        until = {p: end for p, (start, end) in ranges.items() if end > start}
        total = sum(end - start for start, end in ranges.values())
        log.info("replay of %d messages since %s with %s", total, since.isoformat(), version)
        stats = consumer.run(stop, until=until) if until else ConsumeStats()
        return ReplayResult(version=version, group=consumer.group, messages=total, stats=stats)
    finally:
        store.close()


def run_enrich_worker(
    settings: Settings,
    stop: Callable[[], bool],
    *,
    group: str | None = None,
    until: dict[int, int] | None = None,
    predictor: Predictor | None = None,
) -> ConsumeStats:
    """Run one enrichment worker until `stop()` (or, for a replay, until `until` is reached)."""
    store = open_unspooled_store(settings)
    try:
        consumer = enrich_consumer(settings, store, predictor=predictor, group=group)
        log.info(
            "enrich worker: group %s on %s, pipeline %s",
            consumer.group,
            consumer.topic,
            consumer.handler.version,  # type: ignore[attr-defined]
        )
        return consumer.run(stop, until=until)
    finally:
        store.close()
