"""Burst detection: is a topic surging now, and why.

For each window (e.g. the last hour against the 12 hours before it, the last day against the
14 days before it) the recent volume is compared with the baseline rate (baseline volume
divided by the number of recent-window lengths it spans):

    ratio = (recent + 1) / (baseline_rate + 1)        score = (recent - rate) / sqrt(rate + 1)

A window bursts when recent >= `min_posts` and ratio >= `min_ratio`; the topic's burst is
its highest-scoring bursting window, stated as a reason a person can check, e.g.
"近1小时 21 条，为基线的 4.2 倍；恐惧占比 31% / volume x4.2 vs baseline (last 1h vs previous
12h), fear share 31%". Counts come from the store (`count_posts`, `terms` on
`nlp.topic_id`), so both backends give the same result.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from apscheduler.schedulers.base import BaseScheduler

from nlp.errors import ConfigError
from nlp.topics import KIND, active_topics, load_topic_settings
from store.base import PostQuery, Store
from store.records import Burst, Topic

log = logging.getLogger(__name__)

EMOTION_ZH = {
    "fear": "恐惧",
    "angry": "愤怒",
    "sad": "悲伤",
    "surprise": "惊讶",
    "happy": "喜悦",
    "neutral": "中性",
}


@dataclass(frozen=True)
class Window:
    name: str
    recent_hours: float
    baseline_hours: float

    @property
    def spans(self) -> float:
        """How many recent-window lengths the baseline covers."""
        return self.baseline_hours / self.recent_hours


@dataclass(frozen=True)
class BurstConfig:
    windows: tuple[Window, ...] = (Window("1h", 1, 12), Window("1d", 24, 336))
    min_posts: int = 5
    min_ratio: float = 3.0
    interval_seconds: int = 300
    emotions: tuple[str, ...] = ("fear", "angry", "sad")


@lru_cache(maxsize=1)
def default_burst_config() -> BurstConfig:
    raw = load_topic_settings().get("bursts") or {}
    try:
        windows = tuple(
            Window(str(w["name"]), float(w["recent_hours"]), float(w["baseline_hours"]))
            for w in raw.get("windows", [])
        )
        config = BurstConfig(
            windows=windows or BurstConfig.windows,
            min_posts=int(raw.get("min_posts", BurstConfig.min_posts)),
            min_ratio=float(raw.get("min_ratio", BurstConfig.min_ratio)),
            interval_seconds=int(raw.get("interval_seconds", BurstConfig.interval_seconds)),
            emotions=tuple(raw.get("emotions", BurstConfig.emotions)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"nlp/topics.yaml: bursts: invalid window or value ({exc})") from None
    for w in config.windows:
        if w.recent_hours <= 0 or w.baseline_hours <= 0:
            raise ConfigError(f"nlp/topics.yaml: bursts.windows {w.name!r}: hours must be > 0")
    return config


@dataclass(frozen=True)
class WindowStat:
    window: Window
    recent: float
    rate: float
    ratio: float
    score: float


def window_stat(recent: float, baseline_total: float, spans: float, window: Window) -> WindowStat:
    rate = baseline_total / spans if spans > 0 else 0.0
    ratio = (recent + 1) / (rate + 1)
    score = (recent - rate) / math.sqrt(rate + 1)
    return WindowStat(window, recent, rate, round(ratio, 2), round(score, 3))


def burst_for_counts(
    recent: float, baseline_total: float, spans: float, window: Window, config: BurstConfig
) -> WindowStat | None:
    """The window's statistic if it bursts, else None."""
    stat = window_stat(recent, baseline_total, spans, window)
    if recent >= config.min_posts and stat.ratio >= config.min_ratio:
        return stat
    return None


def _hours(h: float) -> tuple[str, str]:
    if h % 24 == 0:
        days = int(h // 24)
        return f"{days}天", f"{days}d"
    return f"{h:g}小时", f"{h:g}h"


def reason(stat: WindowStat, emotion: tuple[str, float] | None) -> str:
    """Chinese / English statement of why the window bursts."""
    r_zh, r_en = _hours(stat.window.recent_hours)
    b_zh, b_en = _hours(stat.window.baseline_hours)
    zh = f"近{r_zh} {stat.recent:g} 条，为前{b_zh}基线的 {stat.ratio:.1f} 倍"
    en = f"volume x{stat.ratio:.1f} vs baseline (last {r_en} vs previous {b_en})"
    if emotion is not None:
        label, share = emotion
        zh += f"；{EMOTION_ZH.get(label, label)}占比 {share:.0%}"
        en += f", {label} share {share:.0%}"
    return f"{zh} / {en}"


def topic_burst(
    store: Store, topic: Topic, now: datetime, config: BurstConfig
) -> tuple[Burst | None, float]:
    """The topic's burst (None if no window bursts) and its burst score."""
    best: WindowStat | None = None
    best_score = 0.0
    terms = {"nlp.topic_id": [topic.id]}
    for window in config.windows:
        recent_start = now - timedelta(hours=window.recent_hours)
        base_start = recent_start - timedelta(hours=window.baseline_hours)
        recent = store.count_posts(PostQuery(terms=terms, since=recent_start, until=now))
        if recent == 0:
            continue
        base = store.count_posts(PostQuery(terms=terms, since=base_start, until=recent_start))
        stat = burst_for_counts(recent, base, window.spans, window, config)
        score = window_stat(recent, base, window.spans, window).score
        best_score = max(best_score, score)
        if stat is not None and (best is None or stat.score > best.score):
            best = stat
    if best is None:
        return None, round(best_score, 3)
    since = now - timedelta(hours=best.window.recent_hours)
    buckets = store.terms(
        PostQuery(terms=terms, since=since, until=now), "nlp.emotion.label", size=10
    )
    named = [b for b in buckets if b.key in config.emotions]
    emotion = (named[0].key, named[0].count / best.recent) if named else None
    burst = Burst(
        score=best.score,
        window=best.window.name,
        ratio=best.ratio,
        reason=reason(best, emotion),
        detected_at=now,
    )
    return burst, best.score


def detect_bursts(
    store: Store, *, now: datetime | None = None, config: BurstConfig | None = None
) -> list[Topic]:
    """Recompute `burst` and `burst_score` of every topic active within the longest recent
    window; returns the bursting topics, highest score first."""
    config = config or default_burst_config()
    now = now or datetime.now(UTC)
    longest = max(w.recent_hours for w in config.windows)
    topics = {t.id: t for t in active_topics(store, now - timedelta(hours=longest))}
    for topic in store.find(KIND, Topic, ranges={"burst_score": (1e-9, None)}, size=10000):
        topics.setdefault(topic.id, topic)  # still flagged, gone quiet: clear it
    updated: list[Topic] = []
    for topic in topics.values():
        burst, score = topic_burst(store, topic, now, config)
        new_score = score if burst is not None else 0.0
        if burst is None and topic.burst is None and topic.burst_score == new_score:
            continue
        topic.burst = burst
        topic.burst_score = new_score
        updated.append(topic)
    store.put_many(KIND, updated)
    bursting = sorted((t for t in updated if t.burst), key=lambda t: (-t.burst_score, t.id))
    log.info("bursts: %d active topics, %d bursting", len(topics), len(bursting))
    return bursting


def add_burst_job(scheduler: BaseScheduler, store: Store) -> None:
    """Recompute bursts every `bursts.interval_seconds` (nlp/topics.yaml) in `tingfeng run`."""
    config = default_burst_config()
    scheduler.add_job(
        detect_bursts,
        "interval",
        seconds=config.interval_seconds,
        id="topic-bursts",
        args=[store],
        kwargs={"config": config},
    )
