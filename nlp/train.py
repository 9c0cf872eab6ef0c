"""Training: config -> examples -> hashed features -> linear model -> calibration -> model dir.

Needs the `train` extra (scikit-learn, scipy); the saved model runs with numpy alone
(`nlp.linear`). Every hyperparameter and the seed come from the task config; the config is
copied next to the weights so a model always carries what built it.

    tingfeng nlp train rumor --data ../shared/datasets
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.text import segment
from nlp.config import TaskConfig
from nlp.data import DedupReport, TaskExample, build_task_examples, context_text, load_dataset
from nlp.features import Features, Featurizer, document_frequency_idf
from nlp.linear import Calibration, LinearModel
from nlp.masked import allowed_classes, fit_masked_ovr_svm, fit_masked_softmax
from nlp.signatures import strip_signatures

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class TaskData:
    """The deduplicated, split examples of a task, with tokens computed once."""

    examples: list[TaskExample]
    tokens: list[list[str]]
    contexts: list[str]
    context_tokens: list[list[str]]
    report: DedupReport

    def subset(self, mask: np.ndarray) -> TaskData:
        idx = np.flatnonzero(mask)
        return TaskData(
            [self.examples[i] for i in idx],
            [self.tokens[i] for i in idx],
            [self.contexts[i] for i in idx],
            [self.context_tokens[i] for i in idx],
            self.report,
        )

    def mask(self, split: str | None = None, dataset: str | None = None) -> np.ndarray:
        return np.array(
            [
                (split is None or e.split == split) and (dataset is None or dataset in e.datasets)
                for e in self.examples
            ],
            dtype=bool,
        )


def load_task_data(
    config: TaskConfig, root: Path, datasets: Sequence[str] | None = None
) -> TaskData:
    examples = []
    for name in datasets or config.data.datasets:
        examples.extend(load_dataset(root, name, context=config.data.context))
    items, report = build_task_examples(
        examples,
        config.data.label_maps,
        seed=config.seed,
        test_fraction=config.data.test_fraction,
        dev_fraction=config.data.dev_fraction,
    )
    if config.features.strip_signatures:
        for e in items:  # the split is already fixed by the full normalized text
            e.text = strip_signatures(e.text)
    tokens = [segment(e.text) for e in items] if config.features.words else [[] for _ in items]
    if config.data.context:
        contexts = [context_text(e.context, config.data.max_context) for e in items]
        ctoks = [segment(c) for c in contexts] if config.features.words else [[] for _ in items]
    else:
        contexts, ctoks = ["" for _ in items], [[] for _ in items]
    return TaskData(items, tokens, contexts, ctoks, report)


def _estimator(config: TaskConfig):  # type: ignore[no-untyped-def]
    m = config.model
    if m.kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(
            C=m.C, class_weight=m.class_weight, max_iter=m.max_iter, random_state=config.seed
        )
    if m.kind == "svm":
        from sklearn.svm import LinearSVC

        return LinearSVC(
            C=m.C, class_weight=m.class_weight, max_iter=m.max_iter, random_state=config.seed
        )
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(
        loss="log_loss",
        alpha=1.0 / (m.C * 1000.0),
        class_weight=m.class_weight,
        max_iter=m.max_iter,
        tol=None,
        random_state=config.seed,
    )


def sample_weights(config: TaskConfig, examples: Sequence[TaskExample]) -> np.ndarray:
    """Per-example training weights: the dataset weight of the config, times (with
    `balance: per_source`) n_source / (classes_in_source * n_source_class), so every class has
    the same mass inside each source and each source keeps its size."""
    d = config.data
    source = [e.datasets[0] for e in examples]
    w = np.array([d.weights.get(s, 1.0) for s in source], dtype=np.float64)
    if d.balance == "per_source":
        counts: dict[tuple[str, str], int] = {}
        for s, e in zip(source, examples, strict=True):
            counts[(s, e.label)] = counts.get((s, e.label), 0) + 1
        size: dict[str, int] = {}
        kinds: dict[str, int] = {}
        for (s, _label), c in counts.items():
            size[s] = size.get(s, 0) + c
            kinds[s] = kinds.get(s, 0) + 1
        w *= np.array(
            [
                size[s] / (kinds[s] * counts[(s, e.label)])
                for s, e in zip(source, examples, strict=True)
            ]
        )
    return w


def _class_weights(y: np.ndarray) -> np.ndarray:
    labels, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    return np.asarray((len(y) / (len(labels) * counts))[inverse], dtype=np.float64)


def fit_calibration(method: str, logits: np.ndarray, gold: np.ndarray) -> Calibration:
    """Platt scaling (binary: gold is 0/1) or temperature scaling (multiclass: gold indices)."""
    if method == "none" or len(gold) == 0:
        return Calibration("none")
    if logits.shape[1] == 1:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e4, max_iter=1000).fit(logits, gold)
        return Calibration("platt", a=float(lr.coef_[0, 0]), c=float(lr.intercept_[0]))
    best_a, best_nll = 1.0, float("inf")
    for a in np.logspace(-1.5, 2.0, 141):
        z = logits * a
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -float(logp[np.arange(len(gold)), gold].mean())
        if nll < best_nll:
            best_a, best_nll = float(a), nll
    return Calibration("temperature", a=best_a)


def mask_topic_features(
    raw: Features, topic: np.ndarray, idf: np.ndarray, *, ratio: float, min_df: float
) -> np.ndarray:
    """`idf` with 0 for the features typical of the `topic` rows: document frequency there
    (share of its rows, add-one smoothed) >= `ratio` x the share in the other rows, and in at
    least `min_df` of the topic rows. The epidemic emotion set's topic words (疫情, 口罩) then
    carry no emotion weight, at no run-time cost."""
    n_topic, n_other = int(topic.sum()), int((~topic).sum())
    if not n_topic or not n_other:  # e.g. the topic dataset is the one left out
        return idf
    rows = np.repeat(np.arange(raw.n_rows), np.diff(raw.indptr))
    in_topic = topic[rows]
    df_topic = np.bincount(raw.indices[in_topic], minlength=raw.n_features)
    df_other = np.bincount(raw.indices[~in_topic], minlength=raw.n_features)
    share_topic = (df_topic + 1.0) / (n_topic + 1.0)
    share_other = (df_other + 1.0) / (n_other + 1.0)
    masked = (share_topic >= ratio * share_other) & (df_topic >= min_df * n_topic)
    log.info("masked %d topic features of %d", int(masked.sum()), raw.n_features)
    out = np.array(idf, dtype=np.float32, copy=True)
    out[masked] = 0.0
    return out


def fit_model(
    config: TaskConfig, data: TaskData, train: np.ndarray, dev: np.ndarray
) -> LinearModel:
    """Fit the featurizer idf, the estimator on `train` rows, calibration on `dev` rows."""
    from scipy.sparse import hstack

    f = config.features
    fz = Featurizer(bits=f.bits, char_min=f.char_min, char_max=f.char_max, words=f.words)
    tr = data.subset(train)
    texts = [e.text for e in tr.examples]
    raw = fz.hashes(texts, tr.tokens)
    idf = document_frequency_idf(raw) if f.idf else None
    if f.mask_topic_of is not None:
        idf = mask_topic_features(
            raw,
            np.array([f.mask_topic_of in e.datasets for e in tr.examples]),
            np.ones(fz.n_features, dtype=np.float32) if idf is None else idf,
            ratio=f.mask_ratio,
            min_df=f.mask_min_df,
        )
    X = fz.transform(texts, tr.tokens, idf).to_scipy()
    cfz = idfc = None
    if config.data.context:
        cfz = Featurizer(
            bits=f.context_bits, char_min=f.char_min, char_max=f.char_max, words=f.words
        )
        idfc = document_frequency_idf(cfz.hashes(tr.contexts, tr.context_tokens)) if f.idf else None
        Xc = cfz.transform(tr.contexts, tr.context_tokens, idfc).to_scipy()
        X = hstack([X, Xc * f.context_weight]).tocsr()
    y = np.array([e.label for e in tr.examples])
    if len(set(y)) < 2:
        from nlp.errors import DatasetError

        raise DatasetError(f"{config.task}: the training split has fewer than two classes")
    weights = sample_weights(config, tr.examples)
    if config.model.kind == "masked_softmax":
        classes = list(config.classes)
        yi = np.array([classes.index(label) for label in y])
        if config.model.class_weight == "balanced":
            weights = weights * _class_weights(y)
        allowed = allowed_classes(
            [e.datasets for e in tr.examples], config.data.label_maps, classes
        )
        coef, bias = fit_masked_softmax(
            X, yi, allowed, C=config.model.C, sample_weight=weights, max_iter=config.model.max_iter
        )
        bias[~allowed.any(axis=0)] = -30.0  # a class no training source can express
    elif config.model.kind == "masked_svm":
        classes = list(config.classes)
        allowed = allowed_classes(
            [e.datasets for e in tr.examples], config.data.label_maps, classes
        )
        coef, bias = fit_masked_ovr_svm(
            X,
            np.array([classes.index(label) for label in y]),
            allowed,
            C=config.model.C,
            balanced=config.model.class_weight == "balanced",
            sample_weight=weights,
            max_iter=config.model.max_iter,
            seed=config.seed,
        )
    else:
        est = _estimator(config)
        est.fit(X, y, sample_weight=weights)
        classes = [str(c) for c in est.classes_]
        coef = np.asarray(est.coef_, dtype=np.float64).T  # (features, k or 1)
        bias = np.asarray(est.intercept_, dtype=np.float64)
    if len(classes) == 2 and config.positive and classes[1] != config.positive:
        classes = classes[::-1]
        coef, bias = -coef, -bias
    if config.model.prune_below > 0:
        coef[np.abs(coef) < config.model.prune_below] = 0.0
    n_text = fz.n_features
    model = LinearModel(
        task=config.task,
        version=config.version,
        classes=classes,
        featurizer=fz,
        W=coef[:n_text].astype(np.float32),
        b=bias.astype(np.float32),
        idf=idf,
        calibration=Calibration("none"),
        context_featurizer=cfz,
        Wc=coef[n_text:].astype(np.float32) if cfz is not None else None,
        idfc=idfc,
        context_weight=f.context_weight,
        meta={
            **({"polarity": config.polarity} if config.polarity else {}),
            **({"max_context": config.data.max_context} if config.data.context else {}),
            **({"strip_signatures": True} if f.strip_signatures else {}),
        },
    )
    dv = data.subset(dev)
    if dv.examples:
        logits = model.logits(
            [e.text for e in dv.examples],
            dv.tokens,
            dv.contexts if cfz else None,
            dv.context_tokens if cfz else None,
        )
        index = {c: i for i, c in enumerate(classes)}
        gold = np.array([index[e.label] for e in dv.examples])
        model.calibration = fit_calibration(config.calibration.method, logits, gold)
    return model


def train_task(
    config: TaskConfig,
    config_path: Path,
    root: Path,
    out_dir: Path,
    *,
    progress: Progress | None = None,
) -> tuple[LinearModel, TaskData]:
    """Train the task's model on its train split and save it (with its config) to `out_dir`."""
    say = progress or (lambda _msg: None)
    say(f"loading {', '.join(config.data.datasets)}")
    data = load_task_data(config, root)
    say(f"training on {int(data.mask('train').sum())} examples")
    model = fit_model(config, data, data.mask("train"), data.mask("dev"))
    model.meta = {**(model.meta or {}), "data": data_summary(data)}
    if config.prior_correction is not None and config.prior_correction.apply:
        say(f"estimating class priors on {config.prior_correction.unlabeled} (EM)")
        priors = estimate_prior_ratio(config, model, data, root)
        model.meta = {**(model.meta or {}), **priors}
    model.save(out_dir)
    shutil.copyfile(config_path, out_dir / "config.yaml")
    log.info("trained %s %s -> %s", config.task, config.version, out_dir)
    return model, data


def estimate_prior_ratio(
    config: TaskConfig, model: LinearModel, data: TaskData, root: Path
) -> dict[str, Any]:
    """EM (nlp.priors) on the unlabeled deployment-like set: the per-class ratio of its priors
    to the training priors (mean calibrated posterior on the dev split), stored in meta.json
    and applied to every prediction."""
    from nlp.crosssource import unlabeled_texts
    from nlp.priors import em_priors

    assert config.prior_correction is not None
    dev = data.subset(data.mask("dev"))
    model.meta = {k: v for k, v in (model.meta or {}).items() if k != "prior_ratio"}
    train_priors = model.predict_proba([e.text for e in dev.examples], dev.tokens).mean(axis=0)
    texts, tokens = unlabeled_texts(config, root)
    target, iterations = em_priors(
        model.predict_proba(texts, tokens),
        train_priors,
        max_iter=config.prior_correction.max_iter,
        limit=config.prior_correction.limit,
    )
    ratio = target / np.clip(train_priors, 1e-6, None)
    return {
        "prior_ratio": [round(float(r), 4) for r in ratio],
        "priors": {
            "estimated_on": config.prior_correction.unlabeled,
            "posts": len(texts),
            "em_iterations": iterations,
            "train": dict(zip(model.classes, np.round(train_priors, 4).tolist(), strict=True)),
            "target": dict(zip(model.classes, np.round(target, 4).tolist(), strict=True)),
        },
    }


def data_summary(data: TaskData) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {}
    for e in data.examples:
        counts.setdefault(e.split, {})
        counts[e.split][e.label] = counts[e.split].get(e.label, 0) + 1
    r = data.report
    return {
        "splits": counts,
        "dedup": {
            "loaded": r.loaded,
            "unmapped_dropped": r.unmapped,
            "empty_dropped": r.empty,
            "duplicates_merged": r.merged,
            "conflicting_texts_dropped": r.conflicting,
            "kept": r.kept,
        },
    }
