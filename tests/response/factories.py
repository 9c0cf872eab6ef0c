"""Test setup for replies: enriched posts, debunk claims and users written straight to the
store, as the enrichment, knowledge-base import and `tingfeng users add` would write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.posts import RawPost, build_post
from nlp.kb_import import make_claim
from store import Settings, Store
from store.records import (
    Claim,
    ClaimMatch,
    Engagement,
    Incident,
    Label,
    NlpBlock,
    Place,
    Post,
    Role,
    Topic,
)
from tests.auth import make_user
from triage.users import issue_session_token

WUHAN = Place(code="4201", name="武汉市", level="city", province="湖北省")
LOCKDOWN_TEXT = "听说明天武汉全市封城，超市都被抢空了，大家赶紧囤菜！"


def make_post(
    settings: Settings,
    native_id: str,
    text: str,
    *,
    created_at: datetime,
    topic_id: str | None = None,
    emotion: str | None = "fear",
    rumor: float | None = 0.9,
    claim: tuple[str, str] | None = None,
    reposts: int = 100,
) -> Post:
    """A post as enrichment leaves it. `created_at` may lie ahead of the wall clock (the effect
    tests replay the hours after a reply), so the post is built at a past time, then dated."""
    raw = RawPost(
        source="test-weibo",
        platform="weibo",
        native_id=native_id,
        text=text,
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        engagement=Engagement(reposts=reposts),
    )
    post = build_post(raw, settings).model_copy(update={"created_at": created_at})
    nlp = NlpBlock(version="test", topic_id=topic_id)
    if rumor is not None:
        nlp.rumor = Label(label="rumor" if rumor >= 0.5 else "non_rumor", score=rumor)
        nlp.help = Label(label="none", score=0.9)
    if emotion is not None:
        nlp.emotion = Label(label=emotion, score=0.8)
    if claim is not None:
        nlp.claim_match = ClaimMatch(claim_id=claim[0], score=0.9, level=claim[1])  # type: ignore[arg-type]
    post.nlp = nlp
    post.places = [WUHAN]
    post.place_codes = ["42", "4201"]
    return post


def make_topic(topic_id: str, title: str, posts: list[Post], *, now: datetime) -> Topic:
    return Topic(
        id=topic_id,
        title=title,
        keywords=["封城", "超市"],
        representative_post_id=posts[0].id,
        first_seen=min(p.created_at for p in posts),
        last_seen=max(p.created_at for p in posts),
        post_count=len(posts),
        updated_at=now,
    )


def wave(
    settings: Settings,
    prefix: str,
    times: list[datetime],
    *,
    text: str = LOCKDOWN_TEXT,
    topic_id: str | None = "topic-lockdown",
    claim: tuple[str, str] | None = None,
    emotion: str = "fear",
) -> list[Post]:
    return [
        make_post(settings, f"{prefix}-{i}", f"{text}（{prefix}{i}）", created_at=t,
                  topic_id=topic_id, claim=claim, emotion=emotion)
        for i, t in enumerate(times)
    ]  # fmt: skip


def write(store: Store, posts: list[Post], topics: list[Topic] = ()) -> None:  # type: ignore[assignment]
    result = store.write_posts(posts)
    assert not result.failed, result.failed
    for topic in topics:
        store.put("topics", topic)
    store.refresh()


def minutes(start: datetime, *offsets: float) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in offsets]


USERS = {
    "wang.wei": Role.press,
    "zhao.lei": Role.press,
    "li.na": Role.supervisor,
    "chen.jie": Role.supervisor,
    "sun.patrol": Role.patrol,
}


def make_users(store: Store, settings: Settings) -> dict[str, dict[str, str]]:
    """The office: two press officers, two supervisors, one patrol officer; bearer headers."""
    now = datetime.now(UTC)
    headers = {}
    for name, role in USERS.items():
        user = make_user(store, name, role.value)  # no password: sessions are issued here
        token, _ = issue_session_token(
            user, settings.secret_key.get_secret_value(), now=now, ttl=timedelta(hours=1)
        )
        headers[name] = {"Authorization": f"Bearer {token}"}
    return headers


DEBUNK_ANSWER = "武汉市疫情防控指挥部表示，武汉不会封城，全市超市正常营业，生活物资供应充足。"


def debunk_claim() -> Claim:
    return make_claim(
        origin="piyao",
        native_id="wuhan-lockdown",
        claim="武汉明天全市封城",
        answer=DEBUNK_ANSWER,
        verdict="false",
        source_name="武汉发布",
        source_url="https://piyao.example/wuhan-lockdown",
    )


def rumor_incident(store: Store, settings: Settings, now: datetime) -> Incident:
    """Twelve posts of the lockdown rumor matched to its debunk, triaged into an incident."""
    from triage.job import TriageJob, topic_incident_id

    claim = debunk_claim()
    offsets = (-50, -46, -42, -38, -34, -30, -26, -22, -18, -14, -10, -6)
    posts = wave(settings, "first", minutes(now, *offsets), claim=(claim.id, "confirm"))
    store.put("claims", claim)
    write(store, posts, [make_topic("topic-lockdown", "武汉封城谣言", posts, now=now)])
    TriageJob(store, playbook_path=None, notifier=None).run_once(now)
    incident = store.get("incidents", topic_incident_id("topic-lockdown"), Incident)
    assert incident is not None
    return incident
