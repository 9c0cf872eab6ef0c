"""Help requests (求助) and public demands (诉求), from a lexicon with patterns.

No labeled set exists, so this is rules, not a trained model: `nlp/resources/help_lexicon.yaml`
(validated at load; errors name the file, group and field). Precision and recall are measured
on hand-written samples (`nlp/resources/help_samples.jsonl`, written for this project, no
dataset rows), which also run as tests. Labels: `help_request`, `public_demand`, `none`.
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


def evaluate_help(folder: Path) -> dict[str, Any]:
    """Score the hand-labeled samples; write metrics.json and model_card.md into `folder`."""
    from analysis.text import normalize
    from nlp.metrics import classification_metrics

    clf = HelpClassifier.load(folder)
    samples = help_samples()
    preds = clf.predict([normalize(s["text"]) for s in samples])
    gold = [s["label"] for s in samples]
    predicted = [p["label"] for p in preds]
    three = classification_metrics(gold, predicted, LABELS)
    binary = classification_metrics(
        ["help" if g != "none" else "none" for g in gold],
        ["help" if p != "none" else "none" for p in predicted],
        ["help", "none"],
    )
    metrics = {
        "task": "help",
        "version": clf.version,
        "n": len(samples),
        "samples": "nlp/resources/help_samples.jsonl (hand-written for this project)",
        "binary": binary["per_class"]["help"] | {"accuracy": binary["accuracy"]},
        "three_class": three,
        "errors": [
            {"id": s["id"], "gold": g, "predicted": p}
            for s, g, p in zip(samples, gold, predicted, strict=True)
            if g != p
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(
        json.dumps(metrics, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    (folder / "model_card.md").write_text(render_help_card(metrics), encoding="utf-8")
    return metrics


def render_help_card(metrics: dict[str, Any]) -> str:
    b, t = metrics["binary"], metrics["three_class"]
    rows = "\n".join(
        f"| {c} | {pc['precision']} | {pc['recall']} | {pc['f1']} | {pc['support']} |"
        for c, pc in t["per_class"].items()
    )
    return f"""# Model card: `help` ({metrics["version"]})

Generated by `tingfeng nlp evaluate help`; do not edit by hand.

## What it is
Lexicon + pattern rules (`nlp/resources/help_lexicon.yaml`) that flag help requests (求助:
someone needs medicine, food, transport, medical care, shelter, rescue) and public demands
(诉求: complaints about a concrete unmet need, calls on authorities to act). Labels:
help_request, public_demand, none. Scores are rule scores squashed to [0, 1], not calibrated
probabilities. No training data: no labeled help-request set exists.

## Intended use
Surface posts where someone may need help, for a person to check and route. Recall matters
more than precision for help requests; the lexicon errs toward flagging.

## Metrics (hand-written samples, {metrics["n"]} posts)
Help (either label) vs none: precision {b["precision"]}, recall {b["recall"]}, F1 {b["f1"]},
accuracy {b["accuracy"]}. Three-class accuracy {t["accuracy"]}, macro-F1 {t["macro_f1"]}.

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

The samples were written by the same engineer who wrote the lexicon (samples first), so these
numbers are optimistic; judge precision on real posts before relying on it.

## Limits
- Substring rules: negation, sarcasm and quoted speech are not understood.
- Posts offering help, news about aid and official notices are suppressed by an explicit
  negative group; new phrasings of either kind need lexicon entries.
- Simplified Chinese after normalization; other languages are not covered.

## Reproduce
```
tingfeng nlp evaluate help
```
"""
