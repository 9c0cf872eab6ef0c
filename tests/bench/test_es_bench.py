"""`tingfeng bench store` on the real node, at toy size: it runs both write paths, reports
both rates and the ratio, and leaves no scratch index behind."""

from __future__ import annotations

import re

from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from analysis.text import segment
from bench.cli import app
from bench.store import synthetic_posts


def test_synthetic_posts_are_deterministic_chinese_and_segmentable() -> None:
    first, again = synthetic_posts(50), synthetic_posts(50)
    assert [p.model_dump() for p in first] == [p.model_dump() for p in again]
    assert len({p.id for p in first}) == 50
    for post in first[:10]:
        assert re.search(r"[\u4e00-\u9fff]{4}", post.text)
        assert set(post.tokens.split()) & set(segment(post.text))


def test_bench_store_reports_both_paths_and_cleans_up(es_url: str) -> None:
    result = CliRunner().invoke(
        app, ["store", "--posts", "200", "--runs", "1", "--es-url", es_url], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "ours: ElasticsearchStore.write_posts" in result.output
    assert "raw: streaming_bulk" in result.output
    assert re.search(r"ours / raw = \d+\.\d\dx", result.output)
    es = Elasticsearch(es_url)
    try:
        assert es.indices.get(index="tfbench-*").body == {}
    finally:
        es.close()
