"""The active playbook (read), and checking a candidate playbook (admins)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_RESPONSES, PlaybookAdmin, Reader
from api.deps import SettingsDep
from api.errors import ApiError
from triage.errors import PlaybookError
from triage.playbook import Playbook, current_playbook, parse_playbook

router = APIRouter(prefix="/api/v1/playbook", tags=["playbook"], responses=AUTH_RESPONSES)


class PlaybookCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, max_length=500_000, description="the playbook file's text")


class Problem(BaseModel):
    rule: str | None
    field: str | None
    message: str


class CheckResult(BaseModel):
    valid: bool
    problems: list[Problem]
    signals: int = 0
    routes: int = 0
    teams: int = 0


@router.get(
    "", response_model=Playbook, summary="The active playbook (signals, severity, routes, SLAs)"
)
def show_playbook(principal: Reader, settings: SettingsDep) -> Playbook:
    try:
        book = current_playbook(settings.playbook_file)
    except PlaybookError as exc:
        raise ApiError(503, "playbook_invalid", str(exc)) from None
    return book


@router.post("/check", response_model=CheckResult, summary="Validate a candidate playbook")
def check_playbook(body: PlaybookCheck, principal: PlaybookAdmin) -> CheckResult:
    try:
        book = parse_playbook(body.yaml, file="<request>")
    except PlaybookError as exc:
        return CheckResult(
            valid=False,
            problems=[Problem(rule=p.rule, field=p.field, message=p.message) for p in exc.problems],
        )
    return CheckResult(
        valid=True,
        problems=[],
        signals=len(book.signals),
        routes=len(book.routes),
        teams=len(book.teams),
    )
