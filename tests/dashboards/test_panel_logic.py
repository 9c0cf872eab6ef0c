"""Panels that can show what they claim: no metric filter contradicts its panel's query (a
build-time check), open alerts show whatever their age, and the Lens objects' migration
version never drops below 8.6.0 (older ones would run migrations that rewrite `formBased`
and `lnsMetric` state)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import OUTPUT_DIR, build_objects, ndjson_files
from dashboards.errors import SourceError
from dashboards.kql import clauses, contradiction
from dashboards.spec import SOURCE_DIR, load_dashboards

MIN_LENS_MIGRATION = (8, 6, 0)


def _objects() -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in ndjson_files(OUTPUT_DIR)
        for line in path.read_text("utf-8").splitlines()
    ]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@pytest.mark.parametrize(
    ("query", "metric_filter"),
    [
        ("not dup_of : *", "dup_of : *"),
        ('state : "closed"', 'state : "dismissed"'),
        ('state : "closed"', 'not state : ("closed" or "dismissed")'),
        ("not resolved_at : *", 'resolved_at : "2026-01-01"'),
        ('platform : "weibo" and nlp.rumor.label : "rumor"', 'platform : ("tieba" or "news")'),
    ],
)
def test_contradictions_are_found(query: str, metric_filter: str) -> None:
    assert contradiction(query, metric_filter) is not None
    assert contradiction(metric_filter, query) is not None


@pytest.mark.parametrize(
    ("query", "metric_filter"),
    [
        ("", "dup_of : *"),
        ("sla.breached : true", 'not state : ("closed" or "dismissed")'),
        ('state : ("closed" or "dismissed")', 'state : "dismissed"'),
        ("dup_of : *", 'dup_of : "p1"'),
        ('nlp.rumor.label : "rumor"', "not nlp.claim_match.claim_id : *"),
        ('state : "closed" or state : "new"', 'state : "dismissed"'),  # not simple: not judged
        ("severity <= 2", "severity >= 3"),  # ranges: not judged
    ],
)
def test_compatible_or_unknown_pairs_pass(query: str, metric_filter: str) -> None:
    assert contradiction(query, metric_filter) is None


def test_simple_kql_is_read() -> None:
    assert [str(c) for c in clauses('not state : ("closed" or "dismissed") and x : *') or []] == [
        "not state : closed or dismissed",
        "x : *",
    ]
    assert clauses("a : b*") is None and clauses("(a : 1 or b : 2)") is None


@pytest.mark.parametrize(
    ("file", "panel", "old", "new"),
    [
        (
            "patrol.yaml",
            "posts-total",
            "    width: 16\n    metrics:\n      - {label: 帖子数（去重）, op: count, filter: 'not dup_of : *'}",
            "    query: 'not dup_of : *'\n    width: 16\n    metrics:\n      - {label: 帖子数（去重）, op: count}",
        ),
        (
            "incidents.yaml",
            "closed",
            "      - {label: 已关闭, op: count, filter: 'state : \"closed\"'}",
            "      - {label: 已关闭, op: count}",
        ),
    ],
)  # fmt: skip
def test_the_old_contradictory_panels_are_refused(
    tmp_path: Path, file: str, panel: str, old: str, new: str
) -> None:
    source = tmp_path / "source"
    shutil.copytree(SOURCE_DIR, source)
    text = (source / file).read_text("utf-8")
    assert old in text
    text = text.replace(old, new)
    if panel == "closed":
        text = text.replace("    data_view: tingfeng-incidents\n    width: 12\n    height: 8\n    metrics:\n      - {label: 已关闭",
                            "    data_view: tingfeng-incidents\n    query: 'state : \"closed\"'\n    width: 12\n    height: 8\n    metrics:\n      - {label: 已关闭")  # fmt: skip
    (source / file).write_text(text, "utf-8")
    with pytest.raises(SourceError, match=rf"{file}: panel '{panel}': metric .* contradicts"):
        build_objects(source)


def test_shipped_metric_panels_can_show_both_numbers() -> None:
    panels = {p.id: p for spec in load_dashboards().values() for p in spec.panels}
    for panel_id in ("posts-total", "closed"):
        panel = panels[panel_id]
        assert panel.query == "" and all(m.filter for m in panel.metrics), panel_id
    for panel in panels.values():
        for metric in panel.metrics:
            assert contradiction(panel.query, metric.filter or "") is None, (panel.id, metric.label)


def test_open_alerts_ignore_the_time_range() -> None:
    objects = {(o["type"], o["id"]): o for o in _objects()}
    search = objects[("search", "tingfeng-patrol-coverage-gaps")]
    [ref] = [r for r in search["references"] if r["type"] == "index-pattern"]
    view = objects[("index-pattern", ref["id"])]["attributes"]
    assert view["title"] == "tingfeng-alerts" and "timeFieldName" not in view
    source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["query"]["query"] == "not resolved_at : *"
    # the other alert views keep their time field
    assert objects[("index-pattern", "tingfeng-alerts")]["attributes"]["timeFieldName"]


def test_lens_migration_version_never_below_8_6() -> None:
    lens = [o for o in _objects() if o["type"] == "lens"]
    assert lens
    for obj in lens:
        assert _version(obj["typeMigrationVersion"]) >= MIN_LENS_MIGRATION, obj["id"]
        assert _version(obj["coreMigrationVersion"]) >= MIN_LENS_MIGRATION, obj["id"]
