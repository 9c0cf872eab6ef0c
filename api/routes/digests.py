"""Supervisors' digests, as saved by `tingfeng digest` and the scheduled jobs (supervisor role)."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from api.auth import AUTH_RESPONSES, Approver
from api.deps import SettingsDep
from api.errors import ApiError, ErrorResponse
from digest.deliver import FILES, digest_dir
from digest.model import Digest, Kind

router = APIRouter(prefix="/api/v1/digests", tags=["digests"], responses=AUTH_RESPONSES)

Format = Literal["json", "html", "md", "txt", "pdf"]
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "pdf": "application/pdf",
}


class DigestSummary(BaseModel):
    kind: Kind
    day: date
    title: str
    empty: bool
    generated_at: str
    links: dict[str, str]


class DigestList(BaseModel):
    items: list[DigestSummary]


def _links(public_url: str, kind: Kind, day: date) -> dict[str, str]:
    base = f"{public_url.rstrip('/')}/api/v1/digests/{day}?kind={kind}"
    return {fmt: f"{base}&format={fmt}" for fmt in FILES}


@router.get("", response_model=DigestList, summary="Saved digests, newest first")
def list_digests(
    principal: Approver,
    settings: SettingsDep,
    kind: Kind | None = None,
    size: Annotated[int, Query(ge=1, le=366)] = 30,
) -> DigestList:
    items: list[DigestSummary] = []
    kinds: list[Kind] = [kind] if kind else ["daily", "weekly"]
    for k in kinds:
        root = settings.data_dir / "digests" / k
        for path in root.glob(f"*/{FILES['json']}") if root.is_dir() else []:
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                day = date.fromisoformat(path.parent.name)
            except ValueError:
                continue  # a stray or half-written file
            items.append(
                DigestSummary(
                    kind=k,
                    day=day,
                    title=doc.get("title", ""),
                    empty=bool(doc.get("empty")),
                    generated_at=str(doc.get("generated_at", "")),
                    links=_links(settings.public_url, k, day),
                )
            )
    items.sort(key=lambda s: (s.day, s.kind), reverse=True)
    return DigestList(items=items[:size])


def _inline_charts(html: str, directory: Path) -> str:
    """The saved HTML refers to charts/<name>.png; served alone it carries them inline."""
    for png in sorted((directory / "charts").glob("*.png")):
        uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
        html = html.replace(f'src="charts/{png.name}"', f'src="{uri}"')
    return html


@router.get(
    "/{day}",
    response_model=Digest,
    summary="One digest: JSON (default), or html / md / txt / pdf",
    responses={
        200: {
            "content": {media: {} for media in MEDIA_TYPES.values()},
            "description": "the digest in the requested format",
        },
        404: {"model": ErrorResponse, "description": "no digest for that day"},
    },
)
def get_digest(
    principal: Approver,
    settings: SettingsDep,
    day: date,
    kind: Kind = "daily",
    format: Format = "json",
) -> Digest | Response:
    directory = digest_dir(settings.data_dir, kind, day.isoformat())
    source = directory / FILES["json"]
    if not source.is_file():
        raise ApiError(
            404, "not_found", f"no {kind} digest for {day}; build one: tingfeng digest --date {day}"
        )
    if format == "json":
        return Digest.model_validate_json(source.read_text(encoding="utf-8"))
    path = directory / FILES[format]
    if not path.is_file():
        raise ApiError(404, "not_found", f"the {kind} digest for {day} has no {format} version")
    if format == "pdf":
        return Response(
            path.read_bytes(),
            media_type=MEDIA_TYPES["pdf"],
            headers={"Content-Disposition": f'inline; filename="tingfeng-{kind}-{day}.pdf"'},
        )
    text = path.read_text(encoding="utf-8")
    if format == "html":
        text = _inline_charts(text, directory)
    return Response(text, media_type=MEDIA_TYPES[format])
