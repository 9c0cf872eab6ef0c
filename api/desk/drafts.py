"""The draft editor: text with its citation table, grounding problems on their sentence,
officer sources, template choice, submit, approve / reject, publish, and the 409 merge.

Every action calls the `triage.replies` library (`drafts`, `approval`) inside the API's own
`reply_errors()` mapping, so the 4-eyes rule, grounding checks and state rules are the
library's: a change there applies here without a desk change. A stale version (409) on an
edit re-renders the editor with the other person's current text next to the officer's own,
ready to re-apply on top of the current version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from api.desk.incidents import api_failure
from api.desk.render import page, see_other
from api.desk.session import Approver, Csrf, DeskError, Reader, Worker
from api.errors import ApiError
from api.routes.drafts import ACTIONS, reply_errors
from store import Settings, Store
from store.errors import ConflictError, NotFound
from store.records import Draft
from triage.replies import approval, drafts
from triage.replies.approval import CHANNEL_FORMATS, list_publications
from triage.replies.drafts import ReplyConfig
from triage.replies.exports import export
from triage.replies.follow import get_incident
from triage.replies.grounding import check_text, split_sentences
from triage.replies.llm import LlmClient, rewrite_draft
from triage.users import Principal

router = APIRouter(prefix="/desk", include_in_schema=False)

CHANNELS = {"weibo": "微博", "wechat": "微信公众号", "website": "政府网站", "press": "新闻发布会"}
APPROVER_ACTIONS = {"approve", "reject", "publish"}


@dataclass(frozen=True)
class SentenceRow:
    index: int
    text: str
    refs: tuple[int, ...]
    problems: list[str]
    error: bool


@dataclass(frozen=True)
class Conflict:
    """A stale edit: what the officer wrote and what the other person saved meanwhile."""

    mine_title: str
    mine_text: str
    theirs_editor: str
    theirs_at: datetime
    theirs_revision: int
    changed: list[int]  # indexes of the current text's sentences the officer's text lacks


def _lines(text: str) -> str:
    """Browsers send textarea line breaks as CRLF; the library keeps text as given."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _config(request: Request) -> ReplyConfig:
    settings: Settings = request.app.state.settings
    return ReplyConfig.from_settings(settings)


def _sentences(draft: Draft) -> tuple[list[SentenceRow], list[str]]:
    """Sentences with their grounding problems (index 0 problems concern the title)."""
    report = check_text(draft.title, draft.text, draft.sources)
    by_sentence: dict[int, list[str]] = {}
    errors: set[int] = set()
    for problem in report.problems:
        by_sentence.setdefault(problem.sentence, []).append(problem.message)
        if problem.severity == "error":
            errors.add(problem.sentence)
    rows = [
        SentenceRow(s.index, s.text, s.refs, by_sentence.get(s.index, []), s.index in errors)
        for s in report.sentences
    ]
    return rows, by_sentence.get(0, [])


def draft_context(
    request: Request, principal: Principal, draft: Draft, conflict: Conflict | None = None
) -> dict[str, Any]:
    store: Store = request.app.state.store
    config = _config(request)
    incident = get_incident(store, draft.incident_id)
    rows, title_problems = _sentences(draft)
    actions = [
        a
        for a in ACTIONS[draft.state.value]
        if principal.can("approve" if a in APPROVER_ACTIONS else "work")
    ]
    templates = config.templates
    weibo = export(draft, CHANNEL_FORMATS["weibo"], weibo_max_chars=config.weibo_max_chars)
    return {
        "draft": draft,
        "incident": incident,
        "rows": rows,
        "title_problems": title_problems,
        "actions": actions,
        "can_work": principal.can("work"),
        "llm": LlmClient.from_settings(request.app.state.settings) is not None,
        "can_approve": principal.can("approve"),
        "templates": {name: templates.info(name).label for name in templates.names()},
        "channels": CHANNELS,
        "publications": list_publications(store, draft.incident_id),
        "conflict": conflict,
        "weibo": weibo,
        "submitted_by": next((r.by for r in reversed(draft.reviews) if r.action == "submit"), None),
    }


def _load(store: Store, draft_id: str) -> Draft:
    try:
        return drafts.get_draft(store, draft_id)
    except NotFound:
        raise DeskError(404, f"没有编号为 {draft_id} 的草稿。", title="未找到") from None


@router.get("/drafts/{draft_id}", response_class=HTMLResponse)
async def draft_page(request: Request, draft_id: str, principal: Reader) -> Response:
    def build() -> dict[str, Any]:
        return draft_context(request, principal, _load(request.app.state.store, draft_id))

    return page(request, "draft.html", await run_in_threadpool(build))


def _act(request: Request, draft_id: str, action: Any) -> Response:
    """Run one library action with the API's error mapping; back to the editor on success."""
    back = f"/desk/drafts/{draft_id}"
    try:
        with reply_errors():
            result = action()
    except (ApiError, ConflictError, NotFound) as exc:
        raise api_failure(exc, back) from None
    if isinstance(result, Draft) and result.id != draft_id:
        back = f"/desk/drafts/{result.id}"
    return see_other(back)


@router.post("/incidents/{incident_id}/drafts", dependencies=[Csrf])
def create_draft(
    request: Request,
    incident_id: str,
    principal: Worker,
    template: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    store: Store = request.app.state.store
    try:
        with reply_errors():
            draft = drafts.create_draft(
                store,
                incident_id,
                actor=principal.username,
                now=datetime.now(UTC),
                config=_config(request),
                template=template or None,
            )
    except (ApiError, ConflictError, NotFound) as exc:
        raise api_failure(exc, f"/desk/incidents/{incident_id}") from None
    return see_other(f"/desk/drafts/{draft.id}")


@router.post("/drafts/{draft_id}/edit", dependencies=[Csrf], response_model=None)
def edit(
    request: Request,
    draft_id: str,
    principal: Worker,
    version: Annotated[int, Form()],
    text: Annotated[str, Form(max_length=drafts.MAX_TEXT + 100)],
    title: Annotated[str, Form(max_length=drafts.MAX_TITLE + 10)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    store: Store = request.app.state.store
    text = _lines(text)
    try:
        with reply_errors():
            drafts.edit_draft(
                store,
                draft_id,
                expected_version=version,
                text=text,
                title=title or None,
                note=note or None,
                actor=principal.username,
                now=datetime.now(UTC),
                config=_config(request),
            )
    except ConflictError:
        current = _load(store, draft_id)
        latest = current.revisions[-1] if current.revisions else None
        mine = {s.plain for s in split_sentences(text)}
        conflict = Conflict(
            mine_title=title,
            mine_text=text,
            theirs_editor=latest.editor if latest else current.last_editor,
            theirs_at=latest.at if latest else current.updated_at,
            theirs_revision=current.revision,
            changed=[s.index for s in split_sentences(current.text) if s.plain not in mine],
        )
        context = draft_context(request, principal, current, conflict)
        return page(request, "draft.html", context, status=409)
    except (ApiError, NotFound) as exc:
        raise api_failure(exc, f"/desk/drafts/{draft_id}") from None
    return see_other(f"/desk/drafts/{draft_id}")


@router.post("/drafts/{draft_id}/sources", dependencies=[Csrf])
def add_source(
    request: Request,
    draft_id: str,
    principal: Worker,
    version: Annotated[int, Form()],
    name: Annotated[str, Form(max_length=100)],
    text: Annotated[str, Form(max_length=4000)],
    url: Annotated[str, Form(max_length=2000)] = "",
    verdict: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    if verdict and verdict not in {"false", "misleading", "true", "unverified"}:
        raise DeskError(422, f"未知的结论 {verdict!r}", back=f"/desk/drafts/{draft_id}")
    return _act(
        request,
        draft_id,
        lambda: drafts.add_source(
            request.app.state.store,
            draft_id,
            expected_version=version,
            name=name,
            text=_lines(text),
            url=url.strip() or None,
            verdict=verdict or None,
            actor=principal.username,
            now=datetime.now(UTC),
            config=_config(request),
        ),
    )


@router.post("/drafts/{draft_id}/regenerate", dependencies=[Csrf])
def regenerate(
    request: Request, draft_id: str, principal: Worker, version: Annotated[int, Form()]
) -> Response:
    return _act(
        request,
        draft_id,
        lambda: drafts.regenerate(
            request.app.state.store,
            draft_id,
            expected_version=version,
            actor=principal.username,
            now=datetime.now(UTC),
            config=_config(request),
        ),
    )


@router.post("/drafts/{draft_id}/submit", dependencies=[Csrf])
def submit(
    request: Request,
    draft_id: str,
    principal: Worker,
    version: Annotated[int, Form()],
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _act(
        request,
        draft_id,
        lambda: approval.submit(
            request.app.state.store,
            draft_id,
            expected_version=version,
            actor=principal.username,
            now=datetime.now(UTC),
            config=_config(request),
            comment=comment.strip() or None,
        ),
    )


@router.post("/drafts/{draft_id}/approve", dependencies=[Csrf])
def approve(
    request: Request,
    draft_id: str,
    principal: Approver,
    version: Annotated[int, Form()],
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _act(
        request,
        draft_id,
        lambda: approval.approve(
            request.app.state.store,
            draft_id,
            expected_version=version,
            actor=principal.username,
            now=datetime.now(UTC),
            comment=comment.strip() or None,
        ),
    )


@router.post("/drafts/{draft_id}/reject", dependencies=[Csrf])
def reject(
    request: Request,
    draft_id: str,
    principal: Approver,
    version: Annotated[int, Form()],
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _act(
        request,
        draft_id,
        lambda: approval.reject(
            request.app.state.store,
            draft_id,
            expected_version=version,
            actor=principal.username,
            now=datetime.now(UTC),
            comment=_lines(comment),
        ),
    )


@router.post("/drafts/{draft_id}/publish", dependencies=[Csrf])
def publish(
    request: Request,
    draft_id: str,
    principal: Approver,
    version: Annotated[int, Form()],
    channel: Annotated[str, Form(max_length=40)],
    url: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _act(
        request,
        draft_id,
        lambda: approval.publish(
            request.app.state.store,
            draft_id,
            expected_version=version,
            channel=channel,
            actor=principal.username,
            now=datetime.now(UTC),
            config=_config(request),
            url=url.strip() or None,
        ),
    )


@router.post("/drafts/{draft_id}/rewrite", dependencies=[Csrf])
def rewrite(
    request: Request,
    draft_id: str,
    principal: Worker,
    version: Annotated[int, Form()],
    instructions: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The configured LLM rewrites for tone and length; kept only if still grounded (the
    outcome shows on the editor either way)."""
    settings: Settings = request.app.state.settings
    return _act(
        request,
        draft_id,
        lambda: rewrite_draft(
            request.app.state.store,
            draft_id,
            expected_version=version,
            client=LlmClient.from_settings(settings),
            actor=principal.username,
            now=datetime.now(UTC),
            config=_config(request),
            instructions=instructions.strip() or None,
        )[0],
    )
