"""`tingfeng bench pipeline`: posts/s from `posts.raw` to the store through 1 and 2 enrichment
worker processes, the consumer lag over time, and the in-process path (ingest, then the
enrichment job) on the same posts in the same run, each into fresh scratch indices.

A worker run starts the workers first and waits until they hold their partitions (model
loading and group joins are start-up, not throughput), then produces every post and times
the first produce to the group's lag reaching zero.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from store import Settings
from store.records import Post

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class PathRun:
    name: str
    workers: int
    posts: int
    seconds: float
    lag: list[tuple[float, int]] = field(default_factory=list)  # (s since start, lag)

    @property
    def posts_per_s(self) -> float:
        return self.posts / self.seconds if self.seconds else 0.0


@contextlib.contextmanager
def _scratch(settings: Settings, label: str) -> Iterator[tuple[Settings, object]]:
    from bench.api import scratch_store
    from stream.kafka import delete_topics, ensure_topics

    with scratch_store(settings) as (base, store):
        ns = f"bench-{label}-{uuid.uuid4().hex[:6]}"
        scratch = base.model_copy(
            update={
                "kafka_topic_posts_raw": f"{ns}.posts.raw",
                "kafka_topic_posts_enriched": f"{ns}.posts.enriched",
                "kafka_topic_crawl_requests": f"{ns}.crawl.requests",
                "kafka_topic_dead_letter": f"{ns}.posts.dead-letter",
                "kafka_group_prefix": ns,
            }
        )
        if settings.kafka_bootstrap:
            ensure_topics(scratch)
        try:
            yield scratch, store
        finally:
            if settings.kafka_bootstrap:
                with contextlib.suppress(Exception):
                    delete_topics(scratch)


def run_in_process(settings: Settings, posts: list[Post]) -> PathRun:
    """The embedded path on a scratch store: write the raw posts, then one enrichment pass."""
    from ingest.posts import ingest_posts
    from nlp.enrich import enrich
    from nlp.predict import Predictor

    with _scratch(settings, "inproc") as (_scratch_settings, store):
        predictor = Predictor.from_settings(settings)
        predictor.predict("rumor", ["预热"])  # models load before the clock starts
        start = time.perf_counter()
        ingest_posts(store, posts, batch=settings.enrich_batch_size)  # type: ignore[arg-type]
        store.refresh()  # type: ignore[attr-defined]
        result = enrich(store, predictor, batch=settings.enrich_batch_size)  # type: ignore[arg-type]
        seconds = time.perf_counter() - start
    if result.enriched != len(posts):
        log.warning("in-process path enriched %d of %d posts", result.enriched, len(posts))
    return PathRun("in-process (ingest + enrich job)", 0, len(posts), seconds)


def run_workers(
    settings: Settings,
    posts: list[Post],
    workers: int,
    *,
    timeout: float = 900.0,
    on_lag: Callable[[int], None] | None = None,
) -> PathRun:
    from crawlers.run import settings_env
    from stream.kafka import Producer, group_id, produce_posts, total_lag

    with _scratch(settings, f"w{workers}") as (scratch, _store):
        logs = [Path(scratch.data_dir) / f"worker-{i}.log" for i in range(workers)]
        outs = [path.open("w") for path in logs]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "cli.main", "worker", "enrich"],
                env=settings_env(scratch),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            for out in outs
        ]
        try:
            deadline = time.monotonic() + 180
            while not all("took partitions" in p.read_text("utf-8", "replace") for p in logs):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    tail = logs[0].read_text("utf-8", "replace")[-2000:]
                    raise RuntimeError(f"enrichment workers did not start:\n{tail}")
                time.sleep(0.2)
            group = group_id(scratch, "enrich")
            producer = Producer(scratch)
            start = time.perf_counter()
            for first in range(0, len(posts), 1000):
                produce_posts(producer, scratch, posts[first : first + 1000])
            producer.close()
            series: list[tuple[float, int]] = []
            while True:
                lag = total_lag(scratch, group, scratch.kafka_topic_posts_raw)
                series.append((time.perf_counter() - start, lag))
                if on_lag:
                    on_lag(lag)
                if lag == 0:
                    break
                if time.perf_counter() - start > timeout:
                    raise RuntimeError(f"{workers} workers did not finish in {timeout:.0f}s")
                time.sleep(0.5)
            seconds = time.perf_counter() - start
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for out in outs:
                out.close()
    return PathRun(
        f"kafka, {workers} worker{'s' if workers > 1 else ''}", workers, len(posts), seconds, series
    )
