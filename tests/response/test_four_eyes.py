"""4-eyes that holds (issue 12, High 2), on both backends: nobody who wrote any revision of a
draft approves it, an edit that changes nothing is refused, and only the draft workflow moves
an incident to approved or published."""

from __future__ import annotations

from datetime import UTC, datetime

from store import Settings, Store
from store.records import AuditEvent, Draft, Incident
from tests.auth import bearer, make_user, session_token
from tests.response.conftest import Office
from tests.response.factories import make_topic, minutes, wave, write
from triage.job import TriageJob, topic_incident_id

WATER = "网传自来水检出新冠病毒，喝了会被感染"


def _incident(store: Store, settings: Settings) -> Incident:
    now = datetime.now(UTC).replace(microsecond=0)
    posts = wave(
        settings, "water", minutes(now, -40, -30, -20, -10), text=WATER, topic_id="topic-water"
    )
    write(store, posts, [make_topic("topic-water", "自来水病毒谣言", posts, now=now)])
    TriageJob(store, playbook_path=None, notifier=None).run_once(now)
    incident = store.get("incidents", topic_incident_id("topic-water"), Incident)
    assert incident is not None
    return incident


def _draft(resp: object) -> Draft:
    assert resp.status_code in (200, 201), resp.text  # type: ignore[attr-defined]
    return Draft.model_validate(resp.json()["draft"])  # type: ignore[attr-defined]


def test_an_editor_of_any_revision_cannot_approve(
    store: Store, settings: Settings, office: Office
) -> None:
    office.headers["zhou.min"] = bearer(
        session_token(settings, make_user(store, "zhou.min", "supervisor"))
    )
    incident = _incident(store, settings)
    draft = _draft(
        office.call("wang.wei", "POST", f"/api/v1/incidents/{incident.id}/drafts",
                    json={"template": "holding_line"})
    )  # fmt: skip
    url = f"/api/v1/drafts/{draft.id}"
    # li.na (supervisor) writes the wording
    draft = _draft(office.call("li.na", "PATCH", url, json={
        "version": draft.version, "text": draft.text.replace("目前，", "目前")}))  # fmt: skip
    # chen.jie re-saves li.na's text unchanged: refused, nothing is written
    same = office.call(
        "chen.jie", "PATCH", url, json={"version": draft.version, "text": draft.text}
    )
    assert same.status_code == 409, same.text
    assert "changes nothing" in same.json()["error"]["message"]
    assert store.get("drafts", draft.id, Draft).version == draft.version  # type: ignore[union-attr]
    # chen.jie makes a token edit to become the last editor
    draft = _draft(office.call("chen.jie", "PATCH", url,
                               json={"version": draft.version, "text": draft.text + "。"}))  # fmt: skip
    assert draft.last_editor == "chen.jie"
    draft = _draft(
        office.call("wang.wei", "POST", f"{url}/submit", json={"version": draft.version})
    )

    for editor in ("li.na", "chen.jie"):  # li.na would approve her own wording
        own = office.call(editor, "POST", f"{url}/approve", json={"version": draft.version})
        assert own.status_code == 403 and own.json()["error"]["code"] == "four_eyes", own.text
    assert store.get("drafts", draft.id, Draft).state.value == "in_review"  # type: ignore[union-attr]

    approved = _draft(
        office.call("zhou.min", "POST", f"{url}/approve", json={"version": draft.version})
    )
    assert (approved.state.value, approved.approved_by) == ("approved", "zhou.min")
    store.refresh()
    events = store.find(
        "audit", AuditEvent, where={"entity_id": draft.id, "action": "draft.approve"}
    )
    assert [e.actor for e in events] == ["zhou.min"]


def test_only_the_draft_workflow_reaches_approved_or_published(
    store: Store, settings: Settings, office: Office
) -> None:
    incident = _incident(store, settings)
    url = f"/api/v1/incidents/{incident.id}"
    version = incident.version
    for step in ("assigned", "drafting", "in_review"):
        resp = office.call(
            "li.na", "POST", f"{url}/transition", json={"to": step, "version": version}
        )
        assert resp.status_code == 200, resp.text
        version = resp.json()["version"]
    detail = office.call("li.na", "GET", url).json()
    assert "approved" not in detail["allowed_transitions"]
    for target in ("approved", "published"):
        resp = office.call("li.na", "POST", f"{url}/transition",
                           json={"to": target, "version": version})  # fmt: skip
        assert resp.status_code == 409, resp.text
        assert "approved reply draft" in resp.json()["error"]["message"]
    current = store.get("incidents", incident.id, Incident)
    assert current is not None and current.state.value == "in_review"
    assert current.published_at is None
    assert all(c.met_at is None for c in current.sla if c.name == "first_response")
