"""Reply drafts: create from the playbook's template, edit (optimistic concurrency: a stale
`version` gets 409 with the current one), revisions, sources, regenerate, LLM rewrite, submit,
approve / reject (4-eyes), publish, export.

Roles: `work` (press, supervisors) writes drafts; `approve` (supervisors) approves, rejects
and publishes; `read` reads. Whoever last edited a draft cannot approve it (403 four_eyes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_RESPONSES, Approver, Reader, Worker
from api.deps import SettingsDep, StoreDep
from api.errors import ApiError, ErrorResponse
from api.openapi import CONFLICT
from api.params import FreeText, Line, Text
from store.records import Draft, DraftRevision, Publication
from triage.errors import TransitionError
from triage.replies import approval, drafts, exports
from triage.replies.drafts import ReplyConfig
from triage.replies.errors import (
    DraftInputError,
    DraftStateError,
    FourEyesError,
    GroundingError,
    LlmUnavailable,
    TemplateError,
)
from triage.replies.follow import get_incident
from triage.replies.grounding import check_text
from triage.replies.llm import LlmClient, rewrite_draft

router = APIRouter(prefix="/api/v1", tags=["drafts"], responses=AUTH_RESPONSES)

Ident = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
Version = Annotated[int, Field(ge=1, description="the draft's version you read (409 if stale)")]


def reply_config(settings: SettingsDep) -> ReplyConfig:
    """Office, zone, team names (from the playbook) and templates for drafting."""
    return ReplyConfig.from_settings(settings)


ConfigDep = Annotated[ReplyConfig, Depends(reply_config)]


def llm_client(settings: SettingsDep) -> LlmClient | None:
    return LlmClient.from_settings(settings)


@contextmanager
def reply_errors() -> Iterator[None]:
    """Domain errors of the replies package -> the one error shape."""
    try:
        yield
    except FourEyesError as exc:
        raise ApiError(403, "four_eyes", str(exc)) from None
    except DraftStateError as exc:
        raise ApiError(
            409, "invalid_state", str(exc), [{"field": "state", "message": str(exc)}]
        ) from None
    except GroundingError as exc:
        details = [{"field": "text", "message": p} for p in exc.problems]
        raise ApiError(409, "not_grounded", str(exc), details) from None
    except DraftInputError as exc:
        raise ApiError(
            422, "invalid_input", str(exc), [{"field": exc.field, "message": str(exc)}]
        ) from None
    except TemplateError as exc:
        details = [{"field": "template", "message": p} for p in exc.problems]
        raise ApiError(422, "template_error", str(exc), details) from None
    except LlmUnavailable as exc:  # a stated refusal of this deployment, not a server fault
        raise ApiError(409, "llm_unavailable", str(exc)) from None
    except TransitionError as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from None


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DraftCreate(_Body):
    template: str | None = Field(
        None, pattern=r"^[a-z0-9_]{1,64}$", description="default: the playbook's reply template"
    )


class DraftEdit(_Body):
    version: Version
    text: Text = Field(min_length=1, max_length=drafts.MAX_TEXT)
    title: Line | None = Field(None, min_length=1, max_length=drafts.MAX_TITLE)
    note: FreeText | None = Field(None, max_length=500, description="what changed and why")


class SourceAdd(_Body):
    version: Version
    name: Text = Field(min_length=1, max_length=100, description="who said it, e.g. 市卫健委")
    text: Text = Field(min_length=1, max_length=4000, description="what they said")
    url: str | None = Field(None, max_length=2000, pattern=r"^https?://\S+$")
    verdict: Literal["false", "misleading", "true", "unverified"] | None = None


class VersionOnly(_Body):
    version: Version


class Rewrite(_Body):
    version: Version
    instructions: FreeText | None = Field(None, max_length=500, description="e.g. 更简短")


class Review(_Body):
    version: Version
    comment: FreeText | None = Field(None, max_length=2000)


class Rejection(_Body):
    version: Version
    comment: Text = Field(min_length=1, max_length=2000, description="what to change")


class PublishRequest(_Body):
    version: Version
    channel: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$", description="weibo, wechat, website, ..."
    )
    url: str | None = Field(None, max_length=2000, pattern=r"^https?://\S+$")
    format: exports.Format | None = Field(None, description="default by channel, else plain")


class SentenceView(BaseModel):
    index: int
    text: str
    refs: list[int]
    problems: list[str]


class DraftDetail(BaseModel):
    draft: Draft
    sentences: list[SentenceView]
    allowed_actions: list[str]


class RewriteResult(BaseModel):
    accepted: bool
    reason: str
    problems: list[str]
    draft: Draft


class ExportResult(BaseModel):
    format: str
    text: str
    chars: int
    truncated: bool


ACTIONS = {
    "drafting": ["edit", "add_source", "regenerate", "rewrite", "submit"],
    "in_review": ["approve", "reject"],
    "approved": ["publish"],
    "published": ["publish"],
    "superseded": [],
}


def _detail(draft: Draft) -> DraftDetail:
    report = check_text(draft.title, draft.text, draft.sources)
    by_sentence: dict[int, list[str]] = {}
    for problem in report.problems:
        by_sentence.setdefault(problem.sentence, []).append(
            f"{problem.severity}: {problem.message}"
        )
    sentences = [
        SentenceView(
            index=s.index, text=s.text, refs=list(s.refs), problems=by_sentence.get(s.index, [])
        )
        for s in report.sentences
    ]
    return DraftDetail(draft=draft, sentences=sentences, allowed_actions=ACTIONS[draft.state.value])


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# routes
# --------------------------------------------------------------------------------------------


@router.post(
    "/incidents/{incident_id}/drafts",
    response_model=DraftDetail,
    status_code=201,
    summary="Create a reply draft from the playbook's template",
    responses={
        **CONFLICT,
        404: {"model": ErrorResponse, "description": "no such incident or reply template"},
    },
)
def create(
    incident_id: Ident, body: DraftCreate, principal: Worker, store: StoreDep, config: ConfigDep
) -> DraftDetail:
    if body.template is not None and body.template not in config.templates.catalog:
        known = ", ".join(sorted(config.templates.catalog))
        raise ApiError(
            404,
            "not_found",
            f"unknown reply template {body.template!r}; known: {known}",
            [{"field": "template", "message": f"known: {known}"}],
        )
    with reply_errors():
        draft = drafts.create_draft(
            store,
            incident_id,
            actor=principal.username,
            now=_now(),
            config=config,
            template=body.template,
        )
    return _detail(draft)


@router.get(
    "/incidents/{incident_id}/drafts", response_model=list[Draft], summary="Drafts of an incident"
)
def list_for_incident(incident_id: Ident, principal: Reader, store: StoreDep) -> list[Draft]:
    get_incident(store, incident_id)
    return drafts.list_drafts(store, incident_id)


@router.get(
    "/drafts/{draft_id}", response_model=DraftDetail, summary="A draft with its citations checked"
)
def show(draft_id: Ident, principal: Reader, store: StoreDep) -> DraftDetail:
    return _detail(drafts.get_draft(store, draft_id))


@router.patch("/drafts/{draft_id}", response_model=DraftDetail, summary="Edit (a new revision)")
def edit(
    draft_id: Ident, body: DraftEdit, principal: Worker, store: StoreDep, config: ConfigDep
) -> DraftDetail:
    with reply_errors():
        draft = drafts.edit_draft(
            store,
            draft_id,
            expected_version=body.version,
            text=body.text,
            title=body.title,
            note=body.note,
            actor=principal.username,
            now=_now(),
            config=config,
        )
    return _detail(draft)


@router.get("/drafts/{draft_id}/versions", response_model=list[DraftRevision], summary="Revisions")
def versions(draft_id: Ident, principal: Reader, store: StoreDep) -> list[DraftRevision]:
    return drafts.get_draft(store, draft_id).revisions


@router.post(
    "/drafts/{draft_id}/sources", response_model=DraftDetail, summary="Add an authoritative source"
)
def add_source(
    draft_id: Ident, body: SourceAdd, principal: Worker, store: StoreDep, config: ConfigDep
) -> DraftDetail:
    with reply_errors():
        draft = drafts.add_source(
            store,
            draft_id,
            expected_version=body.version,
            name=body.name,
            text=body.text,
            url=body.url,
            verdict=body.verdict,
            actor=principal.username,
            now=_now(),
            config=config,
        )
    return _detail(draft)


@router.post(
    "/drafts/{draft_id}/regenerate", response_model=DraftDetail, summary="Fill the template again"
)
def regenerate(
    draft_id: Ident, body: VersionOnly, principal: Worker, store: StoreDep, config: ConfigDep
) -> DraftDetail:
    with reply_errors():
        draft = drafts.regenerate(
            store,
            draft_id,
            expected_version=body.version,
            actor=principal.username,
            now=_now(),
            config=config,
        )
    return _detail(draft)


@router.post(
    "/drafts/{draft_id}/rewrite",
    response_model=RewriteResult,
    summary="LLM rewrite (checked)",
    responses={
        409: {
            "model": ErrorResponse,
            "description": "stale version, a draft not in drafting, or no LLM configured "
            "(code llm_unavailable: TINGFENG_LLM_URL, TINGFENG_LLM_MODEL)",
        }
    },
)
def rewrite(
    draft_id: Ident,
    body: Rewrite,
    principal: Worker,
    store: StoreDep,
    config: ConfigDep,
    client: Annotated[LlmClient | None, Depends(llm_client)],
) -> RewriteResult:
    with reply_errors():
        draft, outcome = rewrite_draft(
            store,
            draft_id,
            expected_version=body.version,
            client=client,
            actor=principal.username,
            now=_now(),
            config=config,
            instructions=body.instructions,
        )
    return RewriteResult(
        accepted=outcome.accepted,
        reason=outcome.reason,
        problems=outcome.problems or [],
        draft=draft,
    )


@router.post("/drafts/{draft_id}/submit", response_model=DraftDetail, summary="Submit for review")
def submit(
    draft_id: Ident, body: Review, principal: Worker, store: StoreDep, config: ConfigDep
) -> DraftDetail:
    with reply_errors():
        draft = approval.submit(
            store,
            draft_id,
            expected_version=body.version,
            actor=principal.username,
            now=_now(),
            config=config,
            comment=body.comment,
        )
    return _detail(draft)


@router.post(
    "/drafts/{draft_id}/approve", response_model=DraftDetail, summary="Approve (not your own edit)"
)
def approve(draft_id: Ident, body: Review, principal: Approver, store: StoreDep) -> DraftDetail:
    with reply_errors():
        draft = approval.approve(
            store,
            draft_id,
            expected_version=body.version,
            actor=principal.username,
            now=_now(),
            comment=body.comment,
        )
    return _detail(draft)


@router.post(
    "/drafts/{draft_id}/reject", response_model=DraftDetail, summary="Send back with a comment"
)
def reject(draft_id: Ident, body: Rejection, principal: Approver, store: StoreDep) -> DraftDetail:
    with reply_errors():
        draft = approval.reject(
            store,
            draft_id,
            expected_version=body.version,
            actor=principal.username,
            now=_now(),
            comment=body.comment,
        )
    return _detail(draft)


@router.post(
    "/drafts/{draft_id}/publish",
    response_model=Publication,
    status_code=201,
    summary="Record publishing",
)
def publish(
    draft_id: Ident, body: PublishRequest, principal: Approver, store: StoreDep, config: ConfigDep
) -> Publication:
    with reply_errors():
        return approval.publish(
            store,
            draft_id,
            expected_version=body.version,
            channel=body.channel,
            actor=principal.username,
            now=_now(),
            config=config,
            url=body.url,
            fmt=body.format,
        )


@router.get("/drafts/{draft_id}/export", response_model=ExportResult, summary="Text to paste")
def export(
    draft_id: Ident,
    principal: Reader,
    store: StoreDep,
    settings: SettingsDep,
    format: Annotated[
        exports.Format, Query(description="plain, weibo, markdown or html")
    ] = "plain",
) -> ExportResult:
    with reply_errors():
        result = exports.export(
            drafts.get_draft(store, draft_id),
            format,
            weibo_max_chars=settings.reply_weibo_max_chars,
        )
    return ExportResult(
        format=result.format, text=result.text, chars=result.chars, truncated=result.truncated
    )
