"""`pipeline replay`: a period of posts.raw re-labelled by a newer pipeline version through a
dedicated consumer group; same ids (no duplicates), posts outside the period untouched, topics
kept."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from nlp.enrich import default_steps, pipeline_version
from nlp.errors import NlpError
from nlp.predict import Predictor
from nlp.worker import replay
from store import Settings, Store
from store.base import PostQuery
from store.records import Post
from stream.kafka import Producer, group_id, produce_posts, total_lag
from tests.stream.conftest import make_post, wait_for
from tests.stream.test_dead_letters import enrich_thread


class MarkStep:
    """A newer pipeline: one more step, so the version changes."""

    version = "mark-2"

    def __call__(self, posts: list[Post]) -> None:
        for post in posts:
            post.nlp.keywords = [*post.nlp.keywords, "重标"]


def test_replay_relabels_a_period_with_a_newer_version_without_duplicates(
    ksettings: Settings, es_store: Store
) -> None:
    producer = Producer(ksettings)
    before = [make_post(i, "old") for i in range(150)]
    produce_posts(producer, ksettings, before)
    time.sleep(1.5)
    since = datetime.now(UTC)
    time.sleep(0.2)
    period = [make_post(i, "new") for i in range(200)]
    produce_posts(producer, ksettings, period)
    producer.close()
    raw = ksettings.kafka_topic_posts_raw
    with enrich_thread(ksettings):
        wait_for(
            lambda: total_lag(ksettings, group_id(ksettings, "enrich"), raw) == 0, 180, "enrich"
        )
    es_store.refresh()
    first = {p.id: p for p in es_store.iter_posts(PostQuery())}
    assert len(first) == 350
    old_version = first["new-000000"].nlp.version
    assert old_version

    predictor = Predictor.from_settings(ksettings)
    steps = [*default_steps(predictor, es_store), MarkStep()]
    new_version = pipeline_version(steps)
    result = replay(ksettings, since, steps=steps, model_version=new_version)

    assert result.version == new_version != old_version
    assert result.messages == 200
    assert result.stats.handled == 200 and result.stats.dead_lettered == 0
    es_store.refresh()
    after = {p.id: p for p in es_store.iter_posts(PostQuery())}
    assert set(after) == set(first)  # no duplicates, nothing lost
    for post in period:
        assert after[post.id].nlp.version == new_version
        assert "重标" in after[post.id].nlp.keywords
        assert after[post.id].nlp.topic_id == first[post.id].nlp.topic_id  # topics kept
    for post in before:
        assert after[post.id].nlp.version == old_version
    # replaying again with the same version re-runs nothing and still writes no duplicates
    again = replay(ksettings, since, steps=steps)
    assert again.messages == 200
    es_store.refresh()
    assert es_store.count_posts(PostQuery()) == 350


def test_replay_refuses_another_model_version(ksettings: Settings, es_store: Store) -> None:
    with pytest.raises(NlpError, match=r"rumor-lin-99 is not the installed pipeline .*MODELS_DIR"):
        replay(ksettings, datetime.now(UTC), model_version="rumor-lin-99")
