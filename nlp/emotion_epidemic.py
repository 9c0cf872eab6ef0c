"""Hand-labelled epidemic-era posts for the emotion task: the pool, the seeded sample drawn from
it, the label fixture (ids + labels, no texts) and its scoring with bootstrap intervals.

No labelled emotion set has *neutral* epidemic posts (nlpcc2020 has no neutral class; SMP2020 is
not epidemic-era), so the cross-source protocol alone cannot see a model that calls every
epidemic post fearful. This set is a test set only: it is never trained on, and a model is
chosen on it only among a few variants declared beforehand (the model card says how many).

Pool: the unlabeled epidemic Weibo posts of `covid_weibo_hashtag_topics` (hot-search hashtag
posts, Jan-Apr 2020) and `checked_covid_weibo` (People's Daily posts + posts judged false,
Dec 2019-Aug 2020), exact duplicates (normalized text) and texts under 5 characters removed.
Sample: a seeded random sample of each dataset with the same sampling fraction (proportional
allocation), so every post has the same weight and plain counts estimate the pool.
The labelling guide is `nlp/models/emotion/LABELLING.md`.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.text import normalize
from nlp.errors import DatasetError
from nlp.readings import read_readings

POOL_FILES = {
    "covid_weibo_hashtag_topics": "posts_sample.jsonl",
    "checked_covid_weibo": "posts.jsonl",
}
LABELS = ("neutral", "happy", "angry", "sad", "fear", "surprise")
COLUMNS = ("key", "dataset", "id", "label")
SEED = 20200311
MIN_CHARS = 5


@dataclass
class EpidemicPost:
    dataset: str
    id: str
    label: str = ""
    text: str = ""  # normalized text, filled from the shared datasets

    @property
    def key(self) -> str:
        return f"{self.dataset}:{self.id}"


def load_pool(root: Path, datasets: Iterable[str] = POOL_FILES) -> list[EpidemicPost]:
    """Every post of the pool datasets, normalized, first of each duplicate text kept."""
    out: list[EpidemicPost] = []
    seen: set[str] = set()
    for name in datasets:
        path = root / name / POOL_FILES[name]
        if not path.is_file():
            raise DatasetError(f"{path}: not found (is --data pointing at the shared datasets?)")
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                text = normalize(row.get("text") or "")
                if len(text) < MIN_CHARS or text in seen:
                    continue
                seen.add(text)
                out.append(EpidemicPost(name, str(row["id"]), "", text))
    return out


def draw_sample(pool: Sequence[EpidemicPost], size: int, seed: int = SEED) -> list[EpidemicPost]:
    """`size` posts, each dataset contributing in proportion to its pool size, in a seeded
    shuffled order (the order they were labelled in)."""
    rng = random.Random(seed)
    by_dataset: dict[str, list[EpidemicPost]] = {}
    for p in pool:
        by_dataset.setdefault(p.dataset, []).append(p)
    out: list[EpidemicPost] = []
    for name in sorted(by_dataset):
        members = by_dataset[name]
        take = round(size * len(members) / len(pool))
        out.extend(rng.sample(members, take))
    rng.shuffle(out)
    return out


def read_labels(path: Path) -> list[EpidemicPost]:
    """The label fixture (TSV: key, dataset, id, label; `#` lines are comments)."""
    if not path.is_file():
        raise DatasetError(f"{path}: label file not found")
    rows = []
    with path.open(encoding="utf-8") as fh:
        reader = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")
        for i, row in enumerate(reader, 2):
            if row.get("label") not in LABELS or row.get("dataset") not in POOL_FILES:
                raise DatasetError(f"{path}:{i}: bad label or dataset in {row}")
            post = EpidemicPost(row["dataset"], row["id"], row["label"])
            if post.key != row.get("key"):
                raise DatasetError(f"{path}:{i}: key {row.get('key')} != dataset:id")
            rows.append(post)
    return rows


def read_second_reading(path: Path, rows: Sequence[EpidemicPost]) -> list[str]:
    """A second annotator's labels of `rows`, in their order, from `path` (`nlp.readings`: key,
    second; only the posts where it differs from the first label are listed)."""
    found = read_readings(path, [r.key for r in rows], LABELS, ("second",))["second"]
    return [found.get(i, r.label) for i, r in enumerate(rows)]


def write_labels(path: Path, rows: Sequence[EpidemicPost], header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        for line in header.splitlines():
            fh.write(f"# {line}\n")
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([r.key, r.dataset, r.id, r.label])


def attach_texts(rows: Sequence[EpidemicPost], root: Path) -> list[EpidemicPost]:
    """Fill `text` of each labelled row from the shared datasets (fails on a missing id)."""
    by_key = {p.key: p.text for p in load_pool(root, sorted({r.dataset for r in rows}))}
    missing = [r.key for r in rows if r.key not in by_key]
    if missing:
        raise DatasetError(
            f"{root}: {len(missing)} labelled ids not in the shared datasets "
            f"(first: {missing[0]}); is --data the right folder?"
        )
    for r in rows:
        r.text = by_key[r.key]
    return list(rows)


def _per_class(gold: np.ndarray, pred: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall per class (0 where undefined)."""
    tp = np.bincount(gold[gold == pred], minlength=k).astype(float)
    npred = np.bincount(pred, minlength=k).astype(float)
    ngold = np.bincount(gold, minlength=k).astype(float)
    p = np.divide(tp, npred, out=np.zeros(k), where=npred > 0)
    r = np.divide(tp, ngold, out=np.zeros(k), where=ngold > 0)
    return p, r


def _macro_f1(gold: np.ndarray, pred: np.ndarray, k: int) -> float:
    p, r = _per_class(gold, pred, k)
    present = np.bincount(gold, minlength=k) > 0
    f = np.divide(2 * p * r, p + r, out=np.zeros(k), where=(p + r) > 0)
    return float(f[present].mean())


def score(
    classes: Sequence[str],
    gold_labels: Sequence[str],
    probs: np.ndarray,
    *,
    boot: int = 2000,
    seed: int = SEED,
) -> dict[str, Any]:
    """Macro-F1 (over the gold classes present), accuracy, per-class P/R, fear precision and
    neutral recall of the top label, each with a percentile bootstrap 95% interval."""
    k = len(classes)
    gold = np.array([classes.index(g) for g in gold_labels])
    pred = probs.argmax(axis=1)
    n = len(gold)
    fear, neutral = classes.index("fear"), classes.index("neutral")

    def stats(g: np.ndarray, q: np.ndarray) -> np.ndarray:
        p, r = _per_class(g, q, k)
        return np.concatenate([[_macro_f1(g, q, k), float((g == q).mean())], p, r])

    point = stats(gold, pred)
    rng = np.random.default_rng(seed)
    draws = np.array([stats(gold[i], pred[i]) for i in rng.integers(0, n, size=(boot, n))])
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)

    def cell(j: int) -> dict[str, Any]:
        ci = [round(float(lo[j]), 4), round(float(hi[j]), 4)]
        return {"value": round(float(point[j]), 4), "ci95": ci}

    return {
        "n": n,
        "macro_f1": cell(0),
        "accuracy": cell(1),
        "fear_precision": cell(2 + fear),
        "neutral_recall": cell(2 + k + neutral),
        "per_class": {
            c: {
                "precision": cell(2 + j),
                "recall": cell(2 + k + j),
                "support": int((gold == j).sum()),
                "predicted": int((pred == j).sum()),
            }
            for j, c in enumerate(classes)
        },
    }
