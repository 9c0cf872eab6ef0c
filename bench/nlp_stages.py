"""Cost of the claim-match, topic and places enrichment steps, for `tingfeng bench nlp`.

Posts are real Weibo texts (covid_weibo_hashtag_topics), normalized and segmented beforehand
(ingest does that, so it is not counted here). The claim index is built once over the whole
knowledge base read from the datasets; its build time is reported apart. Topic assignment is
timed in memory (the step's store reads/writes are one query and one bulk write per batch).
One process, one thread: the rates are per core.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nlp.eval_matching import load_dataset_claims
from nlp.eval_topics import hashtag_posts, hashtag_rows
from nlp.matching import ClaimIndex
from nlp.places import gazetteer, tag_places
from nlp.topics import TopicAssigner, assign_posts, idf_table
from store.records import Post


@dataclass
class StageTiming:
    stage: str
    posts: int
    seconds: float

    @property
    def posts_per_s(self) -> float:
        return self.posts / self.seconds if self.seconds > 0 else float("inf")


def bench_posts(root: Path, n: int) -> list[Post]:
    rows = hashtag_rows(root)
    posts: list[Post] = []
    while len(posts) < n:
        posts.extend(hashtag_posts(rows[: n - len(posts)], strip_hashtags=False))
    for i, post in enumerate(posts):
        post.id = f"bench-{i}"
    return posts[:n]


def _time(
    stage: str, posts: Sequence[Post], step: Callable[[Sequence[Post]], object]
) -> StageTiming:
    started = time.process_time()  # CPU time, like the classifier bench: load on a shared host
    step(posts)  # does not distort it
    return StageTiming(stage, len(posts), time.process_time() - started)


def bench_steps(root: Path, n: int = 2000) -> tuple[list[StageTiming], float]:
    """Timings of each step and in total, and the claim-index build time in seconds."""
    posts = bench_posts(root, n)
    claims = load_dataset_claims(root)
    started = time.perf_counter()
    index = ClaimIndex(claims)
    build_s = time.perf_counter() - started
    gazetteer()  # loaded once per process, like the index and the IDF table
    idf_table()

    def match(batch: Sequence[Post]) -> None:
        for post, claim_match in zip(batch, index.match_many(batch), strict=True):
            post.nlp.claim_match = claim_match

    def topics(batch: Sequence[Post]) -> None:
        assign_posts(TopicAssigner([]), batch)

    timings = [
        _time("claim match", posts, match),
        _time("topic assignment", posts, topics),
        _time("places", posts, tag_places),
    ]
    total = StageTiming("total (3 steps)", n, sum(t.seconds for t in timings))
    return [*timings, total], build_s
