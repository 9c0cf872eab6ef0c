"""Review and publishing: submit -> approve / reject -> publish, with the 4-eyes rule.

    drafting ──submit──> in_review ──approve (no editor of it)──> approved ──publish──> published
        ^                    │                                                    (more channels)
        └──reject (comment)──┘

- submit refuses a text with grounding errors, editor notes, or (for a rebuttal) no cited
  authoritative source ("evidence needed");
- approve refuses anyone who wrote any revision of the draft (FourEyesError): someone who
  wrote none of its text must read it (re-saving a colleague's text does not launder it: an
  edit that changes nothing is refused, and every earlier editor stays excluded);
- publish records channel, the final text as exported for it, approver, publisher and time
  (`Publication`), puts the reply into the knowledge base (origin "office", via
  `nlp.kb.add_office_reply`) and moves the incident to published, then monitoring.

The posting itself stays with people; `export` gives the text in the formats they paste from.
"""

from __future__ import annotations

import re
from datetime import datetime

from store.base import Store
from store.records import (
    Claim,
    Draft,
    DraftReview,
    DraftState,
    IncidentState,
    Publication,
    make_id,
)
from triage.audit import diff, record_change
from triage.replies.drafts import (
    ReplyConfig,
    assess,
    mutate,
    require_state,
)
from triage.replies.errors import DraftInputError, DraftStateError, FourEyesError, GroundingError
from triage.replies.exports import Format, export
from triage.replies.follow import follow, get_incident
from triage.replies.grounding import check_text, split_sentences, strip_markers

PUBLICATIONS = "publications"
CHANNEL = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
CHANNEL_FORMATS: dict[str, Format] = {"weibo": "weibo", "website": "html", "wechat": "markdown"}


def submit(
    store: Store,
    draft_id: str,
    *,
    expected_version: int,
    actor: str,
    now: datetime,
    config: ReplyConfig,
    comment: str | None = None,
) -> Draft:
    """Send a grounded draft for review; the incident goes to in_review."""

    def change(draft: Draft) -> None:
        require_state(draft, DraftState.drafting, doing="submit")
        assess(draft, config)
        report = check_text(draft.title, draft.text, draft.sources)
        problems = report.messages(errors_only=True)
        if draft.evidence_needed:
            problems.append(
                "evidence needed: a rebuttal must cite an authoritative source (a debunk, or a "
                "statement added with its name, text and link); add one and regenerate or edit"
            )
        if problems:
            raise GroundingError(problems)
        draft.state = DraftState.in_review
        draft.submitted_at = now
        draft.reviews.append(
            DraftReview(action="submit", by=actor, at=now, revision=draft.revision, comment=comment)
        )

    draft = mutate(
        store,
        draft_id,
        change,
        expected_version=expected_version,
        action="draft.submit",
        actor=actor,
        now=now,
        reason=comment,
    )
    follow(store, draft, IncidentState.in_review, actor, now)
    return draft


def approve(
    store: Store,
    draft_id: str,
    *,
    expected_version: int,
    actor: str,
    now: datetime,
    comment: str | None = None,
) -> Draft:
    """Approve a draft in review; the approver must not have written any of its revisions
    (4-eyes)."""

    def change(draft: Draft) -> None:
        require_state(draft, DraftState.in_review, doing="approve")
        editors = {r.editor for r in draft.revisions} | {draft.last_editor}
        if actor in editors:
            wrote = sorted(r.number for r in draft.revisions if r.editor == actor)
            raise FourEyesError(
                f"{actor!r} edited draft {draft.id!r} (revisions {wrote or [draft.revision]}); "
                "someone who wrote none of it must approve it (4-eyes)"
            )
        draft.state = DraftState.approved
        draft.approved_by, draft.approved_at = actor, now
        draft.reviews.append(
            DraftReview(
                action="approve", by=actor, at=now, revision=draft.revision, comment=comment
            )
        )

    draft = mutate(
        store,
        draft_id,
        change,
        expected_version=expected_version,
        action="draft.approve",
        actor=actor,
        now=now,
        reason=comment,
    )
    follow(store, draft, IncidentState.approved, actor, now)
    return draft


def reject(
    store: Store, draft_id: str, *, expected_version: int, actor: str, now: datetime, comment: str
) -> Draft:
    """Send a draft in review back to drafting with a comment saying what to change."""
    if not comment.strip():
        raise DraftInputError("rejecting needs a comment saying what to change", field="comment")

    def change(draft: Draft) -> None:
        require_state(draft, DraftState.in_review, doing="reject")
        draft.state = DraftState.drafting
        draft.reviews.append(
            DraftReview(
                action="reject", by=actor, at=now, revision=draft.revision, comment=comment.strip()
            )
        )

    draft = mutate(
        store,
        draft_id,
        change,
        expected_version=expected_version,
        action="draft.reject",
        actor=actor,
        now=now,
        reason=comment,
    )
    follow(store, draft, IncidentState.drafting, actor, now)
    return draft


def publish(
    store: Store,
    draft_id: str,
    *,
    expected_version: int,
    channel: str,
    actor: str,
    now: datetime,
    config: ReplyConfig,
    url: str | None = None,
    fmt: Format | None = None,
) -> Publication:
    """Record that the approved text was published on `channel` (again for more channels)."""
    if not CHANNEL.match(channel):
        raise DraftInputError("channel must be 1-40 of a-z, 0-9, '.', '_', '-'", field="channel")
    if url is not None and not url.startswith(("http://", "https://")):
        raise DraftInputError("the URL must start with http:// or https://", field="url")
    fmt = fmt or CHANNEL_FORMATS.get(channel, "plain")
    publication_id = make_id("publication", draft_id, channel)
    if store.get(PUBLICATIONS, publication_id, Publication) is not None:
        raise DraftStateError(
            f"draft {draft_id!r} is already published on {channel!r}; a publication is never "
            "overwritten (publish a new draft to correct it)",
            state="published",
        )

    def change(draft: Draft) -> None:
        require_state(draft, DraftState.approved, DraftState.published, doing="publish")
        if draft.state is DraftState.approved:
            draft.state = DraftState.published
            draft.published_at = now
        draft.reviews.append(
            DraftReview(
                action="publish",
                by=actor,
                at=now,
                revision=draft.revision,
                comment=f"{channel}" + (f" {url}" if url else ""),
            )
        )

    draft = mutate(
        store,
        draft_id,
        change,
        expected_version=expected_version,
        action="draft.publish",
        actor=actor,
        now=now,
        reason=channel,
    )
    exported = export(draft, fmt, weibo_max_chars=config.weibo_max_chars)
    claim = _enter_knowledge_base(store, draft, config, url=url, now=now)
    publication = Publication(
        id=publication_id,
        draft_id=draft.id,
        incident_id=draft.incident_id,
        channel=channel,
        format=fmt,
        title=draft.title,
        text=exported.text,
        url=url,
        revision=draft.revision,
        approver=draft.approved_by or "",
        published_by=actor,
        published_at=now,
        claim_id=claim.id if claim else None,
    )
    store.put(PUBLICATIONS, publication)
    follow(store, draft, IncidentState.published, actor, now)
    follow(store, draft, IncidentState.monitoring, actor, now)
    return publication


def list_publications(store: Store, incident_id: str) -> list[Publication]:
    return store.find(
        PUBLICATIONS, Publication, where={"incident_id": incident_id}, sort="published_at", size=200
    )


def _enter_knowledge_base(
    store: Store, draft: Draft, config: ReplyConfig, *, url: str | None, now: datetime
) -> Claim | None:
    """Our published answer as a claim (origin "office"), so the next post repeating the rumor
    links to it. Rebuttals keep the debunk's verdict; other replies to a rumor are recorded as
    "unverified" (they do not refute it); replies to non-rumors stay out."""
    from nlp.kb import OFFICE_ORIGIN, add_office_reply

    incident = get_incident(store, draft.incident_id)
    info = (
        config.templates.info(draft.template)
        if draft.template in config.templates.catalog
        else None
    )
    if info is not None and info.needs_authority:
        cited = {ref for s in split_sentences(draft.text) for ref in s.refs}
        verdicts = [s.verdict for s in draft.sources if s.ref in cited and s.authoritative]
        verdict = "misleading" if "misleading" in verdicts and "false" not in verdicts else "false"
    elif incident.category == "rumor":
        verdict = "unverified"
    else:
        return None
    existing = store.get("claims", make_id(OFFICE_ORIGIN, incident.id), Claim)
    claim = add_office_reply(
        store,
        reply_id=incident.id,
        claim=draft.subject or draft.title,
        answer=f"{draft.title}\n{strip_markers(draft.text)}",
        verdict=verdict,
        source_url=url,
        published_at=now,
        source_name=config.office,
    )
    audited = {"claim", "answer", "verdict", "source_url", "published_at"}
    old = existing.model_dump(mode="json", include=audited) if existing else {}
    before, after = diff(old, claim.model_dump(mode="json", include=audited))
    record_change(
        store,
        entity_type="claim",
        entity_id=claim.id,
        action="kb.update" if existing else "kb.add",
        actor=draft.reviews[-1].by if draft.reviews else "system",
        at=now,
        before=before,
        after=after,
        reason=f"published draft {draft.id}",
    )
    return claim
