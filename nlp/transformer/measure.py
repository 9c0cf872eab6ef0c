"""Measurements of the transformer stage on the linear task's fixed splits: each model alone,
the cascade at the configured band, a band sweep on the dev split (how the band is chosen), and
speed. Plain numpy over probabilities, so it runs without torch."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from nlp.metrics import classification_metrics
from nlp.train import TaskData
from nlp.transformer.cascade import Band, cascade_probabilities

SWEEP = ((0.5, 0.5), (0.4, 0.6), (0.3, 0.7), (0.2, 0.8), (0.15, 0.85), (0.1, 0.9), (0.05, 0.95))


def scores(
    data: TaskData, probs: np.ndarray, classes: Sequence[str], datasets: Sequence[str]
) -> dict[str, Any]:
    """Accuracy / macro-F1 (and per class) on the rows of `data`, overall and per dataset."""
    gold = [e.label for e in data.examples]
    pred = [classes[i] for i in probs.argmax(axis=1)]

    def one(mask: np.ndarray) -> dict[str, Any]:
        idx = np.flatnonzero(mask)
        m = classification_metrics(
            [gold[i] for i in idx], [pred[i] for i in idx], classes, probs[idx].max(axis=1)
        )
        return {
            k: m[k] for k in ("n", "accuracy", "macro_f1", "per_class", "calibration") if k in m
        }

    out = {"all": one(np.ones(len(gold), dtype=bool))}
    for name in datasets:
        mask = data.mask(dataset=name)
        if mask.any():
            out[name] = one(mask)
    return out


def cascade_table(
    data: TaskData,
    linear: np.ndarray,
    transformer: np.ndarray,
    classes: Sequence[str],
    positive: int,
    datasets: Sequence[str],
) -> list[dict[str, Any]]:
    """The cascade's accuracy for each band of the sweep and each way of combining (on
    whichever split `data` is)."""
    rows = []
    for combine in ("average", "transformer"):
        for low, high in SWEEP:
            band = Band(low, high, combine)
            probs, routed = cascade_probabilities(linear, positive, band, transformer.__getitem__)
            s = scores(data, probs, classes, datasets)
            rows.append(
                {
                    "band": [low, high],
                    "combine": combine,
                    "routed_share": round(len(routed) / max(len(linear), 1), 4),
                    **{
                        k: {"accuracy": v["accuracy"], "macro_f1": v["macro_f1"]}
                        for k, v in s.items()
                    },
                }
            )
    return rows


def changes(
    data: TaskData, before: np.ndarray, after: np.ndarray, classes: Sequence[str]
) -> dict[str, int]:
    """Paired comparison: posts the cascade got right that the linear model got wrong (fixed),
    and the reverse (broken). A sign test on these two counts says whether a gain is noise."""
    gold = np.array([list(classes).index(e.label) for e in data.examples])
    b, a = before.argmax(axis=1) == gold, after.argmax(axis=1) == gold
    return {"fixed": int((a & ~b).sum()), "broken": int((b & ~a).sum())}


def sign_test_p(fixed: int, broken: int) -> float:
    """Two-sided exact binomial (sign) test p-value of fixed vs broken."""
    from math import comb

    n, k = fixed + broken, min(fixed, broken)
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    return round(min(1.0, 2 * tail), 4)


def posts_per_second(score, texts: Sequence[str], repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(repeat):
        score(texts)
    return round(len(texts) * repeat / (time.perf_counter() - start), 1)
