"""Posts: batch ingest for partner systems, and search."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import AUTH_RESPONSES, Ingestor, Require
from api.deps import SettingsDep, StoreDep
from api.errors import ApiError
from api.openapi import CONFLICT
from api.params import IsoDatetime
from ingest.posts import RawPost, build_post, foreign_posts
from store.base import PostQuery
from store.errors import InvalidRecord
from store.records import Post
from triage.audit import record_ingest

router = APIRouter(prefix="/api/v1/posts", tags=["posts"])

MAX_BATCH = 1000


class PostBatch(BaseModel):
    posts: list[RawPost] = Field(min_length=1, max_length=MAX_BATCH)


class IngestResult(BaseModel):
    written: int
    spooled: int
    ids: list[str]
    failed: list[dict[str, str]]


class PostPage(BaseModel):
    total: int
    items: list[Post]


@router.post(
    "",
    status_code=202,
    response_model=IngestResult,
    summary="Ingest a batch of posts",
    responses={**AUTH_RESPONSES, **CONFLICT},
)
def ingest(
    batch: PostBatch, principal: Ingestor, store: StoreDep, settings: SettingsDep
) -> IngestResult:
    """Validate every post, then write them all (idempotent: ids are deterministic).
    One invalid post rejects the whole batch with the index and field named.

    The token may write only the sources it was issued for (403 otherwise), and never a post
    id another source owns (409, nothing written). Every batch is audited (token, count, ids).
    """
    for index, raw in enumerate(batch.posts):
        if raw.source not in principal.sources:
            field = f"posts.{index}.source"
            message = f"this token may write sources {list(principal.sources)}, not {raw.source!r}"
            raise ApiError(
                403, "forbidden", f"{field}: {message}", [{"field": field, "message": message}]
            )
    posts = []
    for index, raw in enumerate(batch.posts):
        try:
            posts.append(build_post(raw, settings))
        except InvalidRecord as exc:
            field = f"posts.{index}.{exc.field}" if exc.field else f"posts.{index}"
            raise ApiError(
                422, "invalid_input", f"{field}: {exc}", [{"field": field, "message": str(exc)}]
            ) from None
    foreign = foreign_posts(store, posts)
    if foreign:
        raise ApiError(
            409,
            "conflict",
            f"{len(foreign)} post ids belong to another source; nothing was written",
            [
                {"field": "posts", "message": f"{i} is owned by source {owner!r}"}
                for i, owner in foreign[:50]
            ],
        )
    result = store.write_posts(posts)
    record_ingest(
        store,
        actor=principal.username,
        token=principal.token_id,
        ids=[p.id for p in posts],
        written=result.written + result.spooled,
        failed=result.failed,
        at=datetime.now(UTC),
        origin="api",
    )
    return IngestResult(
        written=result.written,
        spooled=result.spooled,
        ids=[p.id for p in posts],
        failed=[{"id": i, "reason": r} for i, r in result.failed],
    )


@router.get(
    "",
    response_model=PostPage,
    summary="Search posts",
    dependencies=[Depends(Require("read"))],
    responses=AUTH_RESPONSES,
)
def search(
    store: StoreDep,
    q: Annotated[str | None, Query(max_length=200, description="Chinese text")] = None,
    since: IsoDatetime | None = None,
    until: IsoDatetime | None = None,
    platform: Annotated[list[str] | None, Query()] = None,
    source: Annotated[list[str] | None, Query()] = None,
    rumor: Annotated[str | None, Query(description="rumor label, e.g. rumor")] = None,
    emotion: str | None = None,
    help: Annotated[str | None, Query(description="help label, e.g. help")] = None,
    place: Annotated[str | None, Query(description="admin division code")] = None,
    topic_id: str | None = None,
    exclude_dups: bool = False,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[
        int,
        Query(ge=0, le=9900, description="at most 9900: offset + size stays within 10,000"),
    ] = 0,
) -> PostPage:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ApiError(422, "invalid_input", f"{name}: must include a timezone offset")
    terms: dict[str, list[str]] = {}
    pairs: list[tuple[str, Any]] = [
        ("platform", platform),
        ("source", source),
        ("nlp.rumor.label", rumor),
        ("nlp.emotion.label", emotion),
        ("nlp.help.label", help),
        ("place_codes", place),
        ("nlp.topic_id", topic_id),
    ]
    for field, value in pairs:
        if value:
            terms[field] = value if isinstance(value, list) else [value]
    query = PostQuery(
        q=q or None,
        since=since,
        until=until,
        terms=terms,
        missing=["dup_of"] if exclude_dups else [],
    )
    page = store.search_posts(query, size=size, offset=offset)
    return PostPage(total=page.total, items=page.posts)
