"""Event-driven triage: posts produced to posts.raw are enriched by the enrichment consumer,
whose posts.enriched events make the triage consumer open an incident for the topic they
joined, with no polling pass."""

from __future__ import annotations

import threading
import uuid

from bench.latency import cluster_posts
from store import Settings, Store
from store.es import ElasticsearchStore
from store.records import Incident, Post
from stream.consume import BatchConsumer
from stream.kafka import Producer, group_id, produce_posts, total_lag
from stream.messages import EnrichedEvent
from tests.stream.conftest import wait_for
from tests.stream.test_dead_letters import enrich_thread
from triage.job import TriageJob, topic_incident_id
from triage.worker import triage_consumer


def _run_cluster_through_workers(
    ksettings: Settings, es_store: Store
) -> tuple[BatchConsumer[EnrichedEvent], list[Post]]:
    """One cluster (plus a noise post) produced to posts.raw, enriched, then triaged by the
    event-driven consumer until both groups have no lag."""
    consumer = triage_consumer(
        ksettings, es_store, job=TriageJob(es_store, playbook_path=None, notifier=None)
    )
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop.is_set,))
    thread.start()
    try:
        posts = cluster_posts(ksettings, 0, uuid.uuid4().hex[:6])
        producer = Producer(ksettings)
        produce_posts(producer, ksettings, posts)
        producer.close()
        with enrich_thread(ksettings):
            wait_for(
                lambda: (
                    total_lag(
                        ksettings, group_id(ksettings, "enrich"), ksettings.kafka_topic_posts_raw
                    )
                    == 0
                ),
                180,
                "enrichment",
            )
        wait_for(
            lambda: (
                total_lag(
                    ksettings, group_id(ksettings, "triage"), ksettings.kafka_topic_posts_enriched
                )
                == 0
            ),
            60,
            "triage to consume the events",
        )
    finally:
        stop.set()
        thread.join(60)
    return consumer, posts


def test_enriched_events_open_the_topics_incident(ksettings: Settings, es_store: Store) -> None:
    consumer, posts = _run_cluster_through_workers(ksettings, es_store)
    stored = es_store.get_posts([p.id for p in posts[:-1]])
    topic_ids = {p.nlp.topic_id for p in stored}
    assert len(topic_ids) == 1 and None not in topic_ids
    (topic_id,) = topic_ids
    incident = es_store.get("incidents", topic_incident_id(topic_id), Incident)
    assert incident is not None
    assert {p.id for p in stored} <= set(incident.evidence_post_ids)
    assert consumer.stats.handled == len(posts) and consumer.stats.dead_lettered == 0
    es_store.refresh()
    found = es_store.find("incidents", Incident, size=10)
    assert [i.id for i in found] == [incident.id]  # the noise post opens nothing


def test_triage_sees_its_posts_and_shows_its_incident_without_a_scheduled_refresh(
    ksettings: Settings, es_store: Store
) -> None:
    """With scheduled refreshes off, nothing written becomes searchable by itself: triage must
    refresh the posts index to find the batch's posts (topic stats search them), and the
    incidents index so that the incident list shows the incident it opened."""
    assert isinstance(es_store, ElasticsearchStore)
    es_store.es.indices.put_settings(
        index=",".join(es_store.alias(k) for k in ("posts", "incidents", "notifications")),
        settings={"index": {"refresh_interval": "-1"}},
    )
    _, posts = _run_cluster_through_workers(ksettings, es_store)
    found = es_store.find("incidents", Incident, size=10)  # no refresh by the test
    assert len(found) == 1
    assert {p.id for p in posts[:-1]} <= set(found[0].evidence_post_ids)
