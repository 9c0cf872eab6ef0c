"""A trained linear classifier over hashed features, run with numpy only (no scikit-learn).

A model directory holds:
- `weights.npz`: `W` (n_features x k, float16), `b` (k), `idf` (n_features, float16), and for
  context models `Wc`/`idfc` over the context feature space;
- `meta.json`: task, version, classes, feature settings, calibration parameters;
- `config.yaml`, `metrics.json`, `model_card.md` (written by `nlp.train` / `nlp.evaluate`).

Scores are calibrated probabilities: Platt scaling (binary) or temperature scaling (multiclass),
both fitted on the dev split.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.errors import ModelNotFound
from nlp.features import Featurizer


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40, 40))))


@dataclass
class Calibration:
    method: str = "none"  # platt | temperature | none
    a: float = 1.0  # platt slope / 1 / temperature
    c: float = 0.0  # platt intercept

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities from raw logits (binary logits have one column)."""
        if logits.shape[1] == 1:
            z = logits[:, 0]
            p = sigmoid(self.a * z + self.c) if self.method == "platt" else sigmoid(z)
            return np.stack([1.0 - p, p], axis=1)
        scale = self.a if self.method == "temperature" else 1.0
        return softmax(logits * scale)


@dataclass
class LinearModel:
    task: str
    version: str
    classes: list[str]
    featurizer: Featurizer
    W: np.ndarray
    b: np.ndarray
    idf: np.ndarray | None
    calibration: Calibration
    context_featurizer: Featurizer | None = None
    Wc: np.ndarray | None = None
    idfc: np.ndarray | None = None
    context_weight: float = 1.0
    meta: dict[str, Any] | None = None

    # -- scoring ------------------------------------------------------------------------
    def logits(
        self,
        texts: Sequence[str],
        tokens: Sequence[Sequence[str]] | None = None,
        contexts: Sequence[str] | None = None,
        context_tokens: Sequence[Sequence[str]] | None = None,
    ) -> np.ndarray:
        if (self.meta or {}).get("strip_signatures"):
            from analysis.text import segment
            from nlp.signatures import strip_signatures

            texts = [strip_signatures(t) for t in texts]
            tokens = [segment(t) for t in texts] if self.featurizer.words else None
        feats = self.featurizer.transform(texts, tokens, self.idf)
        z = feats.dot(self.W) + self.b
        if self.context_featurizer is not None and self.Wc is not None and contexts is not None:
            cf = self.context_featurizer.transform(contexts, context_tokens, self.idfc)
            z = z + self.context_weight * cf.dot(self.Wc)
        return np.asarray(z)

    def predict_proba(
        self,
        texts: Sequence[str],
        tokens: Sequence[Sequence[str]] | None = None,
        contexts: Sequence[str] | None = None,
        context_tokens: Sequence[Sequence[str]] | None = None,
    ) -> np.ndarray:
        """(n x len(classes)) calibrated probabilities of normalized texts."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        probs = self.calibration.probabilities(self.logits(texts, tokens, contexts, context_tokens))
        ratio = (self.meta or {}).get("prior_ratio")
        if ratio is not None:  # deployment priors estimated by EM (nlp.priors)
            from nlp.priors import adjust

            probs = adjust(probs, np.asarray(ratio, dtype=np.float64))
        return probs

    # -- persistence --------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "W": self.W.astype(np.float16),
            "b": self.b.astype(np.float32),
        }
        if self.idf is not None:
            arrays["idf"] = self.idf.astype(np.float16)
        if self.Wc is not None:
            arrays["Wc"] = self.Wc.astype(np.float16)
        if self.idfc is not None:
            arrays["idfc"] = self.idfc.astype(np.float16)
        np.savez_compressed(folder / "weights.npz", **arrays)  # type: ignore[arg-type]
        meta = {
            "task": self.task,
            "version": self.version,
            "classes": self.classes,
            "featurizer": self.featurizer.as_meta(),
            "context_featurizer": self.context_featurizer.as_meta()
            if self.context_featurizer
            else None,
            "context_weight": self.context_weight,
            "calibration": {
                "method": self.calibration.method,
                "a": self.calibration.a,
                "c": self.calibration.c,
            },
            **(self.meta or {}),
        }
        (folder / "meta.json").write_text(
            json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> LinearModel:
        meta_path, weights_path = folder / "meta.json", folder / "weights.npz"
        if not meta_path.is_file() or not weights_path.is_file():
            raise ModelNotFound(
                f"{folder}: no trained model (meta.json + weights.npz); "
                "train one with `tingfeng nlp train TASK`"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(weights_path) as npz:
            arrays = {k: npz[k] for k in npz.files}
        # float32 in memory: float16 gathers are slower and lose precision in sums
        ctx = meta.get("context_featurizer")
        return cls(
            task=meta["task"],
            version=meta["version"],
            classes=list(meta["classes"]),
            featurizer=Featurizer(**meta["featurizer"]),
            W=arrays["W"].astype(np.float32),
            b=arrays["b"].astype(np.float32),
            idf=arrays["idf"].astype(np.float32) if "idf" in arrays else None,
            calibration=Calibration(**meta["calibration"]),
            context_featurizer=Featurizer(**ctx) if ctx else None,
            Wc=arrays["Wc"].astype(np.float32) if "Wc" in arrays else None,
            idfc=arrays["idfc"].astype(np.float32) if "idfc" in arrays else None,
            context_weight=float(meta.get("context_weight", 1.0)),
            meta={
                k: v
                for k, v in meta.items()
                if k
                not in {
                    "task",
                    "version",
                    "classes",
                    "featurizer",
                    "context_featurizer",
                    "context_weight",
                    "calibration",
                }
            },
        )
