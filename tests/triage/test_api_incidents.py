"""The incidents API on both backends: list/detail, the workflow through HTTP (optimistic
concurrency, invalid transitions, permissions), hand-opened incidents, flagging, audit log,
partner feeds; bad input is refused whole and in the one error shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from store import Settings, Store
from store.records import Claim, Incident
from tests.auth import bearer, make_user, service_token, session_token
from tests.triage.factories import help_cluster, make_topic, rumor_wave, write
from triage.job import TriageJob, topic_incident_id

RUMOR = topic_incident_id("topic-lockdown")
HELP = topic_incident_id("topic-help")
INJECTIONS = [
    "'; DROP TABLE docs; --",
    '{"$where": "1==1"} <script>alert(1)</script>',
    "*:* OR id:* ) AND (",
    "{{ 7*7 }} ${jndi:ldap://x}",
]


@pytest.fixture
def seeded(store: Store, settings: Settings) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    rumor = rumor_wave(settings, now)
    helps = help_cluster(settings, now)
    write(
        store,
        rumor + helps,
        [
            make_topic("topic-lockdown", "封城谣言", rumor, now=now, burst_ratio=5),
            make_topic("topic-help", "江岸区求助", helps, now=now),
        ],
    )
    store.put(
        "claims",
        Claim(
            id="claim-lockdown",
            claim="明天全市封城",
            claim_tokens="明天 全市 封城",
            answer="网传“明日全市封城”消息不实。",
            verdict="false",
            source_name="市疫情防控指挥部",
            source_url="https://gov.example.cn/piyao/1",
            origin="test",
        ),
    )
    TriageJob(store, playbook_path=None, notifier=None).run_once(now)
    store.refresh()
    return {"rumor_posts": rumor, "help_posts": helps}


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=store)) as c:
        yield c


@pytest.fixture
def tokens(api_tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    return {role: bearer(token) for role, token in api_tokens.items()}


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]  # type: ignore[no-any-return]


def audit_count(store: Store, incident_id: str) -> int:
    store.refresh()
    return store.count("audit", where={"entity_id": incident_id})


def test_list_filter_sort_and_detail(
    client: TestClient, tokens: dict[str, dict[str, str]], seeded: dict[str, Any]
) -> None:
    patrol = tokens["patrol"]
    page = client.get("/api/v1/incidents", headers=patrol).json()
    assert page["total"] == 2 and {i["id"] for i in page["items"]} == {RUMOR, HELP}
    rumors = client.get("/api/v1/incidents", params={"category": "rumor"}, headers=patrol).json()
    assert [i["id"] for i in rumors["items"]] == [RUMOR]
    by_team = client.get(
        "/api/v1/incidents", params={"team": "jiangan-district"}, headers=patrol
    ).json()
    assert [i["id"] for i in by_team["items"]] == [HELP]
    worst = client.get(
        "/api/v1/incidents", params={"sort": "severity", "size": 1}, headers=patrol
    ).json()
    assert worst["total"] == 2 and [i["id"] for i in worst["items"]] == [RUMOR]
    second = client.get(
        "/api/v1/incidents", params={"sort": "severity", "size": 1, "offset": 1}, headers=patrol
    ).json()
    assert [i["id"] for i in second["items"]] == [HELP]
    several = client.get(
        "/api/v1/incidents", params=[("state", "new"), ("state", "closed")], headers=patrol
    ).json()
    assert several["total"] == 2

    detail = client.get(f"/api/v1/incidents/{RUMOR}", headers=patrol).json()
    assert detail["incident"]["team"] == "rumor-desk"
    assert {p["id"] for p in detail["evidence"]} == {p.id for p in seeded["rumor_posts"]}
    assert {c["name"] for c in detail["incident"]["severity_components"]} >= {"rumor", "match"}
    assert all(c["why"] for c in detail["incident"]["severity_components"])
    assert detail["allowed_transitions"] == ["assigned", "dismissed", "triaged"]
    assert_error(client.get("/api/v1/incidents/nope", headers=patrol), 404, "not_found")
    bad = client.get("/api/v1/incidents", params={"since": "2026-01-01T00:00:00"}, headers=patrol)
    assert "timezone" in assert_error(bad, 422, "invalid_input")["message"]


def test_workflow_through_the_api(
    client: TestClient, store: Store, tokens: dict[str, dict[str, str]], seeded: dict[str, Any]
) -> None:
    press, supervisor = tokens["press"], tokens["supervisor"]
    url = f"/api/v1/incidents/{RUMOR}"
    resp = client.post(f"{url}/assign", json={"assignee": "t-press", "version": 1}, headers=press)
    assert resp.status_code == 200, resp.text
    incident = resp.json()
    assert (incident["state"], incident["assignee"], incident["version"]) == (
        "assigned",
        "t-press",
        2,
    )
    assert incident["time_to_assign_s"] is not None and incident["acknowledged_at"] is not None
    assert incident["sla"][0]["met_at"] is not None

    # a stale version gets 409 with the current version
    stale = client.post(f"{url}/transition", json={"to": "drafting", "version": 1}, headers=press)
    err = assert_error(stale, 409, "conflict")
    assert err["details"] == [{"field": "version", "message": "current version is 2"}]

    ok = client.post(f"{url}/transition", json={"to": "drafting", "version": 2}, headers=press)
    assert ok.json()["state"] == "drafting"

    # an invalid transition changes nothing
    events = audit_count(store, RUMOR)
    bad = client.post(f"{url}/transition", json={"to": "closed", "version": 3}, headers=press)
    err = assert_error(bad, 409, "invalid_transition")
    assert "allowed: assigned, dismissed, in_review" in err["details"][0]["message"]
    current = store.get("incidents", RUMOR, Incident)
    assert current is not None and (current.version, current.state) == (3, "drafting")
    assert audit_count(store, RUMOR) == events

    client.post(f"{url}/transition", json={"to": "in_review", "version": 3}, headers=press)
    # approving needs the approve permission, and even a supervisor approves only a reply
    # draft: a bare transition to approved is refused
    denied = client.post(f"{url}/transition", json={"to": "approved", "version": 4}, headers=press)
    assert "approve" in assert_error(denied, 403, "forbidden")["message"]
    approved = client.post(
        f"{url}/transition", json={"to": "approved", "version": 4}, headers=supervisor
    )
    assert "approved reply draft" in assert_error(approved, 409, "invalid_transition")["message"]

    # dismissing needs a reason; free text is stored verbatim, never interpreted
    no_reason = client.post(
        f"{url}/transition", json={"to": "dismissed", "version": 4}, headers=press
    )
    assert assert_error(no_reason, 422, "invalid_input")["details"][0]["field"] == "reason"
    reason = INJECTIONS[0] + " " + INJECTIONS[1]
    dismissed = client.post(
        f"{url}/transition", json={"to": "dismissed", "version": 4, "reason": reason}, headers=press
    )
    assert dismissed.json()["dismiss_reason"] == reason
    assert dismissed.json()["closed_at"] is not None

    store.refresh()
    audit = client.get("/api/v1/audit", params={"entity_id": RUMOR}, headers=supervisor).json()
    actions = [e["action"] for e in audit["items"]]
    assert set(actions) == {
        "incident.open",
        "incident.assign",
        "incident.transition.drafting",
        "incident.transition.in_review",
        "incident.transition.dismissed",
    }
    assert audit["total"] == len(actions) == 5  # nothing for the refused requests
    [last] = [e for e in audit["items"] if e["action"] == "incident.transition.dismissed"]
    assert last["actor"] == "t-press" and last["reason"] == reason
    assert json.loads(last["before"])["state"] == "in_review"
    assert json.loads(last["after"])["state"] == "dismissed"
    assert_error(client.get("/api/v1/audit", headers=press), 403, "forbidden")


def test_assign_refuses_unknown_people_and_teams(
    client: TestClient,
    store: Store,
    settings: Settings,
    tokens: dict[str, dict[str, str]],
    seeded: dict[str, Any],
) -> None:
    url = f"/api/v1/incidents/{HELP}/assign"
    press = tokens["press"]
    for body, field in (
        ({"assignee": "nobody", "version": 1}, "assignee"),
        ({"assignee": "t-patrol", "version": 1}, "assignee"),  # patrol does not work incidents
        ({"team": "no-such-team", "version": 1}, "team"),
    ):
        err = assert_error(client.post(url, json=body, headers=press), 404, "not_found")
        assert err["details"][0]["field"] == field
    incident = store.get("incidents", HELP, Incident)
    assert incident is not None and incident.version == 1
    settings.notify_webhook_url = SecretStr("http://127.0.0.1:9/robot")  # plan, never sent
    moved = client.post(url, json={"team": "hotline", "version": 1}, headers=press).json()
    assert (moved["team"], moved["state"], moved["assignee"]) == ("hotline", "new", None)
    store.refresh()
    detail = client.get(f"/api/v1/incidents/{HELP}", headers=press).json()
    assert [(n["event"], n["team"]) for n in detail["notifications"]] == [("reassigned", "hotline")]


def test_open_by_hand_and_flag_posts(
    client: TestClient, store: Store, tokens: dict[str, dict[str, str]], seeded: dict[str, Any]
) -> None:
    patrol = tokens["patrol"]
    posts = seeded["rumor_posts"][:3]
    body = {
        "title": INJECTIONS[2],
        "category": "rumor",
        "post_ids": [p.id for p in posts],
        "note": INJECTIONS[3],
    }
    resp = client.post("/api/v1/incidents", json=body, headers=patrol)
    assert resp.status_code == 201, resp.text
    manual = resp.json()
    assert manual["title"] == INJECTIONS[2] and manual["created_by"] == "t-patrol"
    assert manual["signals"][0]["rule"] == "manual" and INJECTIONS[3] in manual["signals"][0]["why"]
    assert manual["team"] == "rumor-desk" and manual["severity_components"]
    again = client.post("/api/v1/incidents", json=body, headers=patrol)
    assert manual["id"] in assert_error(again, 409, "conflict")["message"]

    store.refresh()
    before = store.count("incidents")
    unknown = {**body, "post_ids": [posts[0].id, "no-such-post"]}
    err = assert_error(
        client.post("/api/v1/incidents", json=unknown, headers=patrol), 404, "not_found"
    )
    assert err["details"][0]["field"] == "post_ids" and "no-such-post" in err["message"]
    control = {**body, "title": "封城\x00谣言"}
    err = assert_error(
        client.post("/api/v1/incidents", json=control, headers=patrol), 422, "invalid_input"
    )
    assert err["details"][0]["field"] == "title"
    too_long = {**body, "title": "长" * 201}
    assert_error(
        client.post("/api/v1/incidents", json=too_long, headers=patrol), 422, "invalid_input"
    )
    store.refresh()
    assert store.count("incidents") == before

    help_post = seeded["help_posts"][0]
    flag_url = f"/api/v1/incidents/{RUMOR}/flag"
    flagged = client.post(
        flag_url, json={"post_ids": [help_post.id], "note": "同一来源"}, headers=patrol
    )
    assert flagged.status_code == 200, flagged.text
    assert help_post.id in flagged.json()["evidence_post_ids"]
    version = flagged.json()["version"]
    bad = client.post(flag_url, json={"post_ids": ["missing"]}, headers=patrol)
    assert assert_error(bad, 404, "not_found")["details"][0]["field"] == "post_ids"
    stale = client.post(flag_url, json={"post_ids": [help_post.id], "version": 1}, headers=patrol)
    assert_error(stale, 409, "conflict")
    incident = store.get("incidents", RUMOR, Incident)
    assert incident is not None and incident.version == version


def test_partner_feeds_are_scoped_by_token(
    client: TestClient, store: Store, settings: Settings, seeded: dict[str, Any]
) -> None:
    everything = bearer(service_token(store, "city-feed", ["feed"]))
    district = bearer(service_token(store, "jiangan-feed", ["feed"], ["420102"]))
    ingest_only = bearer(service_token(store, "crawler", ["ingest"]))

    feed = client.get("/api/v1/feeds/incidents", headers=everything).json()
    assert {i["id"] for i in feed["items"]} == {RUMOR, HELP}
    assert "evidence_post_ids" not in feed["items"][0] and "assignee" not in feed["items"][0]
    assert feed["next_since"] is not None
    local = client.get("/api/v1/feeds/incidents", headers=district).json()
    assert [i["id"] for i in local["items"]] == [HELP]

    rumors = client.get("/api/v1/feeds/rumors", headers=everything).json()
    assert [i["id"] for i in rumors["items"]] == [RUMOR]
    claim = rumors["items"][0]["claims"][0]
    assert (claim["id"], claim["source_url"]) == (
        "claim-lockdown",
        "https://gov.example.cn/piyao/1",
    )
    assert client.get("/api/v1/feeds/rumors", headers=district).json()["items"] == []

    assert_error(client.get("/api/v1/feeds/incidents", headers=ingest_only), 403, "forbidden")
    assert_error(client.get("/api/v1/incidents", headers=everything), 403, "forbidden")
    person = bearer(session_token(settings, make_user(store, "someone", "supervisor")))
    assert_error(client.get("/api/v1/feeds/incidents", headers=person), 403, "forbidden")
