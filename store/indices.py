"""Every index, declared in one place.

Each `IndexSpec` names a record model, the index version and example documents. The
Elasticsearch mapping (`dynamic: strict`) is derived from the model, so a field cannot exist in
one and not the other. Concrete indices are `<prefix>-<name>-v<version>`, always reached
through the alias `<prefix>-<name>`; a mapping change bumps `version` (new index + alias flip).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from store import records as r

TOKENS_ANALYZER = "whitespace"


@dataclass(frozen=True)
class IndexSpec:
    name: str
    model: type[r.Record]
    version: int
    description: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    # append-only kinds are written with create-only operations: an existing id is never
    # overwritten (writing the identical record again is a no-op; anything else fails)
    append_only: bool = False

    def alias(self, prefix: str) -> str:
        return f"{prefix}-{self.name}"

    def index(self, prefix: str) -> str:
        return f"{prefix}-{self.name}-v{self.version}"

    def mapping(self) -> dict[str, Any]:
        return {"dynamic": "strict", "properties": model_properties(self.model)}


def _es_hint(info: FieldInfo, tp: Any) -> str | None:
    """The `es` hint of a field (`text`, `tokens`, `stored`), also inside `X | None`."""
    candidates: list[Any] = [info, *info.metadata]
    stack = [tp]
    while stack:
        current = stack.pop()
        if typing.get_origin(current) is typing.Annotated:
            candidates.extend(current.__metadata__)
            stack.append(typing.get_args(current)[0])
        elif typing.get_origin(current) in (typing.Union, types.UnionType):
            stack.extend(typing.get_args(current))
    for meta in candidates:
        extra = getattr(meta, "json_schema_extra", None)
        if isinstance(extra, dict) and extra.get("es"):
            return str(extra["es"])
    return None


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _strip_optional(args[0])
    if origin is typing.Annotated:
        return _strip_optional(typing.get_args(tp)[0])
    return tp


def _field_mapping(tp: Any, hint: str | None) -> dict[str, Any]:
    if hint == "text":
        return {"type": "text", "analyzer": "standard"}
    if hint == "tokens":
        return {"type": "text", "analyzer": TOKENS_ANALYZER}
    if hint == "stored":
        return {"type": "keyword", "index": False, "doc_values": False}
    tp = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if origin in (list, tuple, set, frozenset):
        return _field_mapping(typing.get_args(tp)[0], None)
    if origin is typing.Literal:
        return {"type": "keyword"}
    if origin is dict:
        return {"type": "object", "enabled": False}
    if isinstance(tp, type):
        if issubclass(tp, BaseModel):
            return {"type": "object", "dynamic": "strict", "properties": model_properties(tp)}
        if issubclass(tp, bool):
            return {"type": "boolean"}
        if issubclass(tp, Enum) or issubclass(tp, str):
            return {"type": "keyword", "ignore_above": 1024}
        if issubclass(tp, int):
            return {"type": "long"}
        if issubclass(tp, float):
            return {"type": "double"}
        if issubclass(tp, datetime):
            return {"type": "date"}
    raise TypeError(f"no Elasticsearch mapping for type {tp!r}")


def model_properties(model: type[BaseModel]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    hints = typing.get_type_hints(model, include_extras=True)
    for name, info in model.model_fields.items():
        props[name] = _field_mapping(hints[name], _es_hint(info, hints[name]))
    return props


_T0 = "2024-05-01T08:30:00+08:00"

POSTS = IndexSpec(
    name="posts",
    model=r.Post,
    version=1,
    description="Public posts, normalized, segmented and enriched.",
    examples=[
        {
            "id": r.make_id("example-weibo", "4990000000000001"),
            "source": "example-weibo",
            "platform": "weibo",
            "native_id": "4990000000000001",
            "url": "https://m.weibo.example/detail/4990000000000001",
            "author": "a3f1c2d4e5b60718",
            "text": "听说明天全市封城，超市都被抢空了！",
            "text_norm": "听说明天全市封城,超市都被抢空了!",
            "tokens": "听说 明天 全市 封城 超市 都 被 抢空 了",
            "segmenter": "rjieba-0.2.2-jieba0.42.1+userdict-0a1b2c3d",
            "created_at": _T0,
            "fetched_at": _T0,
            "engagement": {"reposts": 120, "comments": 30, "likes": 55},
            "region_raw": "发布于 江苏",
            "places": [{"code": "32", "name": "江苏省", "level": "province", "source": "platform"}],
            "place_codes": ["32"],
            "nlp": {
                "version": "example",
                "rumor": {"label": "rumor", "score": 0.91},
                "emotion": {"label": "fear", "score": 0.7},
                "polarity": {"label": "negative", "score": 0.8},
                "help": {"label": "none", "score": 0.95},
                "keywords": ["封城", "超市"],
            },
        }
    ],
)

TOPICS = IndexSpec(
    name="topics",
    model=r.Topic,
    version=1,
    description="Hot topics: grouped posts with counts and burst state.",
    examples=[
        {
            "id": "topic-example",
            "title": "超市抢购",
            "keywords": ["超市", "抢购"],
            "first_seen": _T0,
            "last_seen": _T0,
            "post_count": 12,
            "by_platform": [{"key": "weibo", "count": 12}],
            "updated_at": _T0,
        }
    ],
)

INCIDENTS = IndexSpec(
    name="incidents",
    model=r.Incident,
    version=1,
    description="Incidents opened from topics, with severity, routing and SLA clocks.",
    examples=[
        {
            "id": "incident-example",
            "title": "封城谣言",
            "category": "rumor",
            "severity": 2,
            "created_at": _T0,
            "updated_at": _T0,
        }
    ],
)

AUDIT = IndexSpec(
    name="audit",
    model=r.AuditEvent,
    version=1,
    description="Append-only audit log of every change (who, when, what, before/after).",
    append_only=True,
    examples=[
        {
            "id": "audit-example",
            "at": _T0,
            "actor": "system",
            "action": "incident.create",
            "entity_type": "incident",
            "entity_id": "incident-example",
        }
    ],
)

CLAIMS = IndexSpec(
    name="claims",
    model=r.Claim,
    version=1,
    description="Debunk knowledge base: claims and their authoritative answers.",
    examples=[
        {
            "id": "claim-example",
            "claim": "盐水漱口可以预防新冠病毒",
            "claim_tokens": "盐水 漱口 可以 预防 新冠病毒",
            "answer": "盐水漱口不能预防新冠病毒感染。",
            "verdict": "false",
            "source_name": "example",
            "origin": "example",
        }
    ],
)

CHECKPOINTS = IndexSpec(
    name="checkpoints",
    model=r.Checkpoint,
    version=1,
    description="Per-source incremental crawl state.",
    examples=[{"id": "example", "source": "example", "cursor": "42", "updated_at": _T0}],
)

SOURCE_RUNS = IndexSpec(
    name="source-runs",
    model=r.SourceRun,
    version=1,
    description="Per-source crawl statistics, one document per run.",
    examples=[
        {
            "id": "run-example",
            "source": "example",
            "started_at": _T0,
            "finished_at": _T0,
            "status": "ok",
            "fetched": 10,
            "new": 8,
        }
    ],
)

ALERTS = IndexSpec(
    name="alerts",
    model=r.Alert,
    version=1,
    description="Coverage gaps and other system alerts.",
    examples=[
        {
            "id": "alert-example",
            "kind": "coverage_gap",
            "source": "example",
            "message": "example 已 6 小时无新数据",
            "raised_at": _T0,
        }
    ],
)

USERS = IndexSpec(
    name="users",
    model=r.User,
    version=1,
    description="API users and service accounts (scrypt password hashes, roles).",
    examples=[
        {
            "id": "wang.wei",
            "username": "wang.wei",
            "role": "press",
            "teams": ["city-press"],
            "created_at": _T0,
            "updated_at": _T0,
        }
    ],
)

API_TOKENS = IndexSpec(
    name="api-tokens",
    model=r.ApiToken,
    version=2,
    description="Service-account API tokens (hashes only), with scopes and feed jurisdictions.",
    examples=[
        {
            "id": "k3f9a1c2d4e5",
            "user_id": "health-commission",
            "name": "feed",
            "scopes": ["feed", "ingest"],
            "jurisdictions": ["3201"],
            "sources": ["partner-hotline"],
            "token_hash": "sha256$...",
            "created_at": _T0,
        }
    ],
)

NOTIFICATIONS = IndexSpec(
    name="notifications",
    model=r.Notification,
    version=1,
    description="Webhook and email notifications of incidents, with delivery status.",
    examples=[
        {
            "id": "notification-example",
            "incident_id": "incident-example",
            "event": "opened",
            "team": "city-press",
            "channel": "webhook",
            "severity": 2,
            "subject": "[听风 S2] 封城谣言",
            "body": "...",
            "created_at": _T0,
            "not_before": _T0,
        }
    ],
)

DRAFTS = IndexSpec(
    name="drafts",
    model=r.Draft,
    version=1,
    description="Official reply drafts: cited text, revisions, reviews (4-eyes) and state.",
    examples=[
        {
            "id": "draft-example",
            "incident_id": "incident-example",
            "template": "rumor_rebuttal",
            "title": "关于网传“明天全市封城”的辟谣声明",
            "text": "近日，有网民发布“听说明天全市封城”。[1]",
            "sources": [
                {
                    "ref": 1,
                    "kind": "post",
                    "id": "post-example",
                    "name": "微博网民",
                    "text": "听说明天全市封城，超市都被抢空了！",
                }
            ],
            "revisions": [
                {
                    "number": 1,
                    "title": "关于网传“明天全市封城”的辟谣声明",
                    "text": "近日，有网民发布“听说明天全市封城”。[1]",
                    "editor": "wang.wei",
                    "at": _T0,
                    "origin": "template",
                }
            ],
            "created_by": "wang.wei",
            "last_editor": "wang.wei",
            "created_at": _T0,
            "updated_at": _T0,
        }
    ],
)

PUBLICATIONS = IndexSpec(
    name="publications",
    model=r.Publication,
    version=1,
    description="Published replies: channel, final text, approver and time.",
    append_only=True,
    examples=[
        {
            "id": "publication-example",
            "draft_id": "draft-example",
            "incident_id": "incident-example",
            "channel": "weibo",
            "format": "weibo",
            "title": "关于网传“明天全市封城”的辟谣声明",
            "text": "【关于网传“明天全市封城”的辟谣声明】……",
            "revision": 2,
            "approver": "li.na",
            "published_by": "li.na",
            "published_at": _T0,
        }
    ],
)

EFFECTS = IndexSpec(
    name="effects",
    model=r.EffectReport,
    version=1,
    description="Effect of published replies: volume, half-life, emotion before/after.",
    examples=[
        {
            "id": "incident-example",
            "incident_id": "incident-example",
            "published_at": _T0,
            "computed_at": _T0,
            "window_hours": 24,
            "volume_before": 120,
            "volume_after": 30,
            "half_life_h": 2.5,
            "emotion_before": [{"key": "fear", "count": 80}],
            "hourly": [{"start": _T0, "count": 12}],
        }
    ],
)

INDICES: dict[str, IndexSpec] = {
    spec.name: spec
    for spec in (
        POSTS,
        TOPICS,
        INCIDENTS,
        AUDIT,
        CLAIMS,
        CHECKPOINTS,
        SOURCE_RUNS,
        ALERTS,
        USERS,
        API_TOKENS,
        NOTIFICATIONS,
        DRAFTS,
        PUBLICATIONS,
        EFFECTS,
    )
}


def spec_for(kind: str) -> IndexSpec:
    try:
        return INDICES[kind]
    except KeyError:
        raise KeyError(f"unknown index kind {kind!r}; known: {sorted(INDICES)}") from None
