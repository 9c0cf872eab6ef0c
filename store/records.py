"""Record types: the contract between stages.

crawl -> normalize/dedup -> enrich (nlp) -> store -> triage -> api / digests / dashboards.
Every stage reads and writes these models; the storage layer derives its Elasticsearch
mappings and SQLite columns from them (see `store.indices`). Fields marked *provisional* are
sketched for later stages and may still change shape.

Field annotations:
- `Text` is Chinese free text: indexed raw (`standard` analyzer) in Elasticsearch.
- `Tokens` is a space-joined jieba segmentation, indexed with the `whitespace` analyzer.
- everything else that is a `str` is a keyword (exact match, aggregatable).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be timezone-aware (e.g. 2024-05-01T08:00:00+08:00)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Text = Annotated[str, Field(json_schema_extra={"es": "text"})]
Tokens = Annotated[str, Field(json_schema_extra={"es": "tokens"})]
Stored = Annotated[str, Field(json_schema_extra={"es": "stored"})]


class Record(BaseModel):
    """Base for every stored record: strict about unknown fields, ids are strings."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    id: str = Field(min_length=1, max_length=128)


def make_id(*parts: str) -> str:
    """Deterministic id from its parts (source + native id, or a canonical URL)."""
    joined = "\x1f".join(parts)
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# Posts
# --------------------------------------------------------------------------------------------


class Engagement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reposts: int = Field(0, ge=0)
    comments: int = Field(0, ge=0)
    likes: int = Field(0, ge=0)


class Place(BaseModel):
    """An administrative division a post mentions or was posted from."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="GB/T 2260 code (2, 4 or 6 digits by level)")
    name: str
    level: Literal["province", "city", "county"]
    province: str | None = None
    city: str | None = None
    source: Literal["text", "platform"] = "text"


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    score: float = Field(ge=0.0, le=1.0)


class ClaimMatch(BaseModel):
    """A post's match to an already-debunked claim in the knowledge base (provisional)."""

    model_config = ConfigDict(extra="forbid")

    claim_id: str
    score: float
    level: Literal["suggest", "confirm"]
    source_url: str | None = None


class NlpBlock(BaseModel):
    """What enrichment wrote about a post. `version` names the whole pipeline that produced it,
    so posts enriched by an older pipeline can be found and re-scored."""

    model_config = ConfigDict(extra="forbid")

    version: str | None = None
    rumor: Label | None = None
    emotion: Label | None = None
    polarity: Label | None = None
    help: Label | None = None
    keywords: list[str] = Field(default_factory=list)
    claim_match: ClaimMatch | None = None
    topic_id: str | None = None


class Post(Record):
    """One public post, normalized, pseudonymized and segmented at ingest."""

    schema_version: int = SCHEMA_VERSION
    source: str = Field(min_length=1, max_length=100, description="configured source name")
    platform: str = Field(min_length=1, max_length=40, description="weibo, tieba, news, gov, ...")
    native_id: str | None = Field(None, max_length=200)
    url: str | None = Field(None, max_length=2000)
    author: str | None = Field(None, description="keyed-hash pseudonym; never the clear id")
    title: Text | None = None
    text: Text
    text_norm: Text
    tokens: Tokens
    segmenter: str
    created_at: AwareDatetime
    fetched_at: AwareDatetime
    engagement: Engagement = Field(default_factory=Engagement)
    region_raw: str | None = Field(None, description="platform location field, e.g. 发布于 江苏")
    places: list[Place] = Field(default_factory=list)
    place_codes: list[str] = Field(default_factory=list, description="codes of places, all levels")
    dup_of: str | None = Field(None, description="id of the post this one near-duplicates")
    simhash: str | None = Field(None, description="64-bit SimHash of text_norm, hex")
    nlp: NlpBlock = Field(default_factory=NlpBlock)


# --------------------------------------------------------------------------------------------
# Topics (provisional: shaped by the topics/bursts issue)
# --------------------------------------------------------------------------------------------


class KeyCount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    count: int = Field(ge=0)


class Burst(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: float
    window: str
    ratio: float
    reason: Text
    detected_at: AwareDatetime


class Topic(Record):
    title: Text
    keywords: list[str] = Field(default_factory=list)
    representative_post_id: str | None = None
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    post_count: int = Field(0, ge=0)
    by_platform: list[KeyCount] = Field(default_factory=list)
    by_emotion: list[KeyCount] = Field(default_factory=list)
    by_region: list[KeyCount] = Field(default_factory=list)
    rumor_share: float = 0.0
    help_count: int = 0
    burst: Burst | None = None
    burst_score: float = 0.0
    centroid: Stored | None = Field(None, description="serialized term weights (not indexed)")
    updated_at: AwareDatetime


# --------------------------------------------------------------------------------------------
# Incidents and audit (provisional: shaped by the triage and response issues)
# --------------------------------------------------------------------------------------------


class IncidentState(StrEnum):
    new = "new"
    triaged = "triaged"
    assigned = "assigned"
    drafting = "drafting"
    in_review = "in_review"
    approved = "approved"
    published = "published"
    monitoring = "monitoring"
    closed = "closed"
    dismissed = "dismissed"


class SeverityComponent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    value: float
    weight: float
    why: Text


class SlaClock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="acknowledge, first_response or resolution")
    due_at: AwareDatetime
    met_at: AwareDatetime | None = None
    breached: bool = False


class Incident(Record):
    version: int = Field(1, ge=1, description="optimistic-concurrency version")
    topic_id: str | None = None
    title: Text
    category: str = Field(description="rumor, help_request, public_demand, public_order, ...")
    state: IncidentState = IncidentState.new
    severity: int = Field(ge=1, le=4, description="1 is the most severe")
    severity_components: list[SeverityComponent] = Field(default_factory=list)
    jurisdiction: str | None = Field(None, description="admin division code")
    jurisdiction_name: str | None = None
    team: str | None = None
    assignee: str | None = None
    playbook_rule: str | None = None
    reply_template: str | None = None
    escalation_level: int = 0
    sla: list[SlaClock] = Field(default_factory=list)
    evidence_post_ids: list[str] = Field(default_factory=list)
    first_post_at: AwareDatetime | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    assigned_at: AwareDatetime | None = None
    published_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    time_to_detect_s: float | None = None
    time_to_assign_s: float | None = None
    time_to_publish_s: float | None = None
    half_life_h: float | None = None
    dismiss_reason: Text | None = None
    created_by: str = "system"


class AuditEvent(Record):
    at: AwareDatetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: Stored | None = Field(None, description="JSON of the changed fields before")
    after: Stored | None = Field(None, description="JSON of the changed fields after")
    reason: Text | None = None


# --------------------------------------------------------------------------------------------
# Knowledge base, crawling state
# --------------------------------------------------------------------------------------------


class Claim(Record):
    """A debunked (or confirmed) claim with its authoritative answer (provisional)."""

    claim: Text
    claim_tokens: Tokens
    answer: Text | None = None
    verdict: str = Field(description="false, true, unverified, misleading")
    source_name: str
    source_url: str | None = None
    published_at: AwareDatetime | None = None
    origin: str = Field(description="dataset name or 'office' for our own published replies")


class Checkpoint(Record):
    """Per-source incremental crawl state; id = source name."""

    source: str
    cursor: str | None = None
    newest_id: str | None = None
    newest_at: AwareDatetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    updated_at: AwareDatetime


class SourceRun(Record):
    """Stats of one crawl of one source (provisional)."""

    source: str
    started_at: AwareDatetime
    finished_at: AwareDatetime
    status: str = Field(description="ok, failed, credentials_expired, blocked")
    fetched: int = 0
    new: int = 0
    duplicate: int = 0
    dropped: int = 0
    errors: int = 0
    detail: Stored | None = Field(None, description="JSON: drops by reason, errors by kind")
    newest_post_at: AwareDatetime | None = None


class Alert(Record):
    """A coverage gap or other system alert used by triage and digests (provisional)."""

    kind: str = Field(description="coverage_gap, ...")
    source: str | None = None
    message: Text
    raised_at: AwareDatetime
    resolved_at: AwareDatetime | None = None


def to_doc(record: BaseModel) -> dict[str, Any]:
    """JSON-ready dict of a record (datetimes as ISO strings)."""
    return record.model_dump(mode="json", exclude_none=False)
