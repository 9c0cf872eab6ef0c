"""The transformer stage on the cross-source protocol (`nlp.crosssource`): for each left-out
source family, fine-tune on the other families' train+test splits, calibrate on their dev split,
and score the left-out family three ways: the linear model alone, the transformer alone, and the
cascade (the transformer on the posts whose linear P(positive) lies in the band). A band sweep
shows what routing more or fewer posts would do.

This table, not the in-domain split, decides whether the stage ships (`decide`): the in-domain
split rewards learning each dataset's style. Needs the `train` extra (torch).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nlp.config import TaskConfig
from nlp.crosssource import fold_metrics, folds, linear_fitter
from nlp.train import TaskData
from nlp.transformer.cascade import Band, cascade_probabilities
from nlp.transformer.config import TransformerConfig
from nlp.transformer.measure import SWEEP
from nlp.transformer.runtime import binary_logit

Progress = Callable[[str], None]


def short(m: dict[str, Any]) -> dict[str, Any]:
    """The numbers the card and the decision use from one `fold_metrics` result."""
    out = {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
    if "per_class" in m:
        out["per_class"] = {
            c: {"precision": v["precision"], "recall": v["recall"]}
            for c, v in m["per_class"].items()
        }
    if "positive_calibration" in m:
        out["positive_ece"] = m["positive_calibration"]["ece"]
    return out


def fold_rows(
    linear_cfg: TaskConfig,
    test: TaskData,
    held: list[str],
    linear: np.ndarray,
    transformer: np.ndarray,
    band: Band,
) -> dict[str, Any]:
    """Linear alone, transformer alone, the cascade at `band` and the sweep, on one left-out
    family (probabilities in the linear config's class order, positive class last)."""
    positive = len(linear_cfg.classes) - 1
    casc, routed = cascade_probabilities(linear, positive, band, transformer.__getitem__)
    sweep = []
    for low, high in SWEEP:
        probs, r = cascade_probabilities(
            linear, positive, Band(low, high, band.combine), transformer.__getitem__
        )
        m = fold_metrics(linear_cfg, test, probs, held)
        sweep.append(
            {
                "band": [low, high],
                "routed_share": round(len(r) / max(len(linear), 1), 4),
                "macro_f1": m["macro_f1"],
                "accuracy": m["accuracy"],
            }
        )
    return {
        "left_out": held,
        "linear": short(fold_metrics(linear_cfg, test, linear, held)),
        "transformer": short(fold_metrics(linear_cfg, test, transformer, held)),
        "cascade": {
            **short(fold_metrics(linear_cfg, test, casc, held)),
            "band": [band.low, band.high],
            "routed_share": round(len(routed) / max(len(linear), 1), 4),
        },
        "sweep": sweep,
    }


def cross_source_table(
    config: TransformerConfig,
    linear_cfg: TaskConfig,
    data: TaskData,
    base: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """One fine-tune per left-out family; see the module docstring."""
    from nlp.transformer.train import _logits, calibrate, fine_tune, split_of

    say = progress or (lambda _m: None)
    classes = list(linear_cfg.classes)
    band = Band(config.cascade.low, config.cascade.high, config.cascade.combine)
    out: dict[str, Any] = {"protocol": "cross-source", "families": {}}
    for fold in folds(linear_cfg, data):
        held = linear_cfg.cross_source.families[fold.family]  # type: ignore[union-attr]
        say(f"cross-source: leaving out {fold.family} ({int(fold.train.sum())} training posts)")
        linear = linear_fitter(linear_cfg, data, fold.train, fold.dev)
        train = [data.examples[i] for i in np.flatnonzero(fold.train)]
        dev = [data.examples[i] for i in np.flatnonzero(fold.dev)]
        model, tokenizer = fine_tune(
            config, base, {"train": split_of(train, classes, linear_cfg)}, len(classes), say
        )
        gold_dev = split_of(dev, classes, linear_cfg).labels
        cal = calibrate(config, _logits(model, tokenizer, [e.text for e in dev]), gold_dev)
        test = data.subset(fold.test)
        logits = _logits(model, tokenizer, [e.text for e in test.examples])
        probs = cal.probabilities(binary_logit(logits))
        out["families"][fold.family] = {
            "trained_on": fold.train_datasets,
            "n_train": int(fold.train.sum()),
            **fold_rows(linear_cfg, test, held, linear(test), probs, band),
        }
    out["summary"] = summary(out["families"])
    return out


def summary(families: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant in ("linear", "transformer", "cascade"):
        f1 = [row[variant]["macro_f1"] for row in families.values()]
        out[variant] = {"mean_macro_f1": round(float(np.mean(f1)), 4), "min_macro_f1": min(f1)}
    return out


def decide(table: dict[str, Any], tolerance: float = 0.01) -> dict[str, Any]:
    """Ship when the cascade's mean left-out macro-F1 is above the linear model's and no left-out
    family loses more than `tolerance`."""
    s = table["summary"]
    drops = {
        family: round(row["linear"]["macro_f1"] - row["cascade"]["macro_f1"], 4)
        for family, row in table["families"].items()
    }
    ship = s["cascade"]["mean_macro_f1"] > s["linear"]["mean_macro_f1"] and all(
        d <= tolerance for d in drops.values()
    )
    return {
        "ship": bool(ship),
        "rule": "cross-source: cascade mean left-out macro-F1 above the linear model's, no "
        f"left-out family more than {tolerance} below it",
        "linear": s["linear"],
        "cascade": s["cascade"],
        "drop_by_family": drops,
    }
