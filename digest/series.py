"""The data behind the digest's charts, read from the store (both backends)."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from digest.collect import find_all
from digest.model import Digest
from digest.vocab import load_vocab
from store.base import PostQuery, Store
from store.records import Incident

PUBLISH_DAYS = {"daily": 14, "weekly": 28}


@dataclass
class ChartSeries:
    interval: Literal["hour", "day"]
    buckets: list[datetime] = field(default_factory=list)
    volume: list[int] = field(default_factory=list)
    emotion_share: dict[str, list[float | None]] = field(default_factory=dict)  # name -> %
    states: list[tuple[str, int]] = field(default_factory=list)
    publish_days: list[date] = field(default_factory=list)
    publish_median_h: list[float | None] = field(default_factory=list)
    publish_counts: list[int] = field(default_factory=list)


def _bucket_counts(
    store: Store, query: PostQuery, interval: Literal["hour", "day"], tz: str
) -> dict[datetime, int]:
    zone = ZoneInfo(tz)
    return {
        datetime.fromisoformat(b.key).astimezone(zone): b.count
        for b in store.histogram(query, interval=interval, tz=tz)
    }


def collect_series(store: Store, digest: Digest) -> ChartSeries:
    vocab = load_vocab()
    zone = ZoneInfo(digest.timezone)
    start, end = digest.period.start.astimezone(zone), digest.period.end.astimezone(zone)
    interval: Literal["hour", "day"] = "hour" if digest.kind == "daily" else "day"
    step = timedelta(hours=1) if interval == "hour" else timedelta(days=1)
    series = ChartSeries(interval=interval)
    t = start
    while t < end:
        series.buckets.append(t)
        t = (t + step).astimezone(zone)
    window = {"since": start, "until": end}
    totals = _bucket_counts(store, PostQuery(**window), interval, digest.timezone)
    series.volume = [totals.get(b, 0) for b in series.buckets]
    for emotion in vocab.labels.negative_emotions:
        counts = _bucket_counts(
            store,
            PostQuery(**window, terms={"nlp.emotion.label": [emotion]}),
            interval,
            digest.timezone,
        )
        series.emotion_share[vocab.emotion(emotion)] = [
            round(100 * counts.get(b, 0) / totals[b], 1) if totals.get(b) else None
            for b in series.buckets
        ]

    opened = find_all(store, "incidents", Incident, ranges={"created_at": (start, end)})
    by_state = Counter(str(i.state) for i in opened)
    series.states = [(vocab.state(s), by_state[s]) for s in vocab.states if by_state.get(s)]

    days = PUBLISH_DAYS[digest.kind]
    first = (end - timedelta(days=days)).date()
    published = find_all(
        store,
        "incidents",
        Incident,
        ranges={"published_at": (end - timedelta(days=days), end)},
    )
    hours: dict[date, list[float]] = {}
    for incident in published:
        if incident.published_at and incident.time_to_publish_s is not None:
            day = incident.published_at.astimezone(zone).date()
            hours.setdefault(day, []).append(incident.time_to_publish_s / 3600)
    series.publish_days = [first + timedelta(days=i) for i in range(days)]
    series.publish_median_h = [
        round(statistics.median(hours[d]), 2) if d in hours else None for d in series.publish_days
    ]
    series.publish_counts = [len(hours.get(d, [])) for d in series.publish_days]
    return series
