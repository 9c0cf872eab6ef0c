"""The trained help/demand classifier: rule features + hashed character n-grams and jieba words,
one linear softmax layer, run with numpy only.

Labels: `help_request` (a person asks for concrete help for themselves or someone named),
`public_demand` (a collective grievance or demand an office must answer), `none`. A post gets a
positive label when that label's probability reaches its threshold (chosen by the evaluation
protocol of `nlp.help_train`, stored in meta.json); when both do, the larger probability wins.

Features of a normalized post:
- the hashed text space of `nlp.features.Featurizer` (log-tf x idf, L2), weights `W`;
- dense rule features (`rule_features`): the matched-term count of each lexicon group of
  `nlp/resources/help_lexicon.yaml`, in the text and, separately, in its #hashtags#; the rule
  scores of `nlp.help.HelpClassifier`; hits of the plea / strong / near-miss word lists
  (`nlp/resources/help_near_miss.yaml`); weights `Wd`.

Optional encoder stage (a cascade): when the model was trained with sentence vectors of the
shipped frozen encoder (`nlp/models/encoder/`, int8 e5; `nlp.encoder`), a post whose P(help or
demand) without them reaches `gate` is embedded and its standardized vector adds `We` to the
logits (the vector term is zero at the mean vector, so the text part alone is the model at an
average vector). Posts below the gate are never embedded: the encoder is the costly part.

The model folder (`nlp/models/help/`) holds `weights.npz` (W, Wd, b, idf, float16/32; We,
emb_mean, emb_scale with the encoder stage), `meta.json` (version, classes, featurizer,
thresholds, rule feature names, encoder version and gate) and the model card.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.text import segment
from nlp.encoder import Encoder
from nlp.errors import ModelNotFound
from nlp.features import Featurizer
from nlp.help import HelpClassifier
from nlp.help_data import near_miss_terms
from nlp.linear import softmax

CLASSES = ["help_request", "public_demand", "none"]
_HASHTAG = re.compile(r"#[^#\n]{1,60}#")


def demand_patterns() -> list[tuple[str, list[re.Pattern[str]]]]:
    """The co-occurrence patterns of `nlp/resources/help_patterns.yaml` (name, parts)."""
    from importlib import resources

    import yaml

    raw = resources.files("nlp.resources").joinpath("help_patterns.yaml").read_text("utf-8")
    data = yaml.safe_load(raw)
    return [(str(k), [re.compile(str(p)) for p in v]) for k, v in data["patterns"].items()]


class RuleFeatures:
    """Dense rule features of normalized texts (names in `names`); with `patterns`, also the
    co-occurrence patterns of `help_patterns.yaml` (features `pattern:NAME`)."""

    def __init__(self, rules: HelpClassifier, patterns: bool = False) -> None:
        self.rules = rules
        self._patterns = demand_patterns() if patterns else []
        words = near_miss_terms()
        self._lists = [
            (name, re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))))
            for name, terms in words.items()
        ]
        self._groups = [
            (g.name, re.compile("|".join(re.escape(str(t).lower()) for t in g.terms)))
            for g in rules.lexicon.groups
        ]
        self.names = (
            [f"text:{name}" for name, _ in self._groups]
            + [f"tags:{name}" for name, _ in self._groups]
            + ["rule:help_request", "rule:public_demand", "rule:flagged"]
            + [f"list:{name}" for name, _ in self._lists]
            + ["has_hashtag", "len:log"]
            + [f"pattern:{name}" for name, _ in self._patterns]
        )

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.names)), dtype=np.float32)
        preds = self.rules.predict(list(texts))
        for i, (text, pred) in enumerate(zip(texts, preds, strict=True)):
            bare = _HASHTAG.sub(" ", text)
            tags = " ".join(_HASHTAG.findall(text))
            row: list[float] = []
            row += [min(len(set(rx.findall(bare))), 3) / 3 for _, rx in self._groups]
            row += [min(len(set(rx.findall(tags))), 3) / 3 for _, rx in self._groups]
            row += [
                pred["scores"]["help_request"],
                pred["scores"]["public_demand"],
                float(pred["label"] != "none"),
            ]
            row += [float(bool(rx.search(text))) for _, rx in self._lists]
            row += [float(bool(tags)), float(np.log1p(len(bare)) / 8)]
            row += [float(all(rx.search(bare) for rx in parts)) for _, parts in self._patterns]
            out[i] = row
        return out


@dataclass
class HelpModel:
    version: str
    featurizer: Featurizer
    W: np.ndarray  # n_features x 3
    Wd: np.ndarray  # n_rule_features x 3
    b: np.ndarray  # 3
    idf: np.ndarray | None
    thresholds: dict[str, float]
    classes: list[str] = field(default_factory=lambda: list(CLASSES))
    meta: dict[str, Any] = field(default_factory=dict)
    rules: RuleFeatures | None = None
    We: np.ndarray | None = None  # encoder dim x 3 (encoder stage), on standardized vectors
    emb_mean: np.ndarray | None = None
    emb_scale: np.ndarray | None = None
    gate: float = 0.0  # P(positive) of the text part at which a post goes to the encoder
    encoder: Encoder | None = None
    routed: list[int] = field(default_factory=lambda: [0, 0])  # [embedded, seen]

    def _rules(self) -> RuleFeatures:
        if self.rules is None:
            self.rules = RuleFeatures(
                HelpClassifier.load(), patterns=bool(self.meta.get("patterns"))
            )
        return self.rules

    def predict_proba(
        self, texts: Sequence[str], tokens: Sequence[Sequence[str]] | None = None
    ) -> np.ndarray:
        """(n x 3) probabilities of normalized texts, columns in `classes` order."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        if tokens is None and self.featurizer.words:
            tokens = [segment(t) for t in texts]
        feats = self.featurizer.transform(texts, tokens, self.idf)
        z = np.asarray(feats.dot(self.W) + self._rules()(texts) @ self.Wd + self.b, np.float64)
        if self.We is None:
            return softmax(z)
        none = self.classes.index("none")
        routed = np.flatnonzero(1.0 - softmax(z)[:, none] >= self.gate)
        self.routed[0] += len(routed)
        self.routed[1] += len(texts)
        if len(routed):
            if self.encoder is None:
                raise ModelNotFound("the help model has an encoder stage but no encoder loaded")
            vectors = self.encoder.embed([texts[int(i)] for i in routed])
            z[routed] += self.embedding_logits(vectors)
        return softmax(z)

    def embedding_logits(self, vectors: np.ndarray) -> np.ndarray:
        """The encoder stage's share of the logits for raw pooled vectors."""
        assert self.We is not None and self.emb_mean is not None and self.emb_scale is not None
        return np.asarray(((vectors - self.emb_mean) / self.emb_scale) @ self.We, np.float64)

    def labels(self, probs: np.ndarray, thresholds: dict[str, float] | None = None) -> list[str]:
        """Label of each row of probabilities by the per-class thresholds (default: the linear
        model's own; the transformer stage brings thresholds for its combined probabilities)."""
        th = thresholds or self.thresholds
        out = []
        for row in probs:
            best, best_p = "none", -1.0
            for j, c in enumerate(self.classes):
                if c != "none" and row[j] >= th[c] and row[j] > best_p:
                    best, best_p = c, float(row[j])
            out.append(best)
        return out

    def predict(
        self, texts: Sequence[str], tokens: Sequence[Sequence[str]] | None = None
    ) -> list[dict[str, Any]]:
        """Predictions for normalized texts: label, score (its probability), scores."""
        return self.predictions(self.predict_proba(texts, tokens))

    def predictions(
        self, probs: np.ndarray, thresholds: dict[str, float] | None = None
    ) -> list[dict[str, Any]]:
        """Label, score (its probability) and scores of each row of probabilities."""
        out = []
        for row, label in zip(probs, self.labels(probs, thresholds), strict=True):
            scores = {c: round(float(v), 4) for c, v in zip(self.classes, row, strict=True)}
            out.append({"label": label, "score": scores[label], "scores": scores})
        return out

    # -- persistence ----------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {
            "W": self.W.astype(np.float16),
            "Wd": self.Wd.astype(np.float32),
            "b": self.b.astype(np.float32),
        }
        if self.idf is not None:
            arrays["idf"] = self.idf.astype(np.float16)
        if self.We is not None:
            assert self.emb_mean is not None and self.emb_scale is not None
            arrays["We"] = self.We.astype(np.float32)
            arrays["emb_mean"] = self.emb_mean.astype(np.float32)
            arrays["emb_scale"] = self.emb_scale.astype(np.float32)
        np.savez_compressed(folder / "weights.npz", **arrays)  # type: ignore[arg-type]
        meta = {
            "task": "help",
            "version": self.version,
            "classes": self.classes,
            "featurizer": self.featurizer.as_meta(),
            "thresholds": self.thresholds,
            "rule_features": self._rules().names,
            **self.meta,
        }
        if self.We is not None:
            meta["encoder_stage"] = {
                "encoder": self.encoder.version if self.encoder else meta.get("encoder_version"),
                "gate": self.gate,
            }
        (folder / "meta.json").write_text(
            json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> HelpModel:
        meta_path, weights_path = folder / "meta.json", folder / "weights.npz"
        if not meta_path.is_file() or not weights_path.is_file():
            raise ModelNotFound(
                f"{folder}: no trained help model (meta.json + weights.npz); "
                "train one with `tingfeng nlp train-help`"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(weights_path) as npz:
            arrays = {k: npz[k] for k in npz.files}
        model = cls(
            version=meta["version"],
            featurizer=Featurizer(**meta["featurizer"]),
            W=arrays["W"].astype(np.float32),
            Wd=arrays["Wd"].astype(np.float32),
            b=arrays["b"].astype(np.float32),
            idf=arrays["idf"].astype(np.float32) if "idf" in arrays else None,
            thresholds={k: float(v) for k, v in meta["thresholds"].items()},
            classes=list(meta["classes"]),
        )
        names = meta.get("rule_features") or []
        patterns = any(str(n).startswith("pattern:") for n in names)
        rules = RuleFeatures(HelpClassifier.load(folder), patterns=patterns)
        if rules.names != meta.get("rule_features"):
            raise ModelNotFound(
                f"{folder}: the model was trained on other rule features than the packaged "
                "lexicon gives; retrain with `tingfeng nlp train-help`"
            )
        model.rules = rules
        stage = meta.get("encoder_stage")
        if stage is not None:
            model.We = arrays["We"].astype(np.float32)
            model.emb_mean = arrays["emb_mean"].astype(np.float32)
            model.emb_scale = arrays["emb_scale"].astype(np.float32)
            model.gate = float(stage["gate"])
            enc_dir = folder.parent / "encoder"
            model.encoder = Encoder.load(enc_dir)
            if model.encoder.version != stage["encoder"] or model.encoder.dim != len(model.We):
                raise ModelNotFound(
                    f"{enc_dir}: encoder {model.encoder.version} is not the one the help model "
                    f"was trained on ({stage['encoder']}); retrain with `tingfeng nlp train-help`"
                )
        return model
