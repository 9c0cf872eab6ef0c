"""Task configs: one YAML file per task holds every hyperparameter, the seed and the label maps.

`load_config(path)` validates the file and names the file and field on any error. The shipped
configs live in `nlp/configs/`; a trained model keeps a copy of the config it was built from.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nlp.errors import ConfigError, UnknownTask

M = TypeVar("M", bound=BaseModel)

TRAINABLE_TASKS = ("rumor", "rumor_context", "emotion")


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    datasets: list[str] = Field(min_length=1, description="datasets the model is trained on")
    label_maps: dict[str, dict[str, str | None]] = Field(
        default_factory=dict,
        description="dataset -> {dataset label: task label or null to drop}; absent = as is",
    )
    test_fraction: float = Field(0.2, gt=0, lt=1)
    dev_fraction: float = Field(0.1, gt=0, lt=1)
    context: bool = Field(False, description="load earliest reposts/comments as context")
    max_context: int = Field(10, ge=0, description="how many earliest reposts to use")
    weights: dict[str, float] = Field(
        default_factory=dict,
        description="dataset -> sample weight of its examples (absent = 1.0), e.g. fact-check "
        "claims added as extra training data",
    )
    balance: Literal["none", "per_source"] = Field(
        "none",
        description="per_source: weight examples so every class has the same mass inside each "
        "source dataset (their class shares differ)",
    )


class FeatureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bits: int = Field(20, ge=10, le=24)
    char_min: int = Field(1, ge=1, le=5)
    char_max: int = Field(3, ge=1, le=5)
    words: bool = True
    idf: bool = True
    context_bits: int = Field(18, ge=10, le=24, description="feature space of the context")
    context_weight: float = Field(0.7, gt=0, description="scale of the context features")
    strip_signatures: bool = Field(
        False,
        description="remove source signatures (bracketed headers, 转发微博, hashtags, "
        "sign-offs) before featurizing, at train and run time",
    )
    mask_topic_of: str | None = Field(
        None,
        description="dataset whose topic words are masked: features whose document frequency "
        "there is >= mask_ratio x their frequency in the other training data get idf 0",
    )
    mask_ratio: float = Field(5.0, gt=1)
    mask_min_df: float = Field(
        0.002, ge=0, description="masked features occur in at least this share of its posts"
    )


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["logreg", "svm", "sgd_log", "masked_softmax", "masked_svm"] = Field(
        "logreg",
        description="LogisticRegression (lbfgs), LinearSVC, SGD with log loss, a softmax "
        "whose loss compares only the classes each source dataset can express, or one-vs-rest "
        "SVMs where each class's SVM sees only the sources that can express that class",
    )
    C: float = Field(10.0, gt=0)
    class_weight: Literal["balanced"] | None = None
    max_iter: int = Field(2000, ge=10)
    prune_below: float = Field(
        0.0, ge=0, description="weights with |w| below this are zeroed (smaller files)"
    )


class CalibrationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["platt", "temperature", "none"] = "platt"
    bins: int = Field(10, ge=2, description="reliability bins in the metrics")


class CrossSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    families: dict[str, list[str]] = Field(
        description="family -> datasets left out together (overlapping sets form one family); "
        "datasets in no family are always trained on"
    )


class PriorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unlabeled: str = Field(description="unlabeled deployment-like dataset for EM prior estimation")
    apply: bool = Field(
        False,
        description="store the estimated prior ratio with the model and apply it to every "
        "prediction (else it is measured on the cross-source protocol only)",
    )
    max_iter: int = Field(100, ge=1)
    limit: float = Field(
        4.0, gt=1, description="cap on the prior ratio target/train of any class (either way)"
    )


class HandLabelledConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: str = Field(
        description="ids + labels TSV of hand-labelled posts (relative to the repository root); "
        "texts are read from the shared datasets"
    )
    title: str = Field("hand-labelled posts", description="row name in the cross-source table")
    note: str = Field("", description="how the set was used in model selection (for the card)")
    second_reading: str = Field(
        "",
        description="key + second TSV: a second annotator's labels where they differ from the "
        "first (relative to the repository root); scored like a model, as the labels' ceiling",
    )


class TaskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    version: str = Field(min_length=1, description="model version written into post.nlp")
    seed: int
    classes: list[str] = Field(min_length=2)
    positive: str | None = Field(None, description="the positive class of a binary task")
    data: DataConfig
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    polarity: dict[str, Literal["positive", "neutral", "negative"]] | None = Field(
        None, description="emotion class -> polarity (emotion task only)"
    )
    cross_dataset: list[str] = Field(
        default_factory=list, description="datasets trained on alone, tested on the others"
    )
    out_of_domain: dict[str, dict[str, str | None]] = Field(
        default_factory=dict,
        description="extra evaluation sets: dataset -> label map onto classes or polarity",
    )
    cross_source: CrossSourceConfig | None = Field(
        None, description="leave-one-family-out evaluation (`nlp evaluate --protocol cross-source`)"
    )
    prior_correction: PriorConfig | None = Field(
        None, description="EM re-estimation of class priors on unlabeled deployment posts"
    )
    hand_labelled: HandLabelledConfig | None = Field(
        None,
        description="hand-labelled test posts (never trained on) scored by every cross-source "
        "fold's model and by the trained model",
    )
    intended_use: str = ""
    limits: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> TaskConfig:
        if self.features.char_min > self.features.char_max:
            raise ValueError("features.char_min is above features.char_max")
        for dataset, mapping in self.data.label_maps.items():
            for source, target in mapping.items():
                if target is not None and target not in self.classes:
                    raise ValueError(
                        f"data.label_maps.{dataset}.{source}: {target!r} is not in classes"
                    )
        if self.positive is not None and self.positive not in self.classes:
            raise ValueError(f"positive: {self.positive!r} is not in classes")
        if self.cross_source is not None:
            for family, names in self.cross_source.families.items():
                unknown = set(names) - set(self.data.datasets)
                if unknown:
                    raise ValueError(
                        f"cross_source.families.{family}: {sorted(unknown)} not in data.datasets"
                    )
        if self.polarity is not None:
            missing = set(self.classes) - set(self.polarity)
            if missing:
                raise ValueError(f"polarity: no polarity for {sorted(missing)}")
        return self


def repo_path(name: str | Path) -> Path:
    """A file named in a config: absolute, relative to the working directory, or relative to
    the repository root."""
    path = Path(name)
    if path.is_absolute() or path.exists():
        return path
    return Path(__file__).resolve().parents[1] / path


def default_config_path(task: str) -> Path:
    if task not in TRAINABLE_TASKS:
        raise UnknownTask(f"no trainable task {task!r}; choose one of {', '.join(TRAINABLE_TASKS)}")
    return Path(str(resources.files("nlp.configs").joinpath(f"{task}.yaml")))


def load_yaml_model(path: Path, model: type[M]) -> M:
    """A YAML config file validated by `model`; ConfigError names the file and field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {where}: {err['msg']}") from None


def load_config(path: Path) -> TaskConfig:
    return load_yaml_model(path, TaskConfig)
