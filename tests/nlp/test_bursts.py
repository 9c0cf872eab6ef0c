"""Burst detection on both backends: a topic that surges in the last hour is flagged with a
stated reason; a steady topic is not; a burst that has gone quiet is cleared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.posts import RawPost, build_post
from nlp.bursts import BurstConfig, Window, burst_for_counts, detect_bursts, reason, window_stat
from store import Settings, Store
from store.records import Label, Post, Topic

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def topic(topic_id: str, last_seen: datetime) -> Topic:
    return Topic(
        id=topic_id,
        title=topic_id,
        first_seen=NOW - timedelta(days=1),
        last_seen=last_seen,
        updated_at=NOW,
    )


def posts_at(settings: Settings, topic_id: str, times: list[datetime], emotion: str) -> list[Post]:
    out = []
    for i, at in enumerate(times):
        raw = RawPost(
            source="test",
            platform="weibo",
            native_id=f"{topic_id}-{i}",
            text=f"{topic_id} 第{i}条",
            created_at=at,
        )
        p = build_post(raw, settings)
        p.nlp.topic_id = topic_id
        p.nlp.emotion = Label(label=emotion, score=0.9)
        out.append(p)
    return out


def test_surging_topic_is_flagged_with_reason(store: Store, settings: Settings) -> None:
    surge = [NOW - timedelta(minutes=5 + 3 * i) for i in range(12)]  # 12 posts in the last hour
    surge += [NOW - timedelta(hours=3 + i) for i in range(3)]  # 3 in the 12 h before
    surge += [NOW - timedelta(hours=24 + 12 * i) for i in range(28)]  # 2 a day for 14 days
    steady = [NOW - timedelta(minutes=30 + 360 * i) for i in range(60)]  # 4 a day for 15 days
    posts = posts_at(settings, "hot", surge, "fear") + posts_at(settings, "calm", steady, "anger")
    store.write_posts(posts)
    store.put_many(
        "topics", [topic("hot", NOW), topic("calm", NOW), topic("old", NOW - timedelta(days=5))]
    )
    quiet = topic("quiet", NOW - timedelta(days=3))
    quiet.burst_score = 9.0
    quiet.burst = None
    store.put("topics", quiet)
    store.refresh()

    bursting = detect_bursts(store, now=NOW)
    store.refresh()
    assert [t.id for t in bursting] == ["hot"]
    hot = store.get("topics", "hot", Topic)
    assert hot is not None and hot.burst is not None
    assert hot.burst.window == "1h"
    assert hot.burst_score > 0
    assert "fear share" in hot.burst.reason and "恐惧占比" in hot.burst.reason
    assert "last 1h vs previous 12h" in hot.burst.reason
    calm = store.get("topics", "calm", Topic)
    assert calm is not None and calm.burst is None and calm.burst_score == 0.0
    cleared = store.get("topics", "quiet", Topic)
    assert cleared is not None and cleared.burst_score == 0.0

    # two days later nothing new came: the burst is over and cleared
    assert detect_bursts(store, now=NOW + timedelta(days=2)) == []
    store.refresh()
    over = store.get("topics", "hot", Topic)
    assert over is not None and over.burst is None and over.burst_score == 0.0


def test_window_statistics_and_reason() -> None:
    config = BurstConfig(windows=(Window("1h", 1, 12),), min_posts=5, min_ratio=3.0)
    window = config.windows[0]
    assert burst_for_counts(20, 12, window.spans, window, config) is not None  # 20 vs 1/h
    assert burst_for_counts(4, 0, window.spans, window, config) is None  # too few posts
    assert burst_for_counts(12, 120, window.spans, window, config) is None  # 12 vs 10/h
    stat = window_stat(20, 12, window.spans, window)
    assert stat.ratio == 10.5
    text = reason(stat, ("fear", 0.31))
    assert text.startswith("近1小时 20 条，为前12小时基线的 10.5 倍；恐惧占比 31%")
    assert text.endswith("volume x10.5 vs baseline (last 1h vs previous 12h), fear share 31%")
    day = Window("1d", 24, 336)
    assert "last 1d vs previous 14d" in reason(window_stat(50, 70, day.spans, day), None)
