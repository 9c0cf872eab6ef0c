"""The help model's transformer stage: a multilingual encoder fine-tuned on the hand-labelled
posts, asked for a second opinion on the posts the linear help model does not rule out.

At run time (`nlp.predict.Predictor`, no torch) a post whose linear P(help or demand) reaches
the stage's `gate` also goes to the fine-tuned model (int8 ONNX in `nlp/models/help_transformer/`),
and its probabilities become `(1 - weight) * linear + weight * transformer`; the stage's own
thresholds (chosen on those combined probabilities) then give the label. Posts below the gate
keep the linear probabilities and the linear thresholds.

At train time (`tingfeng nlp train-help`, needs the `train` extra) the stage is fine-tuned once
per outer fold of the grouped cross-validation (its out-of-fold scores feed the protocol), then
once on every labelled post (the shipped model). The out-of-fold scores are saved next to the
model (`oof.npz`, keyed by the labels' and settings' digest) so `tingfeng nlp evaluate help`
reruns the protocol without torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.errors import ConfigError
from nlp.linear import softmax

OOF_FILE = "oof.npz"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class StageSettings:
    """`transformer:` of the help training config."""

    gate: float  # linear P(help or demand) at or above which a post is routed
    weight: float  # the transformer's share of the combined probabilities
    layers: int
    max_length: int
    epochs: int
    batch_size: int
    learning_rate: float
    base_model: str
    version: str

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> StageSettings | None:
        block = cfg.get("transformer") or {}
        if not block.get("use"):
            return None
        try:
            out = cls(
                gate=float(block["gate"]),
                weight=float(block["weight"]),
                layers=int(block["layers"]),
                max_length=int(block["max_length"]),
                epochs=int(block["epochs"]),
                batch_size=int(block["batch_size"]),
                learning_rate=float(block["learning_rate"]),
                base_model=str(block["base_model"]),
                version=str(block["version"]),
            )
        except KeyError as exc:
            raise ConfigError(
                f"help training config: transformer.{exc.args[0]} is missing"
            ) from None
        if not 0.0 <= out.gate <= 1.0 or not 0.0 < out.weight <= 1.0:
            raise ConfigError(
                "help training config: transformer.gate must be in [0, 1], weight in (0, 1]"
            )
        return out

    def digest(self, *labels: Path) -> str:
        """What the out-of-fold scores depend on: the labels files and the fine-tuning
        settings (not the gate or weight, which only combine the scores)."""
        h = hashlib.sha256(b"".join(p.read_bytes() for p in labels))
        tuning = {k: v for k, v in self.__dict__.items() if k not in ("gate", "weight", "version")}
        h.update(json.dumps(tuning, sort_keys=True).encode())
        return h.hexdigest()[:16]


def routed_rows(linear_probs: np.ndarray, none: int, gate: float) -> np.ndarray:
    """Rows whose linear P(help or demand) = 1 - P(none) reaches the gate."""
    return np.flatnonzero(1.0 - linear_probs[:, none] >= gate)


def combine(
    linear_probs: np.ndarray, stage_probs: np.ndarray, none: int, gate: float, weight: float
) -> np.ndarray:
    """Routed rows get `(1 - weight) * linear + weight * stage`; the rest stay linear.
    `stage_probs` has a row for every post (rows below the gate are ignored)."""
    out = np.array(linear_probs, dtype=np.float64, copy=True)
    rows = routed_rows(linear_probs, none, gate)
    out[rows] = (1.0 - weight) * out[rows] + weight * np.asarray(stage_probs, np.float64)[rows]
    return out


def save_oof(folder: Path, scores: np.ndarray, digest: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / OOF_FILE, scores=scores.astype(np.float32), digest=digest)


def load_oof(folder: Path, digest: str, n: int) -> np.ndarray | None:
    """Saved out-of-fold scores if they were made from these labels and settings."""
    path = folder / OOF_FILE
    if not path.is_file():
        return None
    with np.load(path) as npz:
        if str(npz["digest"]) != digest or npz["scores"].shape[0] != n:
            return None
        return np.asarray(npz["scores"], dtype=np.float64)


# ---------------------------------------------------------------------------- torch part
def _transformer_config(s: StageSettings, seed: int) -> Any:
    from nlp.transformer.config import TrainConfig, TransformerConfig

    return TransformerConfig(
        task="help",
        version=s.version,
        linear="help",
        seed=seed,
        base_model=s.base_model,
        train=TrainConfig(
            max_length=s.max_length,
            layers=s.layers,
            epochs=s.epochs,
            batch_size=s.batch_size,
            learning_rate=s.learning_rate,
        ),
    )


def _split(texts: Sequence[str], y: np.ndarray, rows: np.ndarray, n_classes: int) -> Any:
    """Training rows with class-balanced loss weights (mean 1)."""
    from nlp.transformer.train import Split

    labels = y[rows].astype(np.int64)
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    w = (len(labels) / (n_classes * np.maximum(counts, 1.0)))[labels]
    return Split([texts[i] for i in rows], labels, w / w.mean())


def require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the help model's transformer stage needs the train extra "
            "(pip install -e '.[train]'); or set transformer.use: false in the help config"
        ) from None


def out_of_fold(
    s: StageSettings,
    base: Path,
    texts: Sequence[str],
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    n_classes: int,
    seed: int,
    progress: Progress,
) -> np.ndarray:
    """Out-of-fold probabilities: one fine-tune per fold, scored on that fold's test rows."""
    from nlp.transformer.train import _logits, fine_tune

    cfg = _transformer_config(s, seed)
    out = np.zeros((len(texts), n_classes))
    for k, (tr, te) in enumerate(folds):
        model, tokenizer = fine_tune(
            cfg, base, {"train": _split(texts, y, tr, n_classes)}, n_classes
        )
        out[te] = softmax(_logits(model, tokenizer, [texts[i] for i in te]))
        progress(f"transformer stage: fold {k + 1}/{len(folds)} fine-tuned")
    return out


def fit_and_export(
    s: StageSettings,
    base: Path,
    texts: Sequence[str],
    y: np.ndarray,
    classes: Sequence[str],
    thresholds: dict[str, float],
    folder: Path,
    seed: int,
    progress: Progress,
) -> tuple[np.ndarray, np.ndarray]:
    """Fine-tune on every labelled post, export int8 ONNX + tokenizer + meta.json to `folder`;
    returns torch's and the shipped int8 model's probabilities of the labelled posts."""
    import shutil
    import tempfile

    from nlp.transformer.runtime import TransformerClassifier
    from nlp.transformer.train import _logits, export_onnx, fine_tune

    cfg = _transformer_config(s, seed)
    rows = np.arange(len(texts))
    model, tokenizer = fine_tune(
        cfg, base, {"train": _split(texts, y, rows, len(classes))}, len(classes)
    )
    progress("transformer stage: fine-tuned on all labelled posts; exporting int8 ONNX")
    torch_probs = softmax(_logits(model, tokenizer, list(texts)))
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        q = export_onnx(model, Path(tmp) / "model.onnx", quantize=True)
        shutil.copyfile(q, folder / "model.onnx")
    shutil.copyfile(base / "tokenizer.json", folder / "tokenizer.json")
    meta = {
        "task": "help",
        "version": s.version,
        "classes": list(classes),
        "max_length": s.max_length,
        "calibration": {"method": "none"},
        "stage": {"gate": s.gate, "weight": s.weight},
        "thresholds": thresholds,
        "layers": s.layers,
    }
    (folder / "meta.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=1) + "\n", "utf-8"
    )
    return torch_probs, TransformerClassifier.load(folder).predict_proba(list(texts))


def quantization_check(
    linear: np.ndarray,
    torch_probs: np.ndarray,
    int8_probs: np.ndarray,
    s: StageSettings,
    none: int,
    labels: Callable[[np.ndarray], np.ndarray],
) -> dict[str, float]:
    """How far the shipped int8 stage is from the torch model it came from: probability
    differences of the stage alone, and how often the combined path's label is the same."""
    diff = np.abs(int8_probs - torch_probs)
    same = labels(combine(linear, int8_probs, none, s.gate, s.weight)) == labels(
        combine(linear, torch_probs, none, s.gate, s.weight)
    )
    return {
        "int8_vs_torch_max_abs": round(float(diff.max()), 4),
        "int8_vs_torch_mean_abs": round(float(diff.mean()), 4),
        "int8_vs_torch_label_agreement": round(float(same.mean()), 4),
    }
