"""Fill a reply template from an incident's facts, evidence posts and matched debunks.

    incident + evidence posts + claims (+ officer statements)
        -> views the template sees (posts, debunks, related, record), each a source
        -> render; `cite(x)` writes [n] and numbers sources in order of first citation
        -> title (first line), text, sources (cited first, then the other supplied ones)

A debunk is a knowledge-base claim with verdict false/misleading and an answer, or a statement
an officer added. A template that `needs_authority` (the rebuttal) and cites no debunk yields
an "evidence needed" draft: it quotes what circulates, asserts nothing, and asks for a source.
`check_templates` renders every template against sample incidents at playbook-check time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from store.base import Store
from store.records import Claim, DraftSource, Incident, Post
from triage.replies.errors import TemplateError
from triage.replies.grounding import split_sentences
from triage.replies.templating import TemplateSet, bundled_templates

TEMPLATE_VARIABLES = frozenset(
    {
        "office",
        "incident",
        "subject",
        "subject_short",
        "posts",
        "debunks",
        "related",
        "record",
        "cite",
        "evidence_needed",
    }
)
DEBUNK_VERDICTS = frozenset({"false", "misleading"})
VERDICT_TEXT = {"false": "不实", "misleading": "存在误导", "true": "属实", "unverified": "尚未证实"}
PLATFORM_NAMES = {
    "weibo": "微博",
    "tieba": "贴吧",
    "douyin": "抖音",
    "wechat": "微信",
    "news": "新闻网站",
    "gov": "政务网站",
    "partner": "合作单位",
}
CATEGORY_NAMES = {
    "rumor": "谣言",
    "help_request": "求助",
    "public_demand": "诉求",
    "public_order": "公共秩序",
    "supplies_logistics": "物资保供",
    "other": "其他",
}
MAX_POSTS, MAX_DEBUNKS, MAX_RELATED = 5, 2, 2
QUOTE_CHARS, SUBJECT_CHARS, ANSWER_SENTENCES, ANSWER_CHARS = 60, 24, 3, 150
# A few spaces at most before the URL: an unbounded \s* is retried at every position of a long
# whitespace run (quadratic); `_clean` collapses runs before this is applied anyway.
_URLISH = re.compile(r"(?:详情|链接|原文)?[:：]?\s{0,3}<?https?://\S+")
_TAG = re.compile(r"^【[^】]{1,12}】")
_TERMINAL = "。！？!?；;"
_PAIRS = {"“": "”", "《": "》", "「": "」", "『": "』", "（": "）"}
_HEARSAY = re.compile(r"^(?:网传|听说|据说|据传|有人说|传言|紧急扩散|转发)[:：，,！!\s]*")


# --------------------------------------------------------------------------------------------
# what templates see
# --------------------------------------------------------------------------------------------


@dataclass
class SourceView:
    """A citable source as a template sees it; `cite(view)` writes its [n]."""

    source: DraftSource
    quote: str = ""
    verdict_text: str = ""
    answer_sentences: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def url(self) -> str | None:
        return self.source.url

    @property
    def key(self) -> str:
        return f"{self.source.kind}:{self.source.id}"


@dataclass
class IncidentView:
    title: str
    title_short: str
    category: str
    category_name: str
    jurisdiction_name: str
    team_name: str
    severity: int
    post_count: int


class _Citer:
    """`cite(a, b)` -> "[1][2]": numbers sources in order of first citation."""

    def __init__(self) -> None:
        self.order: dict[str, tuple[int, SourceView]] = {}

    def __call__(self, *views: Any) -> str:
        out = []
        for view in views:
            if not isinstance(view, SourceView):
                raise TypeError(
                    f"cite() takes sources (posts, debunks, related, record), not {view!r}"
                )
            ref = self.order.setdefault(view.key, (len(self.order) + 1, view))[0]
            out.append(f"[{ref}]")
        return "".join(out)


def _clean(text: str) -> str:
    """Quoted material: one line, square brackets made harmless (they would read as [n])."""
    text = re.sub(r"\s+", " ", text).strip()
    return text.replace("[", "［").replace("]", "］")


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters (plus closing quotes), cut after a clause and never inside
    a number; quotes and 《titles》 it cuts open are closed again."""
    text = _clean(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    for mark in "，,、；;：: ":
        at = cut.rfind(mark)
        if at >= limit // 2:
            return _close_quotes(cut[:at] + "……")
    while cut and (cut[-1].isdigit() or cut[-1] in ".．"):
        cut = cut[:-1]
    return _close_quotes(cut + "……")


def _close_quotes(text: str) -> str:
    stack = []
    for ch in text:
        if ch in _PAIRS:
            stack.append(_PAIRS[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
    return text + "".join(reversed(stack))


def quote_of(text: str) -> str:
    """The first clause-complete sentence of a post, without its final punctuation."""
    text = _URLISH.sub("", re.sub(r"[ \t\r\f\v]+", " ", text))
    first = re.split(rf"[{_TERMINAL}\n]", _clean(text).strip(), maxsplit=1)[0].strip()
    return shorten(first or text, QUOTE_CHARS).rstrip("，,、：:")


def headline(subject: str) -> str:
    """The rumor as a title names it: hearsay words dropped, its first clause if that says
    enough, at most SUBJECT_CHARS characters (网传“自来水检出新冠病毒”)."""
    text = quote_of(_HEARSAY.sub("", subject.strip()) or subject)
    first = re.split(r"[，,；;：:]", text, maxsplit=1)[0]
    return shorten(first if len(first) >= 6 else text, SUBJECT_CHARS)


def answer_sentences(answer: str | None) -> list[str]:
    if not answer:
        return []
    text = _TAG.sub("", _URLISH.sub("", _clean(answer)))
    out = []
    for sentence in split_sentences(text.replace("；", "；\n")):
        plain = sentence.plain.rstrip(_TERMINAL + "，, ").strip()
        if len(plain) >= 4:
            out.append(
                shorten(plain, ANSWER_CHARS).rstrip("…") if len(plain) > ANSWER_CHARS else plain
            )
        if len(out) == ANSWER_SENTENCES:
            break
    return out


# --------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------


def post_source(post: Post, tz: tzinfo) -> DraftSource:
    local = post.created_at.astimezone(tz)
    platform = PLATFORM_NAMES.get(post.platform, post.platform)
    return DraftSource(
        ref=1,
        kind="post",
        id=post.id,
        name=f"{platform}网民",
        url=post.url,
        text=f"{local.year}年{local.month}月{local.day}日 {local:%H:%M} {post.text}",
        at=post.created_at,
    )


def claim_source(claim: Claim) -> DraftSource:
    authoritative = claim.verdict in DEBUNK_VERDICTS and bool(claim.answer)
    return DraftSource(
        ref=1,
        kind="claim",
        id=claim.id,
        name=claim.source_name,
        url=claim.source_url,
        text=f"{claim.claim} {claim.answer or ''}".strip(),
        at=claim.published_at,
        authoritative=authoritative,
        verdict=claim.verdict,
    )


def incident_source(incident: Incident, *, office: str, team_name: str) -> DraftSource:
    category = CATEGORY_NAMES.get(incident.category, incident.category)
    place = incident.jurisdiction_name or "未定"
    return DraftSource(
        ref=1,
        kind="incident",
        id=incident.id,
        name=office,
        text=(
            f"事件记录：{incident.title}。类别：{category}。属地：{place}。"
            f"责任单位：{team_name}。相关帖子{incident.post_count or len(incident.evidence_post_ids)}条。"
        ),
        at=incident.created_at,
    )


def distinct_posts(posts: Sequence[Post], tz: tzinfo) -> list[SourceView]:
    """Up to MAX_POSTS posts saying different things (copies of one text count once)."""
    views: list[SourceView] = []
    seen: set[str] = set()
    for post in posts:
        quote = quote_of(post.text)
        key = re.sub(r"\W", "", quote)[:20]
        if key in seen:
            continue
        seen.add(key)
        views.append(_view(post_source(post, tz), quote=quote))
        if len(views) == MAX_POSTS:
            break
    return views


def _view(source: DraftSource, **extra: Any) -> SourceView:
    return SourceView(source=source, **extra)


def _claim_view(claim: Claim) -> SourceView:
    return _view(
        claim_source(claim),
        verdict_text=VERDICT_TEXT.get(claim.verdict, claim.verdict),
        answer_sentences=answer_sentences(claim.answer),
    )


def _officer_view(source: DraftSource) -> SourceView:
    verdict = source.verdict or ""
    return _view(
        source,
        verdict_text=VERDICT_TEXT.get(verdict, "") if verdict in DEBUNK_VERDICTS else "",
        answer_sentences=answer_sentences(source.text),
    )


# --------------------------------------------------------------------------------------------
# composing
# --------------------------------------------------------------------------------------------


@dataclass
class Composed:
    template: str
    title: str
    text: str
    sources: list[DraftSource]
    evidence_needed: bool
    subject: str | None
    claim_ids: list[str]


def compose(
    template: str,
    *,
    incident: Incident,
    posts: Sequence[Post],
    claims: Sequence[Claim],
    officer_sources: Sequence[DraftSource] = (),
    office: str,
    team_name: str | None,
    tz: tzinfo = UTC,
    templates: TemplateSet | None = None,
) -> Composed:
    """A draft from a template. `posts` and `claims` are ranked, best first (see
    `gather_evidence`); `officer_sources` are statements officers added to the draft."""
    templates = templates or bundled_templates()
    info = templates.info(template)
    team = team_name or incident.team or "相关部门"
    post_views = distinct_posts(posts, tz)
    claim_views = [_claim_view(c) for c in claims]
    debunks = [_officer_view(s) for s in officer_sources if s.authoritative]
    debunks += [v for v in claim_views if v.source.authoritative]
    debunks = debunks[: max(MAX_DEBUNKS, len([s for s in officer_sources if s.authoritative]))]
    related = [v for v in claim_views if not v.source.authoritative][:MAX_RELATED]
    record = _view(incident_source(incident, office=office, team_name=team))
    top_claim = next((c for c in claims if claim_source(c).authoritative), None)
    subject = top_claim.claim if top_claim else (post_views[0].quote if post_views else None)
    subject = subject or incident.title
    citer = _Citer()
    context = {
        "office": office,
        "incident": IncidentView(
            title=_clean(incident.title),
            title_short=shorten(incident.title, SUBJECT_CHARS * 2),
            category=incident.category,
            category_name=CATEGORY_NAMES.get(incident.category, incident.category),
            jurisdiction_name=incident.jurisdiction_name or "",
            team_name=team,
            severity=incident.severity,
            post_count=incident.post_count or len(incident.evidence_post_ids),
        ),
        "subject": _clean(subject),
        "subject_short": headline(subject),
        "posts": post_views,
        "debunks": debunks,
        "related": related,
        "record": record,
        "cite": citer,
        "evidence_needed": info.needs_authority and not debunks,
    }
    rendered = templates.render(template, context)
    lines = [line.strip() for line in rendered.splitlines() if line.strip()]
    if not lines:
        raise TemplateError([f"reply template {template!r} rendered nothing"])
    sources = number_sources(citer, [*post_views, *debunks, *related, record])
    cited_authority = any(s.authoritative for s in sources[: len(citer.order)])
    return Composed(
        template=template,
        title=lines[0],
        text="\n".join(lines[1:]),
        sources=sources,
        evidence_needed=info.needs_authority and not cited_authority,
        subject=_clean(subject),
        claim_ids=[v.source.id for v in debunks if v.source.kind == "claim"],
    )


def number_sources(citer: _Citer, supplied: Iterable[SourceView]) -> list[DraftSource]:
    """Cited sources with their [n], then the other supplied ones numbered after them."""
    out = [view.source.model_copy(update={"ref": ref}) for ref, view in citer.order.values()]
    seen = set(citer.order)
    for view in supplied:
        if view.key not in seen:
            seen.add(view.key)
            out.append(view.source.model_copy(update={"ref": len(out) + 1}))
    return out


# --------------------------------------------------------------------------------------------
# evidence from the store
# --------------------------------------------------------------------------------------------


@dataclass
class Evidence:
    posts: list[Post]
    claims: list[Claim]


def _engagement(post: Post) -> int:
    e = post.engagement
    return e.reposts + e.comments + e.likes


def gather_evidence(store: Store, incident: Incident, *, max_posts: int = 200) -> Evidence:
    """The incident's evidence posts (matched to a debunk first, then by engagement; no
    near-duplicates) and the claims they match, strongest first (confirm counts double)."""
    posts = [p for p in store.get_posts(incident.evidence_post_ids[:max_posts]) if not p.dup_of]
    weight: Counter[str] = Counter({cid: 1 for cid in incident.claim_ids})
    for post in posts:
        match = post.nlp.claim_match
        if match is not None:
            weight[match.claim_id] += 2 if match.level == "confirm" else 1
    claims = [c for cid in weight if (c := store.get("claims", cid, Claim)) is not None]
    claims.sort(key=lambda c: (-weight[c.id], c.origin != "office", c.id))
    rank = {c.id: i for i, c in enumerate(claims)}

    def order(post: Post) -> tuple[int, int, float, str]:
        match = post.nlp.claim_match
        claim_rank = rank.get(match.claim_id, len(rank)) if match else len(rank) + 1
        return (claim_rank, -_engagement(post), post.created_at.timestamp(), post.id)

    posts.sort(key=order)
    return Evidence(posts=posts, claims=claims)
