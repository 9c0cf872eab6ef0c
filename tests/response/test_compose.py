"""Composing drafts from evidence, and exporting them in the formats people paste from."""

from __future__ import annotations

from datetime import UTC, datetime

from nlp.kb_import import make_claim
from store import Settings, Store
from store.records import Draft, Incident
from tests.response.factories import debunk_claim, make_post, minutes, wave
from triage.replies.compose import compose, gather_evidence
from triage.replies.drafts import ReplyConfig, create_draft
from triage.replies.exports import export
from triage.replies.grounding import check_text

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
INCIDENT = Incident(id="incident-1", title="武汉封城谣言", category="rumor", severity=2,
                    jurisdiction="4201", jurisdiction_name="武汉市", team="rumor-desk",
                    created_at=NOW, updated_at=NOW)  # fmt: skip


def test_the_strongest_match_is_cited_and_a_true_verdict_is_no_rebuttal(
    lite: Store, settings: Settings
) -> None:
    right = debunk_claim()
    weak = make_claim(origin="piyao", native_id="weak", claim="武汉超市关门", answer="武汉超市没有关门。",
                      verdict="false", source_name="长江日报", source_url="https://cj.example/1")  # fmt: skip
    confirmed = make_claim(origin="dxy", native_id="true", claim="武汉明天全市封城", answer="确有此事。",
                           verdict="true", source_name="某媒体")  # fmt: skip
    lite.put_many("claims", [right, weak, confirmed])
    posts = wave(settings, "p", minutes(NOW, -30, -20, -10), claim=(right.id, "confirm"))
    posts += [make_post(settings, f"q{i}", f"武汉超市关门了吗{i}", created_at=NOW, claim=(weak.id, "suggest"))
              for i in range(2)]  # fmt: skip
    lite.write_posts(posts)
    incident = INCIDENT.model_copy(update={"evidence_post_ids": [p.id for p in reversed(posts)],
                                           "claim_ids": [confirmed.id]})  # fmt: skip

    evidence = gather_evidence(lite, incident)
    assert [c.id for c in evidence.claims] == [right.id, weak.id, confirmed.id]
    assert evidence.posts[0].nlp.claim_match.claim_id == right.id  # type: ignore[union-attr]
    draft = compose("rumor_rebuttal", incident=incident, posts=evidence.posts, claims=evidence.claims,
                    office="武汉市新闻办", team_name="网信办辟谣组")  # fmt: skip
    assert draft.claim_ids == [right.id, weak.id] and draft.subject == right.claim
    assert "[2]" in draft.text and draft.sources[1].id == right.id
    assert check_text(draft.title, draft.text, draft.sources).problems == []

    only_true = compose("rumor_rebuttal", incident=incident, posts=evidence.posts[:1], claims=[confirmed],
                        office="武汉市新闻办", team_name="网信办辟谣组")  # fmt: skip
    assert only_true.evidence_needed and "不实" not in only_true.text
    assert "结论为“属实”" in only_true.text  # the officer learns the claim may be true


def test_help_response_names_the_team_and_cites_the_incident(
    lite: Store, settings: Settings
) -> None:
    post = make_post(
        settings, "h", "求助：江岸区独居老人断粮两天，急需米面和药品", created_at=NOW, rumor=None
    )
    incident = INCIDENT.model_copy(update={"category": "help_request", "team": "jiangan-district"})
    draft = compose("help_response", incident=incident, posts=[post], claims=[], office="武汉市新闻办",
                    team_name="江岸区应急联动中心")  # fmt: skip
    assert "江岸区应急联动中心跟进处理[2]" in draft.text
    assert [s.kind for s in draft.sources] == ["post", "incident"]
    assert check_text(draft.title, draft.text, draft.sources).problems == []


def rebuttal(lite: Store, settings: Settings) -> Draft:
    from tests.response.factories import rumor_incident

    incident = rumor_incident(lite, settings, datetime.now(UTC).replace(microsecond=0))
    return create_draft(
        lite, incident.id, actor="wang.wei", now=NOW, config=ReplyConfig(office="武汉市新闻办")
    )


def test_exports(lite: Store, settings: Settings) -> None:
    draft = rebuttal(lite, settings)
    plain = export(draft, "plain")
    assert plain.text.startswith(draft.title + "\n\n") and "[" not in plain.text
    assert "武汉不会封城" in plain.text

    weibo = export(draft, "weibo", weibo_max_chars=140)
    assert (
        weibo.text.startswith(f"【{draft.title}】") and weibo.chars <= 140 and "[" not in weibo.text
    )
    assert weibo.truncated and weibo.text.endswith("。")  # whole sentences only
    assert not export(draft, "weibo", weibo_max_chars=2000).truncated

    markdown = export(draft, "markdown").text
    assert markdown.startswith(f"# {draft.title}")
    assert "[^1]" in markdown and "[^1]: 武汉发布：https://piyao.example/wuhan-lockdown" in markdown
    assert "weibo" not in markdown  # posts of the public are never linked

    html = export(draft, "html").text
    assert html.count("<p>") == len(draft.text.splitlines())
    assert (
        '<li id="source-1"><a href="https://piyao.example/wuhan-lockdown">武汉发布</a></li>' in html
    )
