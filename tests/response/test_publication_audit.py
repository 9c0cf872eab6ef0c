"""Publications are never overwritten and knowledge-base overwrites are audited with the
real `before` (issue 12, Low), on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from store import Settings, Store
from store.records import AuditEvent, Draft, Incident, Publication
from tests.response.conftest import Office
from tests.response.factories import make_topic, minutes, wave, write
from triage.job import TriageJob, topic_incident_id


def _incident(store: Store, settings: Settings) -> Incident:
    now = datetime.now(UTC).replace(microsecond=0)
    posts = wave(settings, "w", minutes(now, -40, -30, -20, -10), topic_id="topic-lockdown")
    write(store, posts, [make_topic("topic-lockdown", "封城谣言", posts, now=now)])
    TriageJob(store, playbook_path=None, notifier=None).run_once(now)
    incident = store.get("incidents", topic_incident_id("topic-lockdown"), Incident)
    assert incident is not None
    return incident


def test_a_publication_is_never_overwritten(
    store: Store, settings: Settings, office: Office
) -> None:
    incident = _incident(store, settings)
    resp = office.call("wang.wei", "POST", f"/api/v1/incidents/{incident.id}/drafts",
                       json={"template": "holding_line"})  # fmt: skip
    draft = Draft.model_validate(resp.json()["draft"])
    url = f"/api/v1/drafts/{draft.id}"
    version = office.call("wang.wei", "POST", f"{url}/submit",
                          json={"version": draft.version}).json()["draft"]["version"]  # fmt: skip
    version = office.call("li.na", "POST", f"{url}/approve",
                          json={"version": version}).json()["draft"]["version"]  # fmt: skip
    first = office.call("li.na", "POST", f"{url}/publish",
                        json={"version": version, "channel": "weibo", "url": "https://weibo.example/p/1"})  # fmt: skip
    assert first.status_code == 201, first.text
    version = store.get("drafts", draft.id, Draft).version  # type: ignore[union-attr]
    again = office.call("chen.jie", "POST", f"{url}/publish",
                        json={"version": version, "channel": "weibo", "url": "https://evil.example/x"})  # fmt: skip
    assert again.status_code == 409, again.text
    store.refresh()
    stored = store.find("publications", Publication, where={"draft_id": draft.id})
    assert [(p.channel, p.url, p.published_by) for p in stored] == [
        ("weibo", "https://weibo.example/p/1", "li.na")
    ]
    other = office.call("li.na", "POST", f"{url}/publish",
                        json={"version": version, "channel": "website"})  # fmt: skip
    assert other.status_code == 201, other.text


def test_a_knowledge_base_overwrite_is_audited_with_its_before(
    store: Store, office: Office
) -> None:
    entry = {"claim": "自来水有病毒", "answer": "经检测水质合格，网传不实。", "verdict": "false",
             "source_name": "市水务集团"}  # fmt: skip
    first = office.call("li.na", "POST", "/api/v1/kb/entries", json=entry)
    assert first.status_code == 201, first.text
    changed = {**entry, "answer": "网传属实，请勿饮用自来水。", "verdict": "true"}
    second = office.call("chen.jie", "POST", "/api/v1/kb/entries", json=changed)
    assert second.status_code == 201 and second.json()["id"] == first.json()["id"]
    store.refresh()
    events = store.find("audit", AuditEvent, where={"entity_id": first.json()["id"]})
    update = next(e for e in events if e.action == "kb.update")
    assert update.actor == "chen.jie"
    assert json.loads(update.before or "{}") == {
        "answer": entry["answer"],
        "verdict": "false",
    }
    assert json.loads(update.after or "{}") == {
        "answer": changed["answer"],
        "verdict": "true",
    }
