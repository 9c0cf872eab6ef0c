"""Record types: the contract between stages.

crawl -> normalize/dedup -> enrich (nlp) -> store -> triage -> api / digests / dashboards.
Every stage reads and writes these models; the storage layer derives its Elasticsearch
mappings and SQLite columns from them (see `store.indices`). Fields marked *provisional* are
sketched for later stages and may still change shape.

Field annotations:
- `Text` is Chinese free text: indexed raw (`standard` analyzer) in Elasticsearch.
- `Tokens` is a space-joined segmentation (`analysis.text.segment`), indexed with the `whitespace` analyzer.
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
    minhash_bands: list[str] = Field(
        default_factory=list,
        description="MinHash LSH band keys of text_norm: near-duplicate lookup (crawlers.dedup)",
    )
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


class SignalHit(BaseModel):
    """A playbook signal rule that fired for an incident, and why."""

    model_config = ConfigDict(extra="forbid")

    rule: str
    category: str
    why: Text


class Escalation(BaseModel):
    """One step up the escalation chain, taken when an SLA clock was breached."""

    model_config = ConfigDict(extra="forbid")

    level: int = Field(ge=1)
    team: str
    clock: str = Field(description="the breached SLA clock")
    at: AwareDatetime


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
    # triage (issue 6): why it opened, what it covers, how it escalated
    updated_by: str = "system"
    signals: list[SignalHit] = Field(default_factory=list)
    severity_score: float | None = Field(None, description="weighted sum of the components, 0-1")
    post_count: int = Field(0, ge=0, description="posts of the topic when last triaged")
    claim_ids: list[str] = Field(default_factory=list, description="matched debunk claims")
    source_alert_id: str | None = Field(None, description="the alert that opened it, if any")
    acknowledged_at: AwareDatetime | None = None
    escalations: list[Escalation] = Field(default_factory=list)


class AuditEvent(Record):
    at: AwareDatetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: Stored | None = Field(None, description="JSON of the changed fields before")
    after: Stored | None = Field(None, description="JSON of the changed fields after")
    reason: Text | None = None


class Role(StrEnum):
    """Who may do what (least privilege); the permission table lives in `triage.users`."""

    patrol = "patrol"
    press = "press"
    supervisor = "supervisor"
    admin = "admin"
    service = "service"


class User(Record):
    """A person or a service account (partner system); id = lower-case username."""

    username: str = Field(min_length=2, max_length=64)
    display_name: Text | None = Field(None, max_length=100)
    role: Role
    email: str | None = Field(None, max_length=200)
    teams: list[str] = Field(default_factory=list, description="playbook teams they belong to")
    password_hash: Stored | None = Field(
        None, description="scrypt$n$r$p$salt$hash; none for services"
    )
    token_version: int = Field(0, ge=0, description="bump to revoke every session token")
    disabled: bool = False
    created_at: AwareDatetime
    updated_at: AwareDatetime
    last_login_at: AwareDatetime | None = None


class ApiToken(Record):
    """An API token of a service account; only its hash is stored. id = the token's key id."""

    user_id: str
    name: str = Field(max_length=100)
    scopes: list[str] = Field(default_factory=list, description="ingest, feed")
    jurisdictions: list[str] = Field(
        default_factory=list,
        description="admin-code prefixes the feed is limited to; ['all'] = every one, [] = none",
    )
    sources: list[str] = Field(
        default_factory=list, description="post sources an ingest token may write; [] = none"
    )
    token_hash: Stored
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None


class Notification(Record):
    """One message to one team over one channel; id = hash(incident, event, level, team,
    channel), so a re-run never sends twice."""

    incident_id: str
    event: str = Field(description="opened, escalated, severity_raised, reassigned")
    team: str
    channel: Literal["webhook", "email"]
    recipients: list[str] = Field(default_factory=list, description="email addresses")
    severity: int = Field(ge=1, le=4)
    level: int = 0
    status: Literal["pending", "sent", "failed", "suppressed"] = "pending"
    reason: str | None = Field(None, description="quiet_hours, cooldown, no_target, error")
    subject: Text
    body: Text
    created_at: AwareDatetime
    not_before: AwareDatetime
    sent_at: AwareDatetime | None = None
    attempts: int = 0
    last_error: Stored | None = None


# --------------------------------------------------------------------------------------------
# Replies: drafts, publications, effect (response issue 7; see triage/replies)
# --------------------------------------------------------------------------------------------


class DraftSource(BaseModel):
    """Something a draft may cite as `[ref]`: an evidence post, a knowledge-base claim, the
    incident record, or a statement an officer added. Cited numbers, places and dates must
    occur in `text`."""

    model_config = ConfigDict(extra="forbid")

    ref: int = Field(ge=1, description="the number cited as [ref] in the text")
    kind: Literal["post", "claim", "incident", "officer"]
    id: str = Field(description="post id, claim id, incident id, or a hash for officer sources")
    name: Text = Field(description="who says it, e.g. 武汉发布, 微博网民")
    url: str | None = None
    text: Text = Field(description="what the source says (grounding checks against this)")
    at: AwareDatetime | None = None
    authoritative: bool = Field(False, description="may support a rebuttal (debunk, officer)")
    verdict: str | None = Field(None, description="of a claim: false, true, misleading, ...")


class DraftRevision(BaseModel):
    """One version of a draft's text; edits append, nothing is overwritten."""

    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1)
    title: Text
    text: Text
    editor: str
    at: AwareDatetime
    origin: Literal["template", "edit", "llm", "regenerate"]
    note: Text | None = None


class DraftReview(BaseModel):
    """A step of the review: submitted, approved or rejected (with a comment)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["submit", "approve", "reject", "publish"]
    by: str
    at: AwareDatetime
    revision: int = Field(ge=1)
    comment: Text | None = None


class DraftState(StrEnum):
    drafting = "drafting"
    in_review = "in_review"
    approved = "approved"
    published = "published"
    superseded = "superseded"


class Draft(Record):
    """An official reply being written for an incident: versioned text with citations."""

    version: int = Field(1, ge=1, description="optimistic-concurrency version")
    incident_id: str
    template: str = Field(description="rumor_rebuttal, situation_notice, holding_line, ...")
    state: DraftState = DraftState.drafting
    evidence_needed: bool = Field(False, description="no authoritative source supports it yet")
    subject: Text | None = Field(None, description="the claim the reply answers (rumor text)")
    claim_ids: list[str] = Field(default_factory=list, description="debunks it relies on")
    title: Text
    text: Text
    sources: list[DraftSource] = Field(default_factory=list)
    revision: int = Field(1, ge=1, description="number of the current text revision")
    revisions: list[DraftRevision] = Field(default_factory=list)
    reviews: list[DraftReview] = Field(default_factory=list)
    problems: list[Text] = Field(default_factory=list, description="grounding problems, if any")
    rewrite_note: Text | None = Field(None, description="outcome of the last LLM rewrite")
    created_by: str
    last_editor: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    submitted_at: AwareDatetime | None = None
    approved_by: str | None = None
    approved_at: AwareDatetime | None = None
    published_at: AwareDatetime | None = None


class Publication(Record):
    """A reply as published on one channel; id = make_id(draft id, channel). The posting
    itself stays with people: this records what, where, who approved it and when."""

    draft_id: str
    incident_id: str
    channel: str = Field(description="weibo, wechat, website, press_conference, ...")
    format: Literal["plain", "weibo", "markdown", "html"]
    title: Text
    text: Text = Field(description="the final text as exported for the channel")
    url: str | None = None
    revision: int = Field(ge=1)
    approver: str
    published_by: str
    published_at: AwareDatetime
    claim_id: str | None = Field(None, description="the knowledge-base entry it created")


class HourCount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    count: int = Field(ge=0)


class EffectReport(Record):
    """Did the reply slow the rumor? Matching-post volume and emotion before/after publishing,
    decay half-life, and the close / re-escalate decision; id = incident id."""

    incident_id: str
    published_at: AwareDatetime
    computed_at: AwareDatetime
    window_hours: float
    volume_before: int = 0
    volume_after: int = 0
    rate_before: float = Field(0.0, description="posts/hour in the window before publishing")
    rate_after: float = Field(0.0, description="posts/hour since publishing (up to the window)")
    rate_recent: float = Field(0.0, description="posts/hour in the latest close window")
    peak_rate_after: float = 0.0
    half_life_h: float | None = None
    emotion_before: list[KeyCount] = Field(default_factory=list)
    emotion_after: list[KeyCount] = Field(default_factory=list)
    hourly: list[HourCount] = Field(default_factory=list)
    status: Literal["monitoring", "close_proposed", "reescalated", "closed"] = "monitoring"
    close_proposed_at: AwareDatetime | None = None
    reescalated_at: AwareDatetime | None = None
    reescalations: int = 0
    why: Text = ""


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
