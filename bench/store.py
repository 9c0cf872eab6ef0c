"""Store benchmark: our Elasticsearch write path against the client's raw bulk helper.

Both ingest the same synthetic Chinese posts into scratch indices with the same mapping, in
the same process, alternating which goes first. "ours" is `ElasticsearchStore.write_posts`
(from `Post` records, serialization and per-document result collection included); "raw" is
`elasticsearch.helpers.streaming_bulk` of the posts as plain dicts with its defaults. Scratch
indices are deleted afterwards.
"""

from __future__ import annotations

import logging
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from elasticsearch import Elasticsearch
from elasticsearch.helpers import streaming_bulk

from store.es import ElasticsearchStore
from store.es_indices import ensure_indices
from store.indices import POSTS
from store.records import Engagement, Post, make_id

log = logging.getLogger(__name__)

_SUBJECTS = ["网友", "市民", "记者", "居民", "志愿者", "医生", "老师", "家长", "司机", "商户"]
_PLACES = ["武汉", "北京", "南京", "上海", "成都", "广州", "西安", "杭州", "长沙", "郑州"]
_EVENTS = [
    "超市 抢购 大米",
    "小区 封控 买药 困难",
    "自来水 检出 病毒",
    "核酸检测 排队 三个小时",
    "道路 积水 严重",
    "地铁 停运 通知",
    "学校 停课 消息",
    "医院 发热门诊 排队",
    "物资 发放 不及时",
    "疫苗 接种 预约",
]
_TAILS = ["请 尽快 处理", "这是 真的 吗", "大家 注意 安全", "希望 有关部门 回应", "已经 辟谣 了"]
_PLATFORMS = ["weibo", "tieba", "news", "gov"]
_T0 = datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))


def synthetic_posts(n: int, seed: int = 0) -> list[Post]:
    """`n` deterministic Chinese posts (ids, times, tokens and engagement vary)."""
    rnd = random.Random(seed)
    posts = []
    for i in range(n):
        words = [
            rnd.choice(_PLACES),
            rnd.choice(_SUBJECTS),
            *rnd.choice(_EVENTS).split(),
            *rnd.choice(_TAILS).split(),
        ]
        text = "".join(words) + f"（{i}）"
        platform = _PLATFORMS[i % len(_PLATFORMS)]
        created = _T0 + timedelta(seconds=37 * i)
        posts.append(
            Post(
                id=make_id("bench", platform, str(i)),
                source=f"bench-{platform}",
                platform=platform,
                native_id=str(i),
                author=f"{rnd.getrandbits(64):016x}",
                text=text,
                text_norm=text,
                tokens=" ".join([*words, str(i)]),
                segmenter="bench",
                created_at=created,
                fetched_at=created,
                engagement=Engagement(reposts=rnd.randrange(500), likes=rnd.randrange(5000)),
            )
        )
    return posts


@dataclass
class Timing:
    name: str
    seconds: list[float] = field(default_factory=list)
    docs: int = 0

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def docs_per_second(self) -> float:
        return self.docs / self.median_seconds


@dataclass
class BenchResult:
    ours: Timing
    raw: Timing

    @property
    def ratio(self) -> float:
        return self.ours.docs_per_second / self.raw.docs_per_second


def _run_ours(client: Elasticsearch, posts: list[Post], prefix: str) -> float:
    store = ElasticsearchStore(client, prefix=prefix)
    ensure_indices(client, prefix, replicas=0, specs=[POSTS])  # what init() does, posts only
    try:
        start = time.perf_counter()
        result = store.write_posts(posts)
        elapsed = time.perf_counter() - start
        if result.written != len(posts) or result.failed:
            raise RuntimeError(f"our bulk wrote {result.written}, failed {result.failed[:3]}")
        return elapsed
    finally:
        store.drop_all()


def _run_raw(client: Elasticsearch, docs: list[dict[str, object]], index: str) -> float:
    client.indices.create(
        index=index,
        settings={"number_of_shards": 1, "number_of_replicas": 0},
        mappings=POSTS.mapping(),
    )
    try:
        start = time.perf_counter()
        ok = sum(
            1
            for success, _ in streaming_bulk(
                client, ({"_index": index, "_id": d["id"], "_source": d} for d in docs)
            )
            if success
        )
        elapsed = time.perf_counter() - start
        if ok != len(docs):
            raise RuntimeError(f"raw bulk wrote {ok} of {len(docs)}")
        return elapsed
    finally:
        client.indices.delete(index=index)


def bench_store(
    client: Elasticsearch,
    posts: list[Post],
    *,
    runs: int = 3,
    on_run: Callable[[str, float], None] | None = None,
) -> BenchResult:
    """Time both write paths `runs` times each (alternating order); medians in the result."""
    docs = [p.model_dump(mode="json") for p in posts]
    ours, raw = Timing("ours: ElasticsearchStore.write_posts"), Timing("raw: streaming_bulk")
    ours.docs = raw.docs = len(posts)
    scratch = f"tfbench-{uuid.uuid4().hex[:8]}"
    warm = min(len(posts), 2000)  # the node's JIT warms up on the first bulk: not timed
    _run_ours(client, posts[:warm], f"{scratch}-warm")
    _run_raw(client, docs[:warm], f"{scratch}-raw-warm")
    for run in range(runs):
        order = [ours, raw] if run % 2 == 0 else [raw, ours]
        for timing in order:
            if timing is ours:
                seconds = _run_ours(client, posts, f"{scratch}-{run}")
            else:
                seconds = _run_raw(client, docs, f"{scratch}-raw-{run}")
            timing.seconds.append(seconds)
            log.info("bench run %d %s: %.2fs", run, timing.name, seconds)
            if on_run:
                on_run(timing.name, seconds)
    return BenchResult(ours, raw)
