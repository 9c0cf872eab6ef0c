"""The help model's transformer stage (`nlp.help_stage`): only posts past the gate are routed
and combined; the grouped CV scores the test folds with the stage's out-of-fold scores and
thresholds chosen without the test fold; saved scores are reused only for the labels and
settings that made them; the shipped stage runs in the Predictor's default path (no torch)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.text import normalize
from nlp.errors import ConfigError
from nlp.help_data import read_labels
from nlp.help_model import CLASSES, HelpModel
from nlp.help_stage import OOF_FILE, StageSettings, combine, load_oof, routed_rows, save_oof
from nlp.help_train import train_help
from nlp.predict import Predictor, default_models_dir
from nlp.transformer.runtime import RUN_MODE

from .test_help_model import LABELS, SHARED

NONE = CLASSES.index("none")
BASE_CONFIG = (
    "version: help-stage-test\nseed: 1\nidf: labelled\n"
    "features: {bits: 12, char_min: 1, char_max: 2, words: false}\n"
    "grid: {C: [2.0], weighting: [none]}\nclass_weight: balanced\n"
    "outer_folds: 2\ninner_folds: 2\nnear_duplicate_jaccard: 0.5\nbootstrap: 20\n"
    "targets: {precision: 0.85, recall: 0.8, first_precision: 0.7, first_recall: 0.5}\n"
)
STAGE = (
    "transformer: {use: true, version: help-tf-test, base_model: nowhere, layers: 4,"
    " max_length: 96, epochs: 1, batch_size: 16, learning_rate: 5.0e-5, gate: 0.0, weight: 1.0}\n"
)


def test_combine_moves_only_the_rows_past_the_gate() -> None:
    # columns: help_request, public_demand, none
    linear = np.array([[0.03, 0.02, 0.95], [0.1, 0.4, 0.5], [0.12, 0.0, 0.88]])
    stage = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.8, 0.0, 0.2]])
    assert CLASSES[NONE] == "none" == CLASSES[-1]
    assert routed_rows(linear, NONE, 0.1).tolist() == [1, 2]  # 1 - 0.95 < 0.1
    out = combine(linear, stage, NONE, 0.1, 0.25)
    assert out[0].tolist() == linear[0].tolist()
    assert out[1] == pytest.approx(0.75 * linear[1] + 0.25 * stage[1])
    assert out[2] == pytest.approx([0.29, 0.0, 0.71])
    assert np.allclose(out.sum(axis=1), 1.0)


def test_settings_name_what_is_missing_or_out_of_range() -> None:
    assert StageSettings.from_config({"transformer": {"use": False}}) is None
    with pytest.raises(ConfigError, match=r"transformer\.weight is missing"):
        StageSettings.from_config({"transformer": {"use": True, "gate": 0.1}})
    block = dict(
        use=True, version="v", base_model="b", layers=4, max_length=96, epochs=1, batch_size=8
    )
    with pytest.raises(ConfigError, match="gate must be in"):
        StageSettings.from_config(
            {"transformer": {**block, "learning_rate": 1e-5, "gate": 1.5, "weight": 0.5}}
        )


def _slice(tmp_path: Path) -> Path:
    rows = read_labels(LABELS)
    keep = [r for r in rows if r.label != "none"] + [r for r in rows if r.label == "none"][:150]
    wanted = {r.key for r in keep}
    lines = LABELS.read_text("utf-8").splitlines()
    body = [ln for ln in lines if ln.startswith("key\t") or ln.split("\t")[0] in wanted]
    labels = tmp_path / "labels.tsv"
    labels.write_text("\n".join(body) + "\n", encoding="utf-8")
    return labels


def test_protocol_scores_test_folds_with_the_stage_and_reuses_only_matching_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = _slice(tmp_path)
    models = tmp_path / "models"
    plain = tmp_path / "plain.yaml"
    plain.write_text(BASE_CONFIG, encoding="utf-8")
    linear = train_help(SHARED, models / "help", config=plain, labels=labels)
    assert "linear" not in linear["protocol"]  # no stage: the model rows are the linear model

    # a stage whose out-of-fold scores are the truth itself, weight 1, gate 0: every post is
    # routed, so the protocol's thresholds (chosen on the training folds) must label every
    # test post right, whatever the linear model said
    config = tmp_path / "stage.yaml"
    config.write_text(BASE_CONFIG + STAGE, encoding="utf-8")
    y = np.array([CLASSES.index(r.label) for r in read_labels(labels)])
    truth = np.eye(len(CLASSES))[y]
    settings = StageSettings.from_config({"transformer": {"use": True, **_stage_block()}})
    assert settings is not None
    stage_dir = models / "help_transformer"
    save_oof(stage_dir, truth, settings.digest(labels))
    metrics = train_help(SHARED, models / "help", config=config, labels=labels, fit=False)
    model, alone = metrics["protocol"]["model"]["any"], metrics["protocol"]["linear"]["any"]
    assert model["precision"] == 1.0 and model["recall"] == 1.0
    assert alone == linear["protocol"]["model"]["any"]  # the same folds without the stage
    assert alone["precision"] < 1.0
    card = (models / "help" / "model_card.md").read_text("utf-8")
    assert "linear alone: any" in card and "help-tf-test" in card

    # other labels: the saved scores are stale, so the fold fine-tunes must run (torch)
    labels.write_text(labels.read_text("utf-8").replace("\tnone\n", "\thelp_request\n", 1), "utf-8")
    assert load_oof(stage_dir, settings.digest(labels), len(y)) is None
    monkeypatch.setitem(sys.modules, "torch", None)  # CI has no torch; make sure of it here
    with pytest.raises(ConfigError, match=r"train extra"):
        train_help(SHARED, models / "help", config=config, labels=labels, fit=False)
    assert (stage_dir / OOF_FILE).is_file()


def _stage_block() -> dict:
    import yaml

    return dict(yaml.safe_load(STAGE)["transformer"])


# -- the stage in the Predictor's default path ---------------------------------------------
POSTS = [
    "求助！我爸发烧一周了，社区让等，医院说没有床位，谁能帮帮我们",
    "今天天气很好，出去散步了",
    "小区封了半个月没人送菜，物业电话打不通，社区也不管",
    "武汉加油！致敬医护人员",
    "我们小区已经隔离14天了，蔬菜一直买不到，老人孩子怎么办，希望有关部门管一管",
]


class RecordingStage:
    """Stands in for the ONNX stage (`TransformerClassifier`: classes, meta, version,
    predict_proba): says public_demand for everything and records what it was asked."""

    version = "help-tf-fake"

    def __init__(self, gate: float, weight: float, thresholds: dict[str, float]) -> None:
        self.classes = ["none", "public_demand", "help_request"]  # not the linear model's order
        self.meta = {"stage": {"gate": gate, "weight": weight}, "thresholds": thresholds}
        self.asked: list[str] = []

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.asked.extend(texts)
        return np.tile([0.1, 0.8, 0.1], (len(texts), 1))


def test_predictor_routes_only_posts_past_the_gate_and_uses_the_stage_thresholds() -> None:
    linear = HelpModel.load(default_models_dir() / "help")
    norm = [normalize(t) for t in POSTS]
    base = linear.predict_proba(norm)
    gate = 0.3
    rows = routed_rows(base, NONE, gate).tolist()
    assert 0 < len(rows) < len(POSTS), base  # the weather and the cheer stay linear

    stage = RecordingStage(gate, 0.25, {"help_request": 0.99, "public_demand": 0.2})
    predictor = Predictor(default_models_dir())
    predictor._transformers["help"] = stage  # type: ignore[assignment]
    preds = predictor.predict("help", POSTS)
    assert stage.asked == [norm[i] for i in rows]
    assert predictor.routing["help"] == [len(POSTS), len(rows)]
    said = np.array([0.1, 0.8, 0.1])[[stage.classes.index(c) for c in CLASSES]]
    for i, pred in enumerate(preds):
        got = np.array([pred["scores"][c] for c in CLASSES])
        want = 0.75 * base[i] + 0.25 * said if i in rows else base[i]
        assert got == pytest.approx(want, abs=1e-4)
        # the stage's thresholds label every post (help_request needs 0.99: never here)
        assert pred["label"] == ("public_demand" if got[1] >= 0.2 else "none")
    assert predictor.versions()["help"] == f"{linear.version}~help-tf-fake/{RUN_MODE}"


def test_without_a_stage_the_linear_help_model_and_its_thresholds_decide() -> None:
    linear = HelpModel.load(default_models_dir() / "help")
    want = linear.predict([normalize(t) for t in POSTS])
    for predictor in (Predictor(default_models_dir()), Predictor(cascade=False)):
        predictor_stage = predictor.transformer("help")
        assert predictor_stage is None  # none shipped (see nlp/resources/help_train.yaml)
        assert predictor.predict("help", POSTS) == want
        assert predictor.versions()["help"] == linear.version


def test_cli_names_the_missing_train_extra_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    config = tmp_path / "stage.yaml"
    config.write_text(BASE_CONFIG + STAGE, encoding="utf-8")
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setattr(
        sys,
        "argv",
        ["tingfeng", "nlp", "train-help", "--data", str(SHARED), "--config", str(config),
         "--out", str(tmp_path / "models" / "help")],
    )  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "'.[train]'" in err and "train extra" in err  # brackets as written, not markup
    assert "transformer.use: false" in err and "Traceback" not in err
    assert not (tmp_path / "models" / "help").exists()
