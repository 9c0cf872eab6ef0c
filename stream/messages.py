"""What each topic carries, and strict decoding (failures name the reason for the DLQ)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from store.records import AwareDatetime, Label, Post
from stream.errors import InvalidMessage

M = TypeVar("M", bound=BaseModel)


class EnrichedEvent(BaseModel):
    """`posts.enriched`: a post was enriched and stored (after the store write)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    version: str
    topic_id: str | None = None
    rumor: Label | None = None
    emotion: Label | None = None
    help: Label | None = None
    created_at: AwareDatetime
    stored_at: AwareDatetime

    @classmethod
    def of(cls, post: Post, stored_at: datetime) -> EnrichedEvent:
        return cls(
            id=post.id,
            version=post.nlp.version or "",
            topic_id=post.nlp.topic_id,
            rumor=post.nlp.rumor,
            emotion=post.nlp.emotion,
            help=post.nlp.help,
            created_at=post.created_at,
            stored_at=stored_at,
        )


class CrawlRequest(BaseModel):
    """`crawl.requests`: crawl this source for this due time (key: the source name)."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=100)
    due_at: AwareDatetime
    requested_at: AwareDatetime

    @property
    def claim_id(self) -> str:
        """One crawl per source and due time, however often the request is delivered."""
        return f"{self.source}@{self.due_at.isoformat()}"


def decode(value: bytes | None, model: type[M]) -> M:
    """Parse a message value as `model`; InvalidMessage says what is wrong."""
    if value is None:
        raise InvalidMessage("empty message (no value)")
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"invalid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(message)"
        raise InvalidMessage(
            f"schema violation ({model.__name__}): {where}: {err['msg']}"
        ) from None


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json().encode("utf-8")
