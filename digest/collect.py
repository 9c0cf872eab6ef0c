"""Build a digest from the store, through its public API only (works on both backends).

    collect_digest(store, kind="daily", day=..., tz="Asia/Shanghai", public_url=...) -> Digest

Numbers are for the period [start, end) against the previous period (and, for a daily digest,
the same day last week). Incident lists reflect the incidents' state when the digest is built.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from digest.links import Links
from digest.model import (
    Digest,
    IncidentLine,
    Kind,
    Number,
    Period,
    ReplyLine,
    SourceLine,
    TopicLine,
)
from digest.vocab import Vocab, load_vocab
from store.base import PostQuery, Store
from store.records import Alert, Incident, Record, SourceRun, Topic

R = TypeVar("R", bound=Record)

PAGE = 500
MAX_DOCS = 10_000
DARK_HOURS = 6.0
TOP_TOPICS = 5
TOPIC_CANDIDATES = 200
MAX_DECISIONS = 10
CLOSED_STATES = ("closed", "dismissed")
OPEN_STATES = (
    "new",
    "triaged",
    "assigned",
    "drafting",
    "in_review",
    "approved",
    "published",
    "monitoring",
)


def day_period(day: date, tz: ZoneInfo) -> Period:
    start = datetime.combine(day, time(0), tzinfo=tz)
    return Period(start=start, end=start + timedelta(days=1), label=f"{day:%Y年%-m月%-d日}")


def week_period(monday: date, tz: ZoneInfo) -> Period:
    start = datetime.combine(monday, time(0), tzinfo=tz)
    sunday = monday + timedelta(days=6)
    label = f"{monday:%Y年%-m月%-d日}—{sunday:%-m月%-d日}"
    return Period(start=start, end=start + timedelta(days=7), label=label)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def find_all(store: Store, kind: str, model: type[R], **kwargs: Any) -> Iterator[R]:
    """Every matching record, page by page (at most MAX_DOCS)."""
    offset = 0
    while offset < MAX_DOCS:
        page = store.find(kind, model, size=PAGE, offset=offset, sort="id", **kwargs)
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


class PeriodFigures:
    """The countable figures of one period."""

    def __init__(self, store: Store, vocab: Vocab, period: Period) -> None:
        self.store, self.vocab, self.period = store, vocab, period
        window = {"since": period.start, "until": period.end}
        rumor = {"nlp.rumor.label": [vocab.labels.rumor]}
        self.posts = store.count_posts(PostQuery(**window))
        self.rumors = store.count_posts(PostQuery(**window, terms=rumor))
        unmatched = store.count_posts(
            PostQuery(**window, terms=rumor, missing=["nlp.claim_match.claim_id"])
        )
        self.matched = self.rumors - unmatched
        self.help = store.count_posts(
            PostQuery(**window, terms={"nlp.help.label": [vocab.labels.help]})
        )
        self.demands = store.count_posts(
            PostQuery(**window, terms={"nlp.help.label": [vocab.labels.demand]})
        )
        span = (period.start, period.end)
        self.topics = store.count("topics", ranges={"first_seen": span})
        self.opened = store.count("incidents", ranges={"created_at": span})
        self.closed = store.count("incidents", ranges={"closed_at": span})
        self.published = sorted(
            find_all(store, "incidents", Incident, ranges={"published_at": span}),
            key=lambda i: (i.published_at, i.id),
        )
        self.answered = sum(1 for i in self.published if i.category == "rumor")
        help_incidents = list(
            find_all(
                store,
                "incidents",
                Incident,
                where={"category": "help_request"},
                ranges={"created_at": span},
            )
        )
        self.help_incidents = len(help_incidents)
        assign = [i.time_to_assign_s for i in help_incidents if i.time_to_assign_s is not None]
        self.help_assign_min = None if not assign else round(_median(assign) / 60, 1)  # type: ignore[operator]
        publish = [i.time_to_publish_s for i in self.published if i.time_to_publish_s is not None]
        self.publish_median_h = None if not publish else round(_median(publish) / 3600, 1)  # type: ignore[operator]
        self.sla_breaches = self._breaches()

    def _breaches(self) -> int:
        """Incidents with an SLA clock that fell due inside the period and was breached."""
        start, end = self.period.start, self.period.end
        candidates = find_all(
            self.store,
            "incidents",
            Incident,
            ranges={"updated_at": (start, None), "created_at": (None, end)},
        )
        return sum(
            1
            for incident in candidates
            if any(c.breached and start <= c.due_at < end for c in incident.sla)
        )

    def value(self, key: str) -> float | None:
        return getattr(self, key)  # type: ignore[no-any-return]


# (key, label, unit)
HEADLINES: list[tuple[str, str, str]] = [
    ("posts", "帖子", "条"),
    ("topics", "新话题", "个"),
    ("rumors", "疑似谣言", "条"),
    ("matched", "已匹配辟谣", "条"),
    ("answered", "已回应谣言", "件"),
    ("help", "求助帖子", "条"),
    ("demands", "诉求帖子", "条"),
    ("help_incidents", "求助事件", "件"),
    ("help_assign_min", "求助分派用时（中位数）", "分钟"),
    ("opened", "新建事件", "件"),
    ("closed", "关闭事件", "件"),
    ("sla_breaches", "SLA 超时", "件"),
    ("publish_median_h", "发布用时（中位数）", "小时"),
]


def _number_link(links: Links, key: str, period: Period, vocab: Vocab) -> str:
    if key in ("posts",):
        return links.posts(period)
    if key in ("rumors", "matched"):
        return links.posts(period, rumor=vocab.labels.rumor)
    if key == "help":
        return links.posts(period, help=vocab.labels.help)
    if key == "demands":
        return links.posts(period, help=vocab.labels.demand)
    if key == "topics":
        return links.url("/api/v1/topics", since=period.start.isoformat())
    if key in ("help_incidents", "help_assign_min"):
        return links.incidents(period, category="help_request")
    if key == "answered":
        return links.incidents(period, category="rumor", state="published")
    return links.incidents(period)


def _decisions(store: Store, vocab: Vocab, period: Period, links: Links) -> list[IncidentLine]:
    lines = []
    for incident in find_all(
        store,
        "incidents",
        Incident,
        where={"state": list(OPEN_STATES)},
        ranges={"created_at": (None, period.end)},
    ):
        state = str(incident.state)
        why = []
        if state == "in_review":
            why.append("稿件待审批")
        elif state == "approved":
            why.append("稿件已批准，待发布")
        elif state in ("new", "triaged") and incident.severity <= 2:
            why.append(f"{incident.severity} 级事件尚未分派")
        for clock in incident.sla:
            if clock.breached and clock.met_at is None:
                why.append(f"SLA「{vocab.clock(clock.name)}」已超时")
        if incident.escalation_level > 0:
            why.append(f"已升级至第 {incident.escalation_level} 级")
        if why:
            lines.append(
                IncidentLine(
                    id=incident.id,
                    title=incident.title,
                    state=state,
                    state_name=vocab.state(state),
                    severity=incident.severity,
                    category=vocab.category(incident.category),
                    team=incident.team,
                    why=why,
                    created_at=incident.created_at,
                    link=links.incident(incident.id),
                )
            )
    lines.sort(key=lambda line: (line.severity, line.created_at, line.id))
    return lines[:MAX_DECISIONS]


def _top_topics(store: Store, period: Period, links: Links) -> list[TopicLine]:
    """Topics active in the period, by burst score, then size (many topics never burst)."""
    topics = store.find(
        "topics",
        Topic,
        ranges={"last_seen": (period.start, None), "first_seen": (None, period.end)},
        sort="burst_score",
        descending=True,
        size=TOPIC_CANDIDATES,
    )
    topics.sort(key=lambda t: (-t.burst_score, -t.post_count, t.id))
    return [
        TopicLine(
            id=t.id,
            title=t.title,
            post_count=t.post_count,
            burst_score=round(t.burst_score, 2),
            reason=t.burst.reason if t.burst else "未达到爆发阈值",
            link=links.topic(t.id),
        )
        for t in topics[:TOP_TOPICS]
    ]


def _coverage(store: Store, period: Period, links: Links, now: datetime) -> list[SourceLine]:
    """Sources that failed, went dark (no new post for DARK_HOURS, as of the period's end or
    now, whichever is earlier) or stopped running."""
    as_of = min(period.end, now)
    runs = list(
        find_all(
            store, "source-runs", SourceRun, ranges={"finished_at": (period.start, period.end)}
        )
    )
    earlier = find_all(
        store,
        "source-runs",
        SourceRun,
        ranges={"finished_at": (period.start - timedelta(days=7), period.start)},
    )
    by_source: dict[str, list[SourceRun]] = {}
    for run in runs:
        by_source.setdefault(run.source, []).append(run)
    expected = {run.source for run in earlier} | set(by_source)
    lines = []
    for source in sorted(expected):
        own = sorted(by_source.get(source, []), key=lambda r: r.finished_at)
        failed = sum(1 for r in own if r.status != "ok")
        newest = max((r.newest_post_at for r in own if r.newest_post_at), default=None)
        dark = (as_of - newest).total_seconds() / 3600 if newest else None
        if not own:
            problem = "本期无采集记录"
        elif failed == len(own):
            problem = f"{len(own)} 次采集全部失败（最近：{own[-1].status}）"
        elif dark is not None and dark >= DARK_HOURS:
            problem = f"已 {dark:.0f} 小时无新数据"
        elif failed:
            problem = f"{len(own)} 次采集中失败 {failed} 次"
        else:
            continue
        lines.append(
            SourceLine(
                source=source,
                runs=len(own),
                failed=failed,
                newest_post_at=newest,
                dark_hours=None if dark is None else round(dark, 1),
                problem=problem,
                link=links.source(source),
            )
        )
    return lines


def _open_alerts(store: Store, period: Period) -> list[str]:
    alerts = find_all(
        store,
        "alerts",
        Alert,
        where={"kind": "coverage_gap"},
        ranges={"raised_at": (None, period.end)},
    )
    return [
        f"{a.source or '系统'}：{a.message}"
        for a in sorted(alerts, key=lambda a: (a.raised_at, a.id))
        if a.resolved_at is None or a.resolved_at >= period.start
    ]


def collect_digest(
    store: Store,
    *,
    kind: Kind,
    day: date,
    tz: str,
    public_url: str,
    now: datetime | None = None,
) -> Digest:
    """Everything a supervisor reads, for one day (daily) or the week starting `day`'s Monday."""
    vocab = load_vocab()
    zone = ZoneInfo(tz)
    links = Links(public_url)
    now = (now or datetime.now(zone)).astimezone(zone)
    if kind == "daily":
        period = day_period(day, zone)
        previous = day_period(day - timedelta(days=1), zone)
        week_ago: Period | None = day_period(day - timedelta(days=7), zone)
    else:
        day = monday_of(day)
        period = week_period(day, zone)
        previous = week_period(day - timedelta(days=7), zone)
        week_ago = None
    figures = PeriodFigures(store, vocab, period)
    before = PeriodFigures(store, vocab, previous)
    last_week = PeriodFigures(store, vocab, week_ago) if week_ago else None
    numbers = [
        Number(
            key=key,
            label=label,
            unit=unit,
            value=figures.value(key),
            previous=before.value(key),
            week_ago=last_week.value(key) if last_week else None,
            link=_number_link(links, key, period, vocab),
        )
        for key, label, unit in HEADLINES
    ]
    replies = [
        ReplyLine(
            id=i.id,
            title=i.title,
            published_at=i.published_at,  # type: ignore[arg-type]
            time_to_publish_h=None
            if i.time_to_publish_s is None
            else round(i.time_to_publish_s / 3600, 1),
            half_life_h=None if i.half_life_h is None else round(i.half_life_h, 1),
            state_name=vocab.state(str(i.state)),
            link=links.incident(i.id),
        )
        for i in figures.published
    ]
    top_topics = _top_topics(store, period, links)
    decisions = _decisions(store, vocab, period, links)
    empty = not (figures.posts or figures.opened or figures.closed or replies or top_topics)
    title = ("听风舆情日报 " if kind == "daily" else "听风舆情周报 ") + period.label
    return Digest(
        kind=kind,
        day=day,
        period=period,
        previous=previous,
        week_ago=week_ago,
        timezone=tz,
        generated_at=now,
        title=title,
        link=links.digest(kind, day),
        empty=empty,
        numbers=numbers,
        top_topics=top_topics,
        decisions=decisions,
        replies=replies,
        coverage=_coverage(store, period, links, now),
        alerts=_open_alerts(store, period),
    )
