"""Errors of the Kafka plumbing.

StreamError              base of everything below
├── KafkaUnavailable     the brokers cannot be reached, or a produce/commit failed as a whole
├── InvalidMessage       a message that is not valid JSON or not of its topic's schema; it
│                        goes to the dead-letter topic with this error's text as the reason
└── NotConfigured        a Kafka command was run without TINGFENG_KAFKA_BOOTSTRAP
"""

from __future__ import annotations


class StreamError(Exception):
    """Base of all Kafka-plumbing errors."""


class KafkaUnavailable(StreamError):
    """The brokers cannot be reached or refused a produce/commit."""


class InvalidMessage(StreamError):
    """A message that is not valid JSON or violates its topic's schema."""


class NotConfigured(StreamError):
    """A Kafka command without TINGFENG_KAFKA_BOOTSTRAP."""
