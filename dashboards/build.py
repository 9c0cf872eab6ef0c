"""Build the saved-objects NDJSON from the YAML sources, checking every field against our mappings.

    build_objects()  -> {"data-views": [...], "patrol": [...], ...}   (dicts, deterministic)
    write_ndjson(dir) -> the files written (`dashboards/*.ndjson`, committed)

Field names come from `store.indices.INDICES[...].mapping()`, the same mapping Elasticsearch
gets, so a dashboard cannot name a field that does not exist or aggregate a text field.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from dashboards.errors import SourceError
from dashboards.kql import contradiction
from dashboards.lens import dashboard_object, data_view_object, lens_object, search_object
from dashboards.spec import (
    SOURCE_DIR,
    DashboardSpec,
    DataViewSpec,
    Panel,
    kql_fields,
    load_dashboards,
    load_data_views,
)
from store.indices import INDICES

log = logging.getLogger(__name__)

OUTPUT_DIR = Path(__file__).resolve().parent
DEFAULT_PREFIX = "tingfeng"
AGGREGATABLE_TYPES = frozenset({"keyword", "long", "double", "date", "boolean"})
DATA_VIEWS_FILE = "data-views"


def flatten_mapping(properties: dict[str, Any], parent: str = "") -> dict[str, dict[str, Any]]:
    """Dotted field name -> its leaf mapping (objects are walked, not listed)."""
    fields: dict[str, dict[str, Any]] = {}
    for name, spec in properties.items():
        path = f"{parent}{name}"
        if "properties" in spec:
            fields.update(flatten_mapping(spec["properties"], f"{path}."))
        elif spec.get("type") != "object":
            fields[path] = spec
    return fields


def is_aggregatable(spec: dict[str, Any]) -> bool:
    return (
        spec.get("type") in AGGREGATABLE_TYPES
        and spec.get("doc_values", True) is not False
        and spec.get("index", True) is not False
    )


def index_fields(index: str) -> dict[str, dict[str, Any]]:
    if index not in INDICES:
        raise SourceError(f"data_views.yaml: unknown index {index!r}; known: {sorted(INDICES)}")
    return flatten_mapping(INDICES[index].mapping()["properties"])


def _panel_fields(panel: Panel) -> tuple[set[str], set[str], set[str]]:
    """(fields that must aggregate, fields that must exist, fields named in KQL)."""
    aggregated: set[str] = set()
    kql = kql_fields(panel.query)
    for bucket in (panel.x, panel.split, panel.slices, *panel.rows):
        if bucket is None:
            continue
        if bucket.field:
            aggregated.add(bucket.field)
        for item in bucket.filters or []:
            kql |= kql_fields(item.query)
    for metric in panel.metrics:
        aggregated |= {f for f in (metric.field, metric.sort_field) if f}
        kql |= kql_fields(metric.filter or "")
    aggregated |= {field for field, _ in panel.sort}
    return aggregated, set(panel.columns), kql


def check_panel(file: str, panel: Panel, fields: dict[str, dict[str, Any]]) -> None:
    for metric in panel.metrics:
        clash = contradiction(panel.query, metric.filter or "")
        if clash:
            raise SourceError(
                f"{file}: panel {panel.id!r}: metric {metric.label!r} filter "
                f"{metric.filter!r} contradicts the panel query {panel.query!r} "
                f"({clash[1]} vs {clash[0]}): Lens ANDs them, so it always shows 0; "
                "move the condition from the panel query to the metrics"
            )
    aggregated, shown, kql = _panel_fields(panel)
    for field in sorted(aggregated | shown | kql):
        if field not in fields:
            raise SourceError(
                f"{file}: panel {panel.id!r}: field {field!r} is not in the "
                f"{panel.data_view!r} mapping"
            )
    for field in sorted(aggregated):
        if not is_aggregatable(fields[field]):
            raise SourceError(
                f"{file}: panel {panel.id!r}: field {field!r} ({fields[field].get('type')}) "
                "cannot be aggregated; use a keyword, number, date or boolean field"
            )


def _dashboard_objects(
    spec: DashboardSpec, views: dict[str, DataViewSpec], name: str
) -> list[dict[str, Any]]:
    file = f"{name}.yaml"
    objects = []
    for panel in spec.panels:
        view = views.get(panel.data_view)
        if view is None:
            raise SourceError(
                f"{file}: panel {panel.id!r}: unknown data view {panel.data_view!r}; "
                f"known: {sorted(views)}"
            )
        fields = index_fields(view.index)
        check_panel(file, panel, fields)
        object_id = f"tingfeng-{name}-{panel.id}"
        if panel.kind == "search":
            objects.append(search_object(panel, object_id, view.id))
        else:
            types = {name: str(f["type"]) for name, f in fields.items()}
            objects.append(lens_object(panel, object_id, view.id, types))
    return [*objects, dashboard_object(spec, objects)]


def build_objects(
    source_dir: Path = SOURCE_DIR, prefix: str = DEFAULT_PREFIX
) -> dict[str, list[dict[str, Any]]]:
    """Every saved object, grouped by output file name (without `.ndjson`)."""
    data_views = load_data_views(source_dir)
    views = {v.id: v for v in data_views}
    for view in data_views:
        fields = index_fields(view.index)
        if view.time_field is None:
            continue
        if view.time_field not in fields or fields[view.time_field].get("type") != "date":
            raise SourceError(
                f"data_views.yaml: data view {view.id!r}: time field {view.time_field!r} "
                f"is not a date field of {view.index!r}"
            )
    out = {DATA_VIEWS_FILE: [data_view_object(v, prefix) for v in data_views]}
    for name, spec in load_dashboards(source_dir).items():
        out[name] = _dashboard_objects(spec, views, name)
    return out


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n" for o in objects)


def write_ndjson(output_dir: Path = OUTPUT_DIR, source_dir: Path = SOURCE_DIR) -> list[Path]:
    """Regenerate `<output_dir>/*.ndjson`; returns the files written."""
    written = []
    for name, objects in build_objects(source_dir).items():
        path = output_dir / f"{name}.ndjson"
        path.write_text(to_ndjson(objects), encoding="utf-8")
        log.info("wrote %s (%d objects)", path, len(objects))
        written.append(path)
    return written


def ndjson_files(output_dir: Path = OUTPUT_DIR) -> list[Path]:
    """The committed NDJSON files, data views first."""
    files = sorted(output_dir.glob("*.ndjson"))
    return sorted(files, key=lambda p: p.stem != DATA_VIEWS_FILE)
