"""The committed NDJSON is valid Kibana saved objects: it parses, ids are unique, every reference
resolves, dashboard panels match their references, and every field exists in our mappings with
an aggregatable type where it is aggregated. No Kibana needed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import (
    OUTPUT_DIR,
    build_objects,
    flatten_mapping,
    is_aggregatable,
    ndjson_files,
    to_ndjson,
)
from dashboards.errors import SourceError
from dashboards.spec import SOURCE_DIR, kql_fields
from store.indices import INDICES

AGGREGATABLE = {"keyword", "long", "double", "date", "boolean"}


def _load() -> dict[str, list[dict[str, Any]]]:
    out = {}
    for path in ndjson_files(OUTPUT_DIR):
        lines = path.read_text(encoding="utf-8").splitlines()
        out[path.stem] = [json.loads(line) for line in lines]
    return out


FILES = _load()
OBJECTS = [obj for objs in FILES.values() for obj in objs]
BY_KEY = {(o["type"], o["id"]): o for o in OBJECTS}


def _mapping_for(data_view_id: str) -> dict[str, dict[str, Any]]:
    title = BY_KEY[("index-pattern", data_view_id)]["attributes"]["title"]
    index = title.removeprefix("tingfeng-")
    return flatten_mapping(INDICES[index].mapping()["properties"])


def test_the_expected_files_and_dashboards_exist() -> None:
    assert set(FILES) == {"data-views", "patrol", "incidents", "overview"}
    titles = {o["attributes"]["title"] for o in OBJECTS if o["type"] == "dashboard"}
    assert titles == {"网上巡查", "事件处置", "总览"}


def test_every_line_is_a_saved_object() -> None:
    for obj in OBJECTS:
        assert set(obj) >= {"type", "id", "attributes", "references", "typeMigrationVersion"}
        assert obj["type"] in {"index-pattern", "lens", "search", "dashboard"}
        assert obj["attributes"]["title"]


def test_ids_are_unique() -> None:
    keys = [(o["type"], o["id"]) for o in OBJECTS]
    assert len(keys) == len(set(keys))
    ids = [o["id"] for o in OBJECTS]
    assert len(ids) == len(set(ids))


def test_every_reference_resolves() -> None:
    for obj in OBJECTS:
        names = [r["name"] for r in obj["references"]]
        assert len(names) == len(set(names)), obj["id"]
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in BY_KEY, (obj["id"], ref)


def test_data_views_are_on_aliases_never_concrete_indices() -> None:
    aliases = {spec.alias("tingfeng") for spec in INDICES.values()}
    for obj in FILES["data-views"]:
        title = obj["attributes"]["title"]
        assert title in aliases
        assert not re.search(r"-v\d+$", title)
        fields = _mapping_for(obj["id"])
        if "timeFieldName" in obj["attributes"]:  # none: a view that ignores the time range
            assert fields[obj["attributes"]["timeFieldName"]]["type"] == "date"


def test_lens_layers_reference_their_data_view() -> None:
    lens = [o for o in OBJECTS if o["type"] == "lens"]
    assert {o["attributes"]["visualizationType"] for o in lens} == {
        "lnsXY",
        "lnsPie",
        "lnsDatatable",
        "lnsMetric",
    }
    for obj in lens:
        layers = obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
        assert layers
        refs = {r["name"]: r for r in obj["references"]}
        for layer_id, layer in layers.items():
            ref = refs[f"indexpattern-datasource-layer-{layer_id}"]
            assert ref["type"] == "index-pattern"
            assert set(layer["columnOrder"]) == set(layer["columns"])


def test_dashboard_panels_match_references() -> None:
    for dash in (o for o in OBJECTS if o["type"] == "dashboard"):
        panels = json.loads(dash["attributes"]["panelsJSON"])
        refs = {r["name"]: r for r in dash["references"]}
        assert len(refs) == len(panels)
        for panel in panels:
            ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
            assert ref["type"] == panel["type"]
            assert panel["gridData"]["i"] == panel["panelIndex"]
            assert panel["gridData"]["x"] + panel["gridData"]["w"] <= 48


def _lens_fields(obj: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(fields the visualization aggregates, fields its KQL mentions)."""
    state = obj["attributes"]["state"]
    aggregated: set[str] = set()
    kql = kql_fields(state["query"]["query"])
    for layer in state["datasourceStates"]["formBased"]["layers"].values():
        for column in layer["columns"].values():
            if column.get("sourceField") not in (None, "___records___"):
                aggregated.add(column["sourceField"])
            if column.get("params", {}).get("sortField"):
                aggregated.add(column["params"]["sortField"])
            if column.get("filter"):
                kql |= kql_fields(column["filter"]["query"])
            for item in column.get("params", {}).get("filters", []):
                kql |= kql_fields(item["input"]["query"])
    return aggregated, kql


def test_every_field_exists_with_an_aggregatable_type() -> None:
    checked = 0
    for obj in OBJECTS:
        if obj["type"] == "lens":
            view_id = obj["references"][0]["id"]
            aggregated, kql = _lens_fields(obj)
            shown: set[str] = set()
        elif obj["type"] == "search":
            view_id = obj["references"][0]["id"]
            source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            aggregated = {field for field, _ in obj["attributes"]["sort"]}
            kql = kql_fields(source["query"]["query"])
            shown = set(obj["attributes"]["columns"])
        else:
            continue
        fields = _mapping_for(view_id)
        for field in aggregated | kql | shown:
            assert field in fields, (obj["id"], field)
        for field in aggregated:
            spec = fields[field]
            assert spec["type"] in AGGREGATABLE and spec.get("doc_values", True), (obj["id"], field)
            checked += 1
    assert checked > 40


def test_text_fields_are_not_aggregatable() -> None:
    posts = flatten_mapping(INDICES["posts"].mapping()["properties"])
    assert not is_aggregatable(posts["text"])
    assert is_aggregatable(posts["platform"])
    topics = flatten_mapping(INDICES["topics"].mapping()["properties"])
    assert not is_aggregatable(topics["centroid"])  # stored only


def test_committed_ndjson_is_up_to_date_with_the_source() -> None:
    for name, objects in build_objects().items():
        assert (OUTPUT_DIR / f"{name}.ndjson").read_text(encoding="utf-8") == to_ndjson(objects)


def _source_copy(tmp_path: Path) -> Path:
    target = tmp_path / "source"
    shutil.copytree(SOURCE_DIR, target)
    return target


def test_a_text_field_in_a_bucket_is_refused_naming_file_panel_and_field(tmp_path: Path) -> None:
    source = _source_copy(tmp_path)
    patrol = source / "patrol.yaml"
    patrol.write_text(
        patrol.read_text("utf-8").replace("terms: platform, size: 8", "terms: text, size: 8"),
        "utf-8",
    )
    with pytest.raises(SourceError, match=r"patrol\.yaml: panel 'volume-by-platform'.*'text'"):
        build_objects(source)


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    source = _source_copy(tmp_path)
    incidents = source / "incidents.yaml"
    incidents.write_text(
        incidents.read_text("utf-8").replace(
            "field: half_life_h, decimals: 1}", "field: halflife}"
        ),
        "utf-8",
    )
    with pytest.raises(SourceError, match=r"incidents\.yaml: panel .*'halflife' is not in"):
        build_objects(source)


def test_a_malformed_panel_names_the_panel_and_field(tmp_path: Path) -> None:
    source = _source_copy(tmp_path)
    overview = source / "overview.yaml"
    overview.write_text(
        overview.read_text("utf-8").replace("kind: metric", "kind: gauge", 1), "utf-8"
    )
    with pytest.raises(SourceError, match=r"overview\.yaml: panel 'posts' \(panels\[0\]\)\.kind"):
        build_objects(source)


def test_kql_field_extraction() -> None:
    assert kql_fields('nlp.rumor.label : "rumor" and not dup_of : *') == {
        "nlp.rumor.label",
        "dup_of",
    }
    assert kql_fields("severity <= 2") == {"severity"}
    assert kql_fields('state : ("closed" or "a:b")') == {"state"}


def test_readme_lists_every_panel() -> None:
    readme = (OUTPUT_DIR / "README.md").read_text("utf-8")
    titles = [o["attributes"]["title"] for o in OBJECTS if o["type"] in {"lens", "search"}]
    assert [t for t in titles if f"| {t} |" not in readme] == []
