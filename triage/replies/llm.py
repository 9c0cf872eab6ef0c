"""Optional LLM rewriting of a draft for tone and length (an OpenAI-compatible endpoint).

    draft + its sources ──prompt──> POST {llm_url}/chat/completions ──> candidate text
        ──grounding check──> accepted: a new revision (origin "llm", editor = who asked)
                         └─> rejected: the draft stands; `rewrite_note` says why

A candidate is accepted only if every sentence still cites one of the supplied sources (stock
phrases excepted), it states no number, place or date absent from the sources it cites, a
rebuttal still cites an authoritative source, and it keeps no editor notes. Endpoint failures
(timeout, HTTP error, malformed answer) are rejections too: the template draft stands.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from store.base import Store
from store.errors import ConflictError
from store.records import Draft, DraftState
from store.settings import Settings
from triage.replies.drafts import (
    MAX_TEXT,
    MAX_TITLE,
    ReplyConfig,
    assess,
    get_draft,
    mutate,
    require_state,
    revise,
)
from triage.replies.errors import DraftStateError, LlmUnavailable
from triage.replies.grounding import check_text, split_sentences

log = logging.getLogger(__name__)

DEFAULT_INSTRUCTIONS = "语气庄重、简洁、亲民，适合政务新媒体发布；篇幅不超过原稿。"
SYSTEM_PROMPT = """你是政府新闻发布稿的文字编辑，只改进语气、流畅度和篇幅，不增加任何新的事实。
规则：
1. 输出格式：第一行是标题，其余每行一段正文；不要使用Markdown，不要加任何解释。
2. 每个句子必须保留它所依据来源的引用标记，例如[1]；只能使用下面列出的来源编号。
3. 不得加入来源中没有的数字、地名、日期或时间。
4. 原稿中不带引用标记的固定用语，原样保留或删除。"""
MAX_SOURCE_CHARS = 600


class RewriteFailed(Exception):
    """The endpoint did not produce a usable answer (the reason is shown to the officer)."""


@dataclass(frozen=True)
class LlmClient:
    """A chat-completions client: base URL (ending in /v1), model, optional bearer key."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LlmClient | None:
        if not settings.llm_url or not settings.llm_model:
            return None
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(settings.llm_url, settings.llm_model, key, settings.llm_timeout_seconds)

    def complete(self, messages: list[dict[str, str]]) -> str:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "messages": messages, "temperature": 0.2}
        try:
            with httpx.Client(timeout=self.timeout) as client:
                resp = client.post(
                    f"{self.url.rstrip('/')}/chat/completions", json=body, headers=headers
                )
        except httpx.HTTPError as exc:
            raise RewriteFailed(
                f"endpoint unreachable or timed out: {type(exc).__name__}"
            ) from None
        if resp.status_code != 200:
            raise RewriteFailed(f"endpoint answered HTTP {resp.status_code}")
        try:
            data: Any = resp.json()
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise RewriteFailed("malformed answer: no choices[0].message.content") from None
        if not isinstance(content, str) or not content.strip():
            raise RewriteFailed("malformed answer: empty content")
        return content


def prompt(draft: Draft, instructions: str | None) -> list[dict[str, str]]:
    sources = "\n".join(
        f"[{s.ref}] {s.name}：{s.text[:MAX_SOURCE_CHARS]}"
        for s in sorted(draft.sources, key=lambda s: s.ref)
    )
    user = (
        f"改写要求：{instructions or DEFAULT_INSTRUCTIONS}\n\n来源：\n{sources}\n\n"
        f"原稿：\n{draft.title}\n{draft.text}"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_answer(content: str) -> tuple[str, str]:
    """Title (first line) and body of an answer; code fences and heading marks removed."""
    text = re.sub(r"^```[a-z]*\s*|```\s*$", "", content.strip(), flags=re.M).strip()
    lines = [line.strip() for line in text.replace("\r", "").splitlines() if line.strip()]
    if len(lines) < 2:
        raise RewriteFailed("malformed answer: needs a title line and at least one body line")
    title = re.sub(r"^(#+\s*|标题[:：]\s*)", "", lines[0]).strip("【】 ")
    return title, "\n".join(lines[1:])


@dataclass
class Outcome:
    accepted: bool
    reason: str
    title: str | None = None
    text: str | None = None
    problems: list[str] | None = None


def judge(draft: Draft, title: str, text: str, *, needs_authority: bool) -> Outcome:
    """Accept a candidate rewrite only if it stays grounded in the draft's sources."""
    if len(title) > MAX_TITLE or len(text) > MAX_TEXT:
        return Outcome(False, "rejected: the rewrite is too long")
    report = check_text(title, text, draft.sources)
    problems = report.messages()
    if needs_authority:
        cited = {ref for s in split_sentences(text) for ref in s.refs}
        was = {ref for s in split_sentences(draft.text) for ref in s.refs}
        authorities = {s.ref for s in draft.sources if s.authoritative}
        if authorities & was and not authorities & cited:
            problems.append("the rewrite no longer cites the authoritative source")
    if problems:
        head = problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        return Outcome(False, f"rejected: {head}", title, text, problems)
    return Outcome(
        True, "accepted: every sentence cites a supplied source; no new facts", title, text, []
    )


def rewrite_draft(
    store: Store,
    draft_id: str,
    *,
    expected_version: int,
    client: LlmClient | None,
    actor: str,
    now: datetime,
    config: ReplyConfig,
    instructions: str | None = None,
) -> tuple[Draft, Outcome]:
    """Ask the endpoint for a rewrite; keep it only if `judge` accepts it. Either way the
    outcome is stored on the draft (`rewrite_note`) and audited."""
    if client is None:
        raise LlmUnavailable("no LLM endpoint is configured (TINGFENG_LLM_URL, TINGFENG_LLM_MODEL)")
    current = get_draft(store, draft_id)
    if current.version != expected_version:
        raise ConflictError("draft", draft_id, current.version)
    require_state(current, DraftState.drafting, doing="rewrite")
    if current.evidence_needed:
        raise DraftStateError(
            "an evidence-needed draft cannot be rewritten: add an authoritative source first",
            state=current.state.value,
        )
    needs = config.templates.info(current.template).needs_authority
    try:
        title, text = parse_answer(client.complete(prompt(current, instructions)))
        outcome = judge(current, title, text, needs_authority=needs)
    except RewriteFailed as exc:
        outcome = Outcome(False, f"rejected: {exc}")
    log.info("draft %s: LLM rewrite %s", draft_id, outcome.reason)

    def change(draft: Draft) -> None:
        require_state(draft, DraftState.drafting, doing="rewrite")
        draft.rewrite_note = f"{now.isoformat()} {client.model}: {outcome.reason}"
        if outcome.accepted and outcome.title and outcome.text:
            revise(
                draft,
                outcome.title,
                outcome.text,
                editor=actor,
                now=now,
                origin="llm",
                note=f"LLM rewrite ({client.model}) requested by {actor}",
            )
            assess(draft, config)

    action = "draft.rewrite" if outcome.accepted else "draft.rewrite_rejected"
    draft = mutate(
        store,
        draft_id,
        change,
        expected_version=expected_version,
        action=action,
        actor=actor,
        now=now,
        reason=outcome.reason,
    )
    return draft, outcome
