"""Train and evaluate the help/demand classifier on the hand-labelled posts (train time only:
uses scikit-learn; the saved model runs with numpy, `nlp.help_model`).

Protocol (settings in `nlp/resources/help_train.yaml`):
1. Near-duplicate posts (character 4-gram Jaccard >= 0.5, e.g. the many copies of one forwarded
   text) form one group; folds never split a group.
2. Outer grouped 5-fold cross-validation. Inside each training part, an inner grouped 4-fold
   cross-validation picks C and the sample weighting, then each positive class's threshold (the
   one with the best weighted F1 on the inner out-of-fold scores). The outer test fold is
   scored once with what the inner loop chose.
3. Every metric is weighted by the sampling weights (the label files' `weight`: the number of
   pool posts a labelled post stands for; `nlp.help_data`), so it estimates precision and
   recall over the whole pool of posts, not over the over-sampled strata. 95% intervals:
   percentile bootstrap, resampling posts within each stratum.
4. The rules (`nlp.help`) are scored on the same posts, with the same weights.
5. Cross-source: leave each source family out, train on the rest, test on it (thresholds again
   from the inner loop on the training part).
6. Other sources (`other_sources` in the config): posts from other periods and kinds of
   Weibo (2011-2016 rumor-era posts, comments on social-movement incidents, everyday posts),
   labelled the same way, weighted to their own pool. With `train: false` they are a test set
   only: the model fitted on the epidemic posts is scored on them. With `train: true` they join
   the training posts (their weights rescaled to `weight` x the epidemic posts' total), every
   table above reports the epidemic posts and the other posts separately, and their families
   are left out in turn like the epidemic datasets.
The shipped model: the grid and thresholds chosen by grouped cross-validation on all labelled
posts, then fitted on all of them.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from analysis.text import normalize, segment
from nlp.config import repo_path
from nlp.features import Featurizer, document_frequency_idf
from nlp.help import HelpClassifier
from nlp.help_data import (
    LabelledPost,
    attach_texts,
    counts,
    load_pool,
    read_agreement,
    read_labels,
)
from nlp.help_metrics import POSITIVE, agreement, report
from nlp.help_model import CLASSES, HelpModel, RuleFeatures
from nlp.help_stage import (
    StageSettings,
    combine,
    fit_and_export,
    load_oof,
    out_of_fold,
    quantization_check,
    require_torch,
    save_oof,
)

log = logging.getLogger(__name__)


def default_config_path() -> Path:
    return Path(str(resources.files("nlp.resources").joinpath("help_train.yaml")))


def load_train_config(path: Path) -> dict[str, Any]:
    from nlp.errors import ConfigError

    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: help training config not found") from None
    needed = {"version", "seed", "features", "grid", "outer_folds", "inner_folds", "bootstrap"}
    missing = needed - set(cfg or {})
    if missing:
        raise ConfigError(f"{path}: missing {', '.join(sorted(missing))}")
    _check_other_sources(path, cfg.get("other_sources"))
    return dict(cfg)


def _check_other_sources(path: Path, other: Any) -> None:
    """`other_sources`: a labels file, train true/false, choose_on all/epidemic, weight > 0,
    families of the round-6 datasets."""
    from nlp.errors import ConfigError
    from nlp.help_data import OTHER_POOL_FILES

    if other is None:
        return
    where = f"{path}: other_sources"
    if not isinstance(other, dict) or not other.get("labels"):
        raise ConfigError(f"{where} needs `labels` (the round-6 label file)")
    if not isinstance(other.get("train", False), bool):
        raise ConfigError(f"{where}.train must be true or false, not {other['train']!r}")
    if other.get("choose_on", "all") not in ("all", "epidemic"):
        raise ConfigError(f"{where}.choose_on must be all or epidemic, not {other['choose_on']!r}")
    weight = other.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
        raise ConfigError(f"{where}.weight must be a number > 0, not {weight!r}")
    for family, members in (other.get("families") or {}).items():
        unknown = [m for m in members or [] if m not in OTHER_POOL_FILES]
        if not members or unknown:
            raise ConfigError(
                f"{where}.families.{family}: {unknown or 'no datasets'}; choose from "
                f"{', '.join(OTHER_POOL_FILES)}"
            )


@dataclass
class Dataset:
    rows: list[LabelledPost]
    texts: list[str]
    tokens: list[list[str]]
    y: np.ndarray  # class index into CLASSES
    w: np.ndarray  # sampling weights
    groups: np.ndarray
    strata: np.ndarray
    pool: np.ndarray  # "epidemic" or "other" (the round-6 other-source labels)

    def rows_of(self, pool: str) -> np.ndarray:
        return np.flatnonzero(self.pool == pool)


# -- data -------------------------------------------------------------------------------------
def near_duplicate_groups(texts: Sequence[str], threshold: float) -> np.ndarray:
    """Union-find over character 4-gram Jaccard >= threshold; returns a group id per text."""
    shingles = [{t[i : i + 4] for i in range(max(1, len(t) - 3))} for t in texts]
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sizes = [len(sh) for sh in shingles]
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            small, big = sorted((sizes[i], sizes[j]))
            if small < threshold * big:  # Jaccard <= small / big: cannot reach the threshold
                continue
            inter = len(shingles[i] & shingles[j])
            if inter and inter / (sizes[i] + sizes[j] - inter) >= threshold:
                parent[find(j)] = find(i)
    return np.array([find(i) for i in range(len(texts))])


def load_dataset(
    labels: Path,
    data_root: Path,
    threshold: float,
    other: Path | None = None,
    rescale_other: float = 0.0,
) -> Dataset:
    """The labelled posts with their texts; `other`: the other-source labels, appended (with
    `rescale_other` > 0, their weights are scaled to that share of the epidemic posts' total
    weight)."""
    rows = attach_texts(read_labels(labels), data_root)
    pool = ["epidemic"] * len(rows)
    if other is not None:
        extra = attach_texts(read_labels(other), data_root)
        rows, pool = rows + extra, pool + ["other"] * len(extra)
    texts = [normalize(r.text) for r in rows]
    w = np.array([r.weight for r in rows])
    is_other = np.array(pool) == "other"
    if rescale_other and is_other.any():
        w[is_other] *= rescale_other * w[~is_other].sum() / w[is_other].sum()
    return Dataset(
        rows=rows,
        texts=texts,
        tokens=[segment(t) for t in texts],
        y=np.array([CLASSES.index(r.label) for r in rows]),
        w=w,
        groups=near_duplicate_groups(texts, threshold),
        strata=np.array([f"{r.dataset}/{r.stratum}" for r in rows]),
        pool=np.array(pool),
    )


def training_rows(data: Dataset, cfg: dict) -> np.ndarray:
    """The rows the protocol and the shipped model train on."""
    if (cfg.get("other_sources") or {}).get("train"):
        return np.arange(len(data.y))
    return data.rows_of("epidemic")


def families(data: Dataset, cfg: dict) -> dict[str, np.ndarray]:
    """Source families left out in turn (rows of the training set): each epidemic dataset,
    and the configured other-source families when those train too."""
    names = np.array([r.dataset for r in data.rows])
    train = training_rows(data, cfg)
    out = {d: np.intersect1d(train, np.flatnonzero(names == d)) for d in sorted(set(names[train]))}
    other = cfg.get("other_sources") or {}
    if other.get("train"):
        for fam, members in (other.get("families") or {}).items():
            idx = np.flatnonzero(np.isin(names, members))
            for d in members:
                out.pop(d, None)
            if len(idx):
                out[fam] = idx
    return out


# -- model ------------------------------------------------------------------------------------
@dataclass
class _Fitted:
    clf: Any  # sklearn LogisticRegression
    cols: np.ndarray  # the feature columns it was fitted on


class Fitter:
    """Featurizes once, fits a softmax regression on any subset of rows.

    With `vectors` (the frozen encoder's pooled vectors of the posts), they are standardized,
    scaled by `encoder.scale` of the config and appended; `proba` then applies the cascade of
    `HelpModel`: a row whose P(positive) without the vector columns is below `encoder.gate`
    keeps that probability (it would never be embedded)."""

    def __init__(
        self,
        data: Dataset,
        featurizer: Featurizer,
        idf: np.ndarray,
        cfg: dict,
        vectors: np.ndarray | None = None,
        encoder: Any = None,
    ) -> None:
        from scipy.sparse import csr_matrix, hstack

        self.data, self.featurizer, self.idf, self.cfg = data, featurizer, idf, cfg
        self.rules = RuleFeatures(HelpClassifier.load(), patterns=bool(cfg.get("patterns")))
        self.encoder = encoder
        text = featurizer.transform(data.texts, data.tokens, idf).to_scipy()
        self.dense = self.rules(data.texts) * float(cfg.get("rule_scale", 1.0))
        blocks = [text, csr_matrix(self.dense)]
        self.n_text, self.n_rules = text.shape[1], self.dense.shape[1]
        enc_cfg = cfg.get("encoder") or {}
        self.gate = float(enc_cfg.get("gate", 0.0))
        self.emb_scale_factor = float(enc_cfg.get("scale", 1.0))
        self.emb_mean: np.ndarray | None = None
        self.emb_sd: np.ndarray | None = None
        if vectors is not None:
            self.emb_mean = vectors.mean(axis=0)
            self.emb_sd = vectors.std(axis=0) + 1e-6
            std = (vectors - self.emb_mean) / self.emb_sd * self.emb_scale_factor
            blocks.append(csr_matrix(std.astype(np.float64)))
        self.X = csr_matrix(hstack(blocks).tocsr())
        self.X_text = None
        if vectors is not None:  # the same rows with the vector columns left out (the gate)
            keep = self.n_text + self.n_rules
            self.X_text = csr_matrix(
                hstack([self.X[:, :keep], csr_matrix((self.X.shape[0], vectors.shape[1]))]).tocsr()
            )

    def fit(self, idx: np.ndarray, C: float, weighting: str) -> _Fitted:
        """Softmax regression on rows `idx`, over the columns those rows use (the hashed space
        is mostly empty on a few hundred posts; fitting on the used columns is 3x faster)."""
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        cols = np.unique(self.X[idx].indices)
        clf = LogisticRegression(C=C, class_weight=self.cfg.get("class_weight"), max_iter=3000)
        sw = self.data.w[idx] / self.data.w[idx].mean() if weighting == "sampling" else None
        with threadpool_limits(1):  # BLAS threads only contend on a shared machine
            clf.fit(self.X[idx][:, cols], self.data.y[idx], sample_weight=sw)
        return _Fitted(clf, cols)

    def proba(self, fitted: _Fitted, idx: np.ndarray) -> np.ndarray:
        p = np.zeros((len(idx), len(CLASSES)))
        p[:, fitted.clf.classes_] = fitted.clf.predict_proba(self.X[idx][:, fitted.cols])
        if self.X_text is None:
            return p
        p0 = np.zeros((len(idx), len(CLASSES)))
        p0[:, fitted.clf.classes_] = fitted.clf.predict_proba(self.X_text[idx][:, fitted.cols])
        below = 1.0 - p0[:, CLASSES.index("none")] < self.gate
        p[below] = p0[below]
        return p

    def to_model(
        self, fitted: _Fitted, version: str, thresholds: dict[str, float], meta: dict[str, Any]
    ) -> HelpModel:
        clf = fitted.clf
        coef = np.zeros((len(CLASSES), self.X.shape[1]))
        bias = np.zeros(len(CLASSES))
        if len(clf.classes_) == 2:  # binary: one row, the second class against the first
            coef[clf.classes_[1], fitted.cols] = clf.coef_[0]
            bias[clf.classes_[1]] = clf.intercept_[0]
        else:
            for row, k in enumerate(clf.classes_):
                coef[k, fitted.cols] = clf.coef_[row]
                bias[k] = clf.intercept_[row]
        scale = float(self.cfg.get("rule_scale", 1.0))
        end = self.n_text + self.n_rules
        model = HelpModel(
            version=version,
            featurizer=self.featurizer,
            W=coef[:, : self.n_text].T.copy(),
            Wd=coef[:, self.n_text : end].T.copy() * scale,
            b=bias,
            idf=self.idf,
            thresholds=thresholds,
            meta=meta,
            rules=self.rules,
        )
        if self.emb_mean is not None and self.emb_sd is not None:
            model.We = coef[:, end:].T.copy() * self.emb_scale_factor
            model.emb_mean, model.emb_scale = self.emb_mean, self.emb_sd
            model.gate, model.encoder = self.gate, self.encoder
        return model


def _labels(probs: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    out = np.full(len(probs), CLASSES.index("none"))
    best = np.full(len(probs), -1.0)
    for c in POSITIVE:
        j = CLASSES.index(c)
        hit = (probs[:, j] >= thresholds[c]) & (probs[:, j] > best)
        out[hit], best[hit] = j, probs[hit, j]
    return out


def _wf1(y: np.ndarray, pred: np.ndarray, w: np.ndarray, j: int) -> float:
    tp = float(w[(y == j) & (pred == j)].sum())
    fp = float(w[(y != j) & (pred == j)].sum())
    fn = float(w[(y == j) & (pred != j)].sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def choose_thresholds(probs: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Per positive class, the threshold with the best weighted F1 (ties: the higher one)."""
    out = {}
    for c in POSITIVE:
        j = CLASSES.index(c)
        best_t, best_f = 0.5, -1.0
        for t in np.unique(np.round(probs[:, j], 4)):
            pred = (probs[:, j] >= t).astype(int) * j + (probs[:, j] < t) * -1
            f = _wf1(y, pred, w, j)
            if f > best_f or (f == best_f and t > best_t):
                best_t, best_f = float(t), f
        out[c] = best_t
    return out


def _folds(
    data: Dataset, idx: np.ndarray, k: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(idx[a], idx[b]) for a, b in splitter.split(idx, data.y[idx], groups=data.groups[idx])]


def select(
    fitter: Fitter, idx: np.ndarray, cfg: dict, seed: int
) -> tuple[float, str, dict[str, float], float, np.ndarray]:
    """Inner grouped CV on rows `idx`: the best (C, weighting) by weighted mean F1 of the two
    positive classes at their best thresholds, those thresholds, and the inner out-of-fold
    probabilities at that setting (rows outside `idx` stay zero). With
    `other_sources.choose_on: epidemic`, thresholds and the grid are chosen on the epidemic rows
    of `idx` only (the other-source rows still train)."""
    data = fitter.data
    folds = _folds(data, idx, int(cfg["inner_folds"]), seed)
    scored = idx
    if (cfg.get("other_sources") or {}).get("choose_on") == "epidemic":
        epidemic = np.intersect1d(idx, data.rows_of("epidemic"))
        scored = epidemic if len(epidemic) else idx
    best: tuple[float, str, dict[str, float], float, np.ndarray] | None = None
    for weighting in cfg["grid"]["weighting"]:
        for C in cfg["grid"]["C"]:
            oof = np.zeros((len(data.y), len(CLASSES)))
            for tr, te in folds:
                oof[te] = fitter.proba(fitter.fit(tr, float(C), weighting), te)
            y, w = data.y[scored], data.w[scored]
            th = choose_thresholds(oof[scored], y, w)
            pred = _labels(oof[scored], th)
            score = float(np.mean([_wf1(y, pred, w, CLASSES.index(c)) for c in POSITIVE]))
            if best is None or score > best[3]:
                best = (float(C), str(weighting), th, score, oof)
    assert best is not None
    return best


def rule_predictions(texts: Sequence[str]) -> np.ndarray:
    preds = HelpClassifier.load().predict(list(texts))
    return np.array([CLASSES.index(p["label"]) for p in preds])


# -- the workflow -----------------------------------------------------------------------------
def build_fitter(
    data: Dataset, data_root: Path, cfg: dict, progress: Callable[[str], None]
) -> Fitter:
    featurizer = Featurizer(**cfg["features"])
    if cfg.get("idf", "pool") == "pool":
        progress("idf over the unlabelled pool of epidemic-era posts")
        pool = load_pool(data_root)
        norm = [p.norm for p in pool]
        toks = [segment(t) for t in norm] if featurizer.words else None
        idf = document_frequency_idf(featurizer.hashes(norm, toks))
    else:  # `labelled`: idf over the labelled posts only (quick; used by the tests)
        idf = document_frequency_idf(featurizer.hashes(data.texts, data.tokens))
    vectors, encoder = None, None
    if (cfg.get("encoder") or {}).get("use"):
        from nlp.encoder import Encoder
        from nlp.predict import default_models_dir

        folder = Path(cfg["encoder"].get("folder") or default_models_dir() / "encoder")
        encoder = Encoder.load(folder)
        progress(f"encoder {encoder.version}: embedding {len(data.texts)} labelled posts")
        vectors = encoder.embed(data.texts)
    return Fitter(data, featurizer, idf, cfg, vectors, encoder)


def cross_validate(
    fitter: Fitter,
    cfg: dict,
    progress: Callable[[str], None],
    stage: StageSettings | None = None,
    stage_oof: np.ndarray | None = None,
) -> dict[str, Any]:
    """The grouped outer CV. With a transformer stage (`stage_oof`: its out-of-fold
    probabilities over the same outer folds), the test fold is scored by the combined
    probabilities with thresholds chosen on the training part's combined inner scores (linear
    inner out-of-fold scores + the stage's out-of-fold scores); `linear` keeps the linear model
    alone for comparison."""
    data = fitter.data
    seed = int(cfg["seed"])
    none = CLASSES.index("none")
    staged = stage is not None and stage_oof is not None
    pred = np.zeros(len(data.y), dtype=int)
    pred_linear = np.zeros(len(data.y), dtype=int)
    chosen = []
    rows = training_rows(data, cfg)
    for k, (tr, te) in enumerate(outer_folds(data, cfg)):
        C, weighting, th, inner, inner_oof = select(fitter, tr, cfg, seed + k + 1)
        probs = fitter.proba(fitter.fit(tr, C, weighting), te)
        pred_linear[te] = _labels(probs, th)
        fold: dict[str, Any] = {
            "fold": k,
            "C": C,
            "weighting": weighting,
            "thresholds": th,
            "inner_f1": round(inner, 3),
        }
        if staged:
            assert stage is not None and stage_oof is not None
            train_scores = combine(inner_oof[tr], stage_oof[tr], none, stage.gate, stage.weight)
            fold["stage_thresholds"] = choose_thresholds(train_scores, data.y[tr], data.w[tr])
            test_scores = combine(probs, stage_oof[te], none, stage.gate, stage.weight)
            pred[te] = _labels(test_scores, fold["stage_thresholds"])
        else:
            pred[te] = pred_linear[te]
        chosen.append(fold)
        progress(f"outer fold {k + 1}: C={C} weighting={weighting} thresholds={th}")
    B = int(cfg["bootstrap"])
    rules = rule_predictions(data.texts)

    def blocks(idx: np.ndarray) -> dict[str, Any]:
        y, w, strata = data.y[idx], data.w[idx], data.strata[idx]
        block = {
            "model": report(y, pred[idx], w, strata, B, seed),
            "rules": report(y, rules[idx], w, strata, B, seed),
        }
        if staged:
            block["linear"] = report(y, pred_linear[idx], w, strata, B, seed)
        return block

    out: dict[str, Any] = {
        **blocks(np.intersect1d(rows, data.rows_of("epidemic"))),
        "folds": chosen,
        "predictions": pred,
    }
    other = np.intersect1d(rows, data.rows_of("other"))
    if len(other):
        out["other_sources"] = blocks(other)
    return out


def outer_folds(data: Dataset, cfg: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """The outer grouped folds over the training rows."""
    return _folds(data, training_rows(data, cfg), int(cfg["outer_folds"]), int(cfg["seed"]))


def _held_out(fitter: Fitter, tr: np.ndarray, te: np.ndarray, cfg: dict) -> dict[str, Any]:
    """Select and fit on rows `tr`, score rows `te` (weighted to their own pool)."""
    C, weighting, th, _, _ = select(fitter, tr, cfg, int(cfg["seed"]))
    pred = _labels(fitter.proba(fitter.fit(tr, C, weighting), te), th)
    return _held_out_report(fitter.data, te, pred, cfg)


def _held_out_report(data: Dataset, te: np.ndarray, pred: np.ndarray, cfg: dict) -> dict[str, Any]:
    """The model's predictions `pred` for rows `te` and the rules', against the labels."""
    seed = int(cfg["seed"])
    rules = rule_predictions([data.texts[i] for i in te])
    B = int(cfg["bootstrap"]) // 4
    return {
        "n": len(te),
        "positives": {c: int((data.y[te] == CLASSES.index(c)).sum()) for c in POSITIVE},
        "model": report(data.y[te], pred, data.w[te], data.strata[te], B, seed),
        "rules": report(data.y[te], rules, data.w[te], data.strata[te], B, seed),
    }


def cross_source(fitter: Fitter, cfg: dict, progress: Callable[[str], None]) -> dict[str, Any]:
    """Each family left out in turn: trained on the other training rows, tested on it."""
    data = fitter.data
    train = training_rows(data, cfg)
    out: dict[str, Any] = {}
    for held, te in families(data, cfg).items():
        out[held] = _held_out(fitter, np.setdiff1d(train, te), te, cfg)
        progress(f"cross-source: held out {held}")
    return out


def other_sources_test(
    fitter: Fitter, cfg: dict, progress: Callable[[str], None]
) -> dict[str, Any]:
    """With other-source labels that do not train: the model fitted on the epidemic posts,
    scored on all of them and on each configured family."""
    data = fitter.data
    other = data.rows_of("other")
    if not len(other) or (cfg.get("other_sources") or {}).get("train"):
        return {}
    train = training_rows(data, cfg)
    C, weighting, th, _, _ = select(fitter, train, cfg, int(cfg["seed"]))
    pred = _labels(fitter.proba(fitter.fit(train, C, weighting), other), th)
    names = np.array([data.rows[i].dataset for i in other])
    out = {"all other sources": _held_out_report(data, other, pred, cfg)}
    for fam, members in (cfg["other_sources"].get("families") or {}).items():
        part = np.isin(names, members)
        if part.any():
            out[fam] = _held_out_report(data, other[part], pred[part], cfg)
    progress("other sources: scored the epidemic-trained model")
    return out


def train_help(
    data_root: Path,
    out: Path,
    *,
    config: Path | None = None,
    labels: Path | None = None,
    evaluate: bool = True,
    fit: bool = True,
    base_model: Path | None = None,
    progress: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    """The whole workflow: protocol metrics (`evaluate`), then the shipped model (`fit`);
    writes the model folder (without `fit`, only metrics.json and the card, describing the
    model already in `out`). With `transformer.use` in the config, the transformer stage is
    fine-tuned per outer fold and on all posts into `out.parent / "help_transformer"`
    (`base_model`: the converted encoder; default: the config's `transformer.base_model`)."""
    from nlp.help_card import render_help_card

    config_path = config or default_config_path()
    cfg = load_train_config(config_path)
    labels_path = labels or repo_path(cfg.get("labels", "tests/nlp/fixtures/help_labels.tsv"))
    other_cfg = cfg.get("other_sources") or {}
    other_path = repo_path(other_cfg["labels"]) if other_cfg.get("labels") else None
    data = load_dataset(
        labels_path,
        data_root,
        float(cfg.get("near_duplicate_jaccard", 0.5)),
        other_path,
        rescale_other=float(other_cfg.get("weight", 1.0)) if other_cfg.get("train") else 0.0,
    )
    progress(f"{len(data.rows)} labelled posts, {len(set(data.groups))} near-duplicate groups")
    stage = StageSettings.from_config(cfg)
    stage_dir = out.parent / STAGE_FOLDER
    trained_labels = [labels_path] + ([other_path] if other_path and other_cfg.get("train") else [])
    stage_oof = _stage_scores(stage, data, cfg, trained_labels, stage_dir, base_model, progress)
    fitter = build_fitter(data, data_root, cfg, progress)
    metrics: dict[str, Any] = {
        "task": "help",
        "version": cfg["version"],
        "labels": str(labels_path),
        "n": len(data.rows_of("epidemic")),
        "groups": len(set(data.groups[training_rows(data, cfg)].tolist())),
        "counts": counts([data.rows[i] for i in data.rows_of("epidemic")]),
        "pool_estimate": _pool_estimate(data, data.rows_of("epidemic")),
    }
    if cfg.get("agreement"):
        metrics["agreement"] = {
            "file": str(cfg["agreement"]),
            **annotator_agreement(data, repo_path(cfg["agreement"])),
        }
    if other_path is not None:
        metrics["other_labels"] = str(other_path)
        metrics["other_n"] = len(data.rows_of("other"))
        metrics["other_counts"] = counts([data.rows[i] for i in data.rows_of("other")])
        metrics["other_trained"] = bool(other_cfg.get("train"))
        metrics["other_pool_estimate"] = _pool_estimate(data, data.rows_of("other"))
    if evaluate:
        cv = cross_validate(fitter, cfg, progress, stage, stage_oof)
        metrics["protocol"] = {k: v for k, v in cv.items() if k != "predictions"}
        metrics["cross_source"] = cross_source(fitter, cfg, progress)
        tested = other_sources_test(fitter, cfg, progress)
        if tested:
            metrics["other_sources_test"] = tested
    if fit:
        seed = int(cfg["seed"])
        rows = training_rows(data, cfg)
        C, weighting, th, inner, inner_oof = select(fitter, rows, cfg, seed)
        clf = fitter.fit(rows, C, weighting)
        metrics["shipped"] = {
            "C": C,
            "weighting": weighting,
            "thresholds": th,
            "inner_f1": round(inner, 3),
        }
        extra: dict[str, Any] = {"C": C, "weighting": weighting}
        if cfg.get("encoder"):
            extra["encoder_cfg"] = dict(cfg["encoder"])
        model = fitter.to_model(clf, str(cfg["version"]), th, extra)
        model.save(out)
        shutil.copyfile(config_path, out / "config.yaml")
        if stage is not None and stage_oof is not None:
            none = CLASSES.index("none")
            scores = combine(inner_oof[rows], stage_oof[rows], none, stage.gate, stage.weight)
            stage_th = choose_thresholds(scores, data.y[rows], data.w[rows])
            texts = [data.texts[i] for i in rows]
            torch_probs, int8_probs = fit_and_export(
                stage,
                _stage_base(stage, base_model),
                texts,
                data.y[rows],
                CLASSES,
                stage_th,
                stage_dir,
                seed,
                progress,
            )
            check = quantization_check(
                model.predict_proba(texts, [data.tokens[i] for i in rows]),
                torch_probs,
                int8_probs,
                stage,
                none,
                lambda p: _labels(p, stage_th),
            )
            metrics["shipped"]["stage"] = {
                "version": stage.version,
                "thresholds": stage_th,
                **check,
            }
    else:
        shipped = HelpModel.load(out)
        metrics["shipped"] = _shipped_block(out, shipped)
        if stage is not None and (stage_dir / "meta.json").is_file():
            meta = json.loads((stage_dir / "meta.json").read_text(encoding="utf-8"))
            metrics["shipped"]["stage"] = {
                "version": meta["version"],
                "thresholds": meta["thresholds"],
            }
    (out / "metrics.json").write_text(
        json.dumps(metrics, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    (out / "model_card.md").write_text(render_help_card(metrics, cfg), encoding="utf-8")
    progress(f"saved {cfg['version']} to {out}")
    return metrics


STAGE_FOLDER = "help_transformer"


def annotator_agreement(data: Dataset, path: Path) -> dict[str, Any]:
    """The second (and third) annotator's labels of the epidemic posts (`path`) against the
    labels of record (`nlp.help_metrics.agreement`)."""
    epidemic = data.rows_of("epidemic")
    second, third = read_agreement(path, [data.rows[i] for i in epidemic])
    code = {c: k for k, c in enumerate(CLASSES)}
    return agreement(
        data.y[epidemic],
        np.array([code[c] for c in second]),
        np.array([code.get(c, -1) for c in third]),
        data.w[epidemic],
    )


def _shipped_block(folder: Path, shipped: HelpModel) -> dict[str, Any]:
    """What `fit` recorded about the model already in `folder`: C and weighting from its
    meta.json, the inner F1 from the last metrics.json of the same version."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    block: dict[str, Any] = {k: meta[k] for k in ("C", "weighting") if k in meta}
    block["thresholds"] = shipped.thresholds
    previous = folder / "metrics.json"
    if previous.is_file():
        last = json.loads(previous.read_text(encoding="utf-8")).get("shipped") or {}
        if last.get("version", meta["version"]) == meta["version"] and "inner_f1" in last:
            block["inner_f1"] = last["inner_f1"]
    return {"version": shipped.version, **block}


def _pool_estimate(data: Dataset, idx: np.ndarray) -> dict[str, float]:
    """Weighted label counts of rows `idx`: estimated posts of each label in their pool."""
    return {c: round(float(data.w[idx][data.y[idx] == CLASSES.index(c)].sum()), 1) for c in CLASSES}


def _stage_base(stage: StageSettings, base_model: Path | None) -> Path:
    base = base_model or Path(stage.base_model)
    if not (base / "tokenizer.json").is_file():
        from nlp.errors import ConfigError

        raise ConfigError(
            f"{base}: no converted encoder (tokenizer.json + weights); build it with "
            "`tingfeng nlp convert-e5 data/models/e5-zh --layers 12` or pass --base-model"
        )
    return base


def _stage_scores(
    stage: StageSettings | None,
    data: Dataset,
    cfg: dict,
    labels_paths: Sequence[Path],
    stage_dir: Path,
    base_model: Path | None,
    progress: Callable[[str], None],
) -> np.ndarray | None:
    """The stage's out-of-fold probabilities: saved ones when they were made from these labels
    and settings, else one fine-tune per outer fold (needs torch)."""
    if stage is None:
        return None
    digest = stage.digest(*labels_paths)
    saved = load_oof(stage_dir, digest, len(data.y))
    if saved is not None:
        progress(f"transformer stage: out-of-fold scores from {stage_dir / 'oof.npz'}")
        return saved
    require_torch()
    base = _stage_base(stage, base_model)
    scores = out_of_fold(
        stage,
        base,
        data.texts,
        data.y,
        outer_folds(data, cfg),
        len(CLASSES),
        int(cfg["seed"]),
        progress,
    )
    save_oof(stage_dir, scores, digest)
    return scores
