"""The shipped transformer classifier, run with onnxruntime + tokenizers (no torch).

A model folder (`nlp/models/rumor_transformer/`) holds `model.onnx` (int8 or fp32, inputs
`input_ids`/`attention_mask`, output `logits`), `tokenizer.json`, `meta.json` (task, version,
classes, max_length, calibration, cascade band), `config.yaml`, `metrics.json`, `model_card.md`.
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

MODEL_FILE = "model.onnx"
# How the run-time ONNX models are run: POSTS_PER_RUN posts per onnxruntime call (see
# `run_by_length`). RUN_MODE names it in the pipeline version stored posts carry, so a change
# that moves outputs re-enriches them. "p1": one post per run; before it, batches of 32 whose
# int8 activation scales depended on the batch-mates.
POSTS_PER_RUN = 1
RUN_MODE = "p1"


def has_transformer(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (MODEL_FILE, "tokenizer.json", "meta.json"))


@dataclass
class TransformerClassifier:
    task: str
    version: str
    classes: list[str]
    max_length: int
    calibration: Calibration
    meta: dict[str, Any]
    session: Any
    tokenizer: Any

    @classmethod
    def load(cls, folder: Path, *, threads: int = 1) -> TransformerClassifier:
        if not has_transformer(folder):
            raise ModelNotFound(
                f"{folder}: no transformer model (model.onnx + tokenizer.json + meta.json); "
                "train one with `tingfeng nlp train-transformer rumor`"
            )
        meta, session, tokenizer = open_onnx(folder / MODEL_FILE, threads=threads)
        max_length = int(meta["max_length"])
        return cls(
            task=meta["task"],
            version=meta["version"],
            classes=list(meta["classes"]),
            max_length=max_length,
            calibration=Calibration(**meta["calibration"]),
            meta=meta,
            session=session,
            tokenizer=tokenizer,
        )

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits (n x classes), each text's from its own run (a function of that text
        alone, whatever else is scored with it)."""
        out = np.zeros((len(texts), len(self.classes)), dtype=np.float32)
        if not texts:
            return out
        return run_by_length(
            self.session, self.tokenizer, texts, "logits", out, batch_size=POSTS_PER_RUN
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n x classes) calibrated probabilities of normalized texts."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        return self.calibration.probabilities(binary_logit(self.logits(texts)))


def open_onnx(
    model_file: Path, *, threads: int = 1, graph: bytes | None = None
) -> tuple[dict[str, Any], Any, Any]:
    """meta.json, an onnxruntime CPU session and the tokenizer (truncated to meta's
    `max_length`) of a model folder; `graph`: run these serialized ONNX bytes instead of
    `model_file` (the same model with more outputs exposed, e.g. for a probe)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    folder = model_file.parent
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(
        graph if graph is not None else str(model_file), opts, providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(int(meta["max_length"]))
    return meta, session, tokenizer


def run_by_length(
    session: Any,
    tokenizer: Any,
    texts: Sequence[str],
    output: str,
    out: np.ndarray,
    *,
    batch_size: int,
) -> np.ndarray:
    """Fill `out` (one row per text) with the model's `output`, texts batched by length to
    limit padding.

    The run-time models (`TransformerClassifier`, `nlp.encoder.Encoder`) pass `POSTS_PER_RUN`
    (1). Their int8 graphs quantize activations dynamically, with one scale over the whole input
    tensor: in a batch of 32 a post's P(rumor) moved by up to 0.08 with its batch-mates (7 of
    600 posts crossed 0.5 between batched and one-by-one runs), so the same post could be
    labelled differently by `tingfeng nlp predict`, by enrichment and by a re-run. One post
    per run makes a score a function of its post; it costs ~7% of the transformer's time
    (no padding to pay for, less batching to gain). Batches stay for the source probe
    (`nlp.transformer.probe`), an aggregate over thousands of posts; in fp32 graphs batch-mates
    move outputs by ~1e-7 only."""
    encodings = tokenizer.encode_batch(list(texts))
    lengths = [len(e.ids) for e in encodings]
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(lengths[i] for i in idx)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            seq = encodings[i].ids
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        (values,) = session.run([output], {"input_ids": ids, "attention_mask": mask})
        out[idx] = values
    return out


def binary_logit(logits: np.ndarray) -> np.ndarray:
    """Two-class logits as one column (positive minus negative), as the linear models keep it."""
    if logits.shape[1] == 2:
        return (logits[:, 1] - logits[:, 0])[:, None]
    return logits
