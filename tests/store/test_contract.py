"""The storage contract: one suite, run against SQLite and a real Elasticsearch node.

Expected numbers are computed here from the fixture itself, never read back from a backend,
so both backends agreeing with them means both agree with each other.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ingest.posts import RawPost, build_post
from store import Settings, Store
from store.base import PostQuery
from store.errors import ConflictError
from store.records import (
    AuditEvent,
    Incident,
    Label,
    NlpBlock,
    Place,
    Post,
    Publication,
    Role,
    Topic,
    User,
)
from tests.conftest import make_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 1, 0, 0, tzinfo=SHANGHAI)

PHRASES = [
    "超市 抢购 大米",
    "核酸检测 排队 三个小时",
    "自来水 检出 病毒 谣言",
    "小区 封控 老人 买药",
    "发热门诊 孩子 发烧",
    "医护人员 辛苦 致敬",
]
TEXTS = [
    "听说超市的大米都被抢购一空了",
    "今天做核酸检测排队排了三个小时",
    "网传自来水检出病毒，这是谣言吗",
    "小区封控期间老人买药很困难",
    "孩子发烧去发热门诊排不上号",
    "医护人员太辛苦了，向你们致敬",
]
PLATFORMS = ["weibo", "tieba", "news"]
EMOTIONS = ["fear", "angry", "neutral", "sad"]
PROVINCES = [("42", "湖北省"), ("11", "北京市"), ("32", "江苏省")]


def _post(settings: Settings, i: int) -> Post:
    rnd = random.Random(i)
    kind = i % len(TEXTS)
    platform = PLATFORMS[i % 3]
    raw = RawPost(
        source=f"src-{platform}",
        platform=platform,
        native_id=str(100000 + i),
        author_id=f"user{i % 97}",
        text=f"{TEXTS[kind]}（第{i}条）",
        created_at=T0 + timedelta(minutes=7 * i),
    )
    post = build_post(raw, settings, fetched_at=T0)
    code, name = PROVINCES[i % 3]
    post.places = [Place(code=code, name=name, level="province", province=name)]
    post.place_codes = [code]
    post.nlp = NlpBlock(
        version="v1" if i % 2 else "v0",
        rumor=Label(label="rumor" if kind == 2 else "non-rumor", score=round(rnd.random(), 3)),
        emotion=Label(label=EMOTIONS[i % 4], score=0.5),
    )
    if i % 10 == 0:
        post.dup_of = _post_id(settings, i + 1)
    return post


def _post_id(settings: Settings, i: int) -> str:
    platform = PLATFORMS[i % 3]
    from ingest.posts import post_id

    return post_id(f"src-{platform}", str(100000 + i), None)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Post]:
    settings = make_settings(tmp_path_factory.mktemp("corpus"))
    return [_post(settings, i) for i in range(600)]


def test_reingest_is_idempotent_at_10k(store: Store, settings: Settings) -> None:
    base = build_post(
        RawPost(
            source="bulk",
            platform="weibo",
            native_id="0",
            text="疫情期间超市物资供应充足",
            created_at=T0,
        ),
        settings,
        fetched_at=T0,
    )
    posts = [
        base.model_copy(update={"id": f"bulk-{i:05d}", "native_id": str(i)}) for i in range(10_000)
    ]
    first = store.write_posts(posts)
    second = store.write_posts(posts)
    store.refresh()
    assert (first.written, second.written) == (10_000, 10_000)
    assert not first.failed and not second.failed
    assert store.count_posts(PostQuery()) == 10_000


def test_chinese_query_finds_the_right_posts(store: Store, corpus: list[Post]) -> None:
    store.write_posts(corpus)
    store.refresh()
    expected = {p.id for i, p in enumerate(corpus) if i % len(TEXTS) == 2}
    page = store.search_posts(PostQuery(q="自来水 病毒"), size=200)
    assert {p.id for p in page.posts} == expected
    assert page.total == len(expected)
    # unsegmented input is segmented the same way as indexed text
    assert store.count_posts(PostQuery(q="自来水检出病毒")) == len(expected)
    # traditional characters normalize to simplified before matching
    assert store.count_posts(PostQuery(q="發熱門診")) == len(corpus) // len(TEXTS)
    assert store.count_posts(PostQuery(q="火星殖民")) == 0
    assert store.count_posts(PostQuery(q="，。！")) == 0


def test_filters_and_aggregations_match_the_fixture(store: Store, corpus: list[Post]) -> None:
    store.write_posts(corpus)
    store.refresh()
    since, until = T0 + timedelta(hours=10), T0 + timedelta(hours=40)
    in_window = [p for p in corpus if since <= p.created_at < until]
    q = PostQuery(since=since, until=until, terms={"platform": ["weibo", "news"]})
    expected = [p for p in in_window if p.platform in ("weibo", "news")]
    assert store.count_posts(q) == len(expected)

    rumor_fear = PostQuery(terms={"nlp.rumor.label": ["rumor"], "nlp.emotion.label": ["fear"]})
    assert store.count_posts(rumor_fear) == sum(
        1
        for p in corpus
        if p.nlp.rumor and p.nlp.rumor.label == "rumor" and p.nlp.emotion.label == "fear"  # type: ignore[union-attr]
    )
    assert store.count_posts(PostQuery(terms={"place_codes": ["42"]})) == sum(
        "42" in p.place_codes for p in corpus
    )
    assert store.count_posts(PostQuery(missing=["dup_of"])) == sum(p.dup_of is None for p in corpus)
    assert store.count_posts(PostQuery(exclude_terms={"nlp.version": ["v1"]})) == sum(
        p.nlp.version != "v1" for p in corpus
    )
    assert store.count_posts(PostQuery(min_score={"rumor": 0.8})) == sum(
        p.nlp.rumor is not None and p.nlp.rumor.score >= 0.8 for p in corpus
    )

    terms = store.terms(PostQuery(), "nlp.emotion.label", size=10)
    assert {b.key: b.count for b in terms} == dict(
        Counter(p.nlp.emotion.label for p in corpus)  # type: ignore[union-attr]
    )
    province_terms = store.terms(PostQuery(since=since, until=until), "places.province")
    assert {b.key: b.count for b in province_terms} == dict(
        Counter(p.places[0].province for p in in_window)
    )

    hist = store.histogram(q, interval="hour", tz="Asia/Shanghai")
    expected_hours = Counter(
        p.created_at.astimezone(SHANGHAI).replace(minute=0, second=0).isoformat() for p in expected
    )
    assert {b.key: b.count for b in hist} == dict(expected_hours)
    days = store.histogram(PostQuery(), interval="day", tz="Asia/Shanghai")
    assert sum(b.count for b in days) == len(corpus)
    assert [b.key for b in days] == sorted(b.key for b in days)


def test_pages_and_iteration_are_stable(store: Store, corpus: list[Post]) -> None:
    store.write_posts(corpus)
    store.refresh()
    newest = store.search_posts(PostQuery(), size=5)
    by_time = sorted(corpus, key=lambda p: (p.created_at, p.id))
    assert [p.id for p in newest.posts] == [p.id for p in reversed(by_time[-5:])]
    second = store.search_posts(PostQuery(), size=5, offset=5, sort="created_at")
    assert [p.id for p in second.posts] == [p.id for p in by_time[5:10]]
    ids = [p.id for p in store.iter_posts(PostQuery(), batch=64)]
    assert ids == [p.id for p in by_time]
    got = store.get_posts([by_time[3].id, "missing", by_time[1].id])
    assert [p.id for p in got] == [by_time[3].id, by_time[1].id]
    assert got[0] == by_time[3]


def test_retention_deletes_only_old_posts(store: Store, corpus: list[Post]) -> None:
    store.write_posts(corpus)
    store.refresh()
    cutoff = T0 + timedelta(hours=24)
    deleted = store.delete_posts_before(cutoff)
    store.refresh()
    assert deleted == sum(p.created_at < cutoff for p in corpus)
    assert store.count_posts(PostQuery()) == len(corpus) - deleted


def _incident(now: datetime) -> Incident:
    return Incident(
        id="inc-1", title="封城谣言", category="rumor", severity=2, created_at=now, updated_at=now
    )


def test_optimistic_concurrency_on_incidents(store: Store) -> None:
    now = datetime.now(UTC)
    first = _incident(now)
    assert store.put_versioned("incidents", first, None) == 1
    with pytest.raises(ConflictError) as exc:
        store.put_versioned("incidents", _incident(now), None)
    assert exc.value.current_version == 1

    editor_a = store.get("incidents", "inc-1", Incident)
    editor_b = store.get("incidents", "inc-1", Incident)
    assert editor_a and editor_b
    editor_a.severity = 1
    assert store.put_versioned("incidents", editor_a, 1) == 2
    editor_b.title = "stale edit"
    with pytest.raises(ConflictError) as exc:
        store.put_versioned("incidents", editor_b, 1)
    assert exc.value.current_version == 2
    store.refresh()
    stored = store.get("incidents", "inc-1", Incident)
    assert stored and (stored.version, stored.severity, stored.title) == (2, 1, "封城谣言")


def test_generic_records_find_count_delete(store: Store) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI)
    events = [
        AuditEvent(
            id=f"a{i}",
            at=now + timedelta(minutes=i),
            actor="alice" if i % 2 else "bob",
            action="incident.transition",
            entity_type="incident",
            entity_id=f"inc-{i % 3}",
        )
        for i in range(30)
    ]
    assert store.put_many("audit", events).written == 30
    topic = Topic(id="t1", title="抢购", first_seen=now, last_seen=now, updated_at=now)
    store.put("topics", topic)
    store.refresh()
    assert store.get("topics", "t1", Topic) == topic
    assert store.get("topics", "nope", Topic) is None
    assert store.count("audit", where={"actor": "alice"}) == 15
    assert store.count("audit", where={"entity_id": ["inc-0", "inc-1"]}) == 20
    # a range in another zone: 04:10Z == 12:10+08:00
    window = (datetime(2026, 3, 2, 4, 10, tzinfo=UTC), None)
    newest = store.find(
        "audit", AuditEvent, ranges={"at": window}, sort="at", descending=True, size=3
    )
    assert [e.id for e in newest] == ["a29", "a28", "a27"]
    assert store.count("audit", ranges={"at": window}) == 20
    assert store.delete("topics", "t1") is True
    assert store.delete("topics", "t1") is False


def test_unknown_kind_and_field_are_named(store: Store) -> None:
    with pytest.raises(KeyError, match="unknown index kind 'nope'"):
        store.count("nope")
    with pytest.raises(ValueError, match="unknown post field 'nonsense'"):
        store.count_posts(PostQuery(terms={"nonsense": ["x"]}))


def test_status_reports_counts(store: Store, corpus: list[Post]) -> None:
    store.write_posts(corpus[:10])
    store.refresh()
    status = store.status()
    assert status.reachable
    assert status.counts["posts"] == 10
    assert status.spool_depth == 0


def test_both_backends_persist_across_reopen(backend: str, tmp_path: Path, request) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import open_backend

    settings = make_settings(tmp_path)
    url = request.getfixturevalue("es_url") if backend == "elasticsearch" else None
    first = open_backend(backend, settings, url)
    post = _post(settings, 7)
    first.write_posts([post])
    first.close()
    second = open_backend(backend, settings, url)
    try:
        second.refresh()
        assert [p.id for p in second.get_posts([post.id])] == [post.id]
    finally:
        if backend == "elasticsearch":
            second.drop_all()  # type: ignore[attr-defined]
        second.close()


def test_append_only_kinds_are_never_overwritten(store: Store) -> None:
    """Audit events and publications are create-only: the same record again is a no-op, a
    different record under an existing id is refused and the stored one stays."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    event = AuditEvent(
        id="evt-1", at=at, actor="li.na", action="draft.approve", entity_type="draft",
        entity_id="d1", after='{"state": "approved"}',
    )  # fmt: skip
    store.put("audit", event)
    store.put("audit", event)  # a retried write of the same event
    forged = event.model_copy(update={"actor": "attacker", "after": '{"state": "drafting"}'})
    result = store.put_many("audit", [forged])
    assert result.written == 0 and [i for i, _ in result.failed] == ["evt-1"]
    assert "append-only" in result.failed[0][1]
    with pytest.raises(ValueError, match="append-only"):
        store.put("audit", forged)
    assert store.get("audit", "evt-1", AuditEvent) == event

    publication = Publication(
        id="pub-1", draft_id="d1", incident_id="i1", channel="weibo", format="weibo",
        title="关于网传封城的辟谣声明", text="网传全市封城消息不实。", revision=2,
        approver="li.na", published_by="li.na", published_at=at,
    )  # fmt: skip
    store.put("publications", publication)
    rewritten = publication.model_copy(update={"text": "明日零时起全市封城。"})
    assert store.put_many("publications", [rewritten]).failed
    assert store.get("publications", "pub-1", Publication) == publication


def test_update_fields_is_partial_and_compare_and_set(store: Store) -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    user = User(
        id="wang.wei", username="wang.wei", role=Role.press, password_hash="scrypt$old",
        created_at=at, updated_at=at,
    )  # fmt: skip
    store.put("users", user)
    stale = store.get("users", "wang.wei", User)
    assert stale is not None
    # someone disables the user; a partial write of another field keeps that change
    store.put("users", user.model_copy(update={"disabled": True, "token_version": 1}))
    assert store.update_fields("users", "wang.wei", {"last_login_at": at + timedelta(hours=1)})
    current = store.get("users", "wang.wei", User)
    assert current is not None and current.disabled and current.token_version == 1
    assert current.last_login_at == at + timedelta(hours=1)
    # compare-and-set: only while the expected value is still there
    assert not store.update_fields(
        "users", "wang.wei", {"password_hash": "scrypt$new"}, expect={"token_version": 0}
    )
    assert store.update_fields(
        "users", "wang.wei", {"password_hash": "scrypt$new"}, expect={"password_hash": "scrypt$old"}
    )
    assert store.get("users", "wang.wei", User).password_hash == "scrypt$new"  # type: ignore[union-attr]
    assert not store.update_fields("users", "nobody", {"disabled": True})
    with pytest.raises(ValueError, match="no updatable field"):
        store.update_fields("users", "wang.wei", {"is_admin": True})


def test_post_sources_name_the_owner_of_each_id(store: Store, corpus: list[Post]) -> None:
    store.write_posts(corpus[:5])
    store.refresh()
    owners = store.post_sources([corpus[0].id, corpus[1].id, "unknown-id"])
    assert owners == {corpus[0].id: corpus[0].source, corpus[1].id: corpus[1].source}
    assert store.post_sources([]) == {}
