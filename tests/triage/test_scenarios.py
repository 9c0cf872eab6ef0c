"""End-to-end triage scenarios on both storage backends: enriched posts and topics (as the
upstream jobs write them) -> the triage job -> incidents, escalation and notifications
delivered to real local webhook and SMTP servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store import Settings, Store
from store.records import Alert, AuditEvent, Incident, Notification
from tests.smtp import SmtpRecorder
from tests.triage.factories import (
    Place,
    demand_cluster,
    help_cluster,
    make_topic,
    rumor_wave,
    write,
)
from tests.webhook import WebhookRecorder
from triage.job import TriageJob, alert_incident_id, topic_incident_id
from triage.notify import Notifier, QuietHours, SmtpConfig


def settle(job: TriageJob, store: Store, now: datetime) -> None:
    """A pass, then another: Elasticsearch shows writes to searches after a refresh, so
    notifications planned in one pass are delivered by the next (as every 5 s in production)."""
    job.run_once(now)
    store.refresh()
    job.run_once(now)
    store.refresh()


def counts(store: Store) -> tuple[int, int, int]:
    store.refresh()
    return store.count("incidents"), store.count("notifications"), store.count("audit")


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_spreading_rumor_opens_one_incident_with_team_and_severity(
    store: Store, settings: Settings, now: datetime
) -> None:
    posts = rumor_wave(settings, now)
    write(store, posts, [make_topic("topic-lockdown", "封城谣言", posts, now=now, burst_ratio=5)])
    job = TriageJob(store, playbook_path=None, notifier=None)

    report = job.run_once(now)

    assert report.opened == 1
    incident = store.get("incidents", topic_incident_id("topic-lockdown"), Incident)
    assert incident is not None
    assert (incident.category, incident.team, incident.playbook_rule) == (
        "rumor",
        "rumor-desk",
        "rumor-severe",
    )
    assert incident.severity == 1
    assert incident.reply_template == "rumor_rebuttal"
    assert incident.jurisdiction == "4201" and incident.jurisdiction_name == "武汉市"
    assert {s.rule for s in incident.signals} >= {"rumor-confirmed-match", "rumor-share"}
    assert incident.signals[0].rule == "rumor-confirmed-match"
    components = {c.name: c for c in incident.severity_components}
    assert set(components) == {"reach", "velocity", "rumor", "match", "emotion", "help", "region"}
    assert components["match"].value == 1.0 and "claim-lockdown" in components["match"].why
    assert incident.claim_ids == ["claim-lockdown"]
    assert incident.post_count == 12
    assert set(incident.evidence_post_ids) == {p.id for p in posts}
    # time-to-detect: first post (50 minutes before) -> incident
    assert incident.first_post_at == min(p.created_at for p in posts)
    assert incident.time_to_detect_s == 3000.0
    assert [c.name for c in incident.sla] == ["acknowledge", "first_response", "resolution"]
    assert incident.sla[0].due_at == now + timedelta(minutes=15)
    store.refresh()
    events = store.find("audit", AuditEvent, where={"entity_id": incident.id})
    assert [e.action for e in events] == ["incident.open"]


def test_help_cluster_goes_to_its_district_on_the_shorter_clock(
    store: Store, settings: Settings, now: datetime
) -> None:
    jiangan = help_cluster(settings, now, "topic-help-jiangan")
    jianghan_place = Place(
        code="420103", name="江汉区", level="county", province="湖北省", city="武汉市"
    )
    jianghan = help_cluster(settings, now, "topic-help-jianghan")
    for post in jianghan:
        post.places = [jianghan_place]
        post.place_codes = ["42", "4201", "420103"]
    write(
        store,
        jiangan + jianghan,
        [
            make_topic("topic-help-jiangan", "江岸区求助", jiangan, now=now),
            make_topic("topic-help-jianghan", "江汉区求助", jianghan, now=now),
        ],
    )
    TriageJob(store, playbook_path=None, notifier=None).run_once(now)

    district = store.get("incidents", topic_incident_id("topic-help-jiangan"), Incident)
    citywide = store.get("incidents", topic_incident_id("topic-help-jianghan"), Incident)
    assert district is not None and citywide is not None
    assert (district.category, district.jurisdiction, district.team) == (
        "help_request",
        "420102",
        "jiangan-district",
    )
    assert district.reply_template == "help_response"
    # 江汉区 has no district route: the citywide hotline, on a longer clock
    assert (citywide.jurisdiction, citywide.team) == ("420103", "hotline")
    ack = {i.team: i.sla[0].due_at - i.created_at for i in (district, citywide)}
    assert ack == {"jiangan-district": timedelta(minutes=10), "hotline": timedelta(minutes=15)}
    assert district.severity == 2
    help_component = next(c for c in district.severity_components if c.name == "help")
    assert "4 help requests" in help_component.why


def test_public_demands_alone_open_a_demand_incident_routed_like_help(
    store: Store, settings: Settings, now: datetime
) -> None:
    posts = demand_cluster(settings, now, "topic-demand-jiangan")
    write(store, posts, [make_topic("topic-demand-jiangan", "江岸区小区诉求", posts, now=now)])
    TriageJob(store, playbook_path=None, notifier=None).run_once(now)

    incident = store.get("incidents", topic_incident_id("topic-demand-jiangan"), Incident)
    assert incident is not None
    assert (incident.category, incident.jurisdiction, incident.team) == (
        "public_demand",
        "420102",
        "jiangan-district",
    )
    assert incident.playbook_rule == "help-jiangan"
    assert incident.reply_template == "help_response"
    help_component = next(c for c in incident.severity_components if c.name == "help")
    assert "0 help requests" in help_component.why
    assert "4 public demands" in help_component.why
    assert help_component.value == 4 * 0.5 / 8  # demands count half a help request each


def test_sla_breach_escalates_and_notifies_once(
    store: Store,
    settings: Settings,
    now: datetime,
    webhook_server: WebhookRecorder,
    smtp_server: SmtpRecorder,
) -> None:
    posts = rumor_wave(settings, now)
    write(store, posts, [make_topic("topic-lockdown", "封城谣言", posts, now=now, burst_ratio=5)])
    notifier = Notifier(
        default_webhook=webhook_server.url,
        smtp=SmtpConfig(host=smtp_server.host, port=smtp_server.port),
        public_url="https://tingfeng.example.gov.cn",
    )
    job = TriageJob(store, playbook_path=None, notifier=notifier)

    settle(job, store, now)  # opened: the owning team hears once per channel
    assert len(webhook_server.received) == 1 and len(smtp_server.messages) == 1
    incident_id = topic_incident_id("topic-lockdown")

    later = now + timedelta(minutes=16)  # acknowledge clock (15 min) breached
    settle(job, store, later)
    settle(job, store, later + timedelta(minutes=1))  # re-runs change nothing

    incident = store.get("incidents", incident_id, Incident)
    assert incident is not None
    assert incident.escalation_level == 1
    assert [(e.level, e.team, e.clock) for e in incident.escalations] == [
        (1, "duty-supervisor", "acknowledge")
    ]
    assert [c.breached for c in incident.sla] == [True, False, False]

    escalations = [r for r in webhook_server.received if "升级" in r["json"]["markdown"]["title"]]
    assert len(webhook_server.received) == 2 and len(escalations) == 1
    body = escalations[0]["json"]
    assert body["msgtype"] == "markdown"
    assert incident_id in body["markdown"]["text"]
    assert (
        f"https://tingfeng.example.gov.cn/api/v1/incidents/{incident_id}"
        in (body["markdown"]["text"])
    )
    assert len(smtp_server.messages) == 2
    assert smtp_server.recipients == [["rumor-desk@example.gov.cn"], ["duty@example.gov.cn"]]
    assert "升级" in smtp_server.messages[1]["Subject"]
    assert smtp_server.messages[1]["X-Tingfeng-Incident"] == incident_id

    store.refresh()
    actions = [
        e.action
        for e in store.find("audit", AuditEvent, where={"entity_id": incident_id}, sort="at")
    ]
    assert actions.count("incident.escalate") == 1
    sent = store.find("notifications", Notification, where={"incident_id": incident_id})
    assert sorted((n.event, n.channel, n.status) for n in sent) == [
        ("escalated", "email", "sent"),
        ("escalated", "webhook", "sent"),
        ("opened", "email", "sent"),
        ("opened", "webhook", "sent"),
    ]


def test_rerunning_creates_no_duplicates(store: Store, settings: Settings, now: datetime) -> None:
    rumor = rumor_wave(settings, now)
    helps = help_cluster(settings, now)
    topics = [
        make_topic("topic-lockdown", "封城谣言", rumor, now=now, burst_ratio=5),
        make_topic("topic-help", "江岸区求助", helps, now=now),
    ]
    write(store, rumor + helps, topics)
    store.put(
        "alerts",
        Alert(
            id="gap-1", kind="coverage_gap", source="weibo", message="6 小时无新数据", raised_at=now
        ),
    )
    store.refresh()
    notifier = Notifier(default_webhook="http://127.0.0.1:9/unused")  # planned, never due
    job = TriageJob(store, playbook_path=None, notifier=notifier)

    job.run_once(now)
    first = counts(store)
    for _ in range(3):
        job.run_once(now)
        # a topic job re-writing the same topics must not reopen anything either
        for topic in topics:
            store.put("topics", topic)
        store.refresh()
    assert counts(store) == first
    assert first[0] == 3  # two topics and the coverage-gap alert
    alert_incident = store.get("incidents", alert_incident_id("gap-1"), Incident)
    assert alert_incident is not None
    assert (alert_incident.team, alert_incident.severity) == ("ops", 3)


def test_new_posts_join_the_incident_and_raise_severity(
    store: Store, settings: Settings, now: datetime
) -> None:
    helps = help_cluster(settings, now)[:3]  # three help requests: severity 3
    write(store, helps, [make_topic("topic-help", "江岸区求助", helps, now=now)])
    job = TriageJob(store, playbook_path=None, notifier=None)
    job.run_once(now)
    incident_id = topic_incident_id("topic-help")
    before = store.get("incidents", incident_id, Incident)
    assert before is not None and before.severity == 3

    more = help_cluster(settings, now + timedelta(seconds=1), "topic-help")  # same topic
    for i, post in enumerate(more):
        post.id = f"more-{i}"
    everything = helps + more
    write(
        store,
        more,
        [make_topic("topic-help", "江岸区求助", everything, now=now + timedelta(seconds=30))],
    )
    job.run_once(now + timedelta(minutes=1))

    after = store.get("incidents", incident_id, Incident)
    assert after is not None
    assert after.post_count == 8 and after.severity < before.severity
    assert set(after.evidence_post_ids) == {p.id for p in everything}
    assert after.version == before.version + 1
    assert store.count("incidents") == 1


def test_quiet_hours_hold_all_but_severity_one(store: Store, settings: Settings) -> None:
    # 23:30 in Shanghai
    night = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    notifier = Notifier(
        default_webhook="http://127.0.0.1:9/x", quiet=QuietHours.parse("23:00-07:00")
    )
    real_now = datetime.now(UTC)
    rumor = rumor_wave(settings, real_now)
    helps = help_cluster(settings, real_now)[:3]
    write(
        store,
        rumor + helps,
        [
            make_topic("topic-lockdown", "封城谣言", rumor, now=night, burst_ratio=5),
            make_topic("topic-help", "求助", helps, now=night),
        ],
    )
    TriageJob(store, playbook_path=None, notifier=notifier).run_once(night)
    store.refresh()
    planned = {
        n.incident_id: n
        for n in store.find("notifications", Notification, where={"event": "opened"})
    }
    severe = planned[topic_incident_id("topic-lockdown")]
    mild = planned[topic_incident_id("topic-help")]
    assert severe.severity == 1 and severe.reason is None
    assert mild.severity == 3 and mild.reason == "quiet_hours"
    assert mild.status == "pending"
    assert mild.not_before == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # 07:00 Shanghai


def test_cooldown_suppresses_repeat_messages_but_not_escalations(
    store: Store, settings: Settings, now: datetime, webhook_server: WebhookRecorder
) -> None:
    helps = help_cluster(settings, now)[:3]
    write(store, helps, [make_topic("topic-help", "江岸区求助", helps, now=now)])
    notifier = Notifier(default_webhook=webhook_server.url, cooldown=timedelta(minutes=30))
    job = TriageJob(store, playbook_path=None, notifier=notifier)
    settle(job, store, now)
    assert len(webhook_server.received) == 1

    more = help_cluster(settings, now)[3:]  # two more posts: severity 3 -> 2
    write(
        store,
        more,
        [make_topic("topic-help", "江岸区求助", helps + more, now=now + timedelta(seconds=30))],
    )
    settle(job, store, now + timedelta(minutes=5))  # severity rose, within the cooldown
    incident = store.get("incidents", topic_incident_id("topic-help"), Incident)
    assert incident is not None and incident.severity == 2

    store.refresh()
    raised = store.find("notifications", Notification, where={"event": "severity_raised"})
    assert [(n.status, n.reason) for n in raised] == [("suppressed", "cooldown")]
    assert len(webhook_server.received) == 1

    settle(job, store, now + timedelta(minutes=11))  # acknowledge (10 min) breached
    assert len(webhook_server.received) == 2
    assert "升级" in webhook_server.received[1]["json"]["markdown"]["title"]


def test_failed_delivery_is_retried_then_sent_once(
    store: Store, settings: Settings, now: datetime, webhook_server: WebhookRecorder
) -> None:
    helps = help_cluster(settings, now)[:3]
    write(store, helps, [make_topic("topic-help", "求助", helps, now=now)])
    webhook_server.fail_next = 1
    job = TriageJob(
        store, playbook_path=None, notifier=Notifier(default_webhook=webhook_server.url)
    )
    settle(job, store, now)
    assert webhook_server.received == []
    store.refresh()
    [note] = store.find("notifications", Notification)
    assert (note.status, note.attempts) == ("pending", 1)
    assert "500" in (note.last_error or "")
    settle(job, store, now + timedelta(minutes=3))  # back-off of 2 minutes has passed
    assert len(webhook_server.received) == 1
    store.refresh()
    [note] = store.find("notifications", Notification)
    assert (note.status, note.attempts) == ("sent", 2)
