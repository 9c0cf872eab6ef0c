"""Hot topics: incremental, time-decayed clustering of posts.

A post is a TF-IDF vector over its jieba tokens (IDF from jieba's bundled table, so no state
is needed to weigh a term) plus its #hashtag# features. Posts are taken oldest first; each
joins the active topic whose centroid is most similar (cosine >= `threshold`) or opens a
topic whose id derives from its own id (`make_id("topic", post.id)`), so a re-run opens
the same topics. A centroid decays with `half_life_hours` before each new post is added, so a
topic follows what is being said now; topics idle for `max_idle_hours` take no new posts.
Posts that already carry a `topic_id` are skipped: re-running the step counts nothing twice.

Each `Topic` keeps keywords (top centroid terms), a representative post (the one closest to
the centroid when it joined), counts by platform, emotion and region, the rumor share and
the help count; the centroid itself is stored as JSON in `Topic.centroid`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from nlp.errors import ConfigError
from store.base import Store
from store.records import KeyCount, Post, Topic, make_id

TOPICS_VERSION = "1"  # bump when nlp/topics.py clusters differently
_HASHTAG = re.compile(r"#([^#\s]{1,40})#")
_CJK_OR_WORD = re.compile(r"[\u4e00-\u9fff]|[a-z0-9]{3,}")
# Frequent words that carry no topic (single characters are dropped anyway).
_STOPWORDS_TEXT = (
    "一个 我们 你们 他们 自己 什么 没有 不是 就是 可以 已经 因为 所以 但是 如果 这个 那个 这样 现在 今天 "
    "大家 一下 一些 转发 微博 网页 链接 视频 全文 收起 展开 转发微博 http https com www"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True)
class TopicConfig:
    threshold: float = 0.3
    half_life_hours: float = 24.0
    max_idle_hours: float = 72.0
    post_terms: int = 30
    centroid_terms: int = 60
    hashtag_weight: float = 1.0
    keywords: int = 8
    rumor_label: str = "rumor"
    help_label: str = "help_request"


def load_topic_settings() -> dict[str, Any]:
    """The raw, validated-as-mapping content of the packaged `topics.yaml`."""
    text = resources.files("nlp").joinpath("topics.yaml").read_text("utf-8")
    raw = yaml.safe_load(text) or {}
    if not isinstance(raw, dict):
        raise ConfigError("nlp/topics.yaml: must be a mapping")
    return raw


@lru_cache(maxsize=1)
def default_topic_config() -> TopicConfig:
    raw = load_topic_settings()
    values: dict[str, Any] = {}
    for key, value in (raw.get("clustering") or {}).items():
        values[key] = value
    for key, value in (raw.get("labels") or {}).items():
        values[f"{key}_label"] = value
    known = TopicConfig.__dataclass_fields__
    defaults = TopicConfig()
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"nlp/topics.yaml: unknown field {key!r}")
        expected = type(getattr(defaults, key))
        if expected is str and not isinstance(value, str):
            raise ConfigError(f"nlp/topics.yaml: field {key!r} must be text")
        if expected is not str and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise ConfigError(f"nlp/topics.yaml: field {key!r} must be a number")
        values[key] = expected(value)
    return TopicConfig(**values)


@lru_cache(maxsize=1)
def idf_table() -> tuple[dict[str, float], float]:
    """jieba's bundled IDF table (jieba/analyse/idf.txt), read without importing
    `jieba.analyse` (which opens the file at import and never closes it)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("jieba")
    if spec is None or spec.origin is None:
        raise ConfigError("jieba is not installed")
    path = Path(spec.origin).parent / "analyse" / "idf.txt"
    table: dict[str, float] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            word, _, value = line.rstrip("\n").rpartition(" ")
            if word:
                table[word] = float(value)
    values = sorted(table.values())
    return table, values[len(values) // 2] if values else 10.0


def post_vector(tokens: Iterable[str], text_norm: str, config: TopicConfig) -> dict[str, float]:
    """L2-normalized TF-IDF terms of a post (top `post_terms`) plus hashtag features."""
    idf, median = idf_table()
    counts = Counter(
        t for t in tokens if t not in STOPWORDS and len(t) >= 2 and _CJK_OR_WORD.search(t)
    )
    weights = {t: (1 + math.log(n)) * idf.get(t, median) for t, n in counts.items()}
    top = dict(sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[: config.post_terms])
    if config.hashtag_weight > 0:
        peak = max(top.values(), default=1.0)
        for tag in set(_HASHTAG.findall(text_norm)):
            top["#" + tag] = config.hashtag_weight * peak
    norm = math.sqrt(sum(w * w for w in top.values()))
    return {t: w / norm for t, w in top.items()} if norm > 0 else {}


@dataclass
class TopicState:
    """Working state of one topic: the record plus its decayed centroid and tallies."""

    topic: Topic
    terms: dict[str, float]
    at: datetime
    rep_score: float = 0.0
    rumor: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    norm: float = 1.0

    @classmethod
    def open(cls, post: Post) -> TopicState:
        topic = Topic(
            id=make_id("topic", post.id),
            title="",
            first_seen=post.created_at,
            last_seen=post.created_at,
            updated_at=post.created_at,
        )
        return cls(topic=topic, terms={}, at=post.created_at)

    @classmethod
    def load(cls, topic: Topic) -> TopicState:
        data = json.loads(topic.centroid or "{}")
        state = cls(
            topic=topic,
            terms={str(k): float(v) for k, v in data.get("terms", {}).items()},
            at=datetime.fromisoformat(data["at"]) if data.get("at") else topic.last_seen,
            rep_score=float(data.get("rep_score", 0.0)),
            rumor=int(data.get("rumor", 0)),
        )
        state.counts = {
            "platform": Counter({kc.key: kc.count for kc in topic.by_platform}),
            "emotion": Counter({kc.key: kc.count for kc in topic.by_emotion}),
            "region": Counter({kc.key: kc.count for kc in topic.by_region}),
        }
        state.norm = math.sqrt(sum(w * w for w in state.terms.values())) or 1.0
        return state

    def similarity(self, vec: dict[str, float]) -> float:
        return sum(w * self.terms.get(t, 0.0) for t, w in vec.items()) / self.norm

    def add(self, post: Post, vec: dict[str, float], config: TopicConfig) -> None:
        hours = max(0.0, (post.created_at - self.at).total_seconds() / 3600)
        decay = 0.5 ** (hours / config.half_life_hours) if config.half_life_hours > 0 else 1.0
        sim = self.similarity(vec) if self.terms else 1.0
        terms = {t: w * decay for t, w in self.terms.items()}
        for t, w in vec.items():
            terms[t] = terms.get(t, 0.0) + w
        kept = sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[: config.centroid_terms]
        self.terms = dict(kept)
        self.norm = math.sqrt(sum(w * w for w in self.terms.values())) or 1.0
        self.at = max(self.at, post.created_at)
        self.rep_score *= decay
        topic = self.topic
        if sim >= self.rep_score or topic.representative_post_id is None:
            self.rep_score = sim
            topic.representative_post_id = post.id
            topic.title = (post.title or post.text)[:60]
        topic.post_count += 1
        topic.first_seen = min(topic.first_seen, post.created_at)
        topic.last_seen = max(topic.last_seen, post.created_at)
        self.counts.setdefault("platform", Counter())[post.platform] += 1
        if post.nlp.emotion is not None:
            self.counts.setdefault("emotion", Counter())[post.nlp.emotion.label] += 1
        for region in {p.province or p.name for p in post.places}:
            self.counts.setdefault("region", Counter())[region] += 1
        if post.nlp.rumor is not None and post.nlp.rumor.label == config.rumor_label:
            self.rumor += 1
        if post.nlp.help is not None and post.nlp.help.label == config.help_label:
            topic.help_count += 1

    def record(self, config: TopicConfig, now: datetime) -> Topic:
        """The `Topic` record as stored (keywords, counts and centroid refreshed)."""
        topic = self.topic

        def keycounts(name: str) -> list[KeyCount]:
            counter = self.counts.get(name, Counter())
            return [
                KeyCount(key=k, count=n)
                for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
            ]

        topic.keywords = [t for t, _ in sorted(self.terms.items(), key=lambda kv: (-kv[1], kv[0]))][
            : config.keywords
        ]
        topic.by_platform = keycounts("platform")
        topic.by_emotion = keycounts("emotion")
        topic.by_region = keycounts("region")
        topic.rumor_share = round(self.rumor / topic.post_count, 4) if topic.post_count else 0.0
        topic.updated_at = now
        topic.centroid = json.dumps(
            {
                "terms": {t: round(w, 5) for t, w in self.terms.items()},
                "at": self.at.isoformat(),
                "rep_score": round(self.rep_score, 5),
                "rumor": self.rumor,
            },
            ensure_ascii=False,
        )
        return topic


class TopicAssigner:
    """Assigns posts to topics incrementally; keeps an inverted index term -> topics, each
    with the term's weight in the topic's centroid (so scoring a post reads one mapping)."""

    def __init__(self, topics: Iterable[Topic] = (), config: TopicConfig | None = None) -> None:
        self.config = config or default_topic_config()
        self.states: dict[str, TopicState] = {}
        self._index: dict[str, dict[str, float]] = {}
        self.changed: set[str] = set()
        for topic in topics:
            self._put(TopicState.load(topic))

    def _put(self, state: TopicState) -> None:
        old = self.states.get(state.topic.id)
        self.states[state.topic.id] = state
        self._reindex(state, old.terms if old is not None else ())

    def _reindex(self, state: TopicState, old_terms: Iterable[str]) -> None:
        topic_id = state.topic.id
        for term in old_terms:
            if term not in state.terms:
                self._index.get(term, {}).pop(topic_id, None)
        for term, weight in state.terms.items():
            self._index.setdefault(term, {})[topic_id] = weight

    def assign(self, post: Post) -> str | None:
        """The topic the post joins (or opens); None for posts without content terms."""
        vec = post_vector(post.tokens.split(), post.text_norm, self.config)
        if not vec:
            return None
        scores: dict[str, float] = {}
        get = scores.get
        index = self._index
        for term, w in vec.items():
            topics = index.get(term)
            if topics:
                for topic_id, weight in topics.items():
                    scores[topic_id] = get(topic_id, 0.0) + w * weight
        oldest = post.created_at - timedelta(hours=self.config.max_idle_hours)
        best_id, best = None, 0.0
        for topic_id, dot in scores.items():
            state = self.states[topic_id]
            if state.topic.last_seen < oldest:  # idle longer than max_idle_hours
                continue
            sim = dot / state.norm
            if sim > best or (sim == best and best_id is not None and topic_id < best_id):
                best_id, best = topic_id, sim
        if best_id is not None and best >= self.config.threshold:
            state = self.states[best_id]
        else:
            state = TopicState.open(post)
            if state.topic.id in self.states:  # re-run of an opening post
                state = self.states[state.topic.id]
        old_terms = list(state.terms)
        state.add(post, vec, self.config)
        self.states[state.topic.id] = state
        self._reindex(state, old_terms)
        self.changed.add(state.topic.id)
        return state.topic.id

    def changed_topics(self, now: datetime) -> list[Topic]:
        return [self.states[i].record(self.config, now) for i in sorted(self.changed)]


def assign_posts(assigner: TopicAssigner, posts: Sequence[Post]) -> None:
    """Assign posts oldest first; posts that already have a topic are left alone."""
    for post in sorted(posts, key=lambda p: (p.created_at, p.id)):
        if post.nlp.topic_id is None:
            post.nlp.topic_id = assigner.assign(post)


# -- store-facing ---------------------------------------------------------------------------
KIND = "topics"
PAGE = 1000


def active_topics(store: Store, since: datetime) -> list[Topic]:
    """Topics with a post since `since` (keyset pages by id: no deep offsets)."""
    topics: list[Topic] = []
    after: str | None = None
    while True:
        ranges: dict[str, tuple[Any, Any]] = {"last_seen": (since, None)}
        if after is not None:
            ranges["id"] = (after, None)
        page = store.find(KIND, Topic, ranges=ranges, sort="id", size=PAGE)
        fresh = [t for t in page if t.id != after]
        topics.extend(fresh)
        if len(page) < PAGE or not fresh:
            return topics
        after = fresh[-1].id


def assign_topics(
    posts: Sequence[Post],
    store: Store,
    *,
    now: datetime | None = None,
    config: TopicConfig | None = None,
) -> list[Topic]:
    """Enrichment step: set `nlp.topic_id` of the posts and upsert the topics they touched."""
    todo = [p for p in posts if p.nlp.topic_id is None]
    if not todo:
        return []
    config = config or default_topic_config()
    oldest = min(p.created_at for p in todo)
    since = oldest - timedelta(hours=config.max_idle_hours)
    assigner = TopicAssigner(active_topics(store, since), config)
    assign_posts(assigner, todo)
    changed = assigner.changed_topics(now or datetime.now(UTC))
    store.put_many(KIND, changed)
    return changed


class TopicStep:
    """Enrichment step (`nlp.enrich`): topic assignment; versioned by `topics.yaml`. Posts
    that already have a topic keep it when a version bump re-enriches them."""

    def __init__(self, store: Store) -> None:
        raw = load_topic_settings()  # clustering and labels only: burst settings don't count
        text = json.dumps([raw.get("clustering"), raw.get("labels")], sort_keys=True).encode()
        self.version = f"topics-{TOPICS_VERSION}-{hashlib.sha1(text).hexdigest()[:8]}"
        self.store = store

    def __call__(self, posts: list[Post]) -> None:
        assign_topics(posts, self.store)
