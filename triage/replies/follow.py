"""The incident follows its drafts through `triage.workflow` (this package never writes an
incident's state itself): creating a draft -> drafting, submit -> in_review, approve ->
approved, reject -> drafting, publish -> published -> monitoring. Each step is one allowed
transition, audited by the workflow; when several are needed (e.g. new -> assigned ->
drafting) the shortest path through open states is taken."""

from __future__ import annotations

from collections import deque
from datetime import datetime

from store.base import Store
from store.errors import NotFound
from store.records import Draft, Incident, IncidentState
from triage.errors import TransitionError
from triage.workflow import INCIDENTS, OPEN_STATES, TRANSITIONS, transition

ORDER = [
    IncidentState.drafting,
    IncidentState.in_review,
    IncidentState.approved,
    IncidentState.published,
    IncidentState.monitoring,
]


def get_incident(store: Store, incident_id: str) -> Incident:
    incident = store.get(INCIDENTS, incident_id, Incident)
    if incident is None:
        raise NotFound("incident", incident_id)
    return incident


def move_incident(
    store: Store, incident_id: str, target: IncidentState, *, actor: str, now: datetime, reason: str
) -> Incident:
    """Bring the incident to `target` along the workflow's allowed transitions (shortest path
    through open states), each step audited by `triage.workflow`. A closed or dismissed
    incident is left alone (TransitionError)."""
    incident = get_incident(store, incident_id)
    if incident.state == target:
        return incident
    path = _path(incident.state, target)
    if path is None:
        raise TransitionError(
            incident_id,
            incident.state.value,
            target.value,
            sorted(s.value for s in TRANSITIONS[incident.state]),
        )
    for step in path:
        incident = transition(
            store,
            incident_id,
            step,
            actor=actor,
            now=now,
            expected_version=None,
            reason=reason,
            via_draft=True,
        )
    return incident


def _path(start: IncidentState, goal: IncidentState) -> list[IncidentState] | None:
    queue: deque[list[IncidentState]] = deque([[start]])
    seen = {start}
    while queue:
        path = queue.popleft()
        for nxt in sorted(TRANSITIONS[path[-1]], key=lambda s: s.value):
            if nxt in seen or (nxt not in OPEN_STATES and nxt != goal):
                continue
            if nxt == goal:
                return [*path[1:], nxt]
            seen.add(nxt)
            queue.append([*path, nxt])
    return None


def follow(store: Store, draft: Draft, target: IncidentState, actor: str, now: datetime) -> None:
    """The incident follows its draft. A closed/dismissed incident or an incident already past
    the target (another draft went further) stays where it is."""
    incident = get_incident(store, draft.incident_id)
    if (
        incident.state in ORDER
        and target in ORDER
        and ORDER.index(incident.state) > ORDER.index(target)
        and target is not IncidentState.drafting
    ):
        return
    try:
        move_incident(
            store,
            draft.incident_id,
            target,
            actor=actor,
            now=now,
            reason=f"draft {draft.id} {draft.state.value}",
        )
    except TransitionError:
        return
