"""Enrichment job: classify stored posts that lack the current pipeline version.

The job is an ordered list of steps; each step takes a batch of posts and fills part of their
`nlp` block in place. The pipeline version written to `post.nlp.version` joins every step's
version, so bumping any model (or adding a step: claim matching, topics, places) makes every
post eligible again and the job re-scores it. Re-running is safe: a post already at the
current version is not selected, and writing the same post again is an idempotent upsert.

    enrich(store, Predictor())                  # default steps: classifiers, keywords
    enrich(store, predictor, steps=[*default_steps(predictor), my_step])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nlp.keywords import KEYWORDS_VERSION, extract_keywords
from nlp.predict import Prediction, Predictor
from store.base import PostQuery, Store
from store.records import Label, Post
from store.settings import Settings

log = logging.getLogger(__name__)


class Step(Protocol):
    """One enrichment stage: `version` names it, calling it fills `post.nlp` fields."""

    version: str

    def __call__(self, posts: list[Post]) -> None: ...


def _label(pred: Prediction) -> Label:
    return Label(label=pred["label"], score=min(1.0, max(0.0, float(pred["score"]))))


class ClassifyStep:
    """Rumor, emotion, polarity and help labels from the shipped models."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.version = predictor.version

    def __call__(self, posts: list[Post]) -> None:
        texts = [p.text_norm for p in posts]
        tokens = [p.tokens.split() for p in posts]
        rumor = self.predictor.predict("rumor", texts, normalized=True, tokens=tokens)
        emotion, polarity = self.predictor.emotion_and_polarity(texts, tokens)
        help_ = self.predictor.predict("help", texts, normalized=True, tokens=tokens)
        for post, r, e, p, h in zip(posts, rumor, emotion, polarity, help_, strict=True):
            post.nlp.rumor = _label(r)
            post.nlp.emotion = _label(e)
            post.nlp.polarity = _label(p)
            post.nlp.help = _label(h)


class KeywordsStep:
    version = KEYWORDS_VERSION

    def __init__(self, k: int = 5) -> None:
        self.k = k

    def __call__(self, posts: list[Post]) -> None:
        for post in posts:
            post.nlp.keywords = extract_keywords(post.tokens.split(), self.k)


def default_steps(predictor: Predictor, store: Store | None = None) -> list[Step]:
    steps: list[Step] = [ClassifyStep(predictor), KeywordsStep()]
    if store is not None:  # steps that read/write other records: places, claims, topics
        from nlp.kb import ClaimMatchStep
        from nlp.places import PlacesStep
        from nlp.topics import TopicStep

        steps += [PlacesStep(), ClaimMatchStep(store), TopicStep(store)]
    return steps


def pipeline_version(steps: Sequence[Step]) -> str:
    return "+".join(step.version for step in steps)


@dataclass
class EnrichResult:
    version: str
    enriched: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def enrich(
    store: Store,
    predictor: Predictor,
    *,
    steps: Sequence[Step] | None = None,
    batch: int = 500,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> EnrichResult:
    """Enrich every stored post whose `nlp.version` is not the current pipeline version."""
    steps = list(steps) if steps is not None else default_steps(predictor, store)
    version = pipeline_version(steps)
    result = EnrichResult(version=version)
    query = PostQuery(exclude_terms={"nlp.version": [version]})
    pending: list[Post] = []

    def flush() -> None:
        try:
            for step in steps:
                step(pending)
        except Exception as exc:  # a step failing must not stop the job; report the batch
            log.exception("enrichment step failed on a batch of %d posts", len(pending))
            result.failed.extend((p.id, f"{type(exc).__name__}: {exc}") for p in pending)
            pending.clear()
            return
        for post in pending:
            post.nlp.version = version
        written = store.write_posts(pending)
        result.enriched += written.written + written.spooled
        result.failed.extend(written.failed)
        if progress:
            progress(len(pending))
        pending.clear()

    for post in store.iter_posts(query, batch=batch):
        pending.append(post)
        if limit is not None and result.enriched + len(pending) >= limit:
            break
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    store.refresh()
    log.info(
        "enrich: %d posts enriched to %s, %d failed", result.enriched, version, len(result.failed)
    )
    return result


class EnrichJob:
    """The scheduled job of `tingfeng run`: one `enrich` pass per call, models loaded once."""

    def __init__(self, store: Store, predictor: Predictor, *, batch: int = 500) -> None:
        self.store = store
        self.predictor = predictor
        self.batch = batch

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> EnrichJob:
        return cls(store, Predictor.from_settings(settings), batch=settings.enrich_batch_size)

    def __call__(self) -> EnrichResult:
        return enrich(self.store, self.predictor, batch=self.batch)
