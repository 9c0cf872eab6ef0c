"""The topic's hourly post volume as a server-rendered SVG bar chart (no script, no inline
style: colours come from the desk stylesheet through CSS classes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from store import Store
from store.base import PostQuery

HOURS = 48


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str
    tick: str | None


@dataclass(frozen=True)
class VolumeChart:
    bars: list[Bar]
    width: int
    height: int
    top: int
    total: int
    peak: int
    marker_x: float | None  # where the reply was published, if inside the window


def hourly_volume(
    store: Store,
    topic_id: str,
    *,
    now: datetime,
    tz: ZoneInfo,
    published_at: datetime | None = None,
    hours: int = HOURS,
) -> VolumeChart | None:
    """Posts of `topic_id` per hour over the `hours` before `now` (None if there are none)."""
    end = now.astimezone(tz).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    query = PostQuery(terms={"nlp.topic_id": [topic_id]}, since=start, until=end)
    counts: dict[datetime, int] = {}
    for bucket in store.histogram(query, interval="hour", tz=str(tz)):
        counts[datetime.fromisoformat(bucket.key).astimezone(tz)] = bucket.count
    if not counts:
        return None
    width, height, left, bottom, top_pad = 720, 180, 32, 22, 8
    plot_h = height - bottom - top_pad
    peak = max(counts.values())
    step = (width - left) / hours
    bars = []
    for i in range(hours):
        hour = start + timedelta(hours=i)
        count = counts.get(hour, 0)
        bar_h = plot_h * count / peak if peak else 0
        bars.append(
            Bar(
                x=round(left + i * step + 1, 1),
                y=round(top_pad + plot_h - bar_h, 1),
                width=round(max(step - 2, 1), 1),
                height=round(bar_h, 1),
                count=count,
                label=f"{hour:%m-%d %H}:00 {count} 条",
                tick=f"{hour:%H}时" if hour.hour % 6 == 0 else None,
            )
        )
    marker = None
    if published_at is not None:
        offset = (published_at.astimezone(tz) - start).total_seconds() / 3600
        if 0 <= offset <= hours:
            marker = round(left + offset * step, 1)
    return VolumeChart(
        bars=bars,
        width=width,
        height=height,
        top=top_pad,
        total=sum(counts.values()),
        peak=peak,
        marker_x=marker,
    )
