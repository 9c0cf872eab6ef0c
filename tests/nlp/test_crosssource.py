"""The cross-source protocol, the masked-softmax loss, EM prior estimation and signature
stripping: on tiny data and on synthetic numbers whose right answer is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from nlp.config import default_config_path, load_config
from nlp.crosssource import cross_source, folds
from nlp.masked import allowed_classes, fit_masked_softmax, masked_log_softmax
from nlp.priors import adjust, em_priors
from nlp.signatures import strip_signatures
from nlp.train import load_task_data
from tests.nlp.tiny_data import write_tiny_datasets


def _tiny(task: str, folder: Path) -> Path:
    raw = yaml.safe_load(default_config_path(task).read_text("utf-8"))
    raw["features"].update({"bits": 12})
    raw["data"].update({"test_fraction": 0.3, "dev_fraction": 0.2})
    raw["cross_dataset"] = []
    raw["out_of_domain"] = {}
    raw.pop("hand_labelled", None)  # its ids are in the shared datasets, not the tiny ones
    if raw["model"]["kind"] == "masked_softmax":
        raw["model"]["max_iter"] = 50
    path = folder / f"{task}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


@pytest.mark.parametrize("task", ["rumor", "emotion"])
def test_every_family_is_left_out_once_and_never_trained_on(task: str, tmp_path: Path) -> None:
    root = write_tiny_datasets(tmp_path / "datasets")
    config = load_config(_tiny(task, tmp_path))
    assert config.cross_source is not None
    data = load_task_data(config, root)
    fs = folds(config, data)
    assert [f.family for f in fs] == list(config.cross_source.families)
    for fold in fs:
        held = set(config.cross_source.families[fold.family])
        assert not (fold.test & (fold.train | fold.dev)).any()
        for i in np.flatnonzero(fold.train | fold.dev):
            assert not held & set(data.examples[i].datasets)
        assert fold.test.sum() == sum(1 for e in data.examples if held & set(e.datasets))

    result = cross_source(config, data, root)
    assert set(result["families"]) == set(config.cross_source.families)
    for family, row in result["families"].items():
        assert row["test"]["n"] == int(next(f for f in fs if f.family == family).test.sum())
        assert 0.0 <= row["test"]["macro_f1"] <= 1.0
        assert "ece" in row["test"]["calibration"]
        if task == "emotion":  # EM prior correction on the unlabeled epidemic posts
            priors = row["prior_correction"]["target_priors"]
            assert abs(sum(priors.values()) - 1.0) < 1e-3
    f1s = [r["test"]["macro_f1"] for r in result["families"].values()]
    assert result["summary"]["min_macro_f1"] == round(min(f1s), 4)


def test_cli_cross_source_writes_metrics_and_card_with_the_table_first(tmp_path: Path) -> None:
    from nlp.cli import app

    root = write_tiny_datasets(tmp_path / "datasets")
    config_path = _tiny("rumor", tmp_path)
    out = tmp_path / "model"
    runner = CliRunner()
    args = ["--data", str(root), "--config", str(config_path), "--out", str(out)]
    res = runner.invoke(app, ["train", "rumor", *args, "--protocol", "in-domain", "--no-cross"])
    assert res.exit_code == 0, res.output
    assert "cross_source" not in json.loads((out / "metrics.json").read_text("utf-8"))
    res = runner.invoke(app, ["evaluate", "rumor", *args, "--protocol", "cross-source"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    assert set(metrics["cross_source"]["families"]) == {"weibo_2010_2014", "checked_covid"}
    assert "test" in metrics  # the in-domain numbers are kept
    card = (out / "model_card.md").read_text("utf-8")
    assert card.index("## Cross-source") < card.index("## Metrics (own fixed test split")
    res = runner.invoke(app, ["evaluate", "rumor", *args, "--protocol", "sideways"])
    assert res.exit_code == 2 and "unknown protocol" in res.output


def test_allowed_classes_follow_label_maps() -> None:
    classes = ["neutral", "happy", "fear"]
    maps = {"b": {"joy": "happy", "fear": "fear", "disgust": None}}
    allowed = allowed_classes([["a"], ["b"], ["b", "a"]], maps, classes)
    assert allowed.tolist() == [[True, True, True], [False, True, True], [True, True, True]]


def test_masked_log_softmax_normalizes_over_allowed_classes_only() -> None:
    z = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    allowed = np.array([[True, True, True], [False, True, True]])
    p = np.exp(masked_log_softmax(z, allowed))
    assert np.allclose(p.sum(axis=1), 1.0)
    assert p[1, 0] == 0.0 and p[1, 2] > p[0, 2]


def test_masked_loss_learns_nothing_about_classes_a_source_cannot_express() -> None:
    """Feature 2 occurs only in rows of a source without class 0 ("no neutral"). A plain softmax
    learns "feature 2 => not class 0"; the masked loss leaves its class-0 weight at exactly 0."""
    rng = np.random.default_rng(7)
    n = 300
    y = rng.integers(0, 3, n)
    X = np.zeros((n, 3))
    X[np.arange(n), 0] = (y == 0) + rng.normal(0, 0.3, n)
    X[:, 1] = (y == 1) + rng.normal(0, 0.3, n)
    second = (y != 0) & (rng.random(n) < 0.5)  # a source that has no class 0
    X[second, 2] = 1.0
    allowed = np.ones((n, 3), dtype=bool)
    allowed[second, 0] = False
    W, _b = fit_masked_softmax(X, y, allowed, C=10.0)
    W_plain, _ = fit_masked_softmax(X, y, np.ones_like(allowed), C=10.0)
    assert abs(W[2, 0]) < 1e-4
    assert W_plain[2, 0] < -0.3
    with pytest.raises(ValueError, match="gold class"):
        fit_masked_softmax(X, y, np.zeros_like(allowed), C=1.0)


def test_em_recovers_shifted_priors() -> None:
    """Two Gaussian classes; posteriors exact under 50/50 training priors; the stream has 20/80."""
    rng = np.random.default_rng(11)
    n = 20000
    y = (rng.random(n) < 0.8).astype(int)
    x = rng.normal(np.where(y == 1, 1.0, -1.0), 1.0)
    like = np.stack([np.exp(-((x + 1) ** 2) / 2), np.exp(-((x - 1) ** 2) / 2)], axis=1)
    posterior = like / like.sum(axis=1, keepdims=True)  # priors 0.5 / 0.5
    priors, iters = em_priors(posterior, np.array([0.5, 0.5]), max_iter=500, tol=1e-8)
    assert abs(priors[1] - 0.8) < 0.02 and iters > 1
    fixed = adjust(posterior, priors / 0.5)
    assert ((fixed.argmax(1) == y).mean()) > ((posterior.argmax(1) == y).mean())
    capped, _ = em_priors(posterior, np.array([0.5, 0.5]), limit=1.2)
    assert capped[1] / 0.5 <= 1.2 + 1e-9


def test_strip_signatures_keeps_the_claim_words() -> None:
    text = (
        "【武汉发现不明原因肺炎】#武汉肺炎#目前病因尚未明确。(人民日报记者程远州) 转发微博 展开全文"
    )
    out = strip_signatures(text)
    assert "【" not in out and "#" not in out and "记者" not in out and "转发微博" not in out
    assert "武汉发现不明原因肺炎" in out and "武汉肺炎" in out and "病因尚未明确" in out
    assert strip_signatures("今天天气不错") == "今天天气不错"
