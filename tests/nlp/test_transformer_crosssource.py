"""The transformer stage is chosen on the cross-source table: its rows, summary and ship rule
on probabilities whose right answer is known, and the per-source class weights its loss uses
(the fine-tune itself needs torch, which CI does not install)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from nlp.config import default_config_path, load_config
from nlp.data import TaskExample
from nlp.train import TaskData
from nlp.transformer.cascade import Band
from nlp.transformer.crosssource import decide, fold_rows, summary
from nlp.transformer.modelcard import cross_source_lines
from nlp.transformer.train import split_of

RUMOR = load_config(default_config_path("rumor"))


def _data(labels: list[str], dataset: str = "ced_weibo_rumor") -> TaskData:
    examples = [TaskExample(f"帖子{i}", y, [dataset], [str(i)]) for i, y in enumerate(labels)]
    n = len(examples)
    return TaskData(examples, [[] for _ in range(n)], ["" for _ in range(n)], [[]] * n, {})


def _probs(p: list[float]) -> np.ndarray:
    a = np.array(p)
    return np.stack([1 - a, a], axis=1)


def test_cascade_row_uses_the_transformer_only_inside_the_band() -> None:
    gold = ["rumor", "rumor", "non-rumor", "non-rumor"]
    # linear: sure and right on rows 0 and 2, unsure and wrong on rows 1 and 3
    linear = _probs([0.95, 0.45, 0.05, 0.55])
    # transformer: right on the unsure rows, wrong on the sure ones
    transformer = _probs([0.1, 0.95, 0.9, 0.05])
    row = fold_rows(
        RUMOR, _data(gold), ["ced_weibo_rumor"], linear, transformer, Band(0.2, 0.8, "average")
    )
    assert row["linear"]["accuracy"] == 0.5
    assert row["transformer"]["accuracy"] == 0.5
    assert row["cascade"]["accuracy"] == 1.0
    assert row["cascade"]["routed_share"] == 0.5
    sweep = {tuple(r["band"]): r for r in row["sweep"]}
    assert sweep[(0.5, 0.5)]["routed_share"] == 0.0
    assert sweep[(0.5, 0.5)]["accuracy"] == 0.5  # nothing routed: the linear model alone
    assert sweep[(0.05, 0.95)]["routed_share"] == 1.0


def _table(linear: dict[str, float], cascade: dict[str, float]) -> dict:
    families = {
        f: {
            "left_out": [f],
            "linear": {"n": 10, "macro_f1": linear[f], "accuracy": linear[f]},
            "transformer": {"n": 10, "macro_f1": 0.5, "accuracy": 0.5},
            "cascade": {
                "n": 10,
                "macro_f1": cascade[f],
                "accuracy": cascade[f],
                "band": [0.2, 0.8],
                "routed_share": 0.2,
            },
            "sweep": [{"band": [0.5, 0.5], "routed_share": 0.0, "macro_f1": linear[f]}],
        }
        for f in linear
    }
    return {"families": families, "summary": summary(families)}


@pytest.mark.parametrize(
    ("cascade", "ship"),
    [
        ({"a": 0.62, "b": 0.85}, True),  # better on both
        ({"a": 0.595, "b": 0.86}, True),  # a small loss on one, a larger gain on the other
        ({"a": 0.55, "b": 0.95}, False),  # a better mean bought by losing a family
        ({"a": 0.60, "b": 0.80}, False),  # no gain
    ],
)
def test_ship_rule_needs_a_better_mean_and_no_family_lost(cascade: dict, ship: bool) -> None:
    table = _table({"a": 0.60, "b": 0.80}, cascade)
    decision = decide(table)
    assert decision["ship"] is ship
    assert decision["drop_by_family"]["a"] == round(0.60 - cascade["a"], 4)
    card = "\n".join(cross_source_lines(table))
    assert card.index("Cross-source") < card.index("Band sweep")
    assert f"{cascade['a']:.4f}" in card


def test_loss_weights_balance_classes_inside_each_source(tmp_path: Path) -> None:
    raw = yaml.safe_load(default_config_path("rumor").read_text("utf-8"))
    assert raw["data"]["balance"] == "per_source"
    examples = [
        TaskExample(f"a{i}", "rumor" if i < 2 else "non-rumor", ["ced_weibo_rumor"], [str(i)])
        for i in range(8)
    ] + [
        TaskExample(f"b{i}", "rumor" if i < 1 else "non-rumor", ["checked_covid_weibo"], [str(i)])
        for i in range(4)
    ]
    split = split_of(examples, RUMOR.classes, RUMOR)
    assert split.labels.tolist() == [1, 1] + [0] * 6 + [1] + [0] * 3
    assert split.weights is not None
    assert split.weights.mean() == pytest.approx(1.0)
    w = split.weights
    # inside each source, both classes carry the same total weight
    assert w[:2].sum() == pytest.approx(w[2:8].sum())
    assert w[8:9].sum() == pytest.approx(w[9:].sum())
    # and each source keeps its size
    assert w[:8].sum() / w[8:].sum() == pytest.approx(8 / 4)

    raw["data"]["balance"] = "none"
    path = tmp_path / "rumor.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    plain = split_of(examples, RUMOR.classes, load_config(path))
    assert plain.weights is not None and np.allclose(plain.weights, 1.0)
