"""`tingfeng bench latency` with Kafka on: the same replayed stream of post clusters, produced to
`posts.raw` while an enrichment consumer and the event-driven triage consumer run (in threads of
this process, against a scratch store and scratch topics). For each cluster, the time from its
posts being accepted by the log (acks=all; they are not even enriched yet) to an incident
holding them, and to the robot webhook receiving the notification."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from bench.api import scratch_store
from bench.latency import LatencyBench, _notified, _Receiver, cluster_posts
from store import Settings
from store.records import Incident
from stream.kafka import Producer, delete_topics, ensure_topics, produce_posts

log = logging.getLogger(__name__)


def run_bench_latency_kafka(
    settings: Settings,
    *,
    clusters: int = 20,
    gap: float = 2.0,
    timeout: float = 60.0,
    on_cluster: Callable[[int], None] | None = None,
) -> LatencyBench:
    from nlp.worker import enrich_consumer, open_unspooled_store
    from triage.job import TriageJob
    from triage.notify import Notifier
    from triage.worker import triage_consumer

    receiver = _Receiver()
    with scratch_store(settings) as (base, store):
        ns = f"bench-{uuid.uuid4().hex[:8]}"
        scratch = base.model_copy(
            update={
                "kafka_topic_posts_raw": f"{ns}.posts.raw",
                "kafka_topic_posts_enriched": f"{ns}.posts.enriched",
                "kafka_topic_crawl_requests": f"{ns}.crawl.requests",
                "kafka_topic_dead_letter": f"{ns}.posts.dead-letter",
                "kafka_group_prefix": ns,
            }
        )
        ensure_topics(scratch)
        writer = open_unspooled_store(scratch)
        enrich = enrich_consumer(scratch, writer)
        triage = triage_consumer(
            scratch,
            store,
            job=TriageJob(
                store,
                playbook_path=scratch.playbook_file,
                notifier=Notifier(
                    default_webhook=receiver.url, cooldown=timedelta(0), tz=scratch.tz
                ),
            ),
        )
        stop = threading.Event()
        threads = [
            threading.Thread(target=enrich.run, args=(stop.is_set,), daemon=True),
            threading.Thread(target=triage.run, args=(stop.is_set,), daemon=True),
        ]
        for thread in threads:
            thread.start()
        stored: dict[int, float] = {}
        post_cluster: dict[str, int] = {}
        found: dict[int, tuple[float, str]] = {}

        def watch() -> None:
            while not stop.is_set():
                with contextlib.suppress(Exception):
                    for incident in store.find("incidents", Incident, size=1000):
                        for post_id in incident.evidence_post_ids:
                            k = post_cluster.get(post_id)
                            if k is not None and k not in found:
                                found[k] = (time.time(), incident.id)
                stop.wait(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        producer = Producer(scratch)
        nonce = uuid.uuid4().hex[:6]
        time.sleep(5)  # both consumers joined their groups (partitions assigned)
        try:
            for k in range(clusters):
                posts = cluster_posts(scratch, k, nonce)
                for post in posts[:-1]:  # the noise post opens nothing
                    post_cluster[post.id] = k
                produce_posts(producer, scratch, posts)
                stored[k] = time.time()
                if on_cluster:
                    on_cluster(k)
                time.sleep(gap)
            deadline = time.time() + timeout
            while time.time() < deadline:
                done = [k for k in stored if k in found and found[k][1] in receiver.first]
                if len(done) == len(stored):
                    break
                time.sleep(0.5)
        finally:
            stop.set()
            watcher.join(timeout=5)
            for thread in threads:
                thread.join(timeout=30)
            producer.close()
            writer.close()
            receiver.close()
            with contextlib.suppress(Exception):
                delete_topics(scratch)
    return LatencyBench(
        backend=("elasticsearch" if settings.es_url else "sqlite") + " + kafka (event-driven)",
        clusters=clusters,
        enrich_interval=0.0,
        triage_interval=0.0,
        to_incident_s=[found[k][0] - stored[k] for k in stored if k in found],
        to_notified_s=_notified(stored, found, receiver.first),
    )
