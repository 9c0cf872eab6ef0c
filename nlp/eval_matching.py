"""Evaluate claim matching on CHECKED and tune the `suggest`/`confirm` thresholds.

Each CHECKED fake post must retrieve its own official rebuttal (the claim built from its
`analysis`): Recall@1, Recall@5 and MRR, among the CHECKED rebuttals alone and among the
whole knowledge base. "Grouped" Recall@1 also accepts a rebuttal that cites the same debunk
URL (several rulings answer one rumor). False matches: CHECKED real (People's Daily) posts
whose best claim passes a threshold.

Split: fake posts by their rebuttal (so a claim is in one half only), real posts by id, 50/50
by hash. Thresholds are chosen on the dev half (confirm: lowest threshold with false-match
rate <= `confirm_fmr`; suggest: <= `suggest_fmr`), and reported on the test half.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from nlp.kb_import import READERS, checked_claim_id, checked_rebuttal, read_jsonl
from nlp.matching import ClaimIndex, MatchConfig, default_config
from store.records import Claim

GRID = [round(0.2 + 0.01 * i, 2) for i in range(76)]


@dataclass
class Scored:
    """Best hit of one post and the rank of its own rebuttal (fake posts)."""

    half: str
    score: float
    correct_top: bool
    rank: int | None
    top_origin: str | None = None


@dataclass
class MatchReport:
    kb: str
    claims: int
    fake_posts: int
    real_posts: int
    recall_at_1: float
    recall_at_5: float
    mrr: float
    grouped_recall_at_1: float
    suggest: float
    confirm: float
    test_false_match_confirm: float
    test_false_match_suggest: float
    test_recall_confirm: float
    test_recall_suggest: float
    dev_false_match_confirm: float
    posts_per_s: float
    false_matches_by_origin: dict[str, int] = field(default_factory=dict)


def _half(key: str) -> str:
    return "dev" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 2 == 0 else "test"


def checked_posts(root: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(text, rebuttal id) of fake posts and (text, post id) of real posts."""
    fake: list[tuple[str, str]] = []
    real: list[tuple[str, str]] = []
    for row in read_jsonl(root / "checked_covid_weibo" / "posts.jsonl"):
        if row.get("label") == "fake" and row.get("analysis"):
            rebuttal = checked_rebuttal(row["analysis"])
            if rebuttal is not None:
                fake.append((row["text"], checked_claim_id(rebuttal)))
        elif row.get("label") == "real":
            real.append((row["text"], row["id"]))
    return fake, real


def score_posts(
    index: ClaimIndex,
    fake: Sequence[tuple[str, str]],
    real: Sequence[tuple[str, str]],
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Scored], list[Scored]]:
    urls = {c.id: c.source_url for c in index.claims}
    fake_scored: list[Scored] = []
    for text, target in fake:
        hits = index.search(text, k=20)
        ids = [h.claim.id for h in hits]
        rank = ids.index(target) + 1 if target in ids else None
        top = hits[0] if hits else None
        same_url = bool(top and urls.get(target) and top.claim.source_url == urls[target])
        correct = bool(top and (top.claim.id == target or same_url))
        fake_scored.append(Scored(_half(target), top.score if top else 0.0, correct, rank))
        if progress:
            progress(1)
    real_scored: list[Scored] = []
    for text, post_id in real:
        hits = index.search(text, k=1)
        top = hits[0] if hits else None
        real_scored.append(
            Scored(
                _half(post_id),
                top.score if top else 0.0,
                False,
                None,
                top.claim.origin if top else None,
            )
        )
        if progress:
            progress(1)
    return fake_scored, real_scored


def _rate(items: Sequence[Scored], pred: Callable[[Scored], bool]) -> float:
    return sum(1 for s in items if pred(s)) / len(items) if items else 0.0


def tune_threshold(real_dev: Sequence[Scored], max_fmr: float) -> float:
    for t in GRID:
        if sum(1 for s in real_dev if s.score >= t) <= max_fmr * len(real_dev):
            return t
    return GRID[-1]


def evaluate_index(
    name: str,
    index: ClaimIndex,
    fake: Sequence[tuple[str, str]],
    real: Sequence[tuple[str, str]],
    *,
    confirm_fmr: float = 0.005,
    suggest_fmr: float = 0.05,
    progress: Callable[[int], None] | None = None,
) -> MatchReport:
    import time

    started = time.perf_counter()
    fake_s, real_s = score_posts(index, fake, real, progress)
    elapsed = time.perf_counter() - started
    real_dev = [s for s in real_s if s.half == "dev"]
    real_test = [s for s in real_s if s.half == "test"]
    fake_test = [s for s in fake_s if s.half == "test"]
    confirm = tune_threshold(real_dev, confirm_fmr)
    suggest = min(confirm, tune_threshold(real_dev, suggest_fmr))
    by_origin: dict[str, int] = {}
    for s in real_test:
        if s.score >= confirm and s.top_origin:
            by_origin[s.top_origin] = by_origin.get(s.top_origin, 0) + 1
    n = len(fake_s)
    return MatchReport(
        kb=name,
        claims=len(index),
        fake_posts=n,
        real_posts=len(real_s),
        recall_at_1=_rate(fake_s, lambda s: s.rank == 1),
        recall_at_5=_rate(fake_s, lambda s: s.rank is not None and s.rank <= 5),
        mrr=sum(1 / s.rank for s in fake_s if s.rank) / n if n else 0.0,
        grouped_recall_at_1=_rate(fake_s, lambda s: s.correct_top),
        suggest=suggest,
        confirm=confirm,
        test_false_match_confirm=_rate(real_test, lambda s: s.score >= confirm),
        test_false_match_suggest=_rate(real_test, lambda s: s.score >= suggest),
        test_recall_confirm=_rate(fake_test, lambda s: s.correct_top and s.score >= confirm),
        test_recall_suggest=_rate(fake_test, lambda s: s.correct_top and s.score >= suggest),
        dev_false_match_confirm=_rate(real_dev, lambda s: s.score >= confirm),
        posts_per_s=(len(fake) + len(real)) / elapsed if elapsed > 0 else 0.0,
        false_matches_by_origin=by_origin,
    )


def load_dataset_claims(root: Path, origins: Sequence[str] | None = None) -> list[Claim]:
    claims: list[Claim] = []
    for origin, reader in READERS.items():
        if origins is None or origin in origins:
            claims.extend(reader(root))
    return claims


def evaluate_matching(
    root: Path,
    config: MatchConfig | None = None,
    *,
    claims: Sequence[Claim] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[MatchReport]:
    """Reports for the CHECKED rebuttals alone and for the whole knowledge base."""
    config = config or default_config()
    fake, real = checked_posts(root)
    all_claims = list(claims) if claims is not None else load_dataset_claims(root)
    checked = [c for c in all_claims if c.origin == "checked_covid_weibo"]
    reports = []
    for name, subset in (("checked rebuttals", checked), ("whole KB", all_claims)):
        index = ClaimIndex(subset, replace(config))
        reports.append(evaluate_index(name, index, fake, real, progress=progress))
    return reports


def write_reports(reports: Sequence[MatchReport], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in reports], ensure_ascii=False, indent=2), "utf-8")
