"""LLM rewriting against an OpenAI-compatible endpoint played by a local HTTP server: a good
rewrite is accepted as a new revision; hallucinating (new number, place or date, a dropped or
invented citation) and malformed answers are rejected and the template draft stands."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from store import Settings, Store
from store.records import Draft
from tests.response.conftest import LlmServer, chat_answer
from tests.response.factories import make_users, rumor_incident
from triage.replies.drafts import ReplyConfig, create_draft
from triage.replies.errors import LlmUnavailable
from triage.replies.llm import LlmClient, rewrite_draft


@pytest.fixture
def draft(lite: Store, settings: Settings) -> Draft:
    now = datetime.now(UTC).replace(microsecond=0)
    incident = rumor_incident(lite, settings, now)
    return create_draft(
        lite, incident.id, actor="wang.wei", now=now, config=ReplyConfig(office="武汉市新闻办")
    )


def polish(draft: str) -> str:
    """What a well-behaved model does: smoother wording, same facts, same citations."""
    return draft.replace("近日，", "近期，")


def with_sentence(extra: str) -> callable:  # type: ignore[valid-type]
    def answer(draft: str) -> tuple[int, str]:
        lines = polish(draft).splitlines()
        return 200, chat_answer("\n".join([*lines[:3], extra, *lines[3:]]))

    return answer


def rewrite(
    store: Store, draft: Draft, server: LlmServer, settings: Settings
) -> tuple[Draft, object]:
    client = LlmClient.from_settings(settings)
    return rewrite_draft(
        store, draft.id, expected_version=draft.version, client=client, actor="zhao.lei",
        now=datetime.now(UTC), config=ReplyConfig(office="武汉市新闻办"), instructions="更简洁",
    )  # fmt: skip


def test_a_good_rewrite_becomes_a_new_revision(
    lite: Store, draft: Draft, llm_server: LlmServer, settings: Settings
) -> None:
    llm_server.answer = lambda text: (200, chat_answer(polish(text)))
    updated, outcome = rewrite(lite, draft, llm_server, settings)

    assert outcome.accepted, outcome.reason  # type: ignore[attr-defined]
    assert updated.text.startswith("近期，") and updated.text != draft.text
    assert [(r.origin, r.editor) for r in updated.revisions] == [
        ("template", "wang.wei"),
        ("llm", "zhao.lei"),
    ]
    assert updated.last_editor == "zhao.lei" and updated.problems == []
    assert updated.rewrite_note and "accepted" in updated.rewrite_note
    request = llm_server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer test-llm-key" and request["json"]["model"] == "test-model"
    prompt = request["json"]["messages"][-1]["content"]
    assert "更简洁" in prompt and draft.text in prompt
    assert all(f"[{s.ref}]" in prompt for s in draft.sources)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (with_sentence("目前已有3000名市民拨打热线咨询[2]。"), "3000"),
        (with_sentence("汉阳区超市也正常营业[2]。"), "汉阳区"),
        (with_sentence("5月3日起全市超市正常营业[2]。"), "5月3日"),
        (with_sentence("下周全市将恢复正常[2]。"), "下周"),
        (with_sentence("该说法已被证实为谣言[9]。"), "[9]"),
        (lambda text: (200, chat_answer(re.sub(r"\[\d+\]", "", polish(text)))), "cites no source"),
        (lambda text: (200, chat_answer(polish(text).replace("[2]", "[1]"))), "no longer cites the authoritative"),
        (lambda text: (200, "<html>busy</html>"), "malformed"),
        (lambda text: (200, '{"choices": []}'), "malformed"),
        (lambda text: (200, chat_answer("   ")), "malformed"),
        (lambda text: (200, chat_answer("只有一行")), "malformed"),
        (lambda text: (500, '{"error": "overloaded"}'), "HTTP 500"),
    ],
    ids=["new-number", "new-place", "new-date", "new-relative-date", "unknown-source",
         "dropped-citations", "authority-dropped", "not-json", "no-choices", "empty", "one-line",
         "http-500"],
)  # fmt: skip
def test_hallucinating_or_malformed_answers_are_rejected(
    lite: Store,
    draft: Draft,
    llm_server: LlmServer,
    settings: Settings,
    answer: object,
    reason: str,
) -> None:
    llm_server.answer = answer  # type: ignore[assignment]
    updated, outcome = rewrite(lite, draft, llm_server, settings)

    assert not outcome.accepted  # type: ignore[attr-defined]
    assert reason in outcome.reason  # type: ignore[attr-defined]
    assert (updated.text, updated.title, len(updated.revisions)) == (draft.text, draft.title, 1)
    assert updated.last_editor == "wang.wei"  # a rejected rewrite edits nothing
    assert updated.rewrite_note and reason in updated.rewrite_note
    assert updated.version == draft.version + 1


def test_a_slow_endpoint_times_out_and_the_draft_stands(
    lite: Store, draft: Draft, llm_server: LlmServer, settings: Settings
) -> None:
    llm_server.delay = 1.5  # the client waits 1 s
    llm_server.answer = lambda text: (200, chat_answer(polish(text)))
    updated, outcome = rewrite(lite, draft, llm_server, settings)
    assert not outcome.accepted and "timed out" in outcome.reason  # type: ignore[attr-defined]
    assert updated.text == draft.text


def test_rewrite_through_the_api_and_without_an_endpoint(
    lite: Store, draft: Draft, llm_server: LlmServer, settings: Settings
) -> None:
    headers = make_users(lite, settings)
    llm_server.answer = with_sentence("目前已有3000名市民拨打热线咨询[2]。")
    with TestClient(create_app(settings, store=lite)) as client:
        resp = client.post(f"/api/v1/drafts/{draft.id}/rewrite", headers=headers["zhao.lei"],
                           json={"version": draft.version})  # fmt: skip
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["accepted"] is False and "3000" in body["reason"]
        assert body["draft"]["text"] == draft.text and body["problems"]

    unconfigured = settings.model_copy(update={"llm_url": None})
    with TestClient(create_app(unconfigured, store=lite)) as client:
        resp = client.post(f"/api/v1/drafts/{draft.id}/rewrite", headers=headers["zhao.lei"],
                           json={"version": body["draft"]["version"]})  # fmt: skip
        assert resp.status_code == 409 and resp.json()["error"]["code"] == "llm_unavailable"
    with pytest.raises(LlmUnavailable):
        rewrite_draft(lite, draft.id, expected_version=1, client=None, actor="x", now=datetime.now(UTC),
                      config=ReplyConfig())  # fmt: skip
