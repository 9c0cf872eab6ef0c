"""The triage job (`tingfeng run` runs it every few seconds; `tingfeng triage run-once`).

One pass:
1. topics updated since the last pass (a watermark with overlap) -> open or update the topic's
   incident (one per topic; its id is a hash of the topic id);
2. open crawler alerts -> incidents as the playbook's alert rules say;
3. SLA sweep over open incidents -> escalations;
4. deliver due notifications.

Every step is idempotent: re-running a pass changes and sends nothing new.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store.base import Store
from store.errors import ConflictError, StoreUnavailable
from store.records import Alert, Checkpoint, Incident, SeverityComponent, SignalHit, Topic, make_id
from store.settings import Settings
from triage.notify import DeliveryReport, Notifier, one_line
from triage.playbook import Playbook, current_playbook
from triage.severity import assess
from triage.signals import Stats, fired_signals, jurisdiction_of, topic_stats
from triage.workflow import (
    INCIDENTS,
    OPEN_STATES,
    SYSTEM,
    breached_clocks,
    change,
    escalate,
    open_incident,
    route_of,
    sla_clocks,
)

log = logging.getLogger(__name__)

WATERMARK_ID = "triage-topics"
OVERLAP = timedelta(minutes=2)
PAGE = 200
MAX_EVIDENCE_AUTO = 200


def topic_incident_id(topic_id: str) -> str:
    return make_id("incident", "topic", topic_id)


def alert_incident_id(alert_id: str) -> str:
    return make_id("incident", "alert", alert_id)


@dataclass
class PassReport:
    topics: int = 0
    opened: int = 0
    updated: int = 0
    escalated: int = 0
    planned: int = 0
    failed: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    def summary(self) -> str:
        d = self.delivery
        return (
            f"triage: {self.topics} topics, {self.opened} opened, {self.updated} updated, "
            f"{self.escalated} escalated, {self.failed} failed; notifications {self.planned} planned, {d.sent} sent, "
            f"{d.retried} retried, {d.failed} failed, {d.suppressed} suppressed"
        )


def build_from_stats(
    incident_id: str,
    playbook: Playbook,
    stats: Stats,
    hits: list[SignalHit],
    *,
    title: str,
    now: datetime,
    topic_id: str | None = None,
    category: str | None = None,
) -> Incident:
    """A new incident from stats: category (first signal), severity, jurisdiction, route, SLA."""
    category = category or hits[0].category
    jurisdiction = jurisdiction_of(stats)
    name = stats.place_names.get(jurisdiction) if jurisdiction else None
    severity, score, components = assess(
        stats, category, playbook.severity, jurisdiction=jurisdiction, jurisdiction_name=name
    )
    route = playbook.route(category, jurisdiction, severity, [h.rule for h in hits])
    first = stats.first_post_at
    return Incident(
        id=incident_id,
        topic_id=topic_id,
        title=one_line(title)[:200],
        category=category,
        severity=severity,
        severity_score=score,
        severity_components=components,
        signals=hits,
        jurisdiction=jurisdiction,
        jurisdiction_name=name,
        team=route.team,
        playbook_rule=route.id,
        reply_template=route.reply_template,
        sla=sla_clocks(route, now),
        evidence_post_ids=[p.id for p in stats.evidence][:MAX_EVIDENCE_AUTO],
        post_count=stats.posts,
        claim_ids=stats.claim_ids,
        first_post_at=first,
        time_to_detect_s=round((now - first).total_seconds(), 3) if first else None,
        created_at=now,
        updated_at=now,
    )


class TriageJob:
    """Runs triage passes against one store with one playbook file and one notifier."""

    def __init__(
        self, store: Store, *, playbook_path: Path | None, notifier: Notifier | None
    ) -> None:
        self.store = store
        self.playbook_path = playbook_path
        self.notifier = notifier
        # topic id -> updated_at already triaged by this process (the watermark overlap would
        # otherwise re-read every topic of the last minutes on every pass)
        self._seen: dict[str, datetime] = {}

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> TriageJob:
        """A job for `tingfeng run`; the playbook is validated now, so a bad one stops the
        start instead of failing every pass."""
        current_playbook(settings.playbook_file)
        return cls(
            store,
            playbook_path=settings.playbook_file,
            notifier=Notifier.from_settings(settings),
        )

    def playbook(self) -> Playbook:
        return current_playbook(self.playbook_path)

    # -- one pass --------------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> PassReport:
        now = now or datetime.now(UTC)
        playbook = self.playbook()
        report = PassReport()
        self._topics(playbook, now, report)
        self._alerts(playbook, now, report)
        self._slas(playbook, now, report)
        if self.notifier is not None:
            report.delivery = self.notifier.deliver_due(self.store, now)
        log.info("%s", report.summary())
        return report

    def __call__(self) -> None:
        """For the scheduler: one pass at the current time."""
        self.run_once()

    def _notify(
        self,
        incident: Incident,
        playbook: Playbook,
        report: PassReport,
        *,
        event: str,
        team: str | None,
        now: datetime,
        level: int = 0,
        clock: str | None = None,
    ) -> None:
        if self.notifier is None or team is None:
            return
        planned = self.notifier.plan(
            self.store, incident, playbook, event=event, team_id=team, now=now, level=level,
            clock=clock,
        )  # fmt: skip
        report.planned += len(planned)

    # -- topics ----------------------------------------------------------------------------
    def _topics(self, playbook: Playbook, now: datetime, report: PassReport) -> None:
        mark = self.store.get("checkpoints", WATERMARK_ID, Checkpoint)
        since = (mark.newest_at - OVERLAP) if mark and mark.newest_at else None
        newest = mark.newest_at if mark else None
        offset = 0
        while True:
            topics = self.store.find(
                "topics",
                Topic,
                ranges={"updated_at": (since, None)} if since else None,
                sort="updated_at",
                size=PAGE,
                offset=offset,
            )
            for topic in topics:
                if newest is None or topic.updated_at > newest:
                    newest = topic.updated_at
                if self._seen.get(topic.id) == topic.updated_at:
                    continue
                report.topics += 1
                try:
                    self.triage_topic(playbook, topic, now, report)
                except StoreUnavailable:
                    raise
                except Exception:  # one bad topic must not stop the pass; retried next pass
                    log.exception("triage of topic %s failed", topic.id)
                    report.failed += 1
                    continue
                self._seen[topic.id] = topic.updated_at
            if len(topics) < PAGE:
                break
            offset += PAGE
        if since is not None:
            self._seen = {k: v for k, v in self._seen.items() if v >= since}
        if newest is not None and (mark is None or mark.newest_at != newest):
            self.store.put(
                "checkpoints",
                Checkpoint(id=WATERMARK_ID, source="triage", newest_at=newest, updated_at=now),
            )

    def triage_topic(
        self, playbook: Playbook, topic: Topic, now: datetime, report: PassReport | None = None
    ) -> Incident | None:
        """Open the topic's incident if a signal fires, or bring the existing one up to date."""
        report = report if report is not None else PassReport()
        stats = topic_stats(self.store, topic, playbook.labels)
        hits = fired_signals(playbook, stats)
        incident_id = topic_incident_id(topic.id)
        existing = self.store.get(INCIDENTS, incident_id, Incident)
        if existing is None:
            if not hits:
                return None
            incident = build_from_stats(
                incident_id, playbook, stats, hits, title=topic.title, now=now, topic_id=topic.id
            )
            try:
                open_incident(self.store, incident, actor=SYSTEM, now=now)
            except ConflictError:  # opened concurrently (e.g. another pass): update instead
                return self.triage_topic(playbook, topic, now, report)
            report.opened += 1
            self._notify(incident, playbook, report, event="opened", team=incident.team, now=now)
            return incident
        return self._refresh(playbook, existing, stats, hits, now, report)

    def _refresh(
        self,
        playbook: Playbook,
        existing: Incident,
        stats: Stats,
        hits: list[SignalHit],
        now: datetime,
        report: PassReport,
    ) -> Incident:
        fresh = build_from_stats(
            existing.id,
            playbook,
            stats,
            hits or existing.signals,
            title=existing.title,
            now=existing.created_at,
            topic_id=existing.topic_id,
            category=existing.category,
        )
        is_open = existing.state in OPEN_STATES

        def mutate(incident: Incident) -> None:
            incident.severity = fresh.severity
            incident.severity_score = fresh.severity_score
            incident.severity_components = fresh.severity_components
            if hits:
                incident.signals = hits
            incident.post_count = fresh.post_count
            incident.claim_ids = fresh.claim_ids
            incident.jurisdiction = fresh.jurisdiction
            incident.jurisdiction_name = fresh.jurisdiction_name
            incident.evidence_post_ids = list(
                dict.fromkeys([*incident.evidence_post_ids, *fresh.evidence_post_ids])
            )[:MAX_EVIDENCE_AUTO]
            # until a person has touched it (or it escalated), a new incident follows the
            # playbook's routing as its severity changes; its clocks restart from its opening
            if (
                incident.state.value == "new"
                and incident.acknowledged_at is None
                and not incident.escalations
                and incident.playbook_rule != fresh.playbook_rule
            ):
                incident.team = fresh.team
                incident.playbook_rule = fresh.playbook_rule
                incident.reply_template = fresh.reply_template
                incident.sla = fresh.sla

        updated = change(
            self.store, existing.id, mutate, actor=SYSTEM, action="incident.update", now=now
        )
        if updated.version != existing.version:
            report.updated += 1
        if is_open and updated.severity < existing.severity:
            self._notify(
                updated, playbook, report, event="severity_raised", team=updated.team, now=now
            )
        return updated

    # -- alerts ----------------------------------------------------------------------------
    def _alerts(self, playbook: Playbook, now: datetime, report: PassReport) -> None:
        if not playbook.alerts:
            return
        alerts = self.store.find(
            "alerts", Alert, where={"resolved_at": None}, sort="raised_at", size=500
        )
        for alert in alerts:
            rule = playbook.alert_rule(alert.kind)
            if rule is None:
                continue
            incident_id = alert_incident_id(alert.id)
            if self.store.get(INCIDENTS, incident_id, Incident) is not None:
                continue
            hits = [SignalHit(rule=rule.id, category=rule.category, why=alert.message)]
            route = playbook.route(rule.category, None, rule.severity, [rule.id])
            source = f" ({alert.source})" if alert.source else ""
            incident = Incident(
                id=incident_id,
                title=f"{alert.kind}{source}: {alert.message}"[:200],
                category=rule.category,
                severity=rule.severity,
                severity_components=[
                    SeverityComponent(
                        name="alert",
                        value=1.0,
                        weight=1.0,
                        why=f"alert rule {rule.id} sets severity {rule.severity}",
                    )
                ],
                signals=hits,
                team=route.team,
                playbook_rule=route.id,
                reply_template=route.reply_template,
                sla=sla_clocks(route, now),
                source_alert_id=alert.id,
                first_post_at=alert.raised_at,
                time_to_detect_s=round((now - alert.raised_at).total_seconds(), 3),
                created_at=now,
                updated_at=now,
            )
            try:
                open_incident(self.store, incident, actor=SYSTEM, now=now)
            except ConflictError:
                continue
            report.opened += 1
            self._notify(incident, playbook, report, event="opened", team=incident.team, now=now)

    # -- SLA -------------------------------------------------------------------------------
    def _slas(self, playbook: Playbook, now: datetime, report: PassReport) -> None:
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
                if not breached_clocks(incident, now):
                    continue
                before = len(incident.escalations)
                try:
                    updated = escalate(self.store, incident, playbook, now)
                except StoreUnavailable:
                    raise
                except Exception:
                    log.exception("escalation of incident %s failed", incident.id)
                    report.failed += 1
                    continue
                report.escalated += 1
                for step in updated.escalations[before:]:
                    self._notify(
                        updated, playbook, report, event="escalated", team=step.team, now=now,
                        level=step.level, clock=step.clock,
                    )  # fmt: skip
                if not route_of(updated, playbook).escalation:
                    self._notify(
                        updated, playbook, report, event="escalated", team=updated.team,
                        now=now, level=0, clock=",".join(breached_clocks(incident, now)),
                    )  # fmt: skip
            if len(batch) < PAGE:
                break
            offset += PAGE
