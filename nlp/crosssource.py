"""The cross-source protocol: leave one source family out, train on the rest, test on it.

In-domain splits reward learning each dataset's style (CHECKED -> CED 0.54 macro-F1 while
CHECKED's own test split scores 0.98), so every choice (features, weighting, thresholds, the
default pipeline) is made on this table instead. For each family of the config's
`cross_source.families` (datasets that overlap, such as CED + Ma2016, form one family):

- test set: every example of the family's datasets (all splits; a text shared with a dataset of
  another family counts as the left-out family's and is not trained on);
- training set: the train and test splits of every other dataset; calibration on their dev split.

Each left-out family gets accuracy, macro-F1 over its gold classes, per-class precision/recall,
ECE of the top score (and of P(positive) for binary tasks); the summary holds the mean and the
worst family. With `prior_correction` in the config (emotion), every fold also re-estimates the
class priors by EM on the unlabeled deployment-like set and reports both rows.

With `hand_labelled` in the config (emotion: epidemic-era posts labelled by hand, see
nlp/emotion_epidemic.py), every fold's model and the trained model score those posts too
(macro-F1, per-class P/R with bootstrap 95% intervals): no labelled source set has neutral
epidemic posts, so only this row sees a model that calls epidemic posts fearful. The EM stream
leaves those posts out.

    tingfeng nlp evaluate rumor --protocol cross-source
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.text import normalize, segment
from nlp.config import TaskConfig, repo_path
from nlp.data import DedupReport, TaskExample, load_dataset
from nlp.evaluate import label_metrics, predict_data
from nlp.linear import LinearModel
from nlp.metrics import classification_metrics, cohen_kappa
from nlp.priors import adjust, em_priors
from nlp.signatures import strip_signatures
from nlp.train import TaskData, fit_model

log = logging.getLogger(__name__)

Scorer = Callable[[TaskData], np.ndarray]  # probabilities in config.classes order
Fitter = Callable[[TaskConfig, TaskData, np.ndarray, np.ndarray], Scorer]


@dataclass
class Fold:
    family: str
    test: np.ndarray  # bool masks over the task examples
    train: np.ndarray
    dev: np.ndarray
    train_datasets: list[str]


def folds(config: TaskConfig, data: TaskData) -> list[Fold]:
    if config.cross_source is None:
        raise ValueError(f"{config.task}: the config has no cross_source.families")
    out = []
    for family, names in config.cross_source.families.items():
        held = set(names)
        test = np.array([bool(held & set(e.datasets)) for e in data.examples], dtype=bool)
        pool = ~test
        dev = pool & data.mask("dev")
        train = pool & ~dev
        rest = [d for d in config.data.datasets if d not in held]
        out.append(Fold(family, test, train, dev, rest))
    return out


def linear_fitter(config: TaskConfig, data: TaskData, train: np.ndarray, dev: np.ndarray) -> Scorer:
    model = fit_model(config, data, train, dev)
    order = [model.classes.index(c) if c in model.classes else -1 for c in config.classes]

    def score(part: TaskData) -> np.ndarray:
        probs = predict_data(model, part)
        out = np.zeros((probs.shape[0], len(config.classes)))
        for j, i in enumerate(order):
            if i >= 0:
                out[:, j] = probs[:, i]
        return out

    return score


def fold_metrics(
    config: TaskConfig, part: TaskData, probs: np.ndarray, datasets: list[str]
) -> dict[str, Any]:
    gold = [e.label for e in part.examples]
    out = label_metrics(config, config.classes, gold, probs)
    if len(datasets) > 1:
        predicted = [config.classes[i] for i in probs.argmax(axis=1)]
        out["by_dataset"] = {}
        for name in datasets:
            mask = part.mask(dataset=name)
            if mask.any():
                sub = [p for p, m in zip(predicted, mask, strict=True) if m]
                g = [x for x, m in zip(gold, mask, strict=True) if m]
                m = classification_metrics(g, sub, config.classes)
                out["by_dataset"][name] = {k: m[k] for k in ("n", "accuracy", "macro_f1")}
    return out


def _tokens(config: TaskConfig, texts: list[str]) -> list[list[str]]:
    return [segment(t) for t in texts] if config.features.words else [[] for _ in texts]


def hand_labelled_data(config: TaskConfig, root: Path | None) -> TaskData | None:
    """The config's hand-labelled test posts joined with their texts (None without them)."""
    if config.hand_labelled is None or root is None:
        return None
    from nlp.emotion_epidemic import attach_texts, read_labels

    rows = attach_texts(read_labels(repo_path(config.hand_labelled.labels)), root)
    texts = [r.text for r in rows]
    if config.features.strip_signatures:
        texts = [strip_signatures(t) for t in texts]
    examples = [
        TaskExample(t, r.label, [r.dataset], [r.id], "test")
        for t, r in zip(texts, rows, strict=True)
    ]
    empty = ["" for _ in texts]
    return TaskData(examples, _tokens(config, texts), empty, [[] for _ in texts], DedupReport())


def hand_labelled_metrics(config: TaskConfig, part: TaskData, probs: np.ndarray) -> dict[str, Any]:
    from nlp.emotion_epidemic import score

    return score(config.classes, [e.label for e in part.examples], probs)


def second_reading_metrics(config: TaskConfig, part: TaskData) -> dict[str, Any]:
    """A second annotator's labels of the hand-labelled posts scored like a model's against the
    first (the ceiling a model could be checked against), and Cohen's kappa."""
    from nlp.emotion_epidemic import EpidemicPost, read_second_reading

    assert config.hand_labelled is not None
    rows = [EpidemicPost(e.datasets[0], e.ids[0], e.label) for e in part.examples]
    second = read_second_reading(repo_path(config.hand_labelled.second_reading), rows)
    first = np.array([config.classes.index(e.label) for e in part.examples])
    two = np.array([config.classes.index(c) for c in second])
    out = hand_labelled_metrics(config, part, np.eye(len(config.classes))[two])
    out["kappa"] = round(cohen_kappa(first, two), 3)
    out["file"] = config.hand_labelled.second_reading
    return out


def unlabeled_texts(config: TaskConfig, root: Path) -> tuple[list[str], list[list[str]]]:
    """Normalized texts (and tokens) of the config's unlabeled prior-estimation set (without
    the hand-labelled test posts)."""
    assert config.prior_correction is not None
    texts = []
    seen: set[str] = set()
    hand = hand_labelled_data(config, root)
    if hand is not None:
        seen.update(e.text for e in hand.examples)
    for ex in load_dataset(root, config.prior_correction.unlabeled):
        t = normalize(ex.text)
        if t and t not in seen:
            seen.add(t)
            texts.append(t)
    if config.features.strip_signatures:
        texts = [strip_signatures(t) for t in texts]
    return texts, _tokens(config, texts)


def _shares(classes: list[str], probs: np.ndarray) -> dict[str, float]:
    top = np.bincount(probs.argmax(axis=1), minlength=len(classes)) / max(len(probs), 1)
    return dict(zip(classes, np.round(top, 4).tolist(), strict=True))


def cross_source(
    config: TaskConfig,
    data: TaskData,
    root: Path | None = None,
    *,
    fitter: Fitter = linear_fitter,
    progress: Callable[[str], None] | None = None,
    trained: LinearModel | None = None,
) -> dict[str, Any]:
    """The leave-one-family-out table (see the module docstring); `trained` (the model being
    evaluated) also scores the hand-labelled posts."""
    say = progress or (lambda _m: None)
    unlabeled: TaskData | None = None
    hand = hand_labelled_data(config, root)
    if config.prior_correction is not None and root is not None:
        texts, tokens = unlabeled_texts(config, root)
        unlabeled = TaskData(
            [TaskExample(t, "", [config.prior_correction.unlabeled], []) for t in texts],
            tokens,
            ["" for _ in texts],
            [[] for _ in texts],
            data.report,
        )
    result: dict[str, Any] = {"protocol": "cross-source", "families": {}}
    for fold in folds(config, data):
        say(f"cross-source: leaving out {fold.family}")
        score = fitter(config, data, fold.train, fold.dev)
        test = data.subset(fold.test)
        probs = score(test)
        held = config.cross_source.families[fold.family]  # type: ignore[union-attr]
        row: dict[str, Any] = {
            "left_out": held,
            "trained_on": fold.train_datasets,
            "n_train": int(fold.train.sum()),
            "test": fold_metrics(config, test, probs, held),
        }
        hand_probs = score(hand) if hand is not None else None
        if hand is not None and hand_probs is not None:
            row["hand_labelled"] = hand_labelled_metrics(config, hand, hand_probs)
        if unlabeled is not None and config.prior_correction is not None:
            dev_probs = score(data.subset(fold.dev))
            train_priors = dev_probs.mean(axis=0)
            stream = score(unlabeled)
            target, iters = em_priors(
                stream,
                train_priors,
                max_iter=config.prior_correction.max_iter,
                limit=config.prior_correction.limit,
            )
            ratio = target / np.clip(train_priors, 1e-6, None)
            own, _ = em_priors(
                probs,
                train_priors,
                max_iter=config.prior_correction.max_iter,
                limit=config.prior_correction.limit,
            )
            row["prior_correction_left_out_texts"] = {
                "what": "EM priors estimated on the left-out family's own texts (labels unused)",
                "target_priors": dict(zip(config.classes, np.round(own, 4).tolist(), strict=True)),
                "test": fold_metrics(
                    config, test, adjust(probs, own / np.clip(train_priors, 1e-6, None)), held
                ),
            }
            row["prior_correction"] = {
                "what": f"EM priors estimated on {config.prior_correction.unlabeled} (unlabeled)",
                "train_priors": dict(
                    zip(config.classes, np.round(train_priors, 4).tolist(), strict=True)
                ),
                "target_priors": dict(
                    zip(config.classes, np.round(target, 4).tolist(), strict=True)
                ),
                "em_iterations": iters,
                "stream_top_label_share": _shares(config.classes, stream),
                "stream_top_label_share_after": _shares(config.classes, adjust(stream, ratio)),
                "test": fold_metrics(config, test, adjust(probs, ratio), held),
            }
            if hand is not None and hand_probs is not None:
                row["prior_correction"]["hand_labelled"] = hand_labelled_metrics(
                    config, hand, adjust(hand_probs, ratio)
                )
        result["families"][fold.family] = row
    if hand is not None and config.hand_labelled is not None:
        result["hand_labelled"] = {
            "title": config.hand_labelled.title,
            "labels": config.hand_labelled.labels,
            "n": len(hand.examples),
        }
        if config.hand_labelled.second_reading:
            result["hand_labelled"]["second_reading"] = second_reading_metrics(config, hand)
        if trained is not None:
            say(f"scoring {trained.version} on {config.hand_labelled.title}")
            order = [trained.classes.index(c) for c in config.classes]
            probs = predict_data(trained, hand)[:, order]
            result["hand_labelled"]["trained"] = {
                "version": trained.version,
                "test": hand_labelled_metrics(config, hand, probs),
            }
    f1s = [r["test"]["macro_f1"] for r in result["families"].values()]
    result["summary"] = {
        "mean_macro_f1": round(float(np.mean(f1s)), 4),
        "min_macro_f1": round(float(np.min(f1s)), 4),
    }
    return result
