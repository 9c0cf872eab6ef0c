"""The incident workflow: states and allowed transitions, SLA clocks, escalation, audit.

    new -> triaged -> assigned -> drafting -> in_review -> approved -> published -> monitoring
        -> closed                                     (and dismissed, with a reason, from any
                                                       open state; closed/dismissed reopen)

Every change goes through `change()`: it re-reads the incident, applies one mutation, writes
it with optimistic concurrency (a stale `expected_version` raises `ConflictError` carrying the
current version) and records an audit event with the changed fields before and after. A
mutation that raises leaves the store untouched.

SLA clocks (from the route in the playbook) start when the incident opens:
`acknowledge` is met by the first human action (any transition or assignment),
`first_response` when a reply is published (or the incident goes straight to monitoring),
`resolution` when it is closed or dismissed. A clock past due and unmet is breached once;
each breach escalates one level up the route's escalation chain.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from store.base import Store
from store.errors import ConflictError, NotFound
from store.records import Escalation, Incident, SlaClock
from store.records import IncidentState as S
from triage.audit import diff, record_change
from triage.errors import IncidentInputError, TransitionError
from triage.playbook import Playbook, Route

INCIDENTS = "incidents"
SYSTEM = "system"

TRANSITIONS: dict[S, frozenset[S]] = {
    S.new: frozenset({S.triaged, S.assigned, S.dismissed}),
    S.triaged: frozenset({S.assigned, S.dismissed}),
    S.assigned: frozenset({S.triaged, S.drafting, S.monitoring, S.dismissed}),
    S.drafting: frozenset({S.assigned, S.in_review, S.dismissed}),
    S.in_review: frozenset({S.drafting, S.approved, S.dismissed}),
    S.approved: frozenset({S.drafting, S.published, S.dismissed}),
    S.published: frozenset({S.monitoring, S.drafting}),
    S.monitoring: frozenset({S.closed, S.drafting, S.assigned}),
    S.closed: frozenset({S.triaged}),
    S.dismissed: frozenset({S.triaged}),
}
OPEN_STATES = frozenset(S) - {S.closed, S.dismissed}
# Targets that need more than the `work` permission.
TARGET_PERMISSION = {S.approved: "approve", S.published: "approve"}
# Targets only the draft workflow reaches (an approved, then published reply draft:
# `triage.replies.follow`); a direct transition there would fake an answer and a met SLA.
DRAFT_ONLY = frozenset({S.approved, S.published})
_NOT_AUDITED = {"version", "updated_at", "updated_by"}


def allowed_transitions(incident: Incident) -> list[str]:
    """States a person may move the incident to directly (not the draft-only ones)."""
    return sorted(s.value for s in TRANSITIONS[incident.state] - DRAFT_ONLY)


def permission_for(target: S) -> str:
    return TARGET_PERMISSION.get(target, "work")


def sla_clocks(route: Route, start: datetime) -> list[SlaClock]:
    return [
        SlaClock(name="acknowledge", due_at=start + route.sla.acknowledge),
        SlaClock(name="first_response", due_at=start + route.sla.first_response),
        SlaClock(name="resolution", due_at=start + route.sla.resolution),
    ]


def _meet(incident: Incident, names: set[str], now: datetime) -> None:
    for clock in incident.sla:
        if clock.name in names and clock.met_at is None:
            clock.met_at = now


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    return round((later - earlier).total_seconds(), 3) if earlier else None


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def _audit_doc(incident: Incident) -> dict[str, Any]:
    doc = incident.model_dump(mode="json")
    return {k: v for k, v in doc.items() if k not in _NOT_AUDITED}


def open_incident(
    store: Store, incident: Incident, *, actor: str, now: datetime, reason: str | None = None
) -> Incident:
    """Create an incident (ConflictError if its id exists) and audit it."""
    incident.created_by = incident.updated_by = actor
    store.put_versioned(INCIDENTS, incident, None)
    summary = {
        k: v
        for k, v in _audit_doc(incident).items()
        if k in ("title", "category", "severity", "team", "jurisdiction", "topic_id", "state")
    }
    record_change(
        store,
        entity_type="incident",
        entity_id=incident.id,
        action="incident.open",
        actor=actor,
        at=now,
        before={},
        after=summary,
        reason=reason,
        key=str(incident.version),
    )
    return incident


def change(
    store: Store,
    incident_id: str,
    mutate: Callable[[Incident], None],
    *,
    actor: str,
    action: str,
    now: datetime,
    expected_version: int | None = None,
    reason: str | None = None,
    retries: int = 3,
) -> Incident:
    """Apply `mutate` to the current incident and save it (see module docstring).

    With `expected_version` None (the triage job), a concurrent change is retried on the new
    version; with a version (a person), a stale version raises ConflictError at once."""
    for attempt in range(retries):
        current = store.get(INCIDENTS, incident_id, Incident)
        if current is None:
            raise NotFound("incident", incident_id)
        if expected_version is not None and current.version != expected_version:
            raise ConflictError("incident", incident_id, current.version)
        updated = current.model_copy(deep=True)
        mutate(updated)
        before, after = diff(_audit_doc(current), _audit_doc(updated))
        if not after:
            return current
        updated.updated_at = now
        updated.updated_by = actor
        try:
            store.put_versioned(INCIDENTS, updated, current.version)
        except ConflictError:
            if expected_version is not None or attempt == retries - 1:
                raise
            continue
        record_change(
            store,
            entity_type="incident",
            entity_id=incident_id,
            action=action,
            actor=actor,
            at=now,
            before=before,
            after=after,
            reason=reason,
            key=str(updated.version),
        )
        return updated
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------
# human actions
# --------------------------------------------------------------------------------------------


def _acknowledge(incident: Incident, now: datetime) -> None:
    if incident.acknowledged_at is None:
        incident.acknowledged_at = now
    _meet(incident, {"acknowledge"}, now)


def transition(
    store: Store,
    incident_id: str,
    target: S | str,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None,
    reason: str | None = None,
    via_draft: bool = False,
) -> Incident:
    """Move an incident to `target` if the workflow allows it (TransitionError otherwise).
    `approved` and `published` are reached only `via_draft` (the reply-draft workflow)."""
    try:
        goal = S(target)
    except ValueError:
        raise IncidentInputError(
            f"unknown state {target!r}; states: {', '.join(s.value for s in S)}", field="to"
        ) from None
    if goal in DRAFT_ONLY and not via_draft:
        current = store.get(INCIDENTS, incident_id, Incident)
        if current is None:
            raise NotFound("incident", incident_id)
        raise TransitionError(
            incident_id,
            current.state.value,
            goal.value,
            allowed_transitions(current),
            why=f"only an approved reply draft moves an incident to {goal.value} "
            "(approve and publish the draft)",
        )
    if goal is S.dismissed and not (reason and reason.strip()):
        raise IncidentInputError("dismissing needs a reason", field="reason")
    if goal is S.triaged and not (reason and reason.strip()):
        # reopening or handing back must say why; a first triage may omit it
        current = store.get(INCIDENTS, incident_id, Incident)
        if current is not None and current.state in (S.closed, S.dismissed):
            raise TransitionError(
                incident_id,
                current.state.value,
                goal.value,
                allowed_transitions(current),
                why="reopening needs a reason",
            )

    def mutate(incident: Incident) -> None:
        if goal not in TRANSITIONS[incident.state]:
            raise TransitionError(
                incident.id, incident.state.value, goal.value, allowed_transitions(incident)
            )
        incident.state = goal
        _acknowledge(incident, now)
        if goal is S.assigned and incident.assigned_at is None:
            incident.assigned_at = now
            incident.time_to_assign_s = _seconds(now, incident.created_at)
        if goal is S.published:
            incident.published_at = now
            if incident.time_to_publish_s is None:
                incident.time_to_publish_s = _seconds(now, incident.created_at)
            _meet(incident, {"first_response"}, now)
        if goal is S.monitoring:
            _meet(incident, {"first_response"}, now)
        if goal in (S.closed, S.dismissed):
            incident.closed_at = now
            _meet(incident, {"acknowledge", "first_response", "resolution"}, now)
        if goal is S.dismissed:
            incident.dismiss_reason = reason
        if goal is S.triaged and incident.closed_at is not None:
            incident.closed_at = None
            incident.dismiss_reason = None

    return change(
        store,
        incident_id,
        mutate,
        actor=actor,
        action=f"incident.transition.{goal.value}",
        now=now,
        expected_version=expected_version,
        reason=reason,
    )


def assign(
    store: Store,
    incident_id: str,
    *,
    assignee: str | None,
    team: str | None,
    actor: str,
    now: datetime,
    expected_version: int | None,
    reason: str | None = None,
) -> Incident:
    """Give the incident to a person (and/or another team). A new or triaged incident becomes
    assigned when it gets an assignee."""

    def mutate(incident: Incident) -> None:
        if incident.state not in OPEN_STATES:
            raise TransitionError(incident.id, incident.state.value, "assigned", [])
        if team is not None:
            incident.team = team
        if assignee is not None:
            incident.assignee = assignee or None
            if incident.assignee and incident.state in (S.new, S.triaged):
                incident.state = S.assigned
            if incident.assignee and incident.assigned_at is None:
                incident.assigned_at = now
                incident.time_to_assign_s = _seconds(now, incident.created_at)
        _acknowledge(incident, now)

    return change(
        store,
        incident_id,
        mutate,
        actor=actor,
        action="incident.assign",
        now=now,
        expected_version=expected_version,
        reason=reason,
    )


MAX_EVIDENCE = 500


def add_evidence(
    store: Store,
    incident_id: str,
    post_ids: list[str],
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
    reason: str | None = None,
) -> Incident:
    """Flag posts into an incident. Every id must be a stored post, or nothing changes."""
    wanted = list(dict.fromkeys(post_ids))
    found = {p.id for p in store.get_posts(wanted)}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise IncidentInputError(f"unknown post ids: {', '.join(missing[:10])}", field="post_ids")

    def mutate(incident: Incident) -> None:
        merged = list(dict.fromkeys([*wanted, *incident.evidence_post_ids]))
        if len(merged) > MAX_EVIDENCE:
            raise IncidentInputError(
                f"an incident holds at most {MAX_EVIDENCE} evidence posts", field="post_ids"
            )
        incident.evidence_post_ids = merged

    return change(
        store,
        incident_id,
        mutate,
        actor=actor,
        action="incident.flag",
        now=now,
        expected_version=expected_version,
        reason=reason,
    )


# --------------------------------------------------------------------------------------------
# SLA and escalation (the triage job)
# --------------------------------------------------------------------------------------------


def route_of(incident: Incident, playbook: Playbook) -> Route:
    """The incident's route; if the playbook changed and lost it, the route that matches now."""
    for route in playbook.routes:
        if route.id == incident.playbook_rule:
            return route
    return playbook.route(
        incident.category,
        incident.jurisdiction,
        incident.severity,
        [s.rule for s in incident.signals],
    )


def breached_clocks(incident: Incident, now: datetime) -> list[str]:
    if incident.state not in OPEN_STATES:
        return []
    return [c.name for c in incident.sla if c.met_at is None and not c.breached and c.due_at <= now]


def escalate(store: Store, incident: Incident, playbook: Playbook, now: datetime) -> Incident:
    """Mark breached clocks and go one escalation level up per breach (audited)."""
    chain = route_of(incident, playbook).escalation

    def mutate(current: Incident) -> None:
        for name in breached_clocks(current, now):
            for clock in current.sla:
                if clock.name == name:
                    clock.breached = True
            if not chain:
                continue
            # one level up per breach; at the top of the chain, the top is told again
            level = min(current.escalation_level + 1, len(chain))
            current.escalation_level = level
            current.escalations.append(
                Escalation(level=level, team=chain[level - 1], clock=name, at=now)
            )

    return change(
        store,
        incident.id,
        mutate,
        actor=SYSTEM,
        action="incident.escalate",
        now=now,
        reason="SLA breached",
    )
