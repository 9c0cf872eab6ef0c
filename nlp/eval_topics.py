"""Evaluate topic clustering (NMI, ARI) and burst detection (lag) on the shared datasets.

- covid_weibo_hashtag_topics: the first hashtag of a post is its topic. Reported with the text
  as posted and with every #hashtag# removed (text-only clustering). The threshold is chosen
  on the first half of the days ("dev") and the scores are given on the second half ("test").
- ma2016_weibo_rumor: an event is a source post plus its first 10 reposts; reposts are
  clustered from their own text only (often just "转发微博": such posts get no topic and
  count as singletons).
- burst replay: the hashtag days are replayed in order; a hashtag "surges" on a day when it
  has >= `min_posts` posts and >= `min_ratio` x its mean daily volume over the previous 14
  days. Each sampled post stands for n/8 real posts (the sample holds 8 per hashtag and day).
  A surge is caught when the topic holding most of the hashtag's posts that day is flagged by
  the 1-day window on that day (lag 0) or the next (lag 1).

NMI (arithmetic normalization) and ARI are computed here with numpy; unassigned posts are
singleton clusters.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from analysis.text import SEGMENTER_VERSION, normalize, segment
from nlp.bursts import BurstConfig, Window, burst_for_counts, default_burst_config
from nlp.kb_import import read_jsonl
from nlp.topics import TopicAssigner, TopicConfig, assign_posts, default_topic_config
from store.records import Post

CN = ZoneInfo("Asia/Shanghai")
_HASHTAG = re.compile(r"#[^#]{1,40}#")


def nmi(labels: Sequence[Hashable], clusters: Sequence[Hashable]) -> float:
    """Normalized mutual information (arithmetic mean of the entropies)."""
    n = len(labels)
    if n == 0:
        return 0.0
    joint = Counter(zip(labels, clusters, strict=True))
    a, b = Counter(labels), Counter(clusters)
    mi = sum(c / n * math.log(c * n / (a[x] * b[y])) for (x, y), c in joint.items())
    ha = -sum(c / n * math.log(c / n) for c in a.values())
    hb = -sum(c / n * math.log(c / n) for c in b.values())
    if ha == 0 and hb == 0:
        return 1.0
    return mi / ((ha + hb) / 2) if ha + hb > 0 else 0.0


def ari(labels: Sequence[Hashable], clusters: Sequence[Hashable]) -> float:
    """Adjusted Rand index."""
    n = len(labels)

    def pairs(k: int) -> float:
        return k * (k - 1) / 2

    joint = sum(pairs(c) for c in Counter(zip(labels, clusters, strict=True)).values())
    sa = sum(pairs(c) for c in Counter(labels).values())
    sb = sum(pairs(c) for c in Counter(clusters).values())
    expected = sa * sb / pairs(n) if n > 1 else 0.0
    maximum = (sa + sb) / 2
    return (joint - expected) / (maximum - expected) if maximum != expected else 1.0


def make_post(native_id: str, text: str, created_at: datetime) -> Post:
    text_norm = normalize(text)
    return Post(
        id=native_id,
        source="eval",
        platform="weibo",
        native_id=native_id,
        text=text or " ",
        text_norm=text_norm,
        tokens=" ".join(segment(text_norm)),
        segmenter=SEGMENTER_VERSION,
        created_at=created_at,
        fetched_at=created_at,
    )


@dataclass
class ClusterScore:
    dataset: str
    posts: int
    true_clusters: int
    topics: int
    nmi: float
    ari: float


def cluster(posts: Sequence[Post], config: TopicConfig) -> list[Hashable]:
    for post in posts:
        post.nlp.topic_id = None
    assigner = TopicAssigner([], config)
    assign_posts(assigner, posts)
    return [p.nlp.topic_id or f"single:{p.id}" for p in posts]


def score(name: str, posts: Sequence[Post], labels: Sequence[Hashable], config: TopicConfig):
    clusters = cluster(posts, config)
    return ClusterScore(
        name,
        len(posts),
        len(set(labels)),
        len(set(clusters)),
        round(nmi(labels, clusters), 4),
        round(ari(labels, clusters), 4),
    )


def hashtag_rows(root: Path) -> list[dict]:
    rows = list(read_jsonl(root / "covid_weibo_hashtag_topics" / "posts_sample.jsonl"))
    rows.sort(key=lambda r: (r["date"], r["id"]))
    return rows


def hashtag_posts(rows: Sequence[dict], *, strip_hashtags: bool) -> list[Post]:
    """Posts spread evenly over their day (the data has dates only)."""
    by_day: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_day[row["date"]].append(row)
    posts = []
    for day, day_rows in by_day.items():
        start = datetime.fromisoformat(day).replace(tzinfo=CN)
        step = 86400 / max(1, len(day_rows))
        for i, row in enumerate(day_rows):
            text = _HASHTAG.sub(" ", row["text"]) if strip_hashtags else row["text"]
            posts.append(make_post(row["id"], text, start + timedelta(seconds=i * step)))
    return posts


def ma2016_posts(root: Path) -> tuple[list[Post], list[str]]:
    folder = root / "ma2016_weibo_rumor"
    posts, labels = [], []
    for row in read_jsonl(folder / "events.jsonl"):
        posts.append(make_post(row["id"], row["text"], datetime.fromisoformat(row["time"])))
        labels.append(row["event_id"])
    for row in read_jsonl(folder / "reposts_first10.jsonl"):
        posts.append(make_post(row["id"], row["text"], datetime.fromisoformat(row["time"])))
        labels.append(row["event_id"])
    return posts, labels


def tune_threshold(
    rows: Sequence[dict], config: TopicConfig, grid: Sequence[float]
) -> tuple[float, dict[float, float]]:
    """Threshold with the best NMI on the first half of the hashtag days."""
    days = sorted({r["date"] for r in rows})
    dev_days = set(days[: len(days) // 2])
    dev = [r for r in rows if r["date"] in dev_days]
    posts = hashtag_posts(dev, strip_hashtags=False)
    labels = [r["topic"] for r in dev]
    results = {t: nmi(labels, cluster(posts, replace(config, threshold=t))) for t in grid}
    best = max(results, key=lambda t: (results[t], -t))
    return best, results


def evaluate_clustering(
    root: Path, config: TopicConfig | None = None, progress: Callable[[str], None] | None = None
) -> list[ClusterScore]:
    config = config or default_topic_config()
    rows = hashtag_rows(root)
    days = sorted({r["date"] for r in rows})
    test_days = set(days[len(days) // 2 :])
    test = [r for r in rows if r["date"] in test_days]
    scores = []
    for strip in (False, True):
        name = "hashtags (text only)" if strip else "hashtags (as posted)"
        for label, subset in (("all days", rows), ("test days", test)):
            if progress:
                progress(f"{name}, {label}")
            posts = hashtag_posts(subset, strip_hashtags=strip)
            scores.append(score(f"{name}, {label}", posts, [r["topic"] for r in subset], config))
    if progress:
        progress("ma2016 events")
    posts, labels = ma2016_posts(root)
    scores.append(score("ma2016 events (source + reposts)", posts, labels, config))
    return scores


# -- burst replay ---------------------------------------------------------------------------
@dataclass
class BurstReplay:
    surges: int
    caught_lag0: int
    caught_lag1: int
    missed: int
    flagged_topics_per_day: float
    hashtag_level_caught: int
    flags: int
    flags_on_surge: int

    @property
    def caught(self) -> int:
        return self.caught_lag0 + self.caught_lag1


def replay_bursts(
    root: Path, config: TopicConfig | None = None, bursts: BurstConfig | None = None
) -> BurstReplay:
    config = config or default_topic_config()
    bursts = bursts or default_burst_config()
    window = next((w for w in bursts.windows if w.recent_hours == 24), Window("1d", 24, 336))
    rows = hashtag_rows(root)
    posts = hashtag_posts(rows, strip_hashtags=False)
    cluster(posts, config)
    days = sorted({r["date"] for r in rows})
    all_days = days  # the 12 days missing from the sample are skipped, not zero
    day_index = {d: i for i, d in enumerate(all_days)}
    tag_volume: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(all_days))
    topic_volume: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(all_days))
    tag_topic: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for row, post in zip(rows, posts, strict=True):
        d = day_index[row["date"]]
        tag_volume[row["topic"]][d] = float(row["n_unique_posts_with_topic_that_day"])
        weight = row["n_unique_posts_with_topic_that_day"] / 8
        if post.nlp.topic_id:
            topic_volume[post.nlp.topic_id][d] += weight
            tag_topic[(row["topic"], row["date"])][post.nlp.topic_id] += 1
    baseline_days = round(window.baseline_hours / 24)
    flagged: dict[int, set[str]] = defaultdict(set)
    for topic_id, series in topic_volume.items():
        for d in range(len(all_days)):
            base = series[max(0, d - baseline_days) : d]
            if burst_for_counts(series[d], sum(base), len(base) or 1, window, bursts):
                flagged[d].add(topic_id)
    surges = lag0 = lag1 = missed = hashtag_caught = 0
    surge_days: set[tuple[str, int]] = set()
    for tag, series in tag_volume.items():
        for d, volume in enumerate(series):
            base = series[max(0, d - baseline_days) : d]
            mean = sum(base) / len(base) if base else 0.0
            if volume < bursts.min_posts or volume < bursts.min_ratio * max(mean, 1.0):
                continue
            if d > 0 and series[d - 1] >= volume / bursts.min_ratio:
                continue  # still rising from yesterday: the surge began earlier
            surges += 1
            surge_days.add((tag, d))
            if burst_for_counts(volume, sum(base), len(base) or 1, window, bursts):
                hashtag_caught += 1
            caught = None
            for lag in (0, 1):
                if d + lag >= len(all_days):
                    break
                owners = tag_topic.get((tag, all_days[d + lag]))
                if owners and owners.most_common(1)[0][0] in flagged[d + lag]:
                    caught = lag
                    break
            if caught == 0:
                lag0 += 1
            elif caught == 1:
                lag1 += 1
            else:
                missed += 1
    per_day = sum(len(v) for v in flagged.values()) / len(all_days)
    # a flag is "on a surge" when the flagged topic's main hashtag that day surges then or
    # surged the day before
    main_tag: dict[tuple[str, int], str] = {}
    tag_counts: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    for (tag, day), owners in tag_topic.items():
        for topic_id, n in owners.items():
            tag_counts[(topic_id, day_index[day])][tag] += n
    for key, counter in tag_counts.items():
        main_tag[key] = counter.most_common(1)[0][0]
    flags = on_surge = 0
    for d, topic_ids in flagged.items():
        for topic_id in topic_ids:
            flags += 1
            main = main_tag.get((topic_id, d))
            if main and ((main, d) in surge_days or (main, d - 1) in surge_days):
                on_surge += 1
    return BurstReplay(
        surges, lag0, lag1, missed, round(per_day, 2), hashtag_caught, flags, on_surge
    )
