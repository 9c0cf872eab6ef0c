"""`tingfeng nlp train-encoder TASK`: export the shallow int8 encoder, embed the task's texts
once (cached), fit the logistic head, measure it on the cross-source protocol, write the folders.

Steps: `export_encoder` keeps the first `encoder.layers` layers of the converted e5 checkpoint
and exports ONNX returning the mean-pooled outputs of `pooled_layers` (concatenated), then
int8-quantizes it; `embed_cached` runs that int8 model (exactly what serves) over every text once
and caches the vectors by text hash; `fit_head` standardizes them and fits a logistic regression
(per-source class balance and dataset weights from the linear config) with Platt calibration on
the dev split. `encoder_fitter` plugs head + linear model into `nlp.crosssource`.

Needs the `train` extra (torch, transformers for the export; scikit-learn for the head).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from nlp.config import TaskConfig, load_yaml_model
from nlp.crosssource import Scorer, linear_fitter
from nlp.encoder import Encoder, EncoderHead
from nlp.linear import Calibration
from nlp.train import TaskData, sample_weights

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


class EncoderSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    layers: int = Field(4, ge=1, le=12)
    pooled_layers: list[int] = Field(default_factory=lambda: [4])
    max_length: int = Field(64, ge=8, le=512)
    prefix: str = "query: "


class HeadSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    C: float = Field(1.0, gt=0)


class CombineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    low: float = Field(0.0, ge=0, le=1)
    high: float = Field(1.0, ge=0, le=1)
    weight: float = Field(0.5, ge=0, le=1)


class EncoderTaskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    version: str
    linear: str
    seed: int
    base_model: str
    encoder: EncoderSpec
    head: HeadSpec = Field(default_factory=HeadSpec)
    combine: CombineSpec = Field(default_factory=CombineSpec)


def load_encoder_config(path: Path) -> EncoderTaskConfig:
    return load_yaml_model(path, EncoderTaskConfig)


def export_encoder(base: Path, spec: EncoderSpec, out_dir: Path) -> Path:
    """int8 ONNX encoder of the first `spec.layers` layers into `out_dir` (with tokenizer, meta)."""
    import tempfile

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import BertModel

    enc = BertModel.from_pretrained(str(base), add_pooling_layer=False).eval()
    enc.encoder.layer = enc.encoder.layer[: spec.layers]
    enc.config.num_hidden_layers = spec.layers
    layers = list(spec.pooled_layers)

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = enc

        def forward(self, input_ids, attention_mask):  # type: ignore[no-untyped-def]
            hidden = self.enc(
                input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
            ).hidden_states
            mask = attention_mask.unsqueeze(-1).to(hidden[0].dtype)
            denom = mask.sum(dim=1).clamp(min=1.0)
            return torch.cat([(hidden[i] * mask).sum(dim=1) / denom for i in layers], dim=1)

    out_dir.mkdir(parents=True, exist_ok=True)
    ids = torch.ones((2, 16), dtype=torch.long)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "encoder.fp32.onnx"
        torch.onnx.export(
            Pooled(),
            (ids, ids),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["pooled"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                "pooled": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
        quantize_dynamic(str(fp32), str(out_dir / "model.onnx"), weight_type=QuantType.QInt8)
    shutil.copyfile(base / "tokenizer.json", out_dir / "tokenizer.json")
    conversion = base / "conversion.json"
    meta = {
        "version": spec.version,
        "max_length": spec.max_length,
        "prefix": spec.prefix,
        "layers": spec.layers,
        "pooled_layers": layers,
        "dim": 384 * len(layers),
        "base": json.loads(conversion.read_text("utf-8")).get("source")
        if conversion.is_file()
        else str(base),
        "quantization": "onnxruntime dynamic int8 (weights QInt8)",
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out_dir / "model.onnx"


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def embed_cached(
    encoder: Encoder, texts: Sequence[str], cache: Path | None, say: Progress | None = None
) -> np.ndarray:
    """Vectors of `texts`; computed once per (encoder version, text), cached in `cache`."""
    store: dict[str, np.ndarray] = {}
    path = cache / f"embeddings-{encoder.version}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path) as npz:
            store = dict(zip(npz["keys"].tolist(), npz["vectors"], strict=True))
    keys = [_key(t) for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in store}.items())
    if missing:
        if say:
            say(f"embedding {len(missing)} texts ({len(texts) - len(missing)} cached)")
        for start in range(0, len(missing), 2048):
            part = missing[start : start + 2048]
            vectors = encoder.embed([t for _, t in part])
            store.update({k: v.astype(np.float16) for (k, _), v in zip(part, vectors, strict=True)})
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez(path, keys=np.array(list(store)), vectors=np.stack(list(store.values())))
    return np.stack([store[k] for k in keys]).astype(np.float32)


def fit_head(
    config: TaskConfig,
    version: str,
    X: np.ndarray,
    data: TaskData,
    train: np.ndarray,
    dev: np.ndarray,
    C: float,
    combine: CombineSpec,
) -> EncoderHead:
    """Logistic head over standardized vectors; Platt-calibrated on `dev`."""
    from sklearn.linear_model import LogisticRegression

    from nlp.train import fit_calibration

    classes = list(config.classes)
    if config.positive and classes[-1] != config.positive:
        classes.remove(config.positive)
        classes.append(config.positive)
    mean = X[train].mean(axis=0)
    scale = X[train].std(axis=0) + 1e-6
    Z = (X - mean) / scale
    y = np.array([classes.index(e.label) for e in data.examples])
    weights = sample_weights(config, [data.examples[i] for i in np.flatnonzero(train)])
    lr = LogisticRegression(C=C, max_iter=3000, random_state=config.seed)
    lr.fit(Z[train], y[train], sample_weight=weights)
    W = np.asarray(lr.coef_, dtype=np.float64).T
    b = np.asarray(lr.intercept_, dtype=np.float64)
    head = EncoderHead(
        task=config.task,
        version=version,
        classes=classes,
        W=W,
        b=b,
        mean=mean,
        scale=scale,
        calibration=Calibration("none"),
        meta={"combine": combine.model_dump()},
    )
    if dev.any():
        head.calibration = fit_calibration(config.calibration.method, head.logits(X[dev]), y[dev])
    return head


def combine_probs(
    linear: np.ndarray, encoder: np.ndarray, combine: CombineSpec, positive: int
) -> np.ndarray:
    routed = (linear[:, positive] >= combine.low) & (linear[:, positive] <= combine.high)
    out = np.array(linear, copy=True)
    out[routed] = (1 - combine.weight) * linear[routed] + combine.weight * encoder[routed]
    return out


def encoder_fitter(
    vectors: np.ndarray, C: float, combine: CombineSpec
) -> Callable[[TaskConfig, TaskData, np.ndarray, np.ndarray], Scorer]:
    """A cross-source fitter: the linear model + a head over `vectors` (rows of the task data)."""

    def fit(config: TaskConfig, data: TaskData, train: np.ndarray, dev: np.ndarray) -> Scorer:
        head = fit_head(config, "fold", vectors, data, train, dev, C, combine)
        lin = linear_fitter(config, data, train, dev) if combine.weight < 1.0 else None
        row = {id(e): i for i, e in enumerate(data.examples)}
        order = [head.classes.index(c) for c in config.classes]
        positive = config.classes.index(head.classes[-1])

        def score(part: TaskData) -> np.ndarray:
            rows = [row[id(e)] for e in part.examples]
            enc = head.predict_proba(vectors[rows])[:, order]
            if lin is None:
                return enc
            return combine_probs(lin(part), enc, combine, positive)

        return score

    return fit


def source_probe(X: Any, sources: Sequence[str], seed: int, folds: int = 5) -> dict[str, Any]:
    """How well a linear probe tells the source dataset from features (stratified CV accuracy),
    with the number of posts per source."""
    from nlp.transformer.probe import probe_accuracy

    labels, counts = np.unique(np.asarray(sources), return_counts=True)
    return {
        **probe_accuracy(X, sources, seed, folds),
        "sources": dict(zip(labels.tolist(), counts.tolist(), strict=True)),
    }


def ngram_matrix(config: TaskConfig, data: TaskData, bits: int = 18):  # type: ignore[no-untyped-def]
    """The linear model's kind of features (smaller space), for the source probe."""
    from nlp.features import Featurizer, document_frequency_idf

    f = config.features
    fz = Featurizer(bits=bits, char_min=f.char_min, char_max=f.char_max, words=f.words)
    texts = [e.text for e in data.examples]
    idf = document_frequency_idf(fz.hashes(texts, data.tokens))
    return fz.transform(texts, data.tokens, idf).to_scipy()


def train_encoder(
    cfg: EncoderTaskConfig,
    config_path: Path,
    root: Path,
    base: Path,
    models_dir: Path,
    cache: Path | None,
    command: str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Export (if its version changed), embed, measure cross-source, fit and save the head."""
    from nlp.config import default_config_path, load_config
    from nlp.crosssource import cross_source, fold_metrics
    from nlp.encoder import has_encoder
    from nlp.train import load_task_data

    say = progress or (lambda _m: None)
    linear_cfg = load_config(default_config_path(cfg.linear))
    say(f"loading {', '.join(linear_cfg.data.datasets)}")
    data = load_task_data(linear_cfg, root)
    enc_dir = models_dir / "encoder"
    current = (
        json.loads((enc_dir / "meta.json").read_text("utf-8")).get("version")
        if has_encoder(enc_dir)
        else None
    )
    if current != cfg.encoder.version:
        say(f"exporting the first {cfg.encoder.layers} layers of {base} as int8 ONNX")
        export_encoder(base, cfg.encoder, enc_dir)
    encoder = Encoder.load(enc_dir)
    X = embed_cached(encoder, [e.text for e in data.examples], cache, say)
    metrics: dict[str, Any] = {"task": cfg.task, "version": cfg.version, "seed": cfg.seed}
    alone = CombineSpec(low=0.0, high=1.0, weight=1.0)
    say("cross-source: encoder head alone")
    metrics["cross_source_encoder_alone"] = cross_source(
        linear_cfg, data, fitter=encoder_fitter(X, cfg.head.C, alone), progress=say
    )
    say("cross-source: linear + encoder (shipped combination)")
    metrics["cross_source"] = cross_source(
        linear_cfg, data, fitter=encoder_fitter(X, cfg.head.C, cfg.combine), progress=say
    )
    sources = [e.datasets[0] for e in data.examples]
    say("source probes")
    metrics["source_probe"] = {
        "encoder": source_probe(X, sources, cfg.seed),
        "char_ngrams": source_probe(ngram_matrix(linear_cfg, data), sources, cfg.seed),
    }
    train, dev, test = data.mask("train"), data.mask("dev"), data.mask("test")
    scorer = encoder_fitter(X, cfg.head.C, cfg.combine)(linear_cfg, data, train, dev)
    part = data.subset(test)
    metrics["test"] = fold_metrics(linear_cfg, part, scorer(part), list(linear_cfg.data.datasets))
    head = fit_head(linear_cfg, cfg.version, X, data, train, dev, cfg.head.C, cfg.combine)
    head.meta["encoder"] = cfg.encoder.version
    folder = models_dir / f"{cfg.task}_encoder"
    head.save(folder)
    shutil.copyfile(config_path, folder / "config.yaml")
    (folder / "metrics.json").write_text(
        json.dumps(metrics, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    from nlp.encoder_card import write_encoder_card

    write_encoder_card(cfg, metrics, folder, enc_dir, command)
    return metrics
