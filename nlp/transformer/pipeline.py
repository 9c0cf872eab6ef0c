"""`tingfeng nlp train-transformer TASK`: fine-tune, export, measure, decide, write the folder.

The folder gets `metrics.json`, `model_card.md`, `config.yaml` always; `model.onnx`,
`tokenizer.json` and `meta.json` only when the cascade measures better than the linear model
alone on the cross-source protocol (`nlp.transformer.crosssource.decide`; with
`--protocol in-domain`, on the test split): weights that measure worse are never shipped.
Needs the `train` extra.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nlp.config import default_config_path, load_config
from nlp.evaluate import predict_data
from nlp.linear import LinearModel
from nlp.train import TaskData
from nlp.transformer.cascade import Band, cascade_probabilities
from nlp.transformer.config import TransformerConfig
from nlp.transformer.crosssource import cross_source_table, decide
from nlp.transformer.measure import (
    cascade_table,
    changes,
    posts_per_second,
    scores,
    sign_test_p,
)
from nlp.transformer.modelcard import write_transformer_card
from nlp.transformer.runtime import MODEL_FILE, TransformerClassifier, binary_logit
from nlp.transformer.train import (
    Split,
    calibrate,
    copy_config,
    export_onnx,
    fine_tune,
    training_examples,
)

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
SHIPPED = (MODEL_FILE, "tokenizer.json", "meta.json")


def train_transformer(
    config: TransformerConfig,
    config_path: Path,
    root: Path,
    base: Path,
    out_dir: Path,
    linear_dir: Path,
    command: str,
    progress: Progress | None = None,
    *,
    protocol: str = "cross-source",
) -> dict[str, Any]:
    say = progress or (lambda _m: None)
    linear_cfg = load_config(default_config_path(config.linear))
    say("loading the linear task's data and split")
    data, classes, splits = training_examples(config, root, linear_cfg)
    table = None
    if protocol == "cross-source":
        table = cross_source_table(config, linear_cfg, data, base, say)
    say(f"fine-tuning on {len(splits['train'].texts)} examples")
    model, _tok = fine_tune(config, base, splits, len(classes), progress=say)
    return measure_and_ship(
        config,
        config_path,
        data,
        classes,
        splits,
        model,
        base,
        out_dir,
        linear_dir,
        command,
        say,
        cross_source=table,
    )


def measure_and_ship(
    config: TransformerConfig,
    config_path: Path,
    data: TaskData,
    classes: list[str],
    splits: dict[str, Split],
    model: Any,
    base: Path,
    out_dir: Path,
    linear_dir: Path,
    command: str,
    say: Progress,
    *,
    cross_source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export the fine-tuned `model`, measure every variant alone and in the cascade on the
    test split, decide (on the `cross_source` table when given)."""
    linear_cfg = load_config(default_config_path(config.linear))
    linear = LinearModel.load(linear_dir)
    positive = classes.index(linear_cfg.positive) if linear_cfg.positive else len(classes) - 1
    dev, test = data.subset(data.mask("dev")), data.subset(data.mask("test"))
    lin = {
        "dev": _reorder(predict_data(linear, dev), linear.classes, classes),
        "test": _reorder(predict_data(linear, test), linear.classes, classes),
    }
    datasets = linear_cfg.data.datasets
    metrics: dict[str, Any] = {
        "task": config.task,
        "version": config.version,
        "seed": config.seed,
        "linear_version": linear.version,
        "linear": {
            "test": scores(test, lin["test"], classes, datasets),
            "dev": scores(dev, lin["dev"], classes, datasets),
        },
        "variants": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fp32 = work / "model.fp32.onnx"
        int8 = export_onnx(model, fp32, quantize=config.quantize)
        variants = {"fp32": fp32, **({"int8": int8} if config.quantize else {})}
        folders: dict[str, Path] = {}
        for name, onnx_path in variants.items():
            folder = work / name
            folder.mkdir()
            shutil.copyfile(onnx_path, folder / MODEL_FILE)
            shutil.copyfile(base / "tokenizer.json", folder / "tokenizer.json")
            _write_meta(folder, config, classes, {"method": "none"})
            clf = TransformerClassifier.load(folder)
            dev_logits = clf.logits([e.text for e in dev.examples])
            gold = np.array([classes.index(e.label) for e in dev.examples])
            cal = calibrate(config, dev_logits, gold)
            _write_meta(folder, config, classes, vars(cal))
            clf = TransformerClassifier.load(folder)
            probs = {
                "dev": clf.calibration.probabilities(binary_logit(dev_logits)),
                "test": clf.predict_proba([e.text for e in test.examples]),
            }
            band = Band(config.cascade.low, config.cascade.high, config.cascade.combine)
            casc, routed = cascade_probabilities(
                lin["test"], positive, band, probs["test"].__getitem__
            )
            dev_casc, _ = cascade_probabilities(
                lin["dev"], positive, band, probs["dev"].__getitem__
            )
            paired = {
                "dev": changes(dev, lin["dev"], dev_casc, classes),
                "test": changes(test, lin["test"], casc, classes),
            }
            for counts in paired.values():
                counts["sign_test_p"] = sign_test_p(counts["fixed"], counts["broken"])  # type: ignore[assignment]
            sample = [e.text for e in test.examples[:512]]
            metrics["variants"][name] = {
                "size_mb": round((folder / MODEL_FILE).stat().st_size / 1e6, 2),
                "posts_per_second_1_thread": posts_per_second(clf.predict_proba, sample),
                "transformer_alone": {"test": scores(test, probs["test"], classes, datasets)},
                "cascade": {
                    "band": [band.low, band.high],
                    "combine": band.combine,
                    "routed_share_test": round(len(routed) / max(len(test.examples), 1), 4),
                    "test": scores(test, casc, classes, datasets),
                    "dev": scores(dev, dev_casc, classes, datasets),
                    "vs_linear": paired,
                },
                "band_sweep": {
                    split: cascade_table(
                        part, lin[split], probs[split], classes, positive, datasets
                    )
                    for split, part in (("dev", dev), ("test", test))
                },
            }
            folders[name] = folder
            say(
                f"{name}: cascade test accuracy {metrics['variants'][name]['cascade']['test']['all']['accuracy']:.4f}"
            )
        shipped = "int8" if config.quantize else "fp32"
        if cross_source is not None:
            metrics["cross_source"] = cross_source
            decision = decide(cross_source)
        else:
            decision = _decide(metrics, shipped)
        metrics["shipped_variant"] = shipped if decision["ship"] else None
        metrics["decision"] = decision
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in SHIPPED:
            (out_dir / name).unlink(missing_ok=True)
        if decision["ship"]:
            for name in SHIPPED:
                shutil.copyfile(folders[shipped] / name, out_dir / name)
    copy_config(config_path, out_dir)
    metrics["command"] = command
    metrics["data"] = {
        split: {c: int((s.labels == i).sum()) for i, c in enumerate(classes)}
        for split, s in splits.items()
    }
    (out_dir / "metrics.json").write_text(
        json.dumps(metrics, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    write_transformer_card(config, metrics, out_dir, command, base)
    return metrics


def _decide(metrics: dict[str, Any], variant: str) -> dict[str, Any]:
    lin = metrics["linear"]["test"]["all"]
    cas = metrics["variants"][variant]["cascade"]["test"]["all"]
    not_worse = cas["accuracy"] >= lin["accuracy"] and cas["macro_f1"] >= lin["macro_f1"]
    better = cas["accuracy"] > lin["accuracy"] or cas["macro_f1"] > lin["macro_f1"]
    return {
        "ship": bool(not_worse and better),
        "rule": "cascade test accuracy and macro-F1 not below the linear model's, one above",
        "linear": {"accuracy": lin["accuracy"], "macro_f1": lin["macro_f1"]},
        "cascade": {"accuracy": cas["accuracy"], "macro_f1": cas["macro_f1"]},
    }


def _reorder(probs: np.ndarray, have: list[str], want: list[str]) -> np.ndarray:
    return probs[:, [have.index(c) for c in want]]


def _write_meta(
    folder: Path, config: TransformerConfig, classes: list[str], calibration: dict[str, Any]
) -> None:
    meta = {
        "task": config.task,
        "version": config.version,
        "classes": classes,
        "max_length": config.train.max_length,
        "calibration": calibration,
        "cascade": config.cascade.model_dump(),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
