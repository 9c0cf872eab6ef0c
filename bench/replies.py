"""`tingfeng bench replies`: how trustworthy are the drafts and the checks, on real debunks?

1. Template drafts on real data: every fake CHECKED post with its official ruling, and every
   false/misleading claim of 较真 and 丁香医生 (the claim as the post), composed into a
   rumor rebuttal. Measured: drafts with grounding errors / warnings (should be none), and the
   time to compose and to check one draft.
2. The hallucination check (what an LLM rewrite must pass): each clean draft gets one injected
   sentence per kind, cited to the debunk, stating a number, a place or a date the sources do
   not contain, or a real sentence with its citation dropped. Measured: the share rejected
   (recall), per kind; and a faithful rewrite (numbers under 100 in Chinese numerals, 的
   dropped) must still pass (share accepted).
3. The half-life estimator: Poisson counts of known exponential decays (seeded), median
   relative error per true half-life.
"""

from __future__ import annotations

import math
import random
import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from analysis.text import normalize, segment
from nlp.kb_import import (
    checked_claim_id,
    checked_rebuttal,
    make_claim,
    read_dxy,
    read_jiaozhen,
    read_jsonl,
)
from store.records import Claim, Incident, Post
from triage.replies.compose import compose
from triage.replies.effect import decay_half_life
from triage.replies.grounding import check_text, split_sentences

T0 = datetime(2020, 2, 1, 9, 0, tzinfo=UTC)
PLACES = ["哈尔滨市", "乌鲁木齐", "拉萨市", "呼和浩特", "海口市", "西宁市", "银川市", "南宁市"]
HALF_LIVES = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass
class Case:
    origin: str
    post: Post
    claim: Claim


@dataclass
class BenchResult:
    drafts: int = 0
    with_errors: int = 0
    with_warnings: int = 0
    examples: list[str] = field(default_factory=list)
    compose_ms: float = 0.0
    check_ms: float = 0.0
    injected: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (caught, tried)
    faithful: tuple[int, int] = (0, 0)  # faithful rewrites accepted, tried
    half_life_error: dict[float, float] = field(default_factory=dict)  # true h -> median rel. err


def _post(n: int, text: str) -> Post:
    norm = normalize(text)
    return Post(id=f"bench-{n}", source="bench", platform="weibo", text=text, text_norm=norm,
                tokens=" ".join(segment(norm)), segmenter="bench", created_at=T0, fetched_at=T0)  # fmt: skip


def cases(root: Path, limit: int) -> Iterator[Case]:
    """Real rumor posts with their real debunks (CHECKED), then claims as posts (较真, 丁香医生)."""
    n = 0
    seen: set[str] = set()
    for row in read_jsonl(root / "checked_covid_weibo" / "posts.jsonl"):
        if row.get("label") != "fake" or not row.get("analysis"):
            continue
        rebuttal = checked_rebuttal(row["analysis"])
        if rebuttal is None or checked_claim_id(rebuttal) in seen or n >= limit:
            continue
        seen.add(checked_claim_id(rebuttal))
        claim = make_claim(origin="checked", native_id=rebuttal.answer, claim=rebuttal.claim,
                           answer=rebuttal.answer, verdict="false", source_name=rebuttal.source_name,
                           source_url=rebuttal.source_url)  # fmt: skip
        n += 1
        yield Case("checked_covid_weibo", _post(n, row["text"]), claim)
    for origin, reader in (("tencent_jiaozhen", read_jiaozhen), ("dxy", read_dxy)):
        count = 0
        for claim in reader(root):
            if claim.verdict not in ("false", "misleading") or not claim.answer or count >= limit:
                continue
            count += 1
            n += 1
            yield Case(origin, _post(n, claim.claim), claim)


_CN_DIGITS = "零一二三四五六七八九"


def _chinese(number: int) -> str:
    if number < 10:
        return _CN_DIGITS[number]
    tens, ones = divmod(number, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")


def faithful(text: str) -> str:
    """A rewrite that changes no fact: numbers under 100 in Chinese numerals, 的 dropped."""
    text = re.sub(
        r"(?<![\d.\[:：])(\d{1,2})(?![\d.%\]:：])", lambda m: _chinese(int(m.group(1))), text
    )
    return text.replace("的", "")


def _new_date(rng: random.Random, sources: str) -> str:
    while True:
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        if f"{month}月{day}" not in sources and f"{month}月" not in sources:
            return f"{month}月{day}日"


def _inject(text: str, kind: str, debunk_ref: int, rng: random.Random, sources: str) -> str:
    lines = text.splitlines()
    if kind == "dropped citation":
        cited = [i for i, line in enumerate(lines) if f"[{debunk_ref}]" in line]
        lines[cited[-1]] = lines[cited[-1]].replace(f"[{debunk_ref}]", "")
        return "\n".join(lines)
    extra = {
        "number": f"目前共有{rng.randint(1000, 9999)}名市民咨询[{debunk_ref}]。",
        "place": f"{rng.choice([p for p in PLACES if p[:2] not in sources])}也出现了同样的传言[{debunk_ref}]。",
        "date": f"该说法最早出现于{_new_date(rng, sources)}[{debunk_ref}]。",
    }[kind]
    return "\n".join([*lines[:2], extra, *lines[2:]])


def bench_replies(
    root: Path, *, limit: int = 400, seed: int = 7, on_case: Callable[[], None] | None = None
) -> BenchResult:
    rng = random.Random(seed)
    result = BenchResult()
    incident = Incident(id="bench", title="谣言", category="rumor", severity=2, created_at=T0,
                        updated_at=T0, jurisdiction_name="武汉市")  # fmt: skip
    compose_s = check_s = 0.0
    kinds = ("number", "place", "date", "dropped citation")
    caught = dict.fromkeys(kinds, 0)
    tried = dict.fromkeys(kinds, 0)
    for case in cases(root, limit):
        start = time.perf_counter()
        draft = compose("rumor_rebuttal", incident=incident, posts=[case.post], claims=[case.claim],
                        office="新闻办", team_name="辟谣组")  # fmt: skip
        middle = time.perf_counter()
        report = check_text(draft.title, draft.text, draft.sources)
        compose_s += middle - start
        check_s += time.perf_counter() - middle
        result.drafts += 1
        if report.errors:
            result.with_errors += 1
            if len(result.examples) < 5:
                result.examples.append(f"{case.origin}: {report.errors[0]}")
        elif report.warnings:
            result.with_warnings += 1
            if len(result.examples) < 5:
                result.examples.append(f"{case.origin}: {report.warnings[0]}")
        if report.problems or draft.evidence_needed:
            if on_case:
                on_case()
            continue
        debunk = next(s.ref for s in draft.sources if s.kind == "claim")
        if sum(f"[{debunk}]" in s.text for s in split_sentences(draft.text)) == 0:
            continue
        everything = " ".join(s.text + s.name for s in draft.sources)
        for kind in kinds:
            text = _inject(draft.text, kind, debunk, rng, everything)
            tried[kind] += 1
            # an LLM rewrite is rejected on any problem (errors and uncited warnings)
            caught[kind] += bool(check_text(draft.title, text, draft.sources).problems)
        ok = not check_text(draft.title, faithful(draft.text), draft.sources).problems
        result.faithful = (result.faithful[0] + ok, result.faithful[1] + 1)
        if on_case:
            on_case()
    result.compose_ms = 1000 * compose_s / max(1, result.drafts)
    result.check_ms = 1000 * check_s / max(1, result.drafts)
    result.injected = {k: (caught[k], tried[k]) for k in kinds}
    result.half_life_error = half_life_accuracy(rng)
    return result


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method (means here stay small)."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def half_life_accuracy(
    rng: random.Random, *, trials: int = 200, start_rate: float = 30.0
) -> dict[float, float]:
    """Median relative error of `decay_half_life` on Poisson counts over 24 hourly buckets."""
    out: dict[float, float] = {}
    for true in HALF_LIVES:
        errors = []
        for _ in range(trials):
            counts = [_poisson(rng, start_rate * 0.5 ** (t / true)) for t in range(24)]
            estimate = decay_half_life(counts)
            errors.append(abs(estimate - true) / true if estimate is not None else 1.0)
        out[true] = statistics.median(errors)
    return out
