"""Elasticsearch-specific behaviour of the store, on the real node: templates, versioned
indices behind aliases, per-document bulk failures, outage detection. (What both backends
share is in test_contract.py.)"""

from __future__ import annotations

import socket
import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from store import Settings
from store.base import PostQuery
from store.errors import StoreUnavailable
from store.es import ElasticsearchStore
from store.indices import INDICES
from store.records import Post, Topic
from store.spool import Spool
from tests.conftest import make_settings

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def _post(i: int) -> Post:
    return Post(
        id=f"p{i:04d}",
        source="es-test",
        platform="weibo",
        text="谣言",
        text_norm="谣言",
        tokens="谣言",
        segmenter="test",
        created_at=T0 + timedelta(minutes=50 * i),
        fetched_at=T0,
    )


@pytest.fixture
def es_store(es_url: str, tmp_path: Path) -> Iterator[ElasticsearchStore]:
    settings = make_settings(tmp_path, es_url=es_url)
    store = ElasticsearchStore.from_settings(settings, spool=Spool(settings.spool_dir))
    store.init()
    yield store
    store.drop_all()
    store.close()


def test_init_declares_templates_versioned_indices_and_write_aliases(
    es_store: ElasticsearchStore,
) -> None:
    es, prefix = es_store.es, es_store.prefix
    templates = {
        t["name"]: t["index_template"]
        for t in es.indices.get_index_template(name=f"{prefix}-*")["index_templates"]
    }
    assert set(templates) == {spec.alias(prefix) for spec in INDICES.values()}
    for spec in INDICES.values():
        template = templates[spec.alias(prefix)]
        assert template["index_patterns"] == [f"{spec.alias(prefix)}-v*"]
        assert template["template"]["mappings"]["dynamic"] == "strict"
        aliases = es.indices.get_alias(name=spec.alias(prefix)).body
        assert aliases == {
            spec.index(prefix): {"aliases": {spec.alias(prefix): {"is_write_index": True}}}
        }
    mapping = es.indices.get_mapping(index=INDICES["posts"].index(prefix)).body
    props = mapping[INDICES["posts"].index(prefix)]["mappings"]["properties"]
    assert props["tokens"]["analyzer"] == "whitespace"
    assert props["text"]["analyzer"] == "standard"
    es_store.init()  # idempotent
    assert es.indices.get_alias(name=INDICES["posts"].alias(prefix)).body.keys() == {
        INDICES["posts"].index(prefix)
    }


def test_init_flips_the_alias_from_an_older_index_atomically(es_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, es_url=es_url)
    store = ElasticsearchStore.from_settings(settings)
    spec = INDICES["topics"]
    alias = spec.alias(store.prefix)
    old = f"{alias}-v0"
    try:
        store.es.indices.create(index=old, aliases={alias: {"is_write_index": True}})
        kept = Topic(id="kept", title="旧版本话题", first_seen=T0, last_seen=T0, updated_at=T0)
        old_doc = {**kept.model_dump(mode="json"), "obsolete_field": 1}
        store.es.index(index=old, id="kept", document=old_doc, refresh=True)
        store.init()
        assert set(store.es.indices.get_alias(name=alias).body) == {spec.index(store.prefix)}
        assert store.es.indices.exists(index=old)  # kept for a rollback
        assert store.get("topics", "kept", Topic) == kept  # copied, validated by the model
    finally:
        store.drop_all()
        store.close()


def test_bulk_reports_each_rejected_document_and_writes_the_rest(
    es_store: ElasticsearchStore,
) -> None:
    good = Topic(id="ok", title="抢购", first_seen=T0, last_seen=T0, updated_at=T0)
    with warnings.catch_warnings():  # pydantic warns when serializing the wrong type
        warnings.simplefilter("ignore")
        bad = Topic.model_construct(**{**good.model_dump(), "id": "bad", "post_count": "many"})
        result = es_store.put_many("topics", [good, bad])
    assert result.written == 1
    assert [doc_id for doc_id, _ in result.failed] == ["bad"]
    assert "post_count" in result.failed[0][1]
    assert es_store.spool is not None and es_store.spool.depth() == 0  # bad data is not an outage
    assert es_store.get("topics", "ok", Topic) == good


def test_writes_never_create_an_index_behind_the_aliases_back(es_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, es_url=es_url)
    store = ElasticsearchStore.from_settings(settings)  # no init(): aliases do not exist
    try:
        result = store.write_posts([_post(1)])
        assert result.written == 0
        assert [doc_id for doc_id, _ in result.failed] == ["p0001"]
        assert "alias" in result.failed[0][1]
        assert store.es.indices.get(index=f"{store.prefix}-*").body == {}
    finally:
        store.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_node_spools_writes_and_reports_status(tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path, es_url=f"http://127.0.0.1:{_closed_port()}")
    spool = Spool(settings.spool_dir)
    store = ElasticsearchStore.from_settings(settings, spool=spool)
    result = store.write_posts([_post(i) for i in range(3)])
    assert (result.written, result.spooled, result.failed) == (0, 3, [])
    assert spool.depth() == 3
    status = store.status()
    assert not status.reachable and status.spool_depth == 3
    assert settings.es_url and settings.es_url in status.detail
    with pytest.raises(StoreUnavailable):
        store.count_posts(PostQuery())
    store.close()


def test_histogram_keys_follow_the_requested_zone(es_store: ElasticsearchStore) -> None:
    es_store.write_posts([_post(i) for i in range(40)])
    es_store.refresh()
    utc_days = es_store.histogram(PostQuery(), interval="day", tz="UTC")
    assert [(b.key, b.count) for b in utc_days] == [
        ("2026-03-01T00:00:00+00:00", 29),
        ("2026-03-02T00:00:00+00:00", 11),
    ]
    sh_days = es_store.histogram(PostQuery(), interval="day", tz="Asia/Shanghai")
    assert [b.key for b in sh_days] == ["2026-03-01T00:00:00+08:00", "2026-03-02T00:00:00+08:00"]
    assert sum(b.count for b in sh_days) == 40
    hours = es_store.histogram(PostQuery(q="谣言"), interval="hour", tz="UTC")
    expected = Counter(
        (T0 + timedelta(minutes=50 * i)).replace(minute=0).isoformat() for i in range(40)
    )
    assert {b.key: b.count for b in hours} == dict(expected)  # empty hours are omitted
    assert [b.key for b in hours] == sorted(expected)


def test_client_talks_to_a_version_9_node(es_url: str) -> None:
    es = Elasticsearch(es_url)
    try:
        versions = {n["version"] for n in es.nodes.info()["nodes"].values()}
        assert versions and all(v.startswith("9.") for v in versions)
    finally:
        es.close()
