"""Acting on the effect of a reply (the effect job of `tingfeng run`): store the report,
record the half-life on the incident, audit a close proposal, re-escalate on a rebound.
Each decision acts once per state, so re-running a pass changes nothing."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from store.base import Store
from store.errors import ConflictError
from store.records import EffectReport, Escalation, Incident, IncidentState
from triage.audit import record_change
from triage.replies.effect import EFFECTS, EffectConfig, measure
from triage.workflow import INCIDENTS, OPEN_STATES, TRANSITIONS, change

if TYPE_CHECKING:
    from store.settings import Settings
    from triage.notify import Notifier
    from triage.playbook import Playbook

log = logging.getLogger(__name__)

SYSTEM = "system"
PAGE = 200


def track(
    store: Store,
    incident: Incident,
    *,
    now: datetime,
    config: EffectConfig,
    playbook: Playbook | None = None,
    notifier: Notifier | None = None,
) -> EffectReport | None:
    """Measure, store the report, record the half-life on the incident, and act on a new
    decision (close proposal: audit event; rebound: re-escalation). Idempotent per state."""
    previous = store.get(EFFECTS, incident.id, EffectReport)
    report = measure(store, incident, now=now, config=config, previous=previous)
    if report is None:
        return None
    store.put(EFFECTS, report)
    was = previous.status if previous and previous.published_at == report.published_at else None
    if report.half_life_h != incident.half_life_h and report.half_life_h is not None:
        half_life = report.half_life_h

        def set_half_life(current: Incident) -> None:
            current.half_life_h = half_life

        incident = change(
            store,
            incident.id,
            set_half_life,
            actor=SYSTEM,
            action="incident.effect",
            now=now,
            reason=report.why,
        )
    if report.status == "close_proposed" and was != "close_proposed":
        record_change(
            store,
            entity_type="incident",
            entity_id=incident.id,
            action="incident.close_proposed",
            actor=SYSTEM,
            at=now,
            before={},
            after={"rate_recent": report.rate_recent},
            reason=report.why,
            key=f"close_proposed@{report.close_proposed_at}",
        )
    if report.status == "reescalated" and was != "reescalated":
        reescalate(store, incident, report, now=now, playbook=playbook, notifier=notifier)
    return report


def reescalate(
    store: Store,
    incident: Incident,
    report: EffectReport,
    *,
    now: datetime,
    playbook: Playbook | None,
    notifier: Notifier | None,
) -> Incident:
    """Back to assigned (when the workflow allows), one escalation level up, team told."""
    chain: list[str] = []
    if playbook is not None:
        from triage.workflow import route_of

        chain = list(route_of(incident, playbook).escalation)

    def mutate(current: Incident) -> None:
        if (
            current.state is IncidentState.monitoring
            and IncidentState.assigned in TRANSITIONS[current.state]
        ):
            current.state = IncidentState.assigned
        level = (
            min(current.escalation_level + 1, len(chain)) if chain else current.escalation_level + 1
        )
        current.escalation_level = level
        team = chain[level - 1] if chain else (current.team or "unassigned")
        current.escalations.append(
            Escalation(level=max(1, level), team=team, clock="rebound", at=now)
        )

    updated = change(
        store,
        incident.id,
        mutate,
        actor=SYSTEM,
        action="incident.reescalate",
        now=now,
        reason=report.why,
    )
    if notifier is not None and playbook is not None and updated.escalations:
        step = updated.escalations[-1]
        notifier.plan(
            store,
            updated,
            playbook,
            event="escalated",
            team_id=step.team,
            now=now,
            level=step.level,
            clock=f"rebound-{report.reescalations}",
        )
    return updated


class EffectJob:
    """The effect-tracking pass of `tingfeng run`: every open incident that was published."""

    def __init__(
        self,
        store: Store,
        config: EffectConfig,
        *,
        playbook_file: Path | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.playbook_file = playbook_file
        self.notifier = notifier

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> EffectJob:
        from triage.notify import Notifier

        return cls(
            store,
            EffectConfig.from_settings(settings),
            playbook_file=settings.playbook_file,
            notifier=Notifier.from_settings(settings),
        )

    def __call__(self, now: datetime | None = None) -> dict[str, int]:
        from triage.playbook import current_playbook

        now = now or datetime.now(UTC)
        playbook = current_playbook(self.playbook_file)
        counts: Counter[str] = Counter()
        offset = 0
        while True:
            batch = self.store.find(
                INCIDENTS,
                Incident,
                where={"state": sorted(s.value for s in OPEN_STATES)},
                sort="created_at",
                size=PAGE,
                offset=offset,
            )
            for incident in batch:
                if incident.published_at is None:
                    continue
                try:
                    report = track(
                        self.store,
                        incident,
                        now=now,
                        config=self.config,
                        playbook=playbook,
                        notifier=self.notifier,
                    )
                except ConflictError:
                    counts["conflicts"] += 1  # a person changed it meanwhile: next pass
                    continue
                if report is not None:
                    counts[report.status] += 1
            if len(batch) < PAGE:
                break
            offset += PAGE
        log.info(
            "effect: %s",
            ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing published",
        )
        return dict(counts)
