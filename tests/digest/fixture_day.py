"""A hand-made fixture day for digest tests: posts, topics, incidents, source runs, alerts.

DAY is a Wednesday; posts also fall on the previous day, the same day last week and on the
period boundaries. Tests compute the expected numbers from these tables themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ingest.posts import RawPost, build_post
from store import Settings, Store
from store.records import (
    Alert,
    Burst,
    ClaimMatch,
    Incident,
    Label,
    NlpBlock,
    SlaClock,
    SourceRun,
    Topic,
)

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 18)


def at(day_offset: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(DAY + timedelta(days=day_offset), time(hour, minute, second), TZ)


@dataclass(frozen=True)
class P:
    """(day offset, hour, minute, platform, rumor, matched, help, emotion, demand)"""

    day: int
    hour: int
    minute: int
    platform: str
    rumor: bool = False
    matched: bool = False
    help: bool = False
    emotion: str = "neutral"
    demand: bool = False


POSTS = [
    # the day itself, including its first second
    P(0, 0, 0, "weibo", rumor=True, matched=True, emotion="fear"),
    P(0, 1, 30, "weibo", rumor=True, matched=True, emotion="fear"),
    P(0, 3, 10, "news", rumor=True, emotion="angry"),
    P(0, 8, 5, "weibo", help=True, emotion="fear"),
    P(0, 8, 40, "weibo", help=True, emotion="sad"),
    P(0, 9, 15, "tieba", rumor=True, matched=True, emotion="angry"),
    P(0, 11, 0, "weibo"),
    P(0, 12, 30, "news", demand=True),
    P(0, 15, 45, "weibo", rumor=True, emotion="neutral"),
    P(0, 18, 20, "tieba", help=True),
    P(0, 21, 0, "weibo", emotion="happy"),
    P(0, 23, 59, "weibo", emotion="fear"),
    # the previous day, including its last minute
    P(-1, 7, 0, "weibo", rumor=True, matched=True),
    P(-1, 9, 0, "weibo", rumor=True),
    P(-1, 10, 0, "news", help=True),
    P(-1, 13, 0, "weibo"),
    P(-1, 16, 0, "tieba", emotion="angry"),
    P(-1, 20, 0, "weibo"),
    P(-1, 23, 59, "weibo"),
    # the same day last week
    P(-7, 10, 0, "weibo", rumor=True),
    P(-7, 11, 0, "news"),
    P(-7, 12, 0, "weibo", help=True),
    P(-7, 14, 0, "weibo"),
    # the next day's first second: outside every period
    P(1, 0, 0, "weibo", rumor=True),
]


def make_posts(settings: Settings) -> list:
    posts = []
    for i, p in enumerate(POSTS):
        raw = RawPost(
            source=f"demo-{p.platform}",
            platform=p.platform,
            native_id=f"n{i}",
            text=f"第{i}条测试帖子，关于封城和超市抢购的消息",
            created_at=at(p.day, p.hour, p.minute),
        )
        post = build_post(raw, settings, fetched_at=at(p.day, p.hour, p.minute))
        post.nlp = NlpBlock(
            version="test",
            rumor=Label(label="rumor" if p.rumor else "non-rumor", score=0.9),
            emotion=Label(label=p.emotion, score=0.8),
            help=Label(
                label="help_request" if p.help else "public_demand" if p.demand else "none",
                score=0.9,
            ),
            claim_match=ClaimMatch(claim_id=f"claim-{i % 2}", score=0.8, level="confirm")
            if p.matched
            else None,
        )
        posts.append(post)
    return posts


def topic(
    tid: str, title: str, first: datetime, last: datetime, score: float, reason: str | None
) -> Topic:
    burst = (
        Burst(score=score, window="1h", ratio=score, reason=reason, detected_at=last)
        if reason
        else None
    )
    return Topic(
        id=tid,
        title=title,
        first_seen=first,
        last_seen=last,
        post_count=int(score * 10),
        burst=burst,
        burst_score=score,
        updated_at=last,
    )


TOPICS = [
    topic("t1", "网传全市封城", at(0, 9), at(0, 20), 4.2, "帖子量为基线的 4.2 倍，恐惧占比 31%"),
    topic("t2", "超市抢购", at(-1, 9), at(0, 10), 1.5, None),
    topic("t3", "旧话题", at(-3, 9), at(-2, 10), 9.0, "很久以前的爆发"),
]


def incident(iid: str, **kw: object) -> Incident:
    created = kw.pop("created_at")
    values = {
        "title": f"事件{iid}",
        "category": "rumor",
        "severity": 3,
        "created_at": created,
        "updated_at": created,
        **kw,
    }
    return Incident(id=iid, **values)  # type: ignore[arg-type]


INCIDENTS = [
    incident(
        "i1",
        category="rumor",
        severity=2,
        created_at=at(0, 9, 30),
        updated_at=at(0, 12),
        state="monitoring",
        assigned_at=at(0, 9, 40),
        published_at=at(0, 11, 30),
        time_to_assign_s=600.0,
        time_to_publish_s=7200.0,
        half_life_h=5.5,
        sla=[SlaClock(name="first_response", due_at=at(0, 10, 30), met_at=at(0, 10, 20))],
    ),
    incident(
        "i2",
        category="help_request",
        severity=1,
        created_at=at(0, 14),
        updated_at=at(0, 15),
        state="in_review",
        time_to_assign_s=600.0,
        team="district-help",
        sla=[SlaClock(name="acknowledge", due_at=at(0, 14, 15), breached=True)],
    ),
    incident(
        "i3",
        category="public_demand",
        severity=3,
        created_at=at(-1, 8),
        updated_at=at(0, 16),
        state="closed",
        closed_at=at(0, 16),
        sla=[SlaClock(name="resolution", due_at=at(0, 8), met_at=at(0, 16), breached=True)],
    ),
    incident("i4", category="rumor", severity=2, created_at=at(0, 18), state="new"),
    incident(
        "i5",
        category="help_request",
        severity=3,
        created_at=at(-1, 10),
        state="assigned",
        time_to_assign_s=1800.0,
    ),
    incident(
        "i6",
        category="rumor",
        severity=2,
        created_at=at(-7, 12),
        updated_at=at(-6, 9),
        state="closed",
        published_at=at(-7, 15),
        time_to_publish_s=10800.0,
        closed_at=at(-6, 9),
        half_life_h=3.0,
    ),
    incident("i7", category="other", severity=4, created_at=at(0, 5), state="dismissed"),
]


def run(
    rid: str, source: str, finished: datetime, status: str = "ok", newest: datetime | None = None
) -> SourceRun:
    return SourceRun(
        id=rid,
        source=source,
        started_at=finished - timedelta(minutes=5),
        finished_at=finished,
        status=status,
        fetched=10,
        new=3,
        newest_post_at=newest,
    )


SOURCE_RUNS = [
    run("r1", "weibo-city", at(0, 6), newest=at(0, 5, 50)),
    run("r2", "weibo-city", at(0, 12), newest=at(0, 11, 50)),
    run("r3", "weibo-city", at(0, 22), newest=at(0, 21)),
    run("r4", "tieba-x", at(0, 6), status="failed"),
    run("r5", "tieba-x", at(0, 18), status="blocked"),
    run("r6", "news-y", at(-3, 6), newest=at(-3, 5)),
    run("r7", "gov-z", at(0, 20), newest=at(0, 8)),
]
EXPECTED_GAPS = {"tieba-x", "news-y", "gov-z"}

ALERTS = [
    Alert(
        id="a1",
        kind="coverage_gap",
        source="gov-z",
        message="gov-z 已 12 小时无新数据",
        raised_at=at(0, 15),
    ),
    Alert(
        id="a2",
        kind="coverage_gap",
        source="old",
        message="早已解除",
        raised_at=at(-3, 1),
        resolved_at=at(-1, 2),
    ),
    Alert(id="a3", kind="other", source="x", message="不是覆盖缺口", raised_at=at(0, 3)),
]


def load(store: Store, settings: Settings) -> None:
    result = store.write_posts(make_posts(settings))
    assert not result.failed, result.failed
    for kind, records in (
        ("topics", TOPICS),
        ("incidents", INCIDENTS),
        ("source-runs", SOURCE_RUNS),
        ("alerts", ALERTS),
    ):
        result = store.put_many(kind, records)
        assert not result.failed, result.failed
    store.refresh()
