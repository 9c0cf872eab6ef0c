"""Enrichment on both backends: labels written, idempotent, re-scored after a model bump,
and extensible with further steps."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.posts import RawPost, build_post
from nlp.enrich import default_steps, enrich
from nlp.predict import Predictor, default_models_dir
from store import Settings, Store
from store.base import PostQuery
from store.records import Post

TEXTS = [
    "求助！家里老人的降压药吃完了，药店都关门了，谁能帮帮忙",
    "转发救人！今天下午在人民广场有一个小孩被拐走了，穿红衣服，家长急疯了，求扩散！！",
    "今天太开心了，终于拿到offer了[哈哈]",
    "【权威发布】市疾控中心：本市新增确诊病例2例，均为境外输入",
    "气死我了，排了三个小时队还没轮到，什么破服务！",
]


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


def _ingest(store: Store, settings: Settings) -> list[str]:
    t0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
    posts = [
        build_post(
            RawPost(
                source="test",
                platform="weibo",
                native_id=str(i),
                text=text,
                created_at=t0 + timedelta(minutes=i),
            ),
            settings,
        )
        for i, text in enumerate(TEXTS)
    ]
    assert not store.write_posts(posts).failed
    store.refresh()
    return [p.id for p in posts]


def test_enrich_writes_labels_and_is_idempotent(
    store: Store, settings: Settings, predictor: Predictor
) -> None:
    ids = _ingest(store, settings)
    first = enrich(store, predictor, batch=2)
    assert first.enriched == len(ids) and not first.failed
    posts = {p.id: p for p in store.get_posts(ids)}
    by_text = {p.text: p for p in posts.values()}
    for post in posts.values():
        assert post.nlp.version == first.version
        assert post.nlp.rumor and post.nlp.emotion and post.nlp.polarity and post.nlp.help
        assert post.nlp.keywords
    assert by_text[TEXTS[0]].nlp.help.label == "help_request"  # type: ignore[union-attr]
    assert by_text[TEXTS[1]].nlp.rumor.label == "rumor"  # type: ignore[union-attr]
    assert by_text[TEXTS[2]].nlp.emotion.label == "happy"  # type: ignore[union-attr]
    assert by_text[TEXTS[4]].nlp.polarity.label == "negative"  # type: ignore[union-attr]
    assert store.count_posts(PostQuery(terms={"nlp.version": [first.version]})) == len(ids)
    assert store.count_posts(PostQuery(terms={"nlp.help.label": ["help_request"]})) >= 1

    again = enrich(store, predictor)
    assert again.enriched == 0 and not again.failed


def test_model_bump_re_scores_every_post(
    store: Store, settings: Settings, predictor: Predictor, tmp_path: Path
) -> None:
    ids = _ingest(store, settings)
    old = enrich(store, predictor)
    models = tmp_path / "models"
    shutil.copytree(default_models_dir(), models)
    meta_path = models / "rumor" / "meta.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    meta["version"] = meta["version"] + "-bumped"
    meta_path.write_text(json.dumps(meta), "utf-8")
    bumped = Predictor(models)
    assert bumped.version != old.version

    new = enrich(store, bumped)
    assert new.enriched == len(ids)
    assert {p.nlp.version for p in store.get_posts(ids)} == {new.version}
    assert enrich(store, bumped).enriched == 0


class TagStep:
    """A later stage (e.g. claim matching) added to the same job."""

    version = "tag-1"

    def __call__(self, posts: list[Post]) -> None:
        for post in posts:
            post.nlp.topic_id = "t-" + post.id[:6]


def test_extra_steps_join_the_pipeline_version(
    store: Store, settings: Settings, predictor: Predictor
) -> None:
    ids = _ingest(store, settings)
    enrich(store, predictor)
    steps = [*default_steps(predictor), TagStep()]
    result = enrich(store, predictor, steps=steps)
    assert result.enriched == len(ids)
    assert result.version.endswith("+tag-1")
    assert all(p.nlp.topic_id == "t-" + p.id[:6] for p in store.get_posts(ids))


class BrokenStep:
    version = "broken-1"

    def __call__(self, posts: list[Post]) -> None:
        raise RuntimeError("model server gone")


def test_a_failing_step_is_reported_and_nothing_is_marked_done(
    store: Store, settings: Settings, predictor: Predictor
) -> None:
    ids = _ingest(store, settings)
    result = enrich(store, predictor, steps=[BrokenStep()])
    assert {doc_id for doc_id, _ in result.failed} == set(ids)
    assert all("model server gone" in reason for _, reason in result.failed)
    assert all(p.nlp.version is None for p in store.get_posts(ids))
