"""Hot topics, most bursting first, each with the reason it bursts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import AUTH_RESPONSES, Require
from api.deps import StoreDep
from api.errors import ApiError
from api.params import IsoDatetime
from nlp.topics import KIND
from store.records import Burst, KeyCount, Topic

router = APIRouter(
    prefix="/api/v1/topics",
    tags=["topics"],
    dependencies=[Depends(Require("read"))],
    responses=AUTH_RESPONSES,
)


class TopicPublic(BaseModel):
    """A topic as people see it (without the stored centroid)."""

    id: str
    title: str
    keywords: list[str]
    representative_post_id: str | None
    first_seen: datetime
    last_seen: datetime
    post_count: int
    by_platform: list[KeyCount]
    by_emotion: list[KeyCount]
    by_region: list[KeyCount]
    rumor_share: float
    help_count: int
    burst: Burst | None
    burst_score: float
    reason: str | None

    @classmethod
    def of(cls, topic: Topic) -> TopicPublic:
        data = topic.model_dump(exclude={"centroid", "updated_at"})
        return cls(**data, reason=topic.burst.reason if topic.burst else None)


class TopicPage(BaseModel):
    total: int
    items: list[TopicPublic]


@router.get("", response_model=TopicPage, summary="Hot topics, by burst score")
def list_topics(
    store: StoreDep,
    bursting: Annotated[bool, Query(description="only topics that burst now")] = False,
    since: Annotated[IsoDatetime | None, Query(description="last post at or after")] = None,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[
        int,
        Query(ge=0, le=9900, description="at most 9900: offset + size stays within 10,000"),
    ] = 0,
) -> TopicPage:
    """Topics sorted by burst score (highest first); `reason` says why a topic bursts, e.g.
    "近1小时 21 条，为前12小时基线的 4.2 倍；恐惧占比 31% / volume x4.2 vs baseline ..."."""
    if since is not None and since.tzinfo is None:
        raise ApiError(422, "invalid_input", "since: must include a timezone offset")
    ranges: dict[str, tuple[object, object]] = {}
    if bursting:
        ranges["burst_score"] = (1e-9, None)
    if since is not None:
        ranges["last_seen"] = (since, None)
    topics = store.find(
        KIND, Topic, ranges=ranges, sort="burst_score", descending=True, size=size, offset=offset
    )
    total = store.count(KIND, ranges=ranges)
    return TopicPage(total=total, items=[TopicPublic.of(t) for t in topics])
