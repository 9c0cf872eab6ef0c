"""Classification metrics with numpy only: accuracy, macro-F1, per-class P/R/F1, confusion
matrix, calibration (expected calibration error + reliability bins of the top score), and
Cohen's kappa between two annotators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def classification_metrics(
    gold: Sequence[str],
    predicted: Sequence[str],
    classes: Sequence[str],
    confidence: Sequence[float] | None = None,
    *,
    bins: int = 10,
) -> dict[str, Any]:
    """Every number the metrics JSON holds for one evaluation set."""
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    matrix = np.zeros((k, k), dtype=np.int64)
    for g, p in zip(gold, predicted, strict=True):
        matrix[index[g], index[p]] += 1
    n = int(matrix.sum())
    per_class: dict[str, dict[str, float | int]] = {}
    f1s = []
    for c, i in index.items():
        tp = matrix[i, i]
        fp = matrix[:, i].sum() - tp
        fn = matrix[i, :].sum() - tp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        support = int(matrix[i, :].sum())
        per_class[c] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": support,
        }
        if support:
            f1s.append(f1)
    out: dict[str, Any] = {
        "n": n,
        "accuracy": round(float(np.trace(matrix) / n), 4) if n else 0.0,
        "macro_f1": round(float(np.mean(f1s)), 4) if f1s else 0.0,
        "per_class": per_class,
        "confusion": {"labels": list(classes), "matrix": matrix.tolist()},
    }
    if confidence is not None:
        correct = np.array([g == p for g, p in zip(gold, predicted, strict=True)], dtype=float)
        out["calibration"] = calibration(np.asarray(confidence, dtype=float), correct, bins=bins)
    return out


def calibration(confidence: np.ndarray, correct: np.ndarray, *, bins: int = 10) -> dict[str, Any]:
    """ECE of the top-class confidence, with the reliability table behind it."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    table = []
    ece = 0.0
    n = len(confidence)
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        if not count:
            continue
        conf = float(confidence[mask].mean())
        acc = float(correct[mask].mean())
        ece += count / n * abs(conf - acc)
        table.append(
            {
                "bin": [round(float(edges[b]), 2), round(float(edges[b + 1]), 2)],
                "count": count,
                "mean_confidence": round(conf, 4),
                "accuracy": round(acc, 4),
            }
        )
    return {"ece": round(ece, 4), "bins": table}


def binary_positive_calibration(
    p_positive: np.ndarray, is_positive: np.ndarray, *, bins: int = 10
) -> dict[str, Any]:
    """Reliability of P(positive) itself (what a rumor score threshold relies on)."""
    return calibration(p_positive, is_positive.astype(float), bins=bins)


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two annotators' labels (class indices), unweighted."""
    observed = float((a == b).mean())
    expected = sum(float((a == c).mean() * (b == c).mean()) for c in np.union1d(a, b))
    return (observed - expected) / (1.0 - expected) if expected < 1.0 else 1.0
