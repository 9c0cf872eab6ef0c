"""Readers that turn the shared debunk datasets into `Claim` records.

One reader per dataset folder (`READERS`); each yields claims with deterministic ids
(`make_id(origin, native id)`), so importing twice writes the same records. Traditional
Chinese (Cofacts) is converted to simplified; `claim_tokens` is the jieba segmentation of the
normalized claim plus the start of its answer, the text that matching indexes.

CHECKED holds no claim list: its fake posts carry the platform's ruling (`analysis`), e.g.
"经查，此微博称“信阳封城了”不实，@新京报 已辟谣：……详情：https://weibo.com/…，被投诉人言论构成…".
`checked_rebuttal` cuts the ruling into claim (the quoted statement), answer (the ruling without
the penalty boilerplate) and source URL; fake posts with the same answer share one claim.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from analysis.text import normalize, segment, to_simplified
from nlp.errors import NlpError
from store.records import Claim, make_id

CN_TZ = ZoneInfo("Asia/Shanghai")
ANSWER_CHARS_INDEXED = 200  # how much of an answer joins the claim in `claim_tokens`
MAX_CLAIM_CHARS = 2000

_QUOTED = re.compile(r"称\s*[“\"「](.+?)[”\"」]")
_LEADING_QUOTE = re.compile(r"^(?:经查，)?(.{4,200}?)[”\"」]\s*不实")
_DETAIL_URL = re.compile(r"详情[:：]?\s*<?(https?://[^\s，。,<>）)]+)")
_ACCOUNT = re.compile(r"@([\w\-\u4e00-\u9fff]{2,30})")
_PENALTY = re.compile(r"[，,。\s]*被(?:举报|投诉)人言论.*$", re.S)
_URL = re.compile(r"https?://\S+")


class KbError(NlpError):
    """Base of the knowledge-base and matching errors (see `nlp.kb`)."""


class KbDatasetError(KbError):
    """A dataset folder or row that cannot be read; the message names file and line."""


@dataclass(frozen=True)
class Rebuttal:
    claim: str
    answer: str
    source_url: str | None
    source_name: str


def tokens_for(claim: str, answer: str | None) -> str:
    """The space-joined tokens matching indexes for a claim (claim + start of its answer)."""
    text = claim if not answer else f"{claim} {answer[:ANSWER_CHARS_INDEXED]}"
    return " ".join(segment(normalize(text)))


def make_claim(
    *,
    origin: str,
    native_id: str,
    claim: str,
    answer: str | None,
    verdict: str,
    source_name: str,
    source_url: str | None = None,
    published_at: datetime | None = None,
) -> Claim:
    claim = claim.strip()[:MAX_CLAIM_CHARS]
    answer = answer.strip() if answer and answer.strip() else None
    return Claim(
        id=make_id(origin, native_id),
        claim=claim,
        claim_tokens=tokens_for(claim, answer),
        answer=answer,
        verdict=verdict,
        source_name=source_name,
        source_url=source_url,
        published_at=published_at,
        origin=origin,
    )


def checked_rebuttal(analysis: str) -> Rebuttal | None:
    """Claim, answer, URL and debunking account of one CHECKED ruling; None if unreadable."""
    text = analysis.strip()
    match = _QUOTED.search(text) or _LEADING_QUOTE.search(text)
    if not match:
        return None
    claim = match.group(1).strip()
    answer = _PENALTY.sub("", text).strip()
    url = _DETAIL_URL.search(text)
    account = _ACCOUNT.search(text)
    return Rebuttal(
        claim=claim,
        answer=answer,
        source_url=url.group(1) if url else None,
        source_name=account.group(1) if account else "微博社区管理中心",
    )


def checked_claim_id(rebuttal: Rebuttal) -> str:
    return make_id("checked_covid_weibo", normalize(rebuttal.answer))


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        raise KbDatasetError(f"{path}: no such file (is --datasets the shared datasets folder?)")
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise KbDatasetError(f"{path}: line {line_no}: {exc.msg}") from None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(value[:19], fmt).replace(tzinfo=CN_TZ)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CN_TZ)


def _first_url(text: str | None) -> str | None:
    match = _URL.search(text or "")
    return match.group(0).rstrip("，。,;；)）") if match else None


def read_jiaozhen(root: Path) -> Iterator[Claim]:
    verdicts = {"false": "false", "doubtful": "unverified", "true": "true"}
    for row in read_jsonl(root / "tencent_jiaozhen_covid_factcheck" / "claims.jsonl"):
        yield make_claim(
            origin="tencent_jiaozhen",
            native_id=row["id"],
            claim=row["text"],
            answer=row.get("debunk_abstract"),
            verdict=verdicts.get(row.get("label") or "", "unverified"),
            source_name="腾讯较真",
            source_url=row.get("url_hint"),
            published_at=_date(row.get("time")),
        )


def read_dxy(root: Path) -> Iterator[Claim]:
    for row in read_jsonl(root / "dxy_covid_rumor_debunks" / "claims.jsonl"):
        answer = "\n".join(p for p in (row.get("debunk_summary"), row.get("debunk_body")) if p)
        yield make_claim(
            origin="dxy",
            native_id=row["id"],
            claim=row["text"],
            answer=answer,
            verdict=row.get("label") or "unverified",
            source_name="丁香医生",
            source_url=row.get("source_url"),
        )


def read_piyao(root: Path) -> Iterator[Claim]:
    verdicts = {"谣言": "false", "辟谣": "false", "误区": "misleading", "事实": "true"}
    for row in read_jsonl(root / "piyao_org_cn_titles" / "titles.jsonl"):
        outlet = row.get("debunk_source")
        yield make_claim(
            origin="piyao_org_cn",
            native_id=row["id"],
            claim=row["text"],
            answer=None,
            verdict=verdicts.get(row.get("label") or "", "unverified"),
            source_name=f"中国互联网联合辟谣平台/{outlet}" if outlet else "中国互联网联合辟谣平台",
            source_url=row.get("url"),
            published_at=_date(row.get("time")),
        )


def read_checked(root: Path) -> Iterator[Claim]:
    seen: set[str] = set()
    for row in read_jsonl(root / "checked_covid_weibo" / "posts.jsonl"):
        if row.get("label") != "fake" or not row.get("analysis"):
            continue
        rebuttal = checked_rebuttal(row["analysis"])
        if rebuttal is None:
            continue
        claim_id = checked_claim_id(rebuttal)
        if claim_id in seen:
            continue
        seen.add(claim_id)
        claim = make_claim(
            origin="checked_covid_weibo",
            native_id=normalize(rebuttal.answer),
            claim=rebuttal.claim,
            answer=rebuttal.answer,
            verdict="false",
            source_name=rebuttal.source_name,
            source_url=rebuttal.source_url,
            published_at=_date(row.get("time")),
        )
        yield claim


def read_cofacts_2017(root: Path) -> Iterator[Claim]:
    for row in read_jsonl(root / "cofacts_early_2017_rumor_answers" / "pairs.jsonl"):
        yield make_claim(
            origin="cofacts_2017",
            native_id=row["id"],
            claim=to_simplified(row["text"]),
            answer=to_simplified(row.get("answer") or ""),
            verdict="false",
            source_name="Cofacts 真的假的",
            source_url=_first_url(row.get("reference")),
        )


def read_cofacts_2019(root: Path) -> Iterator[Claim]:
    """Cofacts editor replies (message texts are absent): the reply restates the claim."""
    verdicts = {"RUMOR": "false", "NOT_RUMOR": "true"}
    for row in read_jsonl(root / "cofacts_replies_2019" / "replies.jsonl"):
        verdict = verdicts.get(row.get("label") or "")
        if verdict is None or not (row.get("text") or "").strip():
            continue
        text = to_simplified(row["text"])
        yield make_claim(
            origin="cofacts_2019",
            native_id=row["id"],
            claim=text,
            answer=None,
            verdict=verdict,
            source_name="Cofacts 真的假的",
            source_url=_first_url(row.get("reference")),
            published_at=_date(row.get("time")),
        )


READERS: dict[str, Callable[[Path], Iterator[Claim]]] = {
    "tencent_jiaozhen": read_jiaozhen,
    "dxy": read_dxy,
    "piyao_org_cn": read_piyao,
    "checked_covid_weibo": read_checked,
    "cofacts_2017": read_cofacts_2017,
    "cofacts_2019": read_cofacts_2019,
}
