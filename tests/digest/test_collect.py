"""The digest's numbers on both backends, against expectations computed here from the fixture."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from digest.collect import collect_digest
from digest.model import Digest
from store import Settings, Store
from store.records import Incident
from tests.digest import fixture_day as fx

PUBLIC = "https://tingfeng.example.gov.cn"


def _span(offset: int) -> tuple[datetime, datetime]:
    start = fx.at(offset, 0)
    return start, start + timedelta(days=1)


def _in(value: datetime | None, offset: int) -> bool:
    start, end = _span(offset)
    return value is not None and start <= value < end


def expected(offset: int) -> dict[str, float | None]:
    posts = [p for p in fx.POSTS if p.day == offset]
    incidents: list[Incident] = fx.INCIDENTS
    published = [i for i in incidents if _in(i.published_at, offset)]
    help_inc = [i for i in incidents if i.category == "help_request" and _in(i.created_at, offset)]
    assign = [i.time_to_assign_s for i in help_inc if i.time_to_assign_s is not None]
    publish = [i.time_to_publish_s for i in published if i.time_to_publish_s is not None]
    return {
        "posts": len(posts),
        "rumors": sum(p.rumor for p in posts),
        "matched": sum(p.rumor and p.matched for p in posts),
        "help": sum(p.help for p in posts),
        "demands": sum(p.demand for p in posts),
        "topics": sum(_in(t.first_seen, offset) for t in fx.TOPICS),
        "opened": sum(_in(i.created_at, offset) for i in incidents),
        "closed": sum(_in(i.closed_at, offset) for i in incidents),
        "answered": sum(i.category == "rumor" for i in published),
        "help_incidents": len(help_inc),
        "help_assign_min": round(statistics.median(assign) / 60, 1) if assign else None,
        "publish_median_h": round(statistics.median(publish) / 3600, 1) if publish else None,
        "sla_breaches": sum(
            any(c.breached and _in(c.due_at, offset) for c in i.sla) for i in incidents
        ),
    }


def test_fixture_day_on_both_backends(store: Store, settings: Settings) -> None:
    """One store per backend (index setup is the slow part): empty first, then loaded."""
    store.refresh()
    check_empty_day(store)
    fx.load(store, settings)
    digest = collect_digest(store, kind="daily", day=fx.DAY, tz="Asia/Shanghai", public_url=PUBLIC)
    check_headline_numbers(digest)
    check_lists(digest)
    check_links(digest)
    check_weekly(store)


def check_headline_numbers(digest: Digest) -> None:
    today, yesterday, last_week = expected(0), expected(-1), expected(-7)
    assert today["posts"] == 12 and yesterday["posts"] == 7 and last_week["posts"] == 4
    for number in digest.numbers:
        assert number.value == today[number.key], number.key
        assert number.previous == yesterday[number.key], number.key
        assert number.week_ago == last_week[number.key], number.key
    assert not digest.empty


def check_lists(digest: Digest) -> None:
    assert [t.id for t in digest.top_topics] == ["t1", "t2"]  # t3 was not active that day
    assert digest.top_topics[0].reason == "帖子量为基线的 4.2 倍，恐惧占比 31%"
    assert {i.id for i in digest.decisions} == {"i2", "i4"}
    i2 = next(i for i in digest.decisions if i.id == "i2")
    assert i2.state_name == "待审批" and any("超时" in why for why in i2.why)
    assert [r.id for r in digest.replies] == ["i1"]
    assert digest.replies[0].time_to_publish_h == 2.0 and digest.replies[0].half_life_h == 5.5
    assert {s.source for s in digest.coverage} == fx.EXPECTED_GAPS
    gov = next(s for s in digest.coverage if s.source == "gov-z")
    assert gov.dark_hours == 16.0
    assert digest.alerts == ["gov-z：gov-z 已 12 小时无新数据"]


def check_links(digest: Digest) -> None:
    links = [n.link for n in digest.numbers]
    links += [t.link for t in digest.top_topics] + [i.link for i in digest.decisions]
    links += [r.link for r in digest.replies] + [s.link for s in digest.coverage]
    assert all(link and link.startswith(PUBLIC + "/api/v1/") for link in links)
    assert digest.number("rumors").link.endswith("&rumor=rumor")
    assert digest.number("posts").link == (
        f"{PUBLIC}/api/v1/posts?since=2026-11-18T00%3A00%3A00%2B08%3A00"
        "&until=2026-11-19T00%3A00%3A00%2B08%3A00"
    )
    assert {i.link for i in digest.decisions} == {
        f"{PUBLIC}/api/v1/incidents/i2",
        f"{PUBLIC}/api/v1/incidents/i4",
    }
    assert digest.link == f"{PUBLIC}/api/v1/digests/2026-11-18"


def check_weekly(store: Store) -> None:
    digest = collect_digest(store, kind="weekly", day=fx.DAY, tz="Asia/Shanghai", public_url=PUBLIC)
    monday = fx.DAY - timedelta(days=fx.DAY.weekday())
    assert digest.day == monday
    in_week = [p for p in fx.POSTS if 0 <= (fx.DAY + timedelta(days=p.day) - monday).days < 7]
    assert digest.number("posts").value == len(in_week)
    assert digest.week_ago is None
    assert digest.number("posts").previous == sum(
        1 for p in fx.POSTS if -7 <= (fx.DAY + timedelta(days=p.day) - monday).days < 0
    )


def check_empty_day(store: Store) -> None:
    digest = collect_digest(store, kind="daily", day=fx.DAY, tz="Asia/Shanghai", public_url=PUBLIC)
    assert digest.empty
    assert digest.number("posts").value == 0
    assert digest.top_topics == digest.decisions == digest.replies == digest.coverage == []
