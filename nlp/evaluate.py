"""Evaluation: metrics JSON for a trained task model, on its fixed test split.

Writes `metrics.json` (accuracy, macro-F1, per-class P/R/F1, confusion matrix, calibration)
for the whole test split and for each source dataset's part of it, then (needs the `train`
extra) cross-dataset results: a model of the same config trained on one dataset alone, tested
on every dataset's test split. Out-of-domain sets named in the config are scored whole
(texts also present in the training split excluded). Emotion models also get polarity metrics.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from analysis.text import segment
from nlp.config import TaskConfig
from nlp.data import build_task_examples, load_dataset
from nlp.linear import LinearModel
from nlp.metrics import binary_positive_calibration, classification_metrics
from nlp.predict import POLARITIES, polarity_proba
from nlp.train import TaskData, fit_model, load_task_data

log = logging.getLogger(__name__)


def predict_data(model: LinearModel, data: TaskData) -> np.ndarray:
    texts = [e.text for e in data.examples]
    ctx = model.context_featurizer is not None
    return model.predict_proba(
        texts,
        data.tokens,
        data.contexts if ctx else None,
        data.context_tokens if ctx else None,
    )


def label_metrics(
    config: TaskConfig, classes: list[str], gold: list[str], probs: np.ndarray
) -> dict[str, Any]:
    """Classification metrics of `probs` (columns in `classes` order) against `gold`, plus the
    calibration of P(positive) for a binary task."""
    predicted = [classes[i] for i in probs.argmax(axis=1)]
    out = classification_metrics(
        gold, predicted, config.classes, probs.max(axis=1), bins=config.calibration.bins
    )
    if len(classes) == 2 and config.positive:
        pos = classes.index(config.positive)
        out["positive_calibration"] = binary_positive_calibration(
            probs[:, pos],
            np.array([g == config.positive for g in gold]),
            bins=config.calibration.bins,
        )
    return out


def score_set(
    model: LinearModel, config: TaskConfig, data: TaskData, probs: np.ndarray
) -> dict[str, Any]:
    gold = [e.label for e in data.examples]
    out = label_metrics(config, model.classes, gold, probs)
    if config.polarity:
        pp = polarity_proba(probs, model.classes, config.polarity)
        out["polarity"] = classification_metrics(
            [config.polarity[g] for g in gold],
            [POLARITIES[i] for i in pp.argmax(axis=1)],
            POLARITIES,
            pp.max(axis=1),
            bins=config.calibration.bins,
        )
    return out


def evaluate_task(
    config: TaskConfig,
    model: LinearModel,
    root: Path,
    *,
    data: TaskData | None = None,
    cross: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """All metrics of `model` on the task's test split (+ cross-dataset, out-of-domain)."""
    say = progress or (lambda _msg: None)
    if data is None:
        say("loading test data")
        data = load_task_data(config, root)
    test = data.subset(data.mask("test"))
    probs = predict_data(model, test)
    metrics: dict[str, Any] = {
        "task": config.task,
        "version": model.version,
        "seed": config.seed,
        "test": score_set(model, config, test, probs),
        "test_by_dataset": {},
    }
    for name in config.data.datasets:
        mask = test.mask(dataset=name)
        if mask.any():
            metrics["test_by_dataset"][name] = score_set(
                model, config, test.subset(mask), probs[mask]
            )
    if cross and config.cross_dataset:
        metrics["cross_dataset"] = cross_dataset(config, data, say)
    if config.out_of_domain:
        train_texts = {e.text for e in data.examples if e.split != "test"}
        metrics["out_of_domain"] = {
            name: out_of_domain(model, config, root, name, mapping, train_texts)
            for name, mapping in config.out_of_domain.items()
        }
    metrics["data"] = (model.meta or {}).get("data")
    return metrics


def cross_dataset(
    config: TaskConfig, data: TaskData, say: Callable[[str], None]
) -> dict[str, dict[str, dict[str, float]]]:
    """Train on one dataset's train split; test on every dataset's test split."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    test = data.subset(data.mask("test"))
    for source in config.cross_dataset:
        say(f"cross-dataset: training on {source} alone")
        model = fit_model(config, data, data.mask("train", source), data.mask("dev", source))
        probs = predict_data(model, test)
        row: dict[str, dict[str, float]] = {}
        for target in config.cross_dataset:
            mask = test.mask(dataset=target)
            if not mask.any():
                continue
            part = test.subset(mask)
            m = classification_metrics(
                [e.label for e in part.examples],
                [model.classes[i] for i in probs[mask].argmax(axis=1)],
                config.classes,  # a single-dataset model may lack a class (no neutral)
            )
            row[target] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "n": m["n"]}
        table[source] = row
    return table


def out_of_domain(
    model: LinearModel,
    config: TaskConfig,
    root: Path,
    name: str,
    mapping: dict[str, str | None],
    exclude: set[str],
) -> dict[str, Any]:
    """Score a whole extra dataset; its labels map onto the classes or onto polarity."""
    items, _ = build_task_examples(
        load_dataset(root, name),
        {name: mapping},
        seed=config.seed,
        test_fraction=0.5,
        dev_fraction=0.1,
    )
    items = [e for e in items if e.text not in exclude]
    texts = [e.text for e in items]
    tokens = [segment(t) for t in texts] if model.featurizer.words else None
    probs = model.predict_proba(texts, tokens)
    targets = {v for v in mapping.values() if v is not None}
    gold = [e.label for e in items]
    if targets <= set(model.classes):
        return classification_metrics(
            gold, [model.classes[i] for i in probs.argmax(axis=1)], model.classes, probs.max(axis=1)
        )
    if config.polarity is None:
        raise ValueError(f"out_of_domain.{name}: labels are neither classes nor polarities")
    pp = polarity_proba(probs, model.classes, config.polarity)
    # these sets have no neutral class: decide positive vs negative only
    two = pp[:, [0, 2]]
    predicted = ["positive" if row[0] >= row[1] else "negative" for row in two]
    return {
        "note": "polarity, positive vs negative only (no neutral gold label)",
        **classification_metrics(gold, predicted, ["positive", "negative"]),
    }


def write_metrics(metrics: dict[str, Any], folder: Path) -> Path:
    path = folder / "metrics.json"
    path.write_text(json.dumps(metrics, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
