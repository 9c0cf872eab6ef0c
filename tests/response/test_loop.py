"""The whole response loop, end to end on both storage backends, through the API:

spreading rumor posts -> triage opens an incident -> a draft citing the right debunk -> edit
-> approval by someone else -> publish (knowledge base gets the office's answer) -> later posts
decay -> closing proposed -> a second wave re-escalates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nlp.kb import claim_index
from nlp.kb_import import make_claim
from store import Settings, Store
from store.records import AuditEvent, Claim, Draft, EffectReport, Incident
from tests.response.conftest import Office
from tests.response.factories import debunk_claim, minutes, rumor_incident, wave, write
from triage.replies.effect import EffectConfig, office_claim_id
from triage.replies.effect_job import EffectJob

DEBUNK = debunk_claim()
OTHER = make_claim(
    origin="piyao",
    native_id="salt-water",
    claim="盐水漱口可以预防新冠病毒",
    answer="盐水漱口不能预防新冠病毒感染。",
    verdict="false",
    source_name="丁香医生",
    source_url="https://piyao.example/salt",
)


def open_rumor_incident(store: Store, settings: Settings, now: datetime) -> Incident:
    store.put("claims", OTHER)  # an unrelated debunk the draft must not cite
    incident = rumor_incident(store, settings, now)
    assert incident.reply_template == "rumor_rebuttal"
    return incident


def test_rumor_to_published_reply_to_decay_and_rebound(
    store: Store, settings: Settings, office: Office
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    incident = open_rumor_incident(store, settings, now)

    # a press officer creates the draft: the playbook's rebuttal, citing the matched debunk
    resp = office.call("wang.wei", "POST", f"/api/v1/incidents/{incident.id}/drafts", json={})
    assert resp.status_code == 201, resp.text
    draft = Draft.model_validate(resp.json()["draft"])
    assert draft.template == "rumor_rebuttal" and not draft.evidence_needed
    assert draft.claim_ids == [DEBUNK.id]
    by_ref = {s.ref: s for s in draft.sources}
    cited = {ref for s in resp.json()["sentences"] for ref in s["refs"]}
    assert {by_ref[r].id for r in cited if by_ref[r].kind == "claim"} == {DEBUNK.id}
    assert OTHER.id not in {s.id for s in draft.sources}
    assert DEBUNK.source_url in {by_ref[r].url for r in cited}
    assert any(by_ref[r].kind == "post" for r in cited)
    assert "不实" in draft.text and draft.problems == []
    assert all(s["refs"] or "不信谣" in s["text"] or "依法查处" in s["text"]
               for s in resp.json()["sentences"])  # fmt: skip
    assert store.get("incidents", incident.id, Incident).state.value == "drafting"  # type: ignore[union-attr]

    # two officers edit the same version: the second gets 409 with the current version
    v = draft.version
    edited = draft.text.replace("近日，", "近期，")
    first = office.call("wang.wei", "PATCH", f"/api/v1/drafts/{draft.id}",
                        json={"version": v, "text": edited, "note": "措辞"})  # fmt: skip
    assert first.status_code == 200, first.text
    second = office.call("zhao.lei", "PATCH", f"/api/v1/drafts/{draft.id}",
                         json={"version": v, "text": draft.text + "\n感谢广大网友的关注和监督。"})  # fmt: skip
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "conflict"
    assert second.json()["error"]["details"] == [
        {"field": "version", "message": f"current version is {v + 1}"}
    ]
    draft = Draft.model_validate(first.json()["draft"])
    assert [r.number for r in draft.revisions] == [1, 2] and draft.revisions[0].text != draft.text
    assert draft.last_editor == "wang.wei"

    # submit; the press officer cannot approve (no permission); a supervisor can
    resp = office.call(
        "wang.wei", "POST", f"/api/v1/drafts/{draft.id}/submit", json={"version": draft.version}
    )
    assert resp.status_code == 200, resp.text
    draft = Draft.model_validate(resp.json()["draft"])
    assert office.call("wang.wei", "POST", f"/api/v1/drafts/{draft.id}/approve",
                       json={"version": draft.version}).status_code == 403  # fmt: skip
    resp = office.call("li.na", "POST", f"/api/v1/drafts/{draft.id}/approve",
                       json={"version": draft.version, "comment": "同意发布"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    draft = Draft.model_validate(resp.json()["draft"])
    assert (draft.state.value, draft.approved_by) == ("approved", "li.na")

    # publish on Weibo: channel, final text, approver and time recorded; the incident monitors
    resp = office.call("li.na", "POST", f"/api/v1/drafts/{draft.id}/publish",
                       json={"version": draft.version, "channel": "weibo",
                             "url": "https://weibo.example/whfb/1"})  # fmt: skip
    assert resp.status_code == 201, resp.text
    publication = resp.json()
    assert (publication["channel"], publication["approver"], publication["format"]) == (
        "weibo",
        "li.na",
        "weibo",
    )
    assert publication["text"].startswith("【") and "[" not in publication["text"]
    assert len(publication["text"]) <= settings.reply_weibo_max_chars
    incident = store.get("incidents", incident.id, Incident)  # type: ignore[assignment]
    assert incident.state.value == "monitoring"
    assert incident.published_at is not None and incident.time_to_publish_s is not None
    assert incident.time_to_publish_s >= 0

    # the office's answer is in the knowledge base; the next post repeating the rumor finds it
    office_claim = store.get("claims", office_claim_id(incident.id), Claim)
    assert office_claim is not None and office_claim.origin == "office"
    assert (office_claim.verdict, office_claim.source_url) == (
        "false",
        "https://weibo.example/whfb/1",
    )
    store.refresh()  # Elasticsearch: the new claim becomes searchable
    hits = claim_index(store).search("网传武汉明天全市封城，是真的吗", k=5)
    assert office_claim.id in {h.claim.id for h in hits}

    # the hours after publishing: 4, 2, 1 posts, then quiet -> closing is proposed
    published = incident.published_at
    after = wave(settings, "after", minutes(published, 5, 15, 25, 35, 70, 100, 130),
                 claim=(office_claim.id, "confirm"), emotion="neutral")  # fmt: skip
    write(store, after)
    job = EffectJob(store, EffectConfig.from_settings(settings), playbook_file=None, notifier=None)
    job(published + timedelta(hours=6, minutes=30))
    store.refresh()
    report = store.get("effects", incident.id, EffectReport)
    assert report is not None and report.status == "close_proposed"
    assert (report.volume_before, report.volume_after) == (12, 7)
    assert report.rate_before == 2.0 and report.rate_recent == 0.0
    assert {k.key for k in report.emotion_before} == {"fear"}
    assert {k.key for k in report.emotion_after} == {"neutral"}
    assert report.half_life_h is not None and 0.3 < report.half_life_h < 2.0
    incident = store.get("incidents", incident.id, Incident)  # type: ignore[assignment]
    assert incident.half_life_h == report.half_life_h
    proposals = store.find(
        "audit", AuditEvent, where={"entity_id": incident.id, "action": "incident.close_proposed"}
    )
    assert len(proposals) == 1

    # the effect endpoint shows the same numbers (measured now, status from the job)
    shown = office.call("sun.patrol", "GET", f"/api/v1/incidents/{incident.id}/effect")
    assert shown.status_code == 200 and shown.json()["volume_before"] == 12

    # a second wave hours later re-escalates: back to assigned, one level up; once only
    second_wave = wave(settings, "second", minutes(published, 480, 490, 500, 510, 520, 530, 540, 550, 560, 565),
                       topic_id="topic-lockdown")  # fmt: skip
    write(store, second_wave)
    later = published + timedelta(hours=9, minutes=30)
    job(later)
    store.refresh()
    job(later)
    store.refresh()
    report = store.get("effects", incident.id, EffectReport)
    assert report is not None and (report.status, report.reescalations) == ("reescalated", 1)
    incident = store.get("incidents", incident.id, Incident)  # type: ignore[assignment]
    assert incident.state.value == "assigned"
    assert [(e.level, e.team, e.clock) for e in incident.escalations] == [
        (1, "duty-supervisor", "rebound")
    ]
    actions = [e.action for e in store.find("audit", AuditEvent, where={"entity_id": incident.id},
                                             sort="at", size=200)]  # fmt: skip
    assert actions.count("incident.reescalate") == 1
    draft_actions = {
        e.action for e in store.find("audit", AuditEvent, where={"entity_id": draft.id}, size=100)
    }
    assert draft_actions == {
        "draft.create",
        "draft.edit",
        "draft.submit",
        "draft.approve",
        "draft.publish",
    }
