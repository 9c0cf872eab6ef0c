"""Effect tracking: the decay fit, and when closing is proposed or the incident re-escalated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store import Settings, Store
from store.records import EffectReport, Incident, IncidentState, Notification
from tests.response.factories import minutes, wave, write
from triage.notify import Notifier
from triage.playbook import load_playbook
from triage.replies.effect import EffectConfig, decay_half_life, measure
from triage.replies.effect_job import track

CONFIG = EffectConfig(window=timedelta(hours=6), close_window=timedelta(hours=3),
                      close_threshold=1.0, reescalate_ratio=0.5)  # fmt: skip


@pytest.mark.parametrize("half_life", [0.5, 1.0, 2.0, 5.0])
def test_half_life_of_an_exponential_decay(half_life: float) -> None:
    counts = [round(200 * 0.5 ** (t / half_life)) for t in range(12)]
    estimate = decay_half_life(counts)
    assert estimate is not None and abs(estimate - half_life) / half_life < 0.1


@pytest.mark.parametrize("counts", [[5, 5, 5, 5], [1, 2, 4, 8], [3, 1], [1, 1, 1, 0], []])
def test_no_half_life_without_decay_or_data(counts: list[int]) -> None:
    assert decay_half_life(counts) is None


def published_incident(store: Store, published: datetime) -> Incident:
    incident = Incident(id="incident-effect", title="武汉封城谣言", category="rumor", severity=2,
                        topic_id="topic-lockdown", state=IncidentState.monitoring,
                        published_at=published, created_at=published - timedelta(hours=1),
                        updated_at=published)  # fmt: skip
    store.put_versioned("incidents", incident, None)
    return incident


def test_volume_that_never_fell_is_not_a_rebound(lite: Store, settings: Settings) -> None:
    published = datetime(2026, 3, 1, 12, tzinfo=UTC)
    incident = published_incident(lite, published)
    steady = [m for m in range(-120, 360, 20)]  # 3 posts/hour before and after, no let-up
    write(lite, wave(settings, "steady", minutes(published, *steady)))

    early = measure(lite, incident, now=published + timedelta(hours=1), config=CONFIG)
    assert early is not None and early.status == "monitoring" and "waiting" in early.why
    report = track(lite, incident, now=published + timedelta(hours=6), config=CONFIG)
    assert report is not None
    assert (report.volume_before, report.volume_after) == (6, 18)
    assert report.rate_recent == 3.0 and report.half_life_h is None
    assert report.status == "monitoring" and report.reescalations == 0
    assert lite.get("incidents", incident.id, Incident).state is IncidentState.monitoring  # type: ignore[union-attr]


def test_close_then_rebound_then_close_again(lite: Store, settings: Settings) -> None:
    published = datetime(2026, 3, 1, 12, tzinfo=UTC)
    incident = published_incident(lite, published)
    write(lite, wave(settings, "before", minutes(published, -100, -80, -60, -40, -20, -10)))
    write(lite, wave(settings, "after", minutes(published, 5, 10, 20, 70, 80, 130)))

    quiet = track(lite, incident, now=published + timedelta(hours=6), config=CONFIG)
    assert quiet is not None and quiet.status == "close_proposed"
    assert quiet.close_proposed_at == published + timedelta(hours=6)
    again = track(lite, incident, now=published + timedelta(hours=6, minutes=5), config=CONFIG)
    assert again is not None and again.close_proposed_at == quiet.close_proposed_at  # once

    write(lite, wave(settings, "rebound", minutes(published, 400, 410, 420, 430, 440, 450)))
    notifier = Notifier(default_webhook="http://127.0.0.1:9/robot")  # planned, not sent here
    for _ in range(2):  # the second pass changes nothing
        rebound = track(lite, incident, now=published + timedelta(hours=7, minutes=40),
                        config=CONFIG, playbook=load_playbook(), notifier=notifier)  # fmt: skip
    assert rebound is not None and (rebound.status, rebound.reescalations) == ("reescalated", 1)
    incident = lite.get("incidents", incident.id, Incident)  # type: ignore[assignment]
    assert incident.state is IncidentState.assigned and incident.escalation_level == 1
    assert [(e.clock, e.team) for e in incident.escalations] == [("rebound", "duty-supervisor")]
    notes = lite.find("notifications", Notification, where={"incident_id": incident.id})
    assert [(n.event, n.team, n.channel) for n in notes] == [
        ("escalated", "duty-supervisor", "webhook")
    ]

    calm = track(lite, incident, now=published + timedelta(hours=11), config=CONFIG)
    assert calm is not None and calm.status == "close_proposed" and calm.reescalations == 1
    stored = lite.get("effects", incident.id, EffectReport)
    assert stored is not None and stored.status == "close_proposed"
    assert [h.count for h in stored.hourly][:6] == [0, 0, 0, 0, 2, 4]
