"""After-action report of one incident: the full timeline from first post to closure, the time
metrics, severity components, drafts and approvals, in HTML, Markdown and PDF.

Drafts live in the response stage's index when it exists (`drafts` in store.indices); until then
the report shows the draft and approval events of the audit log only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from digest.collect import find_all
from digest.errors import DigestNotFound
from digest.fonts import find_cjk_font_or_none
from digest.links import Links
from digest.render import font_stack, pdf_from_html, pdf_unavailable, render_template
from digest.vocab import load_vocab
from store.base import Store
from store.indices import INDICES
from store.records import AuditEvent, Incident, Post

log = logging.getLogger(__name__)

MAX_EVIDENCE = 20
DRAFT_ACTIONS = ("draft", "approve", "reject", "review", "submit", "publish")
DRAFT_FIELDS = (
    "version",
    "state",
    "status",
    "template",
    "channel",
    "created_by",
    "updated_by",
    "approved_by",
    "created_at",
    "updated_at",
    "published_at",
)


@dataclass(frozen=True)
class Event:
    at: datetime
    what: str
    who: str = ""
    detail: str = ""
    link: str = ""


@dataclass
class IncidentReport:
    incident: Incident
    state_name: str
    category_name: str
    metrics: list[tuple[str, str]]
    timeline: list[Event]
    evidence: list[Post]
    evidence_total: int
    drafts: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[Event] = field(default_factory=list)
    link: str = ""
    generated_at: datetime | None = None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.0f} 分钟"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} 小时"
    return f"{seconds / 86400:.1f} 天"


def _drafts(store: Store, incident_id: str) -> list[dict[str, Any]]:
    spec = INDICES.get("drafts")
    if spec is None or "incident_id" not in spec.model.model_fields:
        return []
    drafts = find_all(store, "drafts", spec.model, where={"incident_id": incident_id})
    rows = []
    for draft in drafts:
        doc = draft.model_dump()
        row = {"id": draft.id, **{k: doc[k] for k in DRAFT_FIELDS if doc.get(k) is not None}}
        text = doc.get("text") or doc.get("body") or doc.get("final_text")
        if isinstance(text, str):
            row["text"] = text[:300]
        rows.append(row)
    return rows


def build_report(
    store: Store, incident_id: str, *, public_url: str, now: datetime
) -> IncidentReport:
    incident = store.get("incidents", incident_id, Incident)
    if incident is None:
        raise DigestNotFound(f"no incident with id {incident_id!r}")
    vocab = load_vocab()
    links = Links(public_url)
    evidence = sorted(
        store.get_posts(incident.evidence_post_ids), key=lambda p: (p.created_at, p.id)
    )
    drafts = _drafts(store, incident.id)
    entity_ids = [incident.id] + [d["id"] for d in drafts]
    audit = sorted(
        find_all(store, "audit", AuditEvent, where={"entity_id": entity_ids}),
        key=lambda e: (e.at, e.id),
    )

    timeline: list[Event] = []
    first_post = incident.first_post_at or (evidence[0].created_at if evidence else None)
    if first_post:
        excerpt = evidence[0].text[:80] if evidence else ""
        timeline.append(Event(first_post, "首条相关帖子", detail=excerpt))
    for post in evidence[1:MAX_EVIDENCE]:
        timeline.append(Event(post.created_at, "相关帖子", post.platform, post.text[:60]))
    timeline.append(Event(incident.created_at, "事件创建", incident.created_by))
    if incident.acknowledged_at:
        timeline.append(Event(incident.acknowledged_at, "已确认"))
    if incident.assigned_at:
        who = " / ".join(x for x in (incident.team, incident.assignee) if x)
        timeline.append(Event(incident.assigned_at, "已分派", who))
    for clock in incident.sla:
        outcome = "已超时" if clock.breached else ("按时完成" if clock.met_at else "未到期")
        timeline.append(
            Event(clock.due_at, f"SLA「{vocab.clock(clock.name)}」到期", detail=outcome)
        )
    for step in incident.escalations:
        timeline.append(
            Event(
                step.at,
                f"升级至第 {step.level} 级",
                step.team,
                f"SLA「{vocab.clock(step.clock)}」超时",
            )
        )
    for event in audit:
        timeline.append(Event(event.at, event.action, event.actor, event.reason or ""))
    if incident.published_at:
        timeline.append(Event(incident.published_at, "发布回应"))
    if incident.closed_at:
        timeline.append(Event(incident.closed_at, "事件关闭", detail=incident.dismiss_reason or ""))
    timeline.sort(key=lambda e: e.at)

    end = incident.closed_at or now
    metrics = [
        ("发现用时（首帖→事件）", _duration(incident.time_to_detect_s)),
        ("分派用时", _duration(incident.time_to_assign_s)),
        ("发布用时", _duration(incident.time_to_publish_s)),
        (
            "回应后半衰期",
            "—" if incident.half_life_h is None else f"{incident.half_life_h:.1f} 小时",
        ),
        (
            "全程（首帖→关闭）" if incident.closed_at else "至今（首帖→现在）",
            _duration((end - first_post).total_seconds()) if first_post else "—",
        ),
        ("SLA 超时次数", str(sum(c.breached for c in incident.sla))),
    ]
    approvals = [
        Event(e.at, e.action, e.actor, e.reason or "")
        for e in audit
        if any(word in e.action for word in DRAFT_ACTIONS)
    ]
    return IncidentReport(
        incident=incident,
        state_name=vocab.state(str(incident.state)),
        category_name=vocab.category(incident.category),
        metrics=metrics,
        timeline=timeline,
        evidence=evidence[:MAX_EVIDENCE],
        evidence_total=len(evidence),
        drafts=drafts,
        approvals=approvals,
        link=links.incident(incident.id),
        generated_at=now,
    )


def write_report(
    report: IncidentReport, data_dir: Path, *, tz: str, font_path: Path | None = None
) -> dict[str, Path]:
    """HTML, Markdown and PDF under <data_dir>/reports/incidents/<id>/; returns the paths."""
    font = find_cjk_font_or_none(font_path)
    target = data_dir / "reports" / "incidents" / report.incident.id
    target.mkdir(parents=True, exist_ok=True)
    context = {"r": report, "i": report.incident, "font_stack": font_stack(font)}
    html = render_template("incident.html.j2", tz, **context)
    paths = {
        "html": target / "report.html",
        "md": target / "report.md",
        "pdf": target / "report.pdf",
    }
    paths["html"].write_text(html, encoding="utf-8")
    paths["md"].write_text(render_template("incident.md.j2", tz, **context), encoding="utf-8")
    pdf_off = pdf_unavailable(font)
    if pdf_off:
        log.warning("incident report %s: PDF off: %s", report.incident.id, pdf_off)
        del paths["pdf"]
    else:
        paths["pdf"].write_bytes(pdf_from_html(html, font))
    log.info("incident report %s: %s", report.incident.id, target)
    return paths
