"""`tingfeng nlp probe-transformer`: the source probe on features whose answer is known, the
layer-cost and probe sections of the card, and the command's refusals of bad input (the
features themselves need torch/onnx, which CI does not install)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from nlp.predict import default_models_dir
from nlp.transformer.config import default_transformer_config_path, load_transformer_config
from nlp.transformer.modelcard import render_transformer_card
from nlp.transformer.probe import add_to_stage, layer_row, source_probe

SHIPPED = default_models_dir() / "rumor_transformer"


def _sources(n: int) -> tuple[list[str], list[str]]:
    sources = ["ced_weibo_rumor", "checked_covid_weibo", "ma2016_weibo_rumor"] * (n // 3)
    labels = ["rumor" if i % 2 else "non-rumor" for i in range(len(sources))]
    return sources, labels


def test_probe_tells_sources_apart_only_when_the_features_carry_them() -> None:
    sources, labels = _sources(300)
    rng = np.random.default_rng(7)
    noise = rng.normal(size=(len(sources), 8))
    marked = noise.copy()
    codes = {name: i for i, name in enumerate(sorted(set(sources)))}
    marked[:, 0] += 4.0 * np.array([codes[s] for s in sources])
    probe = source_probe({"marked": marked, "noise": noise}, sources, labels, seed=1)
    assert probe["marked"]["all"]["accuracy"] > 0.9
    assert probe["noise"]["all"]["accuracy"] < probe["noise"]["all"]["majority_baseline"] + 0.1
    assert probe["noise"]["all"]["majority_baseline"] == pytest.approx(1 / 3, abs=0.01)
    # inside each class the label cannot explain the source
    assert set(probe["marked"]) == {"all", "non-rumor", "rumor"}
    assert probe["marked"]["rumor"]["n"] == labels.count("rumor")


def test_probe_refuses_a_single_source() -> None:
    with pytest.raises(ValueError, match="at least two sources"):
        source_probe({"x": np.zeros((10, 2))}, ["a"] * 10, ["rumor"] * 10, seed=1)


def test_card_shows_layer_costs_with_the_shipped_count_and_the_probe(tmp_path: Path) -> None:
    config = load_transformer_config(default_transformer_config_path("rumor"))
    metrics = json.loads((SHIPPED / "metrics.json").read_text(encoding="utf-8"))
    table = metrics["cross_source"]
    twelve = json.loads(json.dumps(layer_row(table)))
    for row in twelve["families"].values():
        row["transformer"] = 0.5
    metrics["layer_costs"] = {"12": twelve}
    metrics["source_probe"] = {
        "fine_tuned": {"all": {"accuracy": 0.91, "majority_baseline": 0.41, "n": 10}},
        "frozen": {"all": {"accuracy": 0.72, "majority_baseline": 0.41, "n": 10}},
    }
    card = render_transformer_card(
        config, metrics, SHIPPED, "tingfeng nlp train-transformer rumor", tmp_path
    )
    layers = card.split("## What fine-tuning fewer layers costs")[1].split("##")[0]
    shipped = config.train.layers
    assert f"| {shipped} (shipped) |" in layers
    assert "| 12 | 0.5000 /" in layers
    assert layers.index(f"| {shipped} (shipped)") < layers.index("| 12 |")
    probe = card.split("(source probe)")[1].split("##")[0]
    assert "| fine_tuned | 0.9100 (0.4100) |" in probe
    assert "tingfeng nlp probe-transformer rumor --layers 12" in card


def test_add_to_stage_keeps_the_other_metrics(tmp_path: Path) -> None:
    folder = tmp_path / "stage"
    folder.mkdir()
    shutil.copyfile(SHIPPED / "metrics.json", folder / "metrics.json")
    before = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    after = add_to_stage(folder, "source_probe", {"x": 1})
    assert after["source_probe"] == {"x": 1}
    assert {k: v for k, v in after.items() if k != "source_probe"} == {
        k: v for k, v in before.items() if k != "source_probe"
    }
    assert json.loads((folder / "metrics.json").read_text(encoding="utf-8")) == after


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layers", "2,x"], "give layer counts like 2,12"),
        (["--layers", "0"], "between 1 and 12"),
        (["--folder", "{tmp}/none"], "no shipped transformer stage"),
        (["--base-model", "{tmp}/none"], "no converted base model"),
    ],
)
def test_probe_command_names_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(app, ["nlp", "probe-transformer", "rumor", *args])
    assert result.exit_code in (1, 2), result.output
    assert message in " ".join(result.output.split())  # rich wraps long lines
    assert "Traceback" not in result.output


def test_probe_groups_sources_into_the_cross_source_families() -> None:
    from nlp.config import default_config_path, load_config
    from nlp.data import TaskExample
    from nlp.train import TaskData
    from nlp.transformer.probe import source_families

    rumor = load_config(default_config_path("rumor"))
    names = ["ced_weibo_rumor", "ma2016_weibo_rumor", "checked_covid_weibo"]
    examples = [TaskExample(f"帖子{i}", "rumor", [ds], [str(i)]) for i, ds in enumerate(names)]
    data = TaskData(examples, [[]] * 3, [""] * 3, [[]] * 3, {})
    assert source_families(rumor, data) == ["weibo_2010_2014", "weibo_2010_2014", "checked_covid"]


def test_probe_command_names_a_missing_datasets_folder_and_writes_nothing(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "tokenizer.json").write_text("{}", encoding="utf-8")  # never read: data fails first
    before = (SHIPPED / "metrics.json").read_bytes()
    proc = subprocess.run(
        [
            *(sys.executable, "-c", "from cli.main import main; main()"),
            *("nlp", "probe-transformer", "rumor"),
            *("--base-model", str(base), "--data", str(tmp_path / "none")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "datasets folder not found" in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr
    assert (SHIPPED / "metrics.json").read_bytes() == before
