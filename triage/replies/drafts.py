"""Draft records: create from the playbook's template, edit with optimistic concurrency, keep
every revision, add sources, regenerate.

A `Draft` (kind "drafts") holds its whole history inline (`revisions`, `reviews`), so one
compare-and-set write (`put_versioned`) changes text, history and state together: a stale
`expected_version` raises `ConflictError` with the current version (API: 409) and nothing is
written. Every change is also an audit event (entity_type "draft"), and the incident follows
the draft through `triage.workflow` (drafting -> in_review -> approved -> published).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from store.base import Store
from store.errors import ConflictError, NotFound
from store.records import (
    Draft,
    DraftRevision,
    DraftSource,
    DraftState,
    IncidentState,
    make_id,
)
from store.settings import Settings
from triage.audit import diff, record_change
from triage.replies.compose import compose, gather_evidence
from triage.replies.errors import DraftInputError, DraftStateError
from triage.replies.follow import get_incident, move_incident
from triage.replies.grounding import check_text
from triage.replies.templating import TemplateSet, bundled_templates
from triage.workflow import OPEN_STATES

log = logging.getLogger(__name__)

DRAFTS = "drafts"
MAX_TITLE, MAX_TEXT, MAX_SOURCES, MAX_REVISIONS = 200, 5000, 50, 500
DEFAULT_TEMPLATE = "holding_line"
_NOT_AUDITED = {"version", "updated_at", "revisions", "reviews", "problems"}


@dataclass(frozen=True)
class ReplyConfig:
    """What drafting needs besides the store, built at the edge from settings and playbook."""

    office: str = "新闻办公室"
    tz: tzinfo = UTC
    team_names: dict[str, str] = field(default_factory=dict)
    templates: TemplateSet = field(default_factory=bundled_templates)
    weibo_max_chars: int = 140

    def team_name(self, team: str | None) -> str | None:
        return self.team_names.get(team, team) if team else None

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplyConfig:
        """Office, zone, team names (from the playbook) and the bundled templates."""
        from triage.errors import PlaybookError
        from triage.playbook import current_playbook

        try:
            book = current_playbook(settings.playbook_file)
            names = {team.id: team.name for team in book.teams}
        except PlaybookError:
            names = {}
        return cls(
            office=settings.reply_office_name,
            tz=settings.tz,
            team_names=names,
            templates=bundled_templates(),
            weibo_max_chars=settings.reply_weibo_max_chars,
        )


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def get_draft(store: Store, draft_id: str) -> Draft:
    draft = store.get(DRAFTS, draft_id, Draft)
    if draft is None:
        raise NotFound("draft", draft_id)
    return draft


def list_drafts(store: Store, incident_id: str, *, size: int = 100) -> list[Draft]:
    return store.find(
        DRAFTS, Draft, where={"incident_id": incident_id}, sort="created_at", size=size
    )


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def _audit_doc(draft: Draft) -> dict[str, Any]:
    doc = draft.model_dump(mode="json")
    doc["sources"] = [f"[{s['ref']}] {s['kind']}:{s['id']}" for s in doc["sources"]]
    return {k: v for k, v in doc.items() if k not in _NOT_AUDITED}


def save(
    store: Store,
    draft: Draft,
    *,
    expected_version: int | None,
    action: str,
    actor: str,
    now: datetime,
    before: Draft | None,
    reason: str | None = None,
) -> Draft:
    """Compare-and-set write plus one audit event (only the changed fields)."""
    draft.updated_at = now
    store.put_versioned(DRAFTS, draft, expected_version)
    old, new = diff(_audit_doc(before), _audit_doc(draft)) if before else ({}, _audit_doc(draft))
    for long_field in ("text", "title"):
        for side in (old, new):
            if isinstance(side.get(long_field), str) and len(side[long_field]) > 300:
                side[long_field] = side[long_field][:300] + "…"
    record_change(
        store,
        entity_type="draft",
        entity_id=draft.id,
        action=action,
        actor=actor,
        at=now,
        before=old,
        after=new,
        reason=reason,
        key=str(draft.version),
    )
    return draft


def mutate(
    store: Store,
    draft_id: str,
    change: Callable[[Draft], None],
    *,
    expected_version: int,
    action: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> Draft:
    """Apply `change` to the current draft if `expected_version` is current (else 409)."""
    current = get_draft(store, draft_id)
    if current.version != expected_version:
        raise ConflictError("draft", draft_id, current.version)
    updated = current.model_copy(deep=True)
    change(updated)
    return save(
        store,
        updated,
        expected_version=expected_version,
        action=action,
        actor=actor,
        now=now,
        before=current,
        reason=reason,
    )


def check_input(title: str | None, text: str) -> None:
    if not text.strip():
        raise DraftInputError("the text is empty", field="text")
    if len(text) > MAX_TEXT:
        raise DraftInputError(f"the text is longer than {MAX_TEXT} characters", field="text")
    if title is not None and not title.strip():
        raise DraftInputError("the title is empty", field="title")
    if title is not None and (len(title) > MAX_TITLE or "\n" in title):
        raise DraftInputError(
            f"the title must be one line of at most {MAX_TITLE} characters", field="title"
        )


def assess(draft: Draft, config: ReplyConfig) -> None:
    """Recompute grounding problems and whether authoritative evidence is still needed."""
    report = check_text(draft.title, draft.text, draft.sources)
    draft.problems = report.messages()
    cited = report.cited
    needs = (
        config.templates.info(draft.template).needs_authority
        if draft.template in config.templates.catalog
        else False
    )
    draft.evidence_needed = needs and not any(
        s.authoritative and s.ref in cited for s in draft.sources
    )


def revise(
    draft: Draft,
    title: str,
    text: str,
    *,
    editor: str,
    now: datetime,
    origin: Literal["template", "edit", "llm", "regenerate"],
    note: str | None,
) -> None:
    if len(draft.revisions) >= MAX_REVISIONS:
        raise DraftInputError(f"a draft keeps at most {MAX_REVISIONS} revisions; start a new draft")
    number = (draft.revisions[-1].number + 1) if draft.revisions else 1
    draft.revisions.append(
        DraftRevision(
            number=number, title=title, text=text, editor=editor, at=now, origin=origin, note=note
        )
    )
    draft.revision, draft.title, draft.text, draft.last_editor = number, title, text, editor


def require_state(draft: Draft, *states: DraftState, doing: str) -> None:
    if draft.state not in states:
        allowed = " or ".join(s.value for s in states)
        raise DraftStateError(
            f"cannot {doing} draft {draft.id!r}: it is {draft.state.value} (needs {allowed})",
            state=draft.state.value,
        )


def create_draft(
    store: Store,
    incident_id: str,
    *,
    actor: str,
    now: datetime,
    config: ReplyConfig,
    template: str | None = None,
) -> Draft:
    """A new draft from the playbook's template (or `template`), filled from the incident's
    evidence. The incident moves to drafting. One draft per template and incident version:
    creating the same again before the incident changes is a conflict (409)."""
    incident = get_incident(store, incident_id)
    if incident.state not in OPEN_STATES:
        raise DraftStateError(
            f"incident {incident_id!r} is {incident.state.value}; reopen it before drafting",
            state=incident.state.value,
        )
    name = template or incident.reply_template or DEFAULT_TEMPLATE
    evidence = gather_evidence(store, incident)
    composed = compose(
        name,
        incident=incident,
        posts=evidence.posts,
        claims=evidence.claims,
        office=config.office,
        team_name=config.team_name(incident.team),
        tz=config.tz,
        templates=config.templates,
    )
    draft = Draft(
        id=make_id("draft", incident.id, name, str(incident.version)),
        incident_id=incident.id,
        template=name,
        evidence_needed=composed.evidence_needed,
        subject=composed.subject,
        claim_ids=composed.claim_ids,
        title=composed.title,
        text=composed.text,
        sources=composed.sources,
        created_by=actor,
        last_editor=actor,
        created_at=now,
        updated_at=now,
    )
    revise(
        draft,
        composed.title,
        composed.text,
        editor=actor,
        now=now,
        origin="template",
        note=f"template {name}",
    )
    assess(draft, config)
    try:
        save(
            store,
            draft,
            expected_version=None,
            action="draft.create",
            actor=actor,
            now=now,
            before=None,
        )
    except ConflictError as exc:
        raise DraftStateError(
            f"a {name} draft for this version of the incident exists already: {draft.id}",
            state="exists",
        ) from exc
    move_incident(
        store,
        incident.id,
        IncidentState.drafting,
        actor=actor,
        now=now,
        reason=f"draft {draft.id} created",
    )
    return draft


def edit_draft(
    store: Store,
    draft_id: str,
    *,
    expected_version: int,
    text: str,
    title: str | None = None,
    note: str | None = None,
    actor: str,
    now: datetime,
    config: ReplyConfig,
) -> Draft:
    """Save an edited text as a new revision (the old ones stay)."""
    check_input(title, text)

    def change(draft: Draft) -> None:
        require_state(draft, DraftState.drafting, doing="edit")
        new_title = (title or draft.title).strip()
        if new_title == draft.title and text.strip() == draft.text:
            raise DraftStateError(  # 409: it conflicts with the current revision, not a typo
                "the edit changes nothing (same title and text as the current revision)",
                state="unchanged",
            )
        revise(
            draft,
            new_title,
            text.strip(),
            editor=actor,
            now=now,
            origin="edit",
            note=note,
        )
        assess(draft, config)

    return mutate(
        store,
        draft_id,
        change,
        expected_version=expected_version,
        action="draft.edit",
        actor=actor,
        now=now,
        reason=note,
    )


def add_source(
    store: Store,
    draft_id: str,
    *,
    expected_version: int,
    name: str,
    text: str,
    url: str | None,
    verdict: str | None,
    actor: str,
    now: datetime,
    config: ReplyConfig,
) -> Draft:
    """Add an authoritative statement an officer obtained (who said it, what, where) as the
    next [n]. Cite it in an edit, or regenerate the draft to use it."""
    if not name.strip() or not text.strip():
        raise DraftInputError(
            "a source needs the name of who said it and what they said", field="text"
        )
    if url is not None and not url.startswith(("http://", "https://")):
        raise DraftInputError("the source URL must start with http:// or https://", field="url")

    def change(draft: Draft) -> None:
        require_state(draft, DraftState.drafting, doing="add a source to")
        if len(draft.sources) >= MAX_SOURCES:
            raise DraftInputError(f"a draft has at most {MAX_SOURCES} sources", field="sources")
        draft.sources.append(
            DraftSource(
                ref=max((s.ref for s in draft.sources), default=0) + 1,
                kind="officer",
                id=make_id("officer", draft.id, name.strip(), text.strip()),
                name=name.strip(),
                url=url,
                text=text.strip(),
                at=now,
                authoritative=True,
                verdict=verdict,
            )
        )
        assess(draft, config)

    return mutate(
        store,
        draft_id,
        change,
        expected_version=expected_version,
        action="draft.add_source",
        actor=actor,
        now=now,
    )


def regenerate(
    store: Store,
    draft_id: str,
    *,
    expected_version: int,
    actor: str,
    now: datetime,
    config: ReplyConfig,
) -> Draft:
    """Fill the template again from the incident's current evidence and the officer sources
    (e.g. after adding the authoritative statement an "evidence needed" draft asked for)."""
    current = get_draft(store, draft_id)
    incident = get_incident(store, current.incident_id)
    evidence = gather_evidence(store, incident)
    composed = compose(
        current.template,
        incident=incident,
        posts=evidence.posts,
        claims=evidence.claims,
        officer_sources=[s for s in current.sources if s.kind == "officer"],
        office=config.office,
        team_name=config.team_name(incident.team),
        tz=config.tz,
        templates=config.templates,
    )

    def change(draft: Draft) -> None:
        require_state(draft, DraftState.drafting, doing="regenerate")
        draft.sources = composed.sources
        draft.subject, draft.claim_ids = composed.subject, composed.claim_ids
        revise(
            draft,
            composed.title,
            composed.text,
            editor=actor,
            now=now,
            origin="regenerate",
            note=f"template {draft.template}",
        )
        assess(draft, config)

    return mutate(
        store,
        draft_id,
        change,
        expected_version=expected_version,
        action="draft.regenerate",
        actor=actor,
        now=now,
    )
