"""CI trains each task on tiny hand-written data end to end: config -> data -> train ->
evaluate -> metrics JSON + model card, and the saved model reloads without scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nlp.config import default_config_path, load_config
from nlp.data import build_task_examples, load_dataset, split_of
from nlp.errors import ConfigError, DatasetError
from nlp.evaluate import evaluate_task, write_metrics
from nlp.linear import LinearModel
from nlp.modelcard import write_card
from nlp.train import train_task
from tests.nlp.tiny_data import write_tiny_datasets


def _tiny_config(task: str, folder: Path) -> Path:
    raw = yaml.safe_load(default_config_path(task).read_text("utf-8"))
    raw["features"].update({"bits": 12, "context_bits": 10})
    raw["data"].update({"test_fraction": 0.3, "dev_fraction": 0.2})
    raw["cross_dataset"] = []
    raw["out_of_domain"] = {
        k: v for k, v in raw.get("out_of_domain", {}).items() if k.startswith("osm2022")
    }
    path = folder / f"{task}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


@pytest.mark.parametrize("task", ["rumor", "rumor_context", "emotion"])
def test_train_evaluate_card_end_to_end(task: str, tmp_path: Path) -> None:
    root = write_tiny_datasets(tmp_path / "datasets")
    config_path = _tiny_config(task, tmp_path)
    config = load_config(config_path)
    out = tmp_path / "model"
    model, data = train_task(config, config_path, root, out)
    metrics = evaluate_task(config, model, root, data=data, cross=False)
    write_metrics(metrics, out)
    write_card(config, metrics, out, f"tingfeng nlp train {task}")

    assert {p.name for p in out.iterdir()} >= {
        "weights.npz",
        "meta.json",
        "config.yaml",
        "metrics.json",
        "model_card.md",
    }
    saved = json.loads((out / "metrics.json").read_text("utf-8"))
    test = saved["test"]
    assert test["n"] == sum(1 for e in data.examples if e.split == "test")
    assert {"accuracy", "macro_f1", "per_class", "confusion", "calibration"} <= set(test)
    assert set(test["per_class"]) == set(config.classes)
    assert set(saved["test_by_dataset"]) <= set(config.data.datasets)
    card = (out / "model_card.md").read_text("utf-8")
    assert f"tingfeng nlp train {task}" in card and config.version in card

    reloaded = LinearModel.load(out)
    assert reloaded.version == config.version and set(reloaded.classes) == set(config.classes)
    probs = reloaded.predict_proba(["紧急扩散！明天全市停水", "今天好开心"], [["紧急"], ["开心"]])
    assert probs.shape == (2, len(config.classes))
    assert abs(float(probs.sum(axis=1).min()) - 1.0) < 1e-6
    if task == "emotion":
        assert (
            "polarity" in test
            and "osm2022_weibo_social_movement_sentiment" in saved["out_of_domain"]
        )


def test_cross_dataset_trains_on_each_dataset_alone(tmp_path: Path) -> None:
    root = write_tiny_datasets(tmp_path / "datasets")
    config_path = _tiny_config("rumor", tmp_path)
    raw = yaml.safe_load(config_path.read_text("utf-8"))
    raw["cross_dataset"] = ["ced_weibo_rumor", "checked_covid_weibo"]
    config_path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    config = load_config(config_path)
    model, data = train_task(config, config_path, root, tmp_path / "m")
    metrics = evaluate_task(config, model, root, data=data, cross=True)
    assert set(metrics["cross_dataset"]) == {"ced_weibo_rumor", "checked_covid_weibo"}
    assert set(metrics["cross_dataset"]["ced_weibo_rumor"]) == {
        "ced_weibo_rumor",
        "checked_covid_weibo",
    }


def test_dedup_merges_across_datasets_and_drops_conflicts(tmp_path: Path) -> None:
    root = write_tiny_datasets(tmp_path / "datasets")
    examples = load_dataset(root, "ced_weibo_rumor") + load_dataset(root, "ced_weibo_rumor")
    examples[0].label = "non-rumor" if examples[0].label == "rumor" else "rumor"  # a conflict
    items, report = build_task_examples(examples, {}, seed=1, test_fraction=0.2, dev_fraction=0.1)
    assert report.conflicting == 1
    assert len(items) == len(examples) // 2 - 1
    assert all(len(e.ids) == 2 for e in items)


def test_split_is_a_function_of_seed_and_text() -> None:
    texts = [f"帖子{i}" for i in range(400)]
    a = [split_of(t, 7, 0.2, 0.1) for t in texts]
    assert a == [split_of(t, 7, 0.2, 0.1) for t in reversed(texts)][::-1]
    assert a != [split_of(t, 8, 0.2, 0.1) for t in texts]
    assert 40 <= a.count("test") <= 120


def test_config_errors_name_file_and_field(tmp_path: Path) -> None:
    raw = yaml.safe_load(default_config_path("emotion").read_text("utf-8"))
    raw["data"]["label_maps"]["nlpcc2020_covid_weibo_emotion"]["fear"] = "scared"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*fear.*'scared' is not in classes"):
        load_config(path)


def test_missing_dataset_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nowhere"):
        load_dataset(tmp_path / "nowhere", "ced_weibo_rumor")
