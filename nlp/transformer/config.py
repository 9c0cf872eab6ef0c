"""The transformer stage's config (`nlp/configs/rumor_transformer.yaml`), validated at load.

The data, label maps and split come from the linear task's own config (`linear`), so the
transformer is trained, tuned and tested on exactly the linear model's train/dev/test texts.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nlp.config import load_yaml_model

RUMOR_DATASETS = ["ced_weibo_rumor", "ma2016_weibo_rumor", "checked_covid_weibo"]


class ConvertConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layers: int = Field(2, ge=1, le=12, description="first encoder layers kept")
    datasets: list[str] = Field(
        default_factory=lambda: list(RUMOR_DATASETS),
        description="datasets whose texts decide which vocabulary pieces are kept",
    )
    character_pieces: bool = Field(
        True, description="also keep the single-character piece of every character seen"
    )


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_length: int = Field(128, ge=8, le=512)
    layers: int | None = Field(
        None, ge=1, le=12, description="fine-tune only the base model's first N layers (None: all)"
    )
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_fraction: float = Field(0.06, ge=0, lt=1)
    threads: int = Field(2, ge=1, description="torch CPU threads")
    max_train: int | None = Field(None, ge=1, description="cap on training examples (tests)")


class CascadeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    low: float = Field(0.2, ge=0, le=1, description="linear P(positive) at or above -> uncertain")
    high: float = Field(0.8, ge=0, le=1, description="linear P(positive) at or below -> uncertain")
    combine: str = Field(
        "average",
        pattern="^(average|transformer)$",
        description="inside the band: mean of both probabilities, or the transformer's alone",
    )

    @model_validator(mode="after")
    def _ordered(self) -> CascadeConfig:
        if self.low > self.high:
            raise ValueError("cascade.low is above cascade.high")
        return self


class TransformerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    version: str = Field(min_length=1)
    linear: str = Field(description="the linear task config giving data, labels and split")
    seed: int = Field(description="torch / shuffling seed")
    base_model: str = Field(
        description="transformers checkpoint folder (`tingfeng nlp convert-e5 OUT_DIR` or any "
        "Chinese BERT-style checkpoint); TINGFENG_NLP_BASE_MODEL / --base-model override it"
    )
    convert: ConvertConfig = Field(default_factory=ConvertConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    quantize: bool = Field(True, description="ship the int8 ONNX (else fp32)")
    cascade: CascadeConfig = Field(default_factory=CascadeConfig)
    intended_use: str = ""
    limits: list[str] = Field(default_factory=list)


def default_transformer_config_path(task: str = "rumor") -> Path:
    return Path(str(resources.files("nlp.configs").joinpath(f"{task}_transformer.yaml")))


def load_transformer_config(path: Path) -> TransformerConfig:
    return load_yaml_model(path, TransformerConfig)
