"""Evidence-needed drafts, 4-eyes review, rejection and roles, on both storage backends."""

from __future__ import annotations

from datetime import UTC, datetime

from nlp.kb import match_claims
from store import Settings, Store
from store.records import Claim, Draft, Incident
from tests.response.conftest import Office
from tests.response.factories import make_post, make_topic, minutes, wave, write
from triage.job import TriageJob, topic_incident_id
from triage.replies.effect import office_claim_id

WATER = "网传自来水检出新冠病毒，喝了会被感染"


def water_incident(store: Store, settings: Settings) -> Incident:
    """A spreading rumor that no debunk in the knowledge base answers."""
    now = datetime.now(UTC).replace(microsecond=0)
    posts = wave(
        settings, "water", minutes(now, -40, -30, -20, -10), text=WATER, topic_id="topic-water"
    )
    write(store, posts, [make_topic("topic-water", "自来水病毒谣言", posts, now=now)])
    TriageJob(store, playbook_path=None, notifier=None).run_once(now)
    incident = store.get("incidents", topic_incident_id("topic-water"), Incident)
    assert incident is not None and incident.category == "rumor"
    return incident


def test_no_debunk_yields_evidence_needed_then_an_added_source_makes_a_rebuttal(
    store: Store, settings: Settings, office: Office
) -> None:
    incident = water_incident(store, settings)
    resp = office.call("wang.wei", "POST", f"/api/v1/incidents/{incident.id}/drafts", json={})
    assert resp.status_code == 201, resp.text
    draft = Draft.model_validate(resp.json()["draft"])

    # the draft asserts nothing: it quotes what circulates and asks for an authority
    assert draft.evidence_needed and draft.template == "rumor_rebuttal"
    assert not any(s.authoritative for s in draft.sources)
    for word in ("不实", "谣言", "虚假", "辟谣声明"):
        assert word not in draft.text and word not in draft.title
    assert "【待核实】" in draft.text and "【请补充】" in draft.text
    assert resp.json()["sentences"][0]["refs"] == [1]
    resubmit = office.call(
        "wang.wei", "POST", f"/api/v1/drafts/{draft.id}/submit", json={"version": draft.version}
    )
    assert resubmit.status_code == 409  # the draft is not ready: a state, not bad input
    assert resubmit.json()["error"]["code"] == "not_grounded"
    assert any("evidence needed" in d["message"] for d in resubmit.json()["error"]["details"])
    rewrite = office.call(
        "wang.wei", "POST", f"/api/v1/drafts/{draft.id}/rewrite", json={"version": draft.version}
    )
    assert rewrite.status_code == 409 and rewrite.json()["error"]["code"] == "invalid_state"

    # the officer obtains the water company's statement, adds it, regenerates
    resp = office.call(
        "wang.wei", "POST", f"/api/v1/drafts/{draft.id}/sources",
        json={"version": draft.version, "name": "市水务集团",
              "text": "经检测，全市自来水水质符合国家标准，网传自来水检出新冠病毒不实。",
              "url": "https://water.example/notice/7", "verdict": "false"},
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    draft = Draft.model_validate(resp.json()["draft"])
    assert draft.evidence_needed  # added, not yet cited
    resp = office.call(
        "wang.wei", "POST", f"/api/v1/drafts/{draft.id}/regenerate", json={"version": draft.version}
    )
    assert resp.status_code == 200, resp.text
    draft = Draft.model_validate(resp.json()["draft"])
    assert not draft.evidence_needed and draft.problems == []
    officer = next(s for s in draft.sources if s.kind == "officer")
    assert f"不实[{officer.ref}]" in draft.text
    assert [r.origin for r in draft.revisions] == ["template", "regenerate"]

    # review and publish on the website (HTML with the authority's link, no post links)
    resp = office.call(
        "wang.wei", "POST", f"/api/v1/drafts/{draft.id}/submit", json={"version": draft.version}
    )
    assert resp.status_code == 200, resp.text
    resp = office.call(
        "li.na",
        "POST",
        f"/api/v1/drafts/{draft.id}/approve",
        json={"version": resp.json()["draft"]["version"]},
    )
    assert resp.status_code == 200, resp.text
    resp = office.call("li.na", "POST", f"/api/v1/drafts/{draft.id}/publish",
                       json={"version": resp.json()["draft"]["version"], "channel": "website"})  # fmt: skip
    assert resp.status_code == 201, resp.text
    html = resp.json()["text"]
    assert html.startswith("<h1>") and 'href="https://water.example/notice/7"' in html
    assert "weibo" not in html

    # the office's answer now answers the next post repeating the rumor
    entry = store.get("claims", office_claim_id(incident.id), Claim)
    assert entry is not None and entry.verdict == "false" and entry.source_name == "武汉市新闻办"
    store.refresh()  # Elasticsearch: the new claim becomes searchable
    nxt = make_post(
        settings,
        "next",
        "网传自来水检出新冠病毒，喝了会被感染？真的假的",
        created_at=datetime.now(UTC),
    )
    assert match_claims([nxt], store) == 1  # the enrichment step links it to our answer
    assert nxt.nlp.claim_match is not None and nxt.nlp.claim_match.claim_id == entry.id
    listed = office.call("sun.patrol", "GET", "/api/v1/kb/entries", params={"origin": "office"})
    assert [c["id"] for c in listed.json()["items"]] == [entry.id]


def test_four_eyes_rejection_and_roles(store: Store, settings: Settings, office: Office) -> None:
    incident = water_incident(store, settings)
    # patrol reads but cannot draft; press cannot add knowledge-base entries
    assert (
        office.call(
            "sun.patrol", "POST", f"/api/v1/incidents/{incident.id}/drafts", json={}
        ).status_code
        == 403
    )
    resp = office.call("li.na", "POST", f"/api/v1/incidents/{incident.id}/drafts",
                       json={"template": "holding_line"})  # fmt: skip
    assert resp.status_code == 201, resp.text
    draft = Draft.model_validate(resp.json()["draft"])
    assert draft.template == "holding_line" and not draft.evidence_needed
    again = office.call(
        "li.na",
        "POST",
        f"/api/v1/incidents/{incident.id}/drafts",
        json={"template": "holding_line"},
    )
    assert again.status_code == 201  # the incident moved to drafting: a new version, a new draft

    # a supervisor who edited the draft cannot approve it
    resp = office.call("li.na", "PATCH", f"/api/v1/drafts/{draft.id}",
                       json={"version": draft.version, "text": draft.text.replace("目前，", "目前")})  # fmt: skip
    assert resp.status_code == 200, resp.text
    resp = office.call(
        "li.na",
        "POST",
        f"/api/v1/drafts/{draft.id}/submit",
        json={"version": resp.json()["draft"]["version"]},
    )
    assert resp.status_code == 200, resp.text
    version = resp.json()["draft"]["version"]
    own = office.call(
        "li.na", "POST", f"/api/v1/drafts/{draft.id}/approve", json={"version": version}
    )
    assert own.status_code == 403 and own.json()["error"]["code"] == "four_eyes"
    assert store.get("drafts", draft.id, Draft).state.value == "in_review"  # type: ignore[union-attr]

    # another supervisor sends it back with a comment; a comment is required
    bare = office.call(
        "chen.jie",
        "POST",
        f"/api/v1/drafts/{draft.id}/reject",
        json={"version": version, "comment": ""},
    )
    assert bare.status_code == 422
    resp = office.call("chen.jie", "POST", f"/api/v1/drafts/{draft.id}/reject",
                       json={"version": version, "comment": "请补充水务集团的检测结论"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    rejected = Draft.model_validate(resp.json()["draft"])
    assert rejected.state.value == "drafting"
    assert [(r.action, r.by) for r in rejected.reviews] == [
        ("submit", "li.na"),
        ("reject", "chen.jie"),
    ]
    assert rejected.reviews[-1].comment == "请补充水务集团的检测结论"
    assert store.get("incidents", incident.id, Incident).state.value == "drafting"  # type: ignore[union-attr]

    # approving a draft that is not in review, publishing one not approved: 409
    for action in ("approve", "publish"):
        body = (
            {"version": rejected.version, "channel": "weibo"}
            if action == "publish"
            else {"version": rejected.version}
        )
        resp = office.call("chen.jie", "POST", f"/api/v1/drafts/{draft.id}/{action}", json=body)
        assert resp.status_code == 409 and resp.json()["error"]["code"] == "invalid_state"

    # an uncited invented fact cannot go to review
    resp = office.call("zhao.lei", "PATCH", f"/api/v1/drafts/{draft.id}",
                       json={"version": rejected.version, "text": rejected.text + "\n汉阳区已有3000户停水。"})  # fmt: skip
    assert resp.status_code == 200
    edited = Draft.model_validate(resp.json()["draft"])
    assert any("3000" in p and "cites no source" in p for p in edited.problems)
    resp = office.call(
        "zhao.lei", "POST", f"/api/v1/drafts/{draft.id}/submit", json={"version": edited.version}
    )
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "not_grounded"

    # revisions are kept, newest last, with their editors
    versions = office.call("sun.patrol", "GET", f"/api/v1/drafts/{draft.id}/versions").json()
    assert [(v["number"], v["editor"], v["origin"]) for v in versions] == [
        (1, "li.na", "template"), (2, "li.na", "edit"), (3, "zhao.lei", "edit")
    ]  # fmt: skip
    assert office.call("wang.wei", "POST", "/api/v1/kb/entries",
                       json={"claim": "自来水有病毒", "answer": "不实", "verdict": "false",
                             "source_name": "市水务集团"}).status_code == 403  # fmt: skip
