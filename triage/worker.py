"""`tingfeng worker triage`: triage reacting to `posts.enriched` instead of polling topics.

Each batch of events names the topics its posts joined; only those topics are re-evaluated
(`TriageJob.triage_topic`: open or update the topic's incident), then due notifications are
delivered. Alerts and SLA sweeps stay on the scheduler's triage pass (they are about time, not
posts). Elasticsearch makes a write searchable only at its next refresh (every 1 s), so a batch
is evaluated once search finds its posts: if it does not yet, the worker refreshes the posts
index itself (one small refresh, instead of waiting up to a second), and falls back to waiting
at most `SEARCHABLE_AFTER` after the batch's newest store write. Likewise, once a batch opened
or changed an incident or planned a notification, the incidents and notifications indices are
refreshed, so the incident list (and the delivery just below) sees them at once: these indices
take a few writes a minute, refreshing them is cheap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from store.base import PostQuery, Store
from store.errors import StoreUnavailable
from store.records import Topic
from store.settings import Settings
from stream.consume import BatchConsumer, ConsumeStats, Delivery, Rejects
from stream.kafka import Producer, ensure_topics, group_id
from stream.messages import EnrichedEvent
from triage.job import PassReport, TriageJob
from triage.notify import NOTIFICATIONS
from triage.workflow import INCIDENTS

log = logging.getLogger(__name__)

SEARCHABLE_AFTER = 1.0  # seconds: Elasticsearch's default refresh interval


class TriageHandler:
    def __init__(self, job: TriageJob, *, searchable_after: float) -> None:
        self.job = job
        self.searchable_after = searchable_after
        self.passes: list[PassReport] = []

    def __call__(self, deliveries: list[Delivery[EnrichedEvent]]) -> Rejects:
        topic_ids = sorted({d.value.topic_id for d in deliveries if d.value.topic_id})
        if not topic_ids:
            return []
        self._wait_until_searchable(deliveries)
        now = datetime.now(UTC)
        playbook = self.job.playbook()
        report = PassReport()
        for topic_id in topic_ids:
            topic = self.job.store.get("topics", topic_id, Topic)
            if topic is None:
                continue
            report.topics += 1
            try:
                self.job.triage_topic(playbook, topic, now, report)
            except StoreUnavailable:
                raise
            except Exception:  # one bad topic must not stop the stream; its next post retries
                log.exception("triage of topic %s failed", topic_id)
                report.failed += 1
        if report.opened or report.updated or report.planned:
            self.job.store.refresh(INCIDENTS, NOTIFICATIONS)
        if self.job.notifier is not None:
            report.delivery = self.job.notifier.deliver_due(self.job.store, now)
        log.info("triage (events): %s", report.summary())
        self.passes.append(report)
        del self.passes[:-100]
        return []

    def _wait_until_searchable(self, deliveries: list[Delivery[EnrichedEvent]]) -> None:
        """Until the batch's posts are found by search: if they are not yet, refresh the posts
        index once; then wait at most `searchable_after` after the newest store write (by then
        the index has refreshed on its own)."""
        newest = max(d.value.stored_at for d in deliveries).timestamp()
        ids = sorted({d.value.id for d in deliveries})
        query = PostQuery(ids=ids)
        if self.searchable_after <= 0 or self.job.store.count_posts(query) >= len(ids):
            return
        self.job.store.refresh("posts")
        while time.time() < newest + self.searchable_after:
            if self.job.store.count_posts(query) >= len(ids):
                return
            time.sleep(0.05)


def triage_consumer(
    settings: Settings,
    store: Store,
    *,
    job: TriageJob | None = None,
    searchable_after: float | None = None,
) -> BatchConsumer[EnrichedEvent]:
    ensure_topics(settings)
    job = job or TriageJob.from_settings(settings, store)
    after = (
        searchable_after
        if searchable_after is not None
        else (SEARCHABLE_AFTER if settings.es_url else 0.0)
    )
    return BatchConsumer(
        settings,
        group=group_id(settings, "triage"),
        topic=settings.kafka_topic_posts_enriched,
        model=EnrichedEvent,
        handler=TriageHandler(job, searchable_after=after),
        producer=Producer(settings),
        batch_size=1000,
        wait_s=0.1,
    )


def run_triage_worker(settings: Settings, store: Store, stop: Callable[[], bool]) -> ConsumeStats:
    """Run the event-driven triage until `stop()`."""
    return triage_consumer(settings, store).run(stop)
