"""Search the debunk knowledge base (the same matcher the enrichment job uses)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import AUTH_RESPONSES, Require
from api.deps import StoreDep
from nlp.kb import search_claims

router = APIRouter(
    prefix="/api/v1/kb",
    tags=["knowledge base"],
    dependencies=[Depends(Require("read"))],
    responses=AUTH_RESPONSES,
)


class ClaimHit(BaseModel):
    id: str
    claim: str
    answer: str | None
    verdict: str
    source_name: str
    source_url: str | None
    published_at: datetime | None
    origin: str
    score: float
    level: str | None


class ClaimHits(BaseModel):
    q: str
    items: list[ClaimHit]


@router.get("/search", response_model=ClaimHits, summary="Search debunked claims")
def search(
    store: StoreDep,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="a claim or post text")],
    size: Annotated[int, Query(ge=1, le=50)] = 10,
) -> ClaimHits:
    """Claims best matching `q`, best first. `level` is `confirm` or `suggest` when the score
    passes that threshold (see nlp/matching.yaml), else null."""
    hits = search_claims(store, q, size=size)
    return ClaimHits(
        q=q,
        items=[
            ClaimHit(**h.claim.model_dump(exclude={"claim_tokens"}), score=h.score, level=h.level)
            for h in hits
        ],
    )
