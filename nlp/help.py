"""Help requests (求助) and public demands (诉求): the lexicon rules.

The rules (`nlp/resources/help_lexicon.yaml`, validated at load; errors name the file, group
and field) are no longer the classifier: they are features of the trained model
(`nlp.help_model`) and the baseline it is measured against on hand-labelled real posts
(`nlp.help_train`). The hand-written samples (`nlp/resources/help_samples.jsonl`, written for
this project, no dataset rows) remain as a smoke test. Labels: `help_request`,
`public_demand`, `none`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nlp.errors import ConfigError

LABELS = ["help_request", "public_demand", "none"]
_HASHTAG = re.compile(r"#[^#\n]{1,60}#")


class LexiconGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["ask", "unmet", "need", "demand", "negative"]
    weight: float
    cap: int = Field(2, ge=1)
    terms: list[str] = Field(min_length=1)


class Lexicon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    bias: float
    threshold: float = Field(0.5, gt=0, lt=1)
    unmet_in_demand: float = 0.5
    groups: list[LexiconGroup] = Field(min_length=1)


def lexicon_path(folder: Path | None = None) -> Path:
    """`folder/help_lexicon.yaml` when present (an override), else the packaged lexicon."""
    if folder is not None and (folder / "help_lexicon.yaml").is_file():
        return folder / "help_lexicon.yaml"
    return Path(str(resources.files("nlp.resources").joinpath("help_lexicon.yaml")))


def load_lexicon(path: Path) -> Lexicon:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: lexicon not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    try:
        lexicon = Lexicon.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "groups" and isinstance(loc[1], int):
            groups = (raw or {}).get("groups") or []
            name = groups[loc[1]].get("name") if loc[1] < len(groups) else None
            loc[1] = f"{loc[1]}({name})" if name else loc[1]
        raise ConfigError(f"{path}: {'.'.join(str(p) for p in loc)}: {err['msg']}") from None
    for group in lexicon.groups:
        for term in group.terms:
            if not str(term).strip():
                raise ConfigError(f"{path}: groups.{group.name}.terms: empty term")
    return lexicon


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


class HelpClassifier:
    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self.version = lexicon.version
        self._groups = [
            (
                g,
                re.compile(
                    "|".join(
                        re.escape(str(t).lower()) for t in sorted(g.terms, key=len, reverse=True)
                    )
                ),
            )
            for g in lexicon.groups
        ]

    @classmethod
    def load(cls, folder: Path | None = None) -> HelpClassifier:
        return cls(load_lexicon(lexicon_path(folder)))

    def explain(self, text: str) -> dict[str, list[str]]:
        """The matched terms of each group (why a post was labeled)."""
        return {g.name: sorted(set(rx.findall(text))) for g, rx in self._groups if rx.search(text)}

    def score(self, text: str) -> dict[str, float]:
        text = _HASHTAG.sub(" ", text)
        parts = {"ask": 0.0, "unmet": 0.0, "need": 0.0, "demand": 0.0, "negative": 0.0}
        for group, rx in self._groups:
            found = set(rx.findall(text))
            if found:
                parts[group.kind] += group.weight * min(len(found), group.cap)
        lex = self.lexicon
        need = parts["need"] if (parts["ask"] or parts["unmet"]) else 0.0
        p_req = _sigmoid(lex.bias + parts["ask"] + parts["unmet"] + need + parts["negative"])
        p_dem = _sigmoid(
            lex.bias + parts["demand"] + lex.unmet_in_demand * parts["unmet"] + parts["negative"]
        )
        p_any = 1.0 - (1.0 - p_req) * (1.0 - p_dem)
        share = p_req / (p_req + p_dem)
        return {
            "help_request": p_any * share,
            "public_demand": p_any * (1.0 - share),
            "none": 1.0 - p_any,
        }

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Predictions for normalized texts: label, score, scores."""
        out = []
        for text in texts:
            scores = self.score(text)
            if scores["none"] > 1.0 - self.lexicon.threshold:
                label = "none"
            else:
                label = (
                    "help_request"
                    if scores["help_request"] >= scores["public_demand"]
                    else "public_demand"
                )
            out.append(
                {
                    "label": label,
                    "score": round(scores[label], 4),
                    "scores": {k: round(v, 4) for k, v in scores.items()},
                }
            )
        return out


def help_samples() -> list[dict[str, str]]:
    """The hand-written, hand-labeled samples (written for this project; no dataset rows)."""
    path = resources.files("nlp.resources").joinpath("help_samples.jsonl")
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
