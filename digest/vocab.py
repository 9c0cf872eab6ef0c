"""The label vocabulary (`digest/vocab.yaml`), validated at load."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from digest.errors import VocabError


class Labels(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rumor: str
    help: str
    demand: str
    negative_emotions: list[str] = Field(min_length=1)


class Vocab(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: Labels
    emotions: dict[str, str]
    states: dict[str, str]
    categories: dict[str, str]
    sla_clocks: dict[str, str]

    def state(self, key: str) -> str:
        return self.states.get(key, key)

    def category(self, key: str) -> str:
        return self.categories.get(key, key)

    def emotion(self, key: str) -> str:
        return self.emotions.get(key, key)

    def clock(self, key: str) -> str:
        return self.sla_clocks.get(key, key)


@lru_cache(maxsize=1)
def load_vocab() -> Vocab:
    text = resources.files("digest").joinpath("vocab.yaml").read_text(encoding="utf-8")
    try:
        return Vocab.model_validate(yaml.safe_load(text))
    except (ValidationError, yaml.YAMLError) as exc:
        raise VocabError(f"digest/vocab.yaml: {exc}") from None
