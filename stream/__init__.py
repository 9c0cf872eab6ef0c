"""Kafka plumbing of the scale-out path: topics, an idempotent producer, a batch consumer.

Bottom layer, beside `store/`: it knows settings and record types, never a stage. The stages
use it for their workers (`nlp.worker`, `crawlers.worker`, `triage.worker`).

    posts.raw        key: post id     validated posts (crawls, POST /api/v1/posts, ingest)
    posts.enriched   key: post id     events after the store write: id, labels, topic
    crawl.requests   key: source      one request per due source, from the scheduler
    posts.dead-letter                 messages no consumer could use; header `reason`

Nothing here runs unless `TINGFENG_KAFKA_BOOTSTRAP` is set: the embedded path (SQLite,
in-process jobs) never imports confluent-kafka.
"""

from __future__ import annotations

from stream.errors import InvalidMessage, KafkaUnavailable, StreamError

__all__ = ["InvalidMessage", "KafkaUnavailable", "StreamError"]
