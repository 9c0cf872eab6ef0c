"""Near-duplicate linking across sources, on both storage backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analysis.text import normalize
from crawlers.dedup import (
    RecentOriginals,
    fingerprint,
    jaccard,
    link_near_duplicates,
    minhash_bands,
    shingles,
    simhash,
    split_known,
)
from ingest.posts import RawPost, build_post
from store import Settings, Store
from store.records import Post

RUMOR = "听说明天全市要封城，超市都被抢空了，大家赶紧囤菜！"
REPOST = "转发：听说明天全市要封城，超市都被抢空了，大家赶紧囤菜！！"
OTHER = "楼下超市排了好长的队，大家都在抢米抢油，真的要封城了吗？好害怕"
TRAD = "聽說明天全市要封城，超市都被搶空了，大家趕緊囤菜！"


def post(settings: Settings, source: str, native: str, text: str, minutes_ago: int = 10) -> Post:
    raw = RawPost(
        source=source,
        platform="weibo",
        native_id=native,
        text=text,
        created_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
    )
    return fingerprint(build_post(raw, settings))


def test_fingerprints_of_copies_are_close_and_of_others_far() -> None:
    a, b, c = (shingles(normalize(t)) for t in (RUMOR, REPOST, OTHER))
    assert jaccard(a, b) >= 0.7 > jaccard(a, c)
    assert bin(simhash(a) ^ simhash(b)).count("1") < bin(simhash(a) ^ simhash(c)).count("1")
    assert set(minhash_bands(a)) & set(minhash_bands(b))
    assert not set(minhash_bands(a)) & set(minhash_bands(c))
    assert minhash_bands(a) == minhash_bands(shingles(normalize(RUMOR)))  # deterministic
    assert minhash_bands(set()) == []


def test_copies_link_to_the_original_across_sources(store: Store, settings: Settings) -> None:
    original = post(settings, "news", "n1", RUMOR, minutes_ago=60)
    store.write_posts([original])
    store.refresh()
    batch = [
        post(settings, "weibo", "w1", REPOST),
        post(settings, "weibo", "w2", OTHER),
        post(settings, "tieba", "t1", TRAD),  # traditional: same text_norm after t2s
    ]
    new, known = split_known(store, [*batch, original])
    assert known.keys() == {original.id} and len(new) == 3
    linked = {p.native_id: p.dup_of for p in link_near_duplicates(store, new)}
    assert linked == {"w1": original.id, "w2": None, "t1": original.id}


def test_copies_within_a_batch_and_of_recent_posts(store: Store, settings: Settings) -> None:
    first, second = post(settings, "a", "1", RUMOR), post(settings, "b", "2", REPOST)
    linked = link_near_duplicates(store, [first, second])
    assert [p.dup_of for p in linked] == [None, first.id]
    recent = RecentOriginals(capacity=1)
    recent.add(first)  # written a moment ago: not searchable yet on Elasticsearch
    third = post(settings, "c", "3", TRAD)
    assert link_near_duplicates(store, [third], recent)[0].dup_of == first.id
    recent.add(post(settings, "d", "4", OTHER))  # capacity 1: the first one is forgotten
    assert link_near_duplicates(store, [third], recent)[0].dup_of is None
