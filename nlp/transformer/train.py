"""`tingfeng nlp train-transformer rumor`: fine-tune the converted encoder on the linear task's
train split, calibrate on dev, export ONNX (fp32 and int8), measure both and the cascade.

Needs the `train` extra (torch, transformers). The data path (`training_examples`,
`batches`) is plain Python so tests can run it without torch.
"""

from __future__ import annotations

import logging
import random
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp.config import TaskConfig, default_config_path, load_config
from nlp.data import TaskExample
from nlp.train import TaskData, fit_calibration, load_task_data, sample_weights
from nlp.transformer.config import TransformerConfig

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass
class Split:
    texts: list[str]
    labels: np.ndarray  # class indices
    weights: np.ndarray | None = None  # per-example loss weights (mean 1), None: all equal


def split_of(examples: Sequence[TaskExample], classes: Sequence[str], linear: TaskConfig) -> Split:
    """Texts, class indices and the linear config's sample weights (its `data.weights` and
    `data.balance`, e.g. per-source class balance), scaled to mean 1."""
    weights = sample_weights(linear, examples) if examples else np.ones(0)
    return Split(
        [e.text for e in examples],
        np.array([list(classes).index(e.label) for e in examples], dtype=np.int64),
        weights / weights.mean() if len(weights) else weights,
    )


def training_examples(
    config: TransformerConfig, root: Path, linear: TaskConfig | None = None
) -> tuple[TaskData, list[str], dict[str, Split]]:
    """The linear task's deduplicated examples and split, as (texts, class indices) per split;
    classes ordered with the positive class last."""
    linear = linear or load_config(default_config_path(config.linear))
    data = load_task_data(linear, root)
    classes = list(linear.classes)
    if linear.positive and classes[-1] != linear.positive:
        classes.remove(linear.positive)
        classes.append(linear.positive)
    splits: dict[str, Split] = {}
    for name in ("train", "dev", "test"):
        rows = [e for e in data.examples if e.split == name]
        if name == "train" and config.train.max_train:
            rows = rows[: config.train.max_train]
        splits[name] = split_of(rows, classes, linear)
    return data, classes, splits


def batches(
    lengths: Sequence[int], batch_size: int, seed: int, *, shuffle: bool = True
) -> Iterator[list[int]]:
    """Row indices per batch: shuffled, then sorted by length within windows of 50 batches
    (less padding), the batch order shuffled again. Every row appears exactly once."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(order)
    window = batch_size * 50
    out: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        out.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    if shuffle:
        rng.shuffle(out)
    yield from out


# ---------------------------------------------------------------------------- torch part
def _classifier(base: Path, n_classes: int, layers: int | None = None):  # type: ignore[no-untyped-def]
    import torch
    from transformers import BertModel

    class MeanPoolClassifier(torch.nn.Module):
        """Encoder + mean pooling over real tokens (how e5 was trained) + a linear head."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = BertModel.from_pretrained(str(base), add_pooling_layer=False)
            if layers is not None and layers < self.encoder.config.num_hidden_layers:
                self.encoder.encoder.layer = self.encoder.encoder.layer[:layers]
                self.encoder.config.num_hidden_layers = layers
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, n_classes)

        def pool(self, input_ids, attention_mask):  # type: ignore[no-untyped-def]
            """The mean of the last kept layer's outputs over real tokens."""
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

        def forward(self, input_ids, attention_mask):  # type: ignore[no-untyped-def]
            return self.head(self.dropout(self.pool(input_ids, attention_mask)))

    return MeanPoolClassifier()


def _tensors(tokenizer, texts: Sequence[str], rows: Sequence[int]):  # type: ignore[no-untyped-def]
    import torch

    enc = [tokenizer.encode(texts[i]).ids for i in rows]
    width = max(len(e) for e in enc)
    ids = torch.zeros((len(enc), width), dtype=torch.long)
    mask = torch.zeros((len(enc), width), dtype=torch.long)
    for r, e in enumerate(enc):
        ids[r, : len(e)] = torch.tensor(e)
        mask[r, : len(e)] = 1
    return ids, mask


def _logits(model, tokenizer, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:  # type: ignore[no-untyped-def]
    model.eval()
    return run_batched(model, tokenizer, texts, model.head.out_features, batch_size)


def run_batched(
    fn, tokenizer, texts: Sequence[str], width: int, batch_size: int = 64
) -> np.ndarray:  # type: ignore[no-untyped-def]
    """`fn(input_ids, attention_mask)` over `texts` (n x width), batched by length, no grad."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), width), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            ids, mask = _tensors(tokenizer, texts, rows)
            out[rows] = fn(ids, mask).numpy()
    return out


def fine_tune(
    config: TransformerConfig,
    base: Path,
    splits: dict[str, Split],
    n_classes: int,
    progress: Progress | None = None,
):  # type: ignore[no-untyped-def]
    """Fine-tune on `splits["train"]` for the configured epochs (no early stopping on the dev
    split: it comes from the training sources and rewards their style). Returns (model,
    tokenizer)."""
    import torch
    from tokenizers import Tokenizer
    from transformers import get_linear_schedule_with_warmup

    say = progress or (lambda _m: None)
    t = config.train
    torch.manual_seed(config.seed)
    torch.set_num_threads(t.threads)
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.enable_truncation(t.max_length)
    model = _classifier(base, n_classes, t.layers)
    train = splits["train"]
    lengths = [len(e.ids) for e in tokenizer.encode_batch(train.texts)]
    per_epoch = (len(train.texts) + t.batch_size - 1) // t.batch_size
    steps = t.epochs * per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    sched = get_linear_schedule_with_warmup(opt, int(steps * t.warmup_fraction), steps)
    labels = torch.tensor(train.labels, dtype=torch.long)
    weights = torch.tensor(
        train.weights if train.weights is not None else np.ones(len(train.texts)),
        dtype=torch.float32,
    )
    for epoch in range(t.epochs):
        model.train()
        total = 0.0
        for done, rows in enumerate(batches(lengths, t.batch_size, config.seed + epoch), 1):
            ids, mask = _tensors(tokenizer, train.texts, rows)
            losses = torch.nn.functional.cross_entropy(
                model(ids, mask), labels[rows], reduction="none"
            )
            loss = (losses * weights[rows]).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item()
            if done % 50 == 0 or done == per_epoch:
                say(f"epoch {epoch + 1}: step {done}/{per_epoch}, loss {total / done:.4f}")
    model.eval()
    return model, tokenizer


def export_onnx(model, out: Path, *, quantize: bool) -> Path:  # type: ignore[no-untyped-def]
    """fp32 ONNX at `out`; with `quantize`, also int8 (dynamic) next to it. Returns the int8 path."""
    import torch

    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    torch.onnx.export(
        model,
        (ids, mask),
        str(out),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "seq"},
            "attention_mask": {0: "batch", 1: "seq"},
            "logits": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    q = out.with_name(out.stem + ".int8.onnx")
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(out), str(q), weight_type=QuantType.QInt8)
    return q


def calibrate(config: TransformerConfig, logits: np.ndarray, gold: np.ndarray):  # type: ignore[no-untyped-def]
    from nlp.transformer.runtime import binary_logit

    return fit_calibration(
        "platt" if logits.shape[1] == 2 else "temperature", binary_logit(logits), gold
    )


def copy_config(config_path: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config_path, folder / "config.yaml")
