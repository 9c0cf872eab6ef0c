"""Event-driven triage: posts produced to posts.raw are enriched by the enrichment consumer,
whose posts.enriched events make the triage consumer open an incident for the topic they
joined, with no polling pass."""

from __future__ import annotations

import threading
import uuid

from bench.latency import cluster_posts
from store import Settings, Store
from store.records import Incident
from stream.kafka import Producer, group_id, produce_posts, total_lag
from tests.stream.conftest import wait_for
from tests.stream.test_dead_letters import enrich_thread
from triage.job import TriageJob, topic_incident_id
from triage.worker import triage_consumer


def test_enriched_events_open_the_topics_incident(ksettings: Settings, es_store: Store) -> None:
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
