"""Each shipped model folder carries the config it was trained from, and that config is the one in
the repository: a config edited without retraining (a hyperparameter, or a version bump that
re-enriches stored posts) would leave the card's command unable to reproduce the shipped weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nlp import help_train
from nlp.config import default_config_path
from nlp.predict import default_models_dir
from nlp.transformer.config import default_transformer_config_path

CONFIGS = {
    "rumor": default_config_path("rumor"),
    "rumor_context": default_config_path("rumor_context"),
    "emotion": default_config_path("emotion"),
    "rumor_transformer": default_transformer_config_path("rumor"),
    "help": help_train.default_config_path(),
}


@pytest.mark.parametrize("folder", sorted(CONFIGS))
def test_shipped_model_was_trained_from_the_repository_config(folder: str) -> None:
    shipped = default_models_dir() / folder
    source: Path = CONFIGS[folder]
    assert (shipped / "config.yaml").read_bytes() == source.read_bytes(), (
        f"{source} differs from {shipped / 'config.yaml'}: retrain with the command in "
        f"{shipped / 'model_card.md'}, or, if only comments or limits changed, copy the config "
        "there and regenerate the card"
    )
    version = yaml.safe_load(source.read_text("utf-8"))["version"]
    meta = json.loads((shipped / "meta.json").read_text("utf-8"))
    assert meta["version"] == version
    card = (shipped / "model_card.md").read_text("utf-8")
    assert version in card, f"{shipped / 'model_card.md'} does not name {version}"


def test_every_shipped_model_folder_with_a_config_is_checked() -> None:
    with_config = {p.parent.name for p in default_models_dir().glob("*/config.yaml")}
    assert with_config == set(CONFIGS)
