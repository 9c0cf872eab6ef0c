"""Loaders for the shared labeled datasets, deduplication by normalized text, seeded splits.

Data never lives in the repository: every loader takes the datasets root (default
`../shared/datasets`, `--data` on the CLI). Each loader returns `Example`s with the dataset's
own label; a task config maps those labels onto the task's classes (explicitly, in YAML).

Deduplication happens before splitting: ced_weibo_rumor and ma2016_weibo_rumor share ~1,500
posts, and the emotion sets repeat texts. Examples with the same normalized text merge into one
(remembering every dataset they came from); if their mapped labels disagree the text is dropped.
The split of a text is a pure function of (seed, normalized text), so it never depends on
loading order and the same post is in the same split for every model of a task.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.text import normalize
from nlp.errors import DatasetError

log = logging.getLogger(__name__)


@dataclass
class Example:
    id: str
    text: str
    label: str
    dataset: str
    context: list[str] = field(default_factory=list)  # earliest reposts/comments, in order
    engagement: dict[str, int] = field(default_factory=dict)


@dataclass
class TaskExample:
    """A deduplicated example of a task: normalized text, task label, origins and split."""

    text: str
    label: str
    datasets: list[str]
    ids: list[str]
    split: str = "train"
    context: list[str] = field(default_factory=list)
    engagement: dict[str, int] = field(default_factory=dict)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        raise DatasetError(f"{path}: not found (is --data pointing at the shared datasets?)")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{lineno}: not JSON ({exc.msg})") from None


def _counts(row: dict[str, Any], **names: str) -> dict[str, int]:
    out = {}
    for key, source in names.items():
        value = row.get(source)
        if isinstance(value, int | float):
            out[key] = int(value)
    return out


def _reposts(path: Path, key: str) -> dict[str, list[str]]:
    by_source: dict[str, list[tuple[int, str]]] = {}
    for row in _read_jsonl(path):
        by_source.setdefault(str(row[key]), []).append((int(row["rank"]), row.get("text") or ""))
    return {k: [t for _, t in sorted(v)] for k, v in by_source.items()}


def load_ced(root: Path, *, context: bool = False) -> list[Example]:
    folder = root / "ced_weibo_rumor"
    reposts = _reposts(folder / "reposts_first10.jsonl", "source_id") if context else {}
    return [
        Example(
            id=str(row["id"]),
            text=row.get("text") or "",
            label=row["label"],
            dataset="ced_weibo_rumor",
            context=reposts.get(str(row["id"]), []),
            engagement=_counts(
                row, reposts="reposts_count", comments="comments_count", likes="likes_count"
            ),
        )
        for row in _read_jsonl(folder / "posts.jsonl")
    ]


def load_ma2016(root: Path, *, context: bool = False) -> list[Example]:
    folder = root / "ma2016_weibo_rumor"
    reposts = _reposts(folder / "reposts_first10.jsonl", "event_id") if context else {}
    return [
        Example(
            id=str(row["id"]),
            text=row.get("text") or "",
            label=row["label"],
            dataset="ma2016_weibo_rumor",
            context=reposts.get(str(row["id"]), []),
            engagement=_counts(
                row, reposts="reposts_count", comments="comments_count", likes="attitudes_count"
            ),
        )
        for row in _read_jsonl(folder / "events.jsonl")
    ]


def load_checked(root: Path, *, context: bool = False) -> list[Example]:
    out = []
    for row in _read_jsonl(root / "checked_covid_weibo" / "posts.jsonl"):
        comments = row.get("comments_first10") or []
        out.append(
            Example(
                id=str(row["id"]),
                text=row.get("text") or "",
                label=row["label"],
                dataset="checked_covid_weibo",
                context=[c.get("text") or "" for c in comments] if context else [],
                engagement=_counts(
                    row, reposts="repost_num", comments="comment_num", likes="like_num"
                ),
            )
        )
    return out


def _simple(folder: str, *files: str) -> Callable[..., list[Example]]:
    def load(root: Path, *, context: bool = False) -> list[Example]:
        return [
            Example(
                id=str(row["id"]),
                text=row.get("text") or "",
                label=str(row.get("label") or ""),
                dataset=folder,
            )
            for name in files
            for row in _read_jsonl(root / folder / name)
        ]

    return load


LOADERS: dict[str, Callable[..., list[Example]]] = {
    "ced_weibo_rumor": load_ced,
    "ma2016_weibo_rumor": load_ma2016,
    "checked_covid_weibo": load_checked,
    "smp2020_ewect_usual": _simple("smp2020_ewect_usual", "train.jsonl"),
    "nlpcc2020_covid_weibo_emotion": _simple("nlpcc2020_covid_weibo_emotion", "labeled.jsonl"),
    "cluemotion2020_weibo_emotion": _simple(
        "cluemotion2020_weibo_emotion", "valid.jsonl", "test.jsonl"
    ),
    "osm2022_weibo_social_movement_sentiment": _simple(
        "osm2022_weibo_social_movement_sentiment", "train.jsonl", "test.jsonl"
    ),
    "chnsenticorp_htl_all": _simple("chnsenticorp_htl_all", "reviews.jsonl"),
    "piyao_org_cn_titles": _simple("piyao_org_cn_titles", "titles.jsonl"),
    "tencent_jiaozhen_covid_factcheck": _simple("tencent_jiaozhen_covid_factcheck", "claims.jsonl"),
    "dxy_covid_rumor_debunks": _simple("dxy_covid_rumor_debunks", "claims.jsonl"),
    "cofacts_early_2017_rumor_answers": _simple("cofacts_early_2017_rumor_answers", "pairs.jsonl"),
    # unlabeled (label ""): epidemic-era posts, the deployment-like stream for prior estimation
    "covid_weibo_hashtag_topics": _simple("covid_weibo_hashtag_topics", "posts_sample.jsonl"),
}


def load_dataset(root: Path, name: str, *, context: bool = False) -> list[Example]:
    if name not in LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(LOADERS))}")
    if not root.is_dir():
        raise DatasetError(f"{root}: datasets folder not found (set --data)")
    return LOADERS[name](root, context=context)


def context_text(reposts: Sequence[str], limit: int) -> str:
    """The earliest reposts/comments of a post as one normalized text."""
    return normalize(" / ".join(r for r in list(reposts)[:limit] if r and r.strip()))


def split_of(text: str, seed: int, test_fraction: float, dev_fraction: float) -> str:
    """`test`, `dev` or `train`: a pure function of the seed and the normalized text."""
    digest = hashlib.sha1(f"{seed}\x1f{text}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + dev_fraction:
        return "dev"
    return "train"


@dataclass
class DedupReport:
    loaded: int = 0
    unmapped: int = 0
    empty: int = 0
    merged: int = 0
    conflicting: int = 0
    kept: int = 0


def build_task_examples(
    examples: list[Example],
    label_maps: dict[str, dict[str, str | None]],
    *,
    seed: int,
    test_fraction: float,
    dev_fraction: float,
) -> tuple[list[TaskExample], DedupReport]:
    """Map labels, drop unmapped, dedup by normalized text (conflicts dropped), assign splits.

    `label_maps[dataset][label]` is the task label, or None to drop that class; a dataset
    without a map keeps its labels as they are."""
    report = DedupReport(loaded=len(examples))
    by_text: dict[str, TaskExample] = {}
    conflicted: set[str] = set()
    for ex in examples:
        mapping = label_maps.get(ex.dataset)
        label = mapping.get(ex.label) if mapping is not None else ex.label
        if label is None:
            report.unmapped += 1
            continue
        text = normalize(ex.text)
        if not text:
            report.empty += 1
            continue
        if text in conflicted:
            continue
        seen = by_text.get(text)
        if seen is None:
            by_text[text] = TaskExample(
                text=text,
                label=label,
                datasets=[ex.dataset],
                ids=[ex.id],
                context=ex.context,
                engagement=ex.engagement,
            )
            continue
        report.merged += 1
        if seen.label != label:
            conflicted.add(text)
            del by_text[text]
            continue
        if ex.dataset not in seen.datasets:
            seen.datasets.append(ex.dataset)
        seen.ids.append(ex.id)
        if not seen.context and ex.context:
            seen.context = ex.context
    report.conflicting = len(conflicted)
    out = sorted(by_text.values(), key=lambda t: t.text)
    for item in out:
        item.split = split_of(item.text, seed, test_fraction, dev_fraction)
    report.kept = len(out)
    log.info(
        "examples: %d loaded, %d unmapped, %d empty, %d merged duplicates, %d conflicting "
        "texts dropped, %d kept",
        report.loaded,
        report.unmapped,
        report.empty,
        report.merged,
        report.conflicting,
        report.kept,
    )
    return out, report


# Origin and license as stated in each dataset's README (for model cards).
DATASET_INFO: dict[str, tuple[str, str]] = {
    "ced_weibo_rumor": (
        "thunlp/Chinese_Rumor_Dataset (CED, Song et al. 2021), Weibo 2010-2014",
        "no licence file; research use, cite Song et al.",
    ),
    "ma2016_weibo_rumor": (
        "Ma et al. 2016 rumdect Weibo events (via ww-rm/weibo-rmdt, labels TianBian95/BiGCN)",
        "released 'fully public for research purposes'; no explicit data licence",
    ),
    "checked_covid_weibo": (
        "cyang03/CHECKED (Yang, Zhou, Zafarani 2021), COVID Weibo 2019-12..2020-08",
        "academic research only",
    ),
    "smp2020_ewect_usual": (
        "SMP2020-EWECT usual training set (HIT-SCIR; via zhusleep/weibo_sentiment_analysis)",
        "no licence file; research use",
    ),
    "nlpcc2020_covid_weibo_emotion": (
        "COVID-19-Weibo-data labeledData.csv (Lyu et al., NLPCC 2020), deduplicated",
        "none stated; cite the paper",
    ),
    "cluemotion2020_weibo_emotion": (
        "CLUEbenchmark/CLUEmotionAnalysis2020 valid+test (Li et al., LREC 2016)",
        "none stated; cite Li et al. 2016",
    ),
    "osm2022_weibo_social_movement_sentiment": (
        "hyqaq/osmdataset2022 (Li et al., ICAC 2022)",
        "academic, non-commercial research only",
    ),
    "chnsenticorp_htl_all": (
        "SophonPlus/ChineseNlpCorpus ChnSentiCorp_htl_all (hotel reviews)",
        "none stated",
    ),
    "piyao_org_cn_titles": (
        "piyao.org.cn titles (via Sakura-del/Rumors_of_COVID_19)",
        "none stated; research only",
    ),
    "tencent_jiaozhen_covid_factcheck": (
        "Tencent 较真 fact-checks (via Sakura-del/Rumors_of_COVID_19)",
        "none stated; research only, do not redistribute",
    ),
    "dxy_covid_rumor_debunks": (
        "丁香医生 COVID rumor list (via Sakura-del/Rumors_of_COVID_19)",
        "none stated; research only",
    ),
    "cofacts_early_2017_rumor_answers": (
        "cofacts/rumors-db early rumor samples (zh-TW, converted t2s)",
        "Cofacts data CC0 (repo MIT)",
    ),
    "covid_weibo_hashtag_topics": (
        "COVID-19-Weibo-data unlabeled posts by hot-search hashtag, 2020-01..04 (sample)",
        "none stated",
    ),
}
