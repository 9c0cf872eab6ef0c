"""`tingfeng bench nlp`: full enrichment vs jieba segmentation alone, same posts, same run.

Full enrichment = normalize + segment (as ingest does) + rumor + emotion/polarity + help +
keywords (the enrichment steps), on one core. The baseline is jieba's `lcut` alone on the same
texts. Reports posts/s of both (CPU time of this process, so other load on a shared machine does
not distort it), their ratio and the process's peak memory.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analysis.text import normalize, segment, tokenizer
from nlp.data import load_dataset
from nlp.enrich import default_steps
from nlp.predict import Predictor
from store.records import Post, make_id

BENCH_DATASETS = (
    "smp2020_ewect_usual",
    "ced_weibo_rumor",
    "ma2016_weibo_rumor",
    "checked_covid_weibo",
    "nlpcc2020_covid_weibo_emotion",
    "osm2022_weibo_social_movement_sentiment",
)


@dataclass
class NlpBenchResult:
    posts: int
    chars: int
    jieba_seconds: float
    enrich_seconds: float
    peak_rss_mb: float

    @property
    def jieba_posts_per_s(self) -> float:
        return self.posts / self.jieba_seconds

    @property
    def enrich_posts_per_s(self) -> float:
        return self.posts / self.enrich_seconds

    @property
    def ratio(self) -> float:
        """Enrichment throughput as a fraction of jieba-alone throughput."""
        return self.enrich_posts_per_s / self.jieba_posts_per_s


def bench_texts(root: Path, n: int) -> list[str]:
    """`n` real post texts, interleaved from several shared datasets (repeated if short)."""
    pools = [
        [e.text for e in load_dataset(root, name) if e.text.strip()] for name in BENCH_DATASETS
    ]
    texts: list[str] = []
    i = 0
    while len(texts) < n:
        for pool in pools:
            if i < len(pool):
                texts.append(pool[i])
        i += 1
        if i > max(len(p) for p in pools):
            i = 0
    return texts[:n]


def _posts(texts: list[str]) -> list[Post]:
    now = datetime.now(UTC)
    return [
        Post(
            id=make_id("bench", str(i)),
            source="bench",
            platform="weibo",
            text=t,
            text_norm="",
            tokens="",
            segmenter="",
            created_at=now,
            fetched_at=now,
        )
        for i, t in enumerate(texts)
    ]


def bench_nlp(
    texts: list[str],
    predictor: Predictor,
    *,
    batch: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> NlpBenchResult:
    steps = default_steps(predictor)
    # warm up: load models, dictionary, OpenCC, IDF table (not timed)
    warm = _posts(texts[:50])
    for p in warm:
        p.text_norm = normalize(p.text)
        p.tokens = " ".join(segment(p.text_norm))
    for step in steps:
        step(warm)
    jieba = tokenizer()

    start = time.process_time()
    for text in texts:
        jieba.lcut(text, HMM=True)
    jieba_s = time.process_time() - start

    posts = _posts(texts)
    start = time.process_time()
    for i in range(0, len(posts), batch):
        chunk = posts[i : i + batch]
        for p in chunk:
            p.text_norm = normalize(p.text)
            p.tokens = " ".join(segment(p.text_norm))
        for step in steps:
            step(chunk)
        if on_batch:
            on_batch(len(chunk))
    enrich_s = time.process_time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return NlpBenchResult(len(texts), sum(len(t) for t in texts), jieba_s, enrich_s, peak)
