"""The stable prediction interface: `Predictor.predict(task, texts)`.

Models load once (lazily, per task) and texts are scored in batches. Enrichment, the
`tingfeng nlp predict` CLI and the API use this same code path.

Tasks:
- `rumor`: non-rumor / rumor, calibrated P(rumor) (text only). The default path (enrichment,
  `nlp predict`, the bench) is the cascade of `nlp.transformer.cascade`: the linear model scores
  every post, and posts it is unsure about (P(rumor) in the band of the transformer's
  meta.json) also go to the shipped fine-tuned transformer (`nlp/models/rumor_transformer/`,
  int8 ONNX); `cascade=False` (TINGFENG_NLP_CASCADE=false) keeps the linear model alone. An
  encoder head, when one is trained (`tingfeng nlp train-encoder`, `nlp/models/rumor_encoder/`
  over the frozen encoder in `nlp/models/encoder/`), is combined the same way on its own band;
- `rumor_context`: the same from text + earliest reposts/comments (`context` list);
- `emotion`: neutral / happy / angry / sad / fear / surprise;
- `polarity`: positive / neutral / negative, the emotion probabilities summed;
- `help`: help_request / public_demand / none (`nlp.help_model`: rule features + character
  n-grams, trained on hand-labelled real posts; per-class thresholds in its meta.json). With
  the cascade on, posts the linear help model does not rule out (P(help or demand) at or above
  the gate) also go to its fine-tuned transformer stage (`nlp/models/help_transformer/`,
  `nlp.help_stage`), labelled by the stage's thresholds.

Each prediction is `{"label", "score", "scores"}`: the top label, its probability, and the
probability of every label.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import IO, Any

import numpy as np

from analysis.text import normalize, segment
from nlp.data import context_text
from nlp.encoder import Encoder, EncoderHead, has_encoder, has_head
from nlp.errors import PredictInputError, UnknownTask
from nlp.help_model import HelpModel
from nlp.help_stage import combine, routed_rows
from nlp.linear import LinearModel
from nlp.transformer.cascade import Band, cascade_probabilities
from nlp.transformer.runtime import RUN_MODE, TransformerClassifier, has_transformer
from store.settings import Settings

TASKS = ("rumor", "rumor_context", "emotion", "polarity", "help")
POLARITIES = ("positive", "neutral", "negative")
# the models whose versions make up the pipeline version written into post.nlp.version
PIPELINE_MODELS = ("rumor", "emotion", "help")

Prediction = dict[str, Any]


def default_models_dir() -> Path:
    """The models shipped inside the package (`nlp/models/`)."""
    return Path(str(resources.files("nlp.models")))


class Predictor:
    """Loads each task's model once; thread-safe lazy loading."""

    def __init__(
        self,
        models_dir: Path | None = None,
        *,
        batch_size: int = 512,
        band: Band | None = None,
        cascade: bool = True,
    ) -> None:
        self.models_dir = models_dir or default_models_dir()
        self.batch_size = batch_size
        self.band = band  # None: the band in the transformer's meta.json
        self.cascade = cascade
        # task -> [posts scored, posts routed to the transformer]
        self.routing: dict[str, list[int]] = {}
        self._linear: dict[str, LinearModel] = {}
        self._transformers: dict[str, TransformerClassifier | None] = {}
        self._encoder: Encoder | None = None
        self._heads: dict[str, EncoderHead | None] = {}
        self._help: HelpModel | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Predictor:
        """The predictor `tingfeng run`, `demo` and `nlp enrich` use: shipped models, and the
        transformer cascade unless TINGFENG_NLP_CASCADE is off."""
        return cls(settings.nlp_models_dir, cascade=settings.nlp_cascade)

    # -- models -------------------------------------------------------------------------
    def linear(self, name: str) -> LinearModel:
        model = self._linear.get(name)
        if model is None:
            with self._lock:
                model = self._linear.get(name)
                if model is None:
                    model = LinearModel.load(self.models_dir / name)
                    self._linear[name] = model
        return model

    def help(self) -> HelpModel:
        if self._help is None:
            with self._lock:
                if self._help is None:
                    self._help = HelpModel.load(self.models_dir / "help")
        return self._help

    def transformer(self, name: str) -> TransformerClassifier | None:
        """The task's shipped transformer stage, or None (then the linear model runs alone)."""
        if not self.cascade:
            return None
        if name not in self._transformers:
            with self._lock:
                if name not in self._transformers:
                    folder = self.models_dir / f"{name}_transformer"
                    self._transformers[name] = (
                        TransformerClassifier.load(folder) if has_transformer(folder) else None
                    )
        return self._transformers[name]

    def head(self, name: str) -> EncoderHead | None:
        """The task's shipped encoder head (default path), or None when not shipped."""
        if name not in self._heads:
            with self._lock:
                if name not in self._heads:
                    folder = self.models_dir / f"{name}_encoder"
                    self._heads[name] = EncoderHead.load(folder) if has_head(folder) else None
        return self._heads[name]

    def encoder(self) -> Encoder:
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    folder = self.models_dir / "encoder"
                    if not has_encoder(folder):
                        from nlp.errors import ModelNotFound

                        raise ModelNotFound(f"{folder}: an encoder head is shipped but no encoder")
                    self._encoder = Encoder.load(folder)
        return self._encoder

    def versions(self) -> dict[str, str]:
        second = self.transformer("rumor")
        help_stage = self.transformer("help")
        head = self.head("rumor")
        return {  # the ONNX stages with how they are run (RUN_MODE): it moves their outputs
            "rumor": self.linear("rumor").version
            + (f"+{head.version}/{RUN_MODE}" if head else "")
            + (f"~{second.version}/{RUN_MODE}" if second else ""),
            "emotion": self.linear("emotion").version,
            "help": self.help().version
            + (f"~{help_stage.version}/{RUN_MODE}" if help_stage else ""),
        }

    @property
    def version(self) -> str:
        """The pipeline version: every model version joined (what post.nlp.version holds)."""
        return "+".join(self.versions()[name] for name in PIPELINE_MODELS)

    # -- prediction ---------------------------------------------------------------------
    def predict(
        self,
        task: str,
        texts: Sequence[str],
        *,
        normalized: bool = False,
        tokens: Sequence[Sequence[str]] | None = None,
        contexts: Sequence[Sequence[str]] | None = None,
    ) -> list[Prediction]:
        """Predictions for raw texts (or already-normalized texts with their tokens)."""
        if task not in TASKS:
            raise UnknownTask(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        out: list[Prediction] = []
        for start in range(0, len(texts), self.batch_size):
            stop = start + self.batch_size
            norm = (
                list(texts[start:stop]) if normalized else [normalize(t) for t in texts[start:stop]]
            )
            toks = list(tokens[start:stop]) if tokens is not None else None
            ctx = list(contexts[start:stop]) if contexts is not None else None
            out.extend(self._predict_batch(task, norm, toks, ctx))
        return out

    def _predict_batch(
        self,
        task: str,
        norm: list[str],
        tokens: list[Sequence[str]] | None,
        contexts: list[Sequence[str]] | None,
    ) -> list[Prediction]:
        if task == "help":
            return self._help_predictions(norm, tokens)
        name = "emotion" if task == "polarity" else task
        model = self.linear(name)
        if tokens is None and model.featurizer.words:
            tokens = [segment(t) for t in norm]
        ctx_texts = ctx_tokens = None
        if task == "rumor_context":
            limit = int((model.meta or {}).get("max_context", 10))
            ctx_texts = [context_text(c, limit) for c in (contexts or [[] for _ in norm])]
            ctx_tokens = [segment(c) for c in ctx_texts] if model.featurizer.words else None
        probs = model.predict_proba(norm, tokens, ctx_texts, ctx_tokens)
        if task == "rumor":
            probs = self._encoder_stage("rumor", model, probs, norm)
            probs = self._cascade("rumor", model, probs, norm)
        if task == "polarity":
            return _as_predictions(polarity_probabilities(model, probs), list(POLARITIES))
        return _as_predictions(probs, model.classes)

    def _cascade(
        self, name: str, model: LinearModel, probs: np.ndarray, norm: list[str]
    ) -> np.ndarray:
        second = self.transformer(name)
        counts = self.routing.setdefault(name, [0, 0])
        counts[0] += len(norm)
        if second is None:
            return probs
        band = self.band or Band(**second.meta["cascade"])
        order = [second.classes.index(c) for c in model.classes]
        positive = model.classes.index(second.classes[-1])
        out, routed = cascade_probabilities(
            probs,
            positive,
            band,
            lambda rows: second.predict_proba([norm[i] for i in rows])[:, order],
        )
        counts[1] += len(routed)
        return out

    def _help_predictions(
        self, norm: list[str], tokens: list[Sequence[str]] | None
    ) -> list[Prediction]:
        """The help model; posts past its transformer stage's gate get the weighted mean of
        both models' probabilities, labelled by the stage's thresholds (`nlp.help_stage`)."""
        model = self.help()
        probs = model.predict_proba(norm, tokens)
        counts = self.routing.setdefault("help", [0, 0])
        counts[0] += len(norm)
        second = self.transformer("help")
        if second is None:
            return model.predictions(probs)
        none = model.classes.index("none")
        gate, weight = float(second.meta["stage"]["gate"]), float(second.meta["stage"]["weight"])
        rows = routed_rows(probs, none, gate)
        counts[1] += len(rows)
        if len(rows):
            order = [second.classes.index(c) for c in model.classes]
            stage = np.zeros_like(probs)
            stage[rows] = second.predict_proba([norm[i] for i in rows])[:, order]
            probs = combine(probs, stage, none, gate, weight)
        return model.predictions(probs, second.meta["thresholds"])

    def _encoder_stage(
        self, name: str, model: LinearModel, probs: np.ndarray, norm: list[str]
    ) -> np.ndarray:
        """Posts in the head's band get (1 - w) * linear + w * encoder probabilities."""
        head = self.head(name)
        if head is None:
            return probs
        combine = head.meta["combine"]
        positive = model.classes.index(head.classes[-1])
        band = Band(float(combine["low"]), float(combine["high"]))
        routed = band.uncertain(probs[:, positive])
        counts = self.routing.setdefault(f"{name}_encoder", [0, 0])
        counts[0] += len(norm)
        counts[1] += len(routed)
        if not len(routed):
            return probs
        order = [head.classes.index(c) for c in model.classes]
        enc = head.predict_proba(self.encoder().embed([norm[i] for i in routed]))[:, order]
        w = float(combine["weight"])
        out = np.array(probs, dtype=np.float64, copy=True)
        out[routed] = (1.0 - w) * out[routed] + w * enc
        return out

    def emotion_and_polarity(
        self, norm: Sequence[str], tokens: Sequence[Sequence[str]]
    ) -> tuple[list[Prediction], list[Prediction]]:
        """Both from one emotion pass (enrichment uses this)."""
        model = self.linear("emotion")
        probs = model.predict_proba(norm, tokens)
        return (
            _as_predictions(probs, model.classes),
            _as_predictions(polarity_probabilities(model, probs), list(POLARITIES)),
        )


def polarity_probabilities(model: LinearModel, probs: np.ndarray) -> np.ndarray:
    return polarity_proba(probs, model.classes, (model.meta or {}).get("polarity") or {})


def polarity_proba(
    probs: np.ndarray, classes: Sequence[str], table: Mapping[str, str]
) -> np.ndarray:
    """Emotion probabilities summed into positive/neutral/negative columns."""
    out = np.zeros((probs.shape[0], len(POLARITIES)))
    for j, c in enumerate(classes):
        out[:, POLARITIES.index(table[c])] += probs[:, j]
    return out


def _as_predictions(probs: np.ndarray, classes: list[str]) -> list[Prediction]:
    top = probs.argmax(axis=1)
    return [
        {
            "label": classes[int(i)],
            "score": round(float(row[i]), 4),
            "scores": {c: round(float(v), 4) for c, v in zip(classes, row, strict=True)},
        }
        for row, i in zip(probs, top, strict=True)
    ]


# -- JSONL -------------------------------------------------------------------------------
def read_requests(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Parse every input line first, so a bad line fails before anything is written."""
    out = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PredictInputError(f"line {lineno}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise PredictInputError(f"line {lineno}: expected an object with 'id' and 'text'")
        if not isinstance(obj.get("text"), str):
            raise PredictInputError(f"line {lineno}: 'text' must be a string")
        if "id" not in obj:
            raise PredictInputError(f"line {lineno}: 'id' is missing")
        context = obj.get("context")
        if context is not None and not (
            isinstance(context, list) and all(isinstance(c, str) for c in context)
        ):
            raise PredictInputError(f"line {lineno}: 'context' must be a list of strings")
        out.append(obj)
    return out


def predict_jsonl(predictor: Predictor, task: str, src: IO[str], dst: IO[str]) -> int:
    """JSONL {"id","text"[,"context"]} in, JSONL {"id","label","score","scores"} out."""
    if task not in TASKS:
        raise UnknownTask(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    requests = read_requests(src)
    contexts = [r.get("context") or [] for r in requests] if task == "rumor_context" else None
    results = predictor.predict(task, [r["text"] for r in requests], contexts=contexts)
    for req, res in zip(requests, results, strict=True):
        dst.write(json.dumps({"id": req["id"], **res}, ensure_ascii=False) + "\n")
    dst.flush()
    return len(results)
