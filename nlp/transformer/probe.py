"""What the shipped transformer stage learned, measured after `train-transformer`
(`tingfeng nlp probe-transformer`):

- a source probe: how well a logistic probe tells the source family from the model's pooled
  features (fine-tuned), from the same layers before fine-tuning (frozen) and from character
  n-grams; overall and inside each class, where the label no longer explains the source. If
  fine-tuning raises the probe's accuracy, the model is learning each dataset's style;
- the cost of fine-tuning fewer layers: the cross-source table rerun with other layer counts.

Both go into the stage's metrics.json and model card. Needs the `train` extra (torch, onnx).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.config import TaskConfig
from nlp.train import TaskData
from nlp.transformer.config import TransformerConfig

Progress = Callable[[str], None]


def probe_accuracy(
    features: Any, sources: Sequence[str] | np.ndarray, seed: int, folds: int = 5
) -> dict[str, Any]:
    """Stratified k-fold accuracy of a logistic probe predicting the source from `features`
    (rows standardized when dense), with the majority baseline next to it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(sources)
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2:
        raise ValueError("a source probe needs posts from at least two sources")
    folds = min(folds, int(counts.min()))
    clf = LogisticRegression(C=1.0, max_iter=3000)
    model = make_pipeline(StandardScaler(), clf) if isinstance(features, np.ndarray) else clf
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    pred = cross_val_predict(model, features, y, cv=cv)
    return {
        "accuracy": round(float((pred == y).mean()), 4),
        "majority_baseline": round(float(counts.max() / counts.sum()), 4),
        "n": len(y),
    }


def source_probe(
    features: dict[str, Any], sources: Sequence[str], labels: Sequence[str], seed: int
) -> dict[str, Any]:
    """{feature set: {"all": probe, "<class>": probe inside that class}}."""
    src, lab = np.asarray(sources), np.asarray(labels)
    out: dict[str, Any] = {}
    for name, X in features.items():
        rows: dict[str, Any] = {"all": probe_accuracy(X, src, seed)}
        for cls in sorted(set(lab.tolist())):
            keep = np.flatnonzero(lab == cls)
            if len(set(src[keep].tolist())) >= 2:
                rows[cls] = probe_accuracy(X[keep], src[keep], seed)
        out[name] = rows
    return out


def with_pooled_output(model_file: Path) -> tuple[bytes, str]:
    """The exported classifier with its mean-pooled vector (the input of the head: the output
    of the last Div node) exposed as an extra output; (serialized graph, output name)."""
    import onnx

    model = onnx.load(str(model_file))
    divs = [n for n in model.graph.node if n.op_type == "Div"]
    if not divs:
        raise ValueError(f"{model_file}: no mean-pooling (Div) node; not an exported stage")
    pooled = divs[-1].output[0]
    model.graph.output.append(
        onnx.helper.make_tensor_value_info(pooled, onnx.TensorProto.FLOAT, None)
    )
    return model.SerializeToString(), pooled


def fine_tuned_features(folder: Path, texts: Sequence[str]) -> np.ndarray:
    """Pooled vectors of the stage in `folder` as it runs (same ONNX, same tokenizer)."""
    from nlp.transformer.runtime import MODEL_FILE, open_onnx, run_by_length

    graph, name = with_pooled_output(folder / MODEL_FILE)
    _meta, session, tokenizer = open_onnx(folder / MODEL_FILE, threads=2, graph=graph)
    ids = np.asarray([tokenizer.encode("。").ids], dtype=np.int64)
    (one,) = session.run([name], {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    out = np.zeros((len(texts), int(one.shape[-1])), dtype=np.float32)
    return run_by_length(session, tokenizer, texts, name, out, batch_size=32)


def frozen_features(
    base: Path, layers: int | None, max_length: int, texts: Sequence[str], threads: int = 2
) -> np.ndarray:
    """Mean-pooled vectors of the base checkpoint's first `layers` layers, not fine-tuned."""
    import torch
    from tokenizers import Tokenizer

    from nlp.transformer.train import _classifier, run_batched

    torch.set_num_threads(threads)
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    model = _classifier(base, 2, layers).eval()
    return run_batched(model.pool, tokenizer, texts, model.encoder.config.hidden_size)


def probe_stage(
    config: TransformerConfig,
    linear_cfg: TaskConfig,
    data: TaskData,
    folder: Path,
    base: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The source probe over every deduplicated post of the task's datasets."""
    from nlp.encoder_train import ngram_matrix

    say = progress or (lambda _m: None)
    texts = [e.text for e in data.examples]
    say(f"source probe: pooled vectors of the shipped stage ({len(texts)} posts)")
    features: dict[str, Any] = {"fine_tuned": fine_tuned_features(folder, texts)}
    say("source probe: the same layers before fine-tuning")
    features["frozen"] = frozen_features(base, config.train.layers, config.train.max_length, texts)
    features["char_ngrams"] = ngram_matrix(linear_cfg, data)
    say("source probe: fitting the probes")
    return source_probe(
        features, source_families(linear_cfg, data), [e.label for e in data.examples], config.seed
    )


def source_families(linear_cfg: TaskConfig, data: TaskData) -> list[str]:
    """The cross-source family of each post (its first origin's), or the dataset itself when the
    task defines no families. Families, not datasets: CED and Ma2016 share platform, years and
    many posts, so telling them apart says nothing about style."""
    families = linear_cfg.cross_source.families if linear_cfg.cross_source else {}
    family_of = {ds: fam for fam, members in families.items() for ds in members}
    return [family_of.get(e.datasets[0], e.datasets[0]) for e in data.examples]


def layer_costs(
    config: TransformerConfig,
    linear_cfg: TaskConfig,
    data: TaskData,
    base: Path,
    layer_counts: Sequence[int],
    progress: Progress | None = None,
) -> dict[str, Any]:
    """{layers: cross-source summary} with `train.layers` set to each count (all else as
    configured)."""
    from nlp.transformer.crosssource import cross_source_table

    say = progress or (lambda _m: None)
    out: dict[str, Any] = {}
    for n in layer_counts:
        cfg = config.model_copy(update={"train": config.train.model_copy(update={"layers": n})})
        say(f"cross-source table with {n} fine-tuned layers")
        table = cross_source_table(cfg, linear_cfg, data, base, progress)
        out[str(n)] = layer_row(table)
    return out


def layer_row(table: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a cross-source table the layer-cost table shows."""
    return {
        "families": {
            family: {
                "transformer": row["transformer"]["macro_f1"],
                "cascade": row["cascade"]["macro_f1"],
            }
            for family, row in table["families"].items()
        },
        "summary": {
            "transformer": table["summary"]["transformer"]["mean_macro_f1"],
            "cascade": table["summary"]["cascade"]["mean_macro_f1"],
        },
    }


def add_to_stage(folder: Path, key: str, value: dict[str, Any]) -> dict[str, Any]:
    """Store `value` under `key` in the stage's metrics.json; returns the metrics."""
    path = folder / "metrics.json"
    metrics = json.loads(path.read_text(encoding="utf-8"))
    metrics[key] = value
    path.write_text(json.dumps(metrics, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return metrics
