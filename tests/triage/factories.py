"""Test setup for triage: enriched posts and topics written straight to the store, as the
enrichment and topic jobs would write them (legitimate setup; those jobs have their own tests)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ingest.posts import RawPost, build_post
from store import Settings, Store
from store.records import (
    Burst,
    ClaimMatch,
    Engagement,
    KeyCount,
    Label,
    NlpBlock,
    Place,
    Post,
    Topic,
)

WUHAN = Place(code="4201", name="武汉市", level="city", province="湖北省")
JIANGAN = Place(code="420102", name="江岸区", level="county", province="湖北省", city="武汉市")
HUBEI = Place(code="42", name="湖北省", level="province")


def place_codes(place: Place) -> list[str]:
    code = place.code
    return sorted({code[:2], code[:4], code} - {""})


def make_post(
    settings: Settings,
    native_id: str,
    text: str,
    *,
    created_at: datetime,
    topic_id: str | None = None,
    rumor: float | None = None,
    help: bool = False,
    demand: bool = False,
    emotion: str | None = None,
    claim: tuple[str, str] | None = None,
    place: Place | None = None,
    reposts: int = 0,
) -> Post:
    raw = RawPost(
        source="test-weibo",
        platform="weibo",
        native_id=native_id,
        text=text,
        created_at=created_at,
        engagement=Engagement(reposts=reposts),
    )
    post = build_post(raw, settings)
    nlp = NlpBlock(version="test", topic_id=topic_id)
    if rumor is not None:
        nlp.rumor = Label(label="rumor" if rumor >= 0.5 else "non-rumor", score=rumor)
    if help or demand:
        nlp.help = Label(label="help_request" if help else "public_demand", score=0.9)
    elif emotion is not None or rumor is not None:
        nlp.help = Label(label="none", score=0.9)
    if emotion is not None:
        nlp.emotion = Label(label=emotion, score=0.8)
    if claim is not None:
        nlp.claim_match = ClaimMatch(
            claim_id=claim[0], score=0.92, level=claim[1], source_url="https://piyao.example/1"
        )  # type: ignore[arg-type]
    post.nlp = nlp
    if place is not None:
        post.places = [place]
        post.place_codes = place_codes(place)
    return post


def make_topic(
    topic_id: str,
    title: str,
    posts: list[Post],
    *,
    now: datetime,
    keywords: list[str] | None = None,
    burst_ratio: float | None = None,
) -> Topic:
    burst = None
    if burst_ratio is not None:
        burst = Burst(
            score=burst_ratio,
            window="1h",
            ratio=burst_ratio,
            reason=f"volume x{burst_ratio:.1f} vs baseline",
            detected_at=now,
        )
    emotions: dict[str, int] = {}
    for post in posts:
        if post.nlp.emotion:
            emotions[post.nlp.emotion.label] = emotions.get(post.nlp.emotion.label, 0) + 1
    return Topic(
        id=topic_id,
        title=title,
        keywords=keywords or [],
        representative_post_id=posts[0].id if posts else None,
        first_seen=min(p.created_at for p in posts),
        last_seen=max(p.created_at for p in posts),
        post_count=len(posts),
        by_emotion=[KeyCount(key=k, count=v) for k, v in sorted(emotions.items())],
        help_count=sum(1 for p in posts if p.nlp.help and p.nlp.help.label == "help_request"),
        burst=burst,
        burst_score=burst.score if burst else 0.0,
        updated_at=now,
    )


def write(store: Store, posts: list[Post], topics: list[Topic]) -> None:
    result = store.write_posts(posts)
    assert not result.failed, result.failed
    for topic in topics:
        store.put("topics", topic)
    store.refresh()


def rumor_wave(settings: Settings, now: datetime, topic_id: str = "topic-lockdown") -> list[Post]:
    """A spreading lockdown rumor: 12 posts over 50 minutes, mostly labelled rumor, with
    confirmed matches to a debunked claim, fear, and heavy reposting, in Wuhan."""
    posts = []
    for i in range(12):
        posts.append(
            make_post(
                settings,
                f"rumor-{topic_id}-{i}",
                f"听说明天全市要封城，超市都被抢空了，大家赶紧囤菜！第{i}条",
                created_at=now - timedelta(minutes=50 - 4 * i),
                topic_id=topic_id,
                rumor=0.9 if i % 4 else 0.3,
                emotion="fear" if i % 2 else "angry",
                claim=("claim-lockdown", "confirm") if i < 6 else None,
                place=WUHAN,
                reposts=300,
            )
        )
    return posts


def help_cluster(settings: Settings, now: datetime, topic_id: str = "topic-help") -> list[Post]:
    """Help requests from one district (江岸区): dialysis, food, medicine."""
    texts = [
        "求助！江岸区小区封控，妈妈是透析病人，明天必须去医院",
        "求助：江岸区独居老人断粮两天，急需米面和药品",
        "江岸区有没有药店开着？老人高血压药吃完了，求助",
        "求助 江岸区孕妇叫不到车去医院",
        "江岸区小区团购的菜送不进来，希望有关部门关注",
    ]
    return [
        make_post(
            settings,
            f"help-{topic_id}-{i}",
            text,
            created_at=now - timedelta(minutes=30 - 5 * i),
            topic_id=topic_id,
            help=i < 4,
            demand=i == 4,
            emotion="fear",
            place=JIANGAN,
            reposts=5,
        )
        for i, text in enumerate(texts)
    ]


def demand_cluster(settings: Settings, now: datetime, topic_id: str = "topic-demand") -> list[Post]:
    """Public demands (群众集中诉求) from one district (江岸区), no help request among them: the
    help model labels such posts `public_demand`."""
    texts = [
        "江岸区我们小区封了一周，没人送菜，物业电话打不通，希望社区管管",
        "江岸区小区不让快递进，团购的菜放在门口三天没人发，请有关部门重视",
        "江岸区发热门诊排不上号，社区只让在家等，到底谁来管",
        "江岸区超市全关了，老人买不到菜，请街道想想办法",
    ]
    return [
        make_post(
            settings,
            f"demand-{topic_id}-{i}",
            text,
            created_at=now - timedelta(minutes=30 - 5 * i),
            topic_id=topic_id,
            demand=True,
            emotion="angry",
            place=JIANGAN,
            reposts=5,
        )
        for i, text in enumerate(texts)
    ]
