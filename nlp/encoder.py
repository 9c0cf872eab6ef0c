"""The sentence encoder stage of the default path: a shallow int8 ONNX encoder + small heads.

`nlp/models/encoder/` holds the first layers of multilingual-e5-small (converted by
`tingfeng nlp convert-e5`, exported by `nlp.encoder_train`), int8-quantized: `model.onnx`
(inputs `input_ids`/`attention_mask`, output `pooled`: mean-pooled hidden states of the layers
named in meta.json, concatenated), `tokenizer.json`, `meta.json` (version, max_length, prefix).
Texts are truncated to `max_length` pieces and batched by length.

A head (`nlp/models/rumor_encoder/`) is a linear layer over the standardized pooled vector:
`head.npz` (W, b, mean, scale) and `meta.json` (task, version, classes, calibration, the cascade
band on the linear model's P(positive) and how the two probabilities combine). Runs with
onnxruntime + tokenizers + numpy (no torch).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.errors import ModelNotFound
from nlp.linear import Calibration
from nlp.transformer.runtime import POSTS_PER_RUN, open_onnx, run_by_length

ENCODER_FILES = ("model.onnx", "tokenizer.json", "meta.json")
HEAD_FILES = ("head.npz", "meta.json")


def has_encoder(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ENCODER_FILES)


def has_head(folder: Path) -> bool:
    return all((folder / name).is_file() for name in HEAD_FILES)


@dataclass
class Encoder:
    version: str
    max_length: int
    prefix: str
    dim: int
    session: Any
    tokenizer: Any

    @classmethod
    def load(cls, folder: Path, *, threads: int = 1) -> Encoder:
        if not has_encoder(folder):
            raise ModelNotFound(
                f"{folder}: no encoder (model.onnx + tokenizer.json + meta.json); build one with "
                "`tingfeng nlp convert-e5` and `tingfeng nlp train-encoder`"
            )
        meta, session, tokenizer = open_onnx(folder / "model.onnx", threads=threads)
        return cls(
            version=meta["version"],
            max_length=int(meta["max_length"]),
            prefix=meta.get("prefix", ""),
            dim=int(meta["dim"]),
            session=session,
            tokenizer=tokenizer,
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n x dim) pooled vectors of normalized texts."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        prefixed = [self.prefix + t for t in texts]
        return run_by_length(
            self.session, self.tokenizer, prefixed, "pooled", out, batch_size=POSTS_PER_RUN
        )


@dataclass
class EncoderHead:
    task: str
    version: str
    classes: list[str]
    W: np.ndarray  # (dim, 1) binary logit or (dim, k)
    b: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    calibration: Calibration
    meta: dict[str, Any]

    @classmethod
    def load(cls, folder: Path) -> EncoderHead:
        if not has_head(folder):
            raise ModelNotFound(f"{folder}: no encoder head (head.npz + meta.json)")
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        with np.load(folder / "head.npz") as npz:
            arrays = {k: npz[k].astype(np.float32) for k in npz.files}
        return cls(
            task=meta["task"],
            version=meta["version"],
            classes=list(meta["classes"]),
            W=arrays["W"],
            b=arrays["b"],
            mean=arrays["mean"],
            scale=arrays["scale"],
            calibration=Calibration(**meta["calibration"]),
            meta=meta,
        )

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            folder / "head.npz",
            W=self.W.astype(np.float32),
            b=self.b.astype(np.float32),
            mean=self.mean.astype(np.float32),
            scale=self.scale.astype(np.float32),
        )
        meta = {
            **self.meta,
            "task": self.task,
            "version": self.version,
            "classes": self.classes,
            "calibration": vars(self.calibration),
        }
        (folder / "meta.json").write_text(
            json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        z = ((vectors - self.mean) / self.scale) @ self.W + self.b
        return np.asarray(z, dtype=np.float64)

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        if len(vectors) == 0:
            return np.zeros((0, len(self.classes)))
        return self.calibration.probabilities(self.logits(vectors))
