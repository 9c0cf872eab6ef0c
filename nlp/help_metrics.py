"""Precision and recall of the help/demand labels on the stratified hand-labelled sample:
weighted by the sampling weights (estimates over the whole pool), with stratified-bootstrap
95% intervals, and the raw sample counts with Wilson intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nlp.help_model import CLASSES
from nlp.metrics import cohen_kappa

POSITIVE = ("help_request", "public_demand")


def weighted_pr(y: np.ndarray, pred: np.ndarray, w: np.ndarray, positive: Sequence[int]) -> dict:
    """Weighted precision/recall of flagging `positive` labels (for several labels, a post
    flagged with either counts as found when its gold label is either)."""
    gold, hit = np.isin(y, positive), np.isin(pred, positive)
    correct = gold & hit
    tp, flagged, real = w[correct].sum(), w[hit].sum(), w[gold].sum()
    p = float(tp / flagged) if flagged else 0.0
    r = float(tp / real) if real else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    if n == 0:
        return [0.0, 1.0]
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(float(centre - half), 3), round(float(centre + half), 3)]


def report(
    y: np.ndarray, pred: np.ndarray, w: np.ndarray, strata: np.ndarray, B: int, seed: int
) -> dict[str, Any]:
    """Weighted P/R/F1 with stratified-bootstrap 95% intervals, and the raw sample counts with
    Wilson intervals, for each positive class and for `any` (either positive label)."""
    rng = np.random.default_rng(seed)
    cells = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    targets = {c: [CLASSES.index(c)] for c in POSITIVE}
    targets["any"] = [CLASSES.index(c) for c in POSITIVE]
    out: dict[str, Any] = {}
    boot: dict[str, list[list[float]]] = {k: [] for k in targets}
    for _ in range(B):
        idx = np.concatenate([rng.choice(c, size=len(c), replace=True) for c in cells])
        for k, pos in targets.items():
            m = weighted_pr(y[idx], pred[idx], w[idx], pos)
            boot[k].append([m["precision"], m["recall"], m["f1"]])
    for k, pos in targets.items():
        m = weighted_pr(y, pred, w, pos)
        arr = np.array(boot[k])
        lo, hi = np.percentile(arr, [2.5, 97.5], axis=0)
        gold, hit = np.isin(y, pos), np.isin(pred, pos)
        tp = int((gold & hit).sum())
        out[k] = {
            "precision": round(m["precision"], 3),
            "precision_ci": [round(float(lo[0]), 3), round(float(hi[0]), 3)],
            "recall": round(m["recall"], 3),
            "recall_ci": [round(float(lo[1]), 3), round(float(hi[1]), 3)],
            "f1": round(m["f1"], 3),
            "f1_ci": [round(float(lo[2]), 3), round(float(hi[2]), 3)],
            "sample": {
                "true_positives": tp,
                "flagged": int(hit.sum()),
                "labelled_positive": int(gold.sum()),
                "precision_wilson": wilson(tp, int(hit.sum())),
                "recall_wilson": wilson(tp, int(gold.sum())),
            },
        }
    return out


def agreement(first: np.ndarray, second: np.ndarray, third: np.ndarray, w: np.ndarray) -> dict:
    """How far two independent annotators agree (`first` = the labels of record, `second` =
    another annotator's; class indices; `third`: a third annotator's, -1 where none), weighted
    like the model's metrics: the second annotator scored as if it were a model against the
    first, Cohen's kappa, and what a majority of three would change."""
    none = CLASSES.index("none")
    targets = {c: [CLASSES.index(c)] for c in POSITIVE}
    targets["any"] = [CLASSES.index(c) for c in POSITIVE]
    out: dict[str, Any] = {
        "n": len(first),
        "disagreements": int((first != second).sum()),
        "kappa": round(cohen_kappa(first, second), 3),
        "kappa_any": round(cohen_kappa(first != none, second != none), 3),
        "second_vs_first": {
            k: {m: round(v, 3) for m, v in weighted_pr(first, second, w, pos).items()}
            for k, pos in targets.items()
        },
    }
    judged = third >= 0
    decoys = judged & (first == second)
    split = judged & (first != second)
    out["third_on_agreed"] = [int((third[decoys] == first[decoys]).sum()), int(decoys.sum())]
    out["third_with_first"] = int((third[split] == first[split]).sum())
    out["third_with_second"] = int((third[split] == second[split]).sum())
    return out
