"""Saved objects in the Kibana 9.x export format, built from the source specs.

Lens visualizations use the form-based datasource: one layer per panel, whose data view is a
reference named `indexpattern-datasource-layer-<layerId>`. Dashboards hold their panels by
reference (`panelRefName` = `panel_<i>`, reference name `<i>:panel_<i>`).

Migration versions are those Kibana itself ships for these types in 9.x (its sample data and
built-in dashboards), so Kibana 8.9+ and 9.x import them and migrate them forward on import.
"""

from __future__ import annotations

import json
from typing import Any

from dashboards.spec import Bucket, DashboardSpec, DataViewSpec, Metric, Panel

CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSION = {
    "index-pattern": "7.11.0",
    "lens": "8.9.0",
    "search": "7.9.3",
    "dashboard": "8.9.0",
}
GRID_COLUMNS = 48

# ES mapping type -> Lens column dataType
LENS_DATA_TYPE = {
    "keyword": "string",
    "long": "number",
    "double": "number",
    "date": "date",
    "boolean": "boolean",
}


def _object(
    type_: str, id_: str, attributes: dict[str, Any], refs: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "type": type_,
        "id": id_,
        "attributes": attributes,
        "references": refs,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION[type_],
        "managed": False,
    }


def data_view_object(view: DataViewSpec, prefix: str) -> dict[str, Any]:
    attributes = {"title": f"{prefix}-{view.index}", "name": view.name}
    if view.time_field:
        attributes["timeFieldName"] = view.time_field
    return _object("index-pattern", view.id, attributes, [])


def _kql(query: str) -> dict[str, str]:
    return {"query": query, "language": "kuery"}


def metric_column(metric: Metric, field_types: dict[str, str]) -> dict[str, Any]:
    column: dict[str, Any] = {
        "label": metric.label,
        "customLabel": True,
        "operationType": metric.op,
        "isBucketed": False,
        "scale": "ratio",
        "dataType": "number",
    }
    if metric.op == "count":
        column["sourceField"] = "___records___"
        column["params"] = {"emptyAsNull": True}
    elif metric.op == "last_value":
        assert metric.field
        data_type = LENS_DATA_TYPE[field_types[metric.field]]
        column["sourceField"] = metric.field
        column["dataType"] = data_type
        column["scale"] = "ordinal" if data_type == "string" else "ratio"
        column["params"] = {"sortField": metric.sort_field, "showArrayValues": False}
    else:
        column["sourceField"] = metric.field
        column["params"] = {"emptyAsNull": True}
    if metric.decimals is not None:
        column["params"]["format"] = {"id": "number", "params": {"decimals": metric.decimals}}
    if metric.filter:
        column["filter"] = _kql(metric.filter)
    if metric.shift:
        column["timeShift"] = metric.shift
    return column


def bucket_column(bucket: Bucket, order_column: str, field_types: dict[str, str]) -> dict[str, Any]:
    column: dict[str, Any] = {"label": bucket.label, "customLabel": True, "isBucketed": True}
    if bucket.date:
        column.update(
            operationType="date_histogram",
            sourceField=bucket.date,
            dataType="date",
            scale="interval",
            params={"interval": bucket.interval, "includeEmptyRows": True, "dropPartials": False},
        )
    elif bucket.terms:
        column.update(
            operationType="terms",
            sourceField=bucket.terms,
            dataType=LENS_DATA_TYPE[field_types[bucket.terms]],
            scale="ordinal",
            params={
                "size": bucket.size,
                "orderBy": {"type": "column", "columnId": order_column},
                "orderDirection": "desc",
                "otherBucket": bucket.other,
                "missingBucket": False,
                "parentFormat": {"id": "terms"},
                "secondaryFields": [],
            },
        )
    else:
        assert bucket.filters is not None
        column.update(
            operationType="filters",
            dataType="string",
            scale="ordinal",
            params={
                "filters": [{"input": _kql(f.query), "label": f.label} for f in bucket.filters]
            },
        )
    return column


def _xy_state(
    panel: Panel, layer_id: str, x: str, split: str | None, metrics: list[str]
) -> dict[str, Any]:
    layer: dict[str, Any] = {
        "layerId": layer_id,
        "layerType": "data",
        "seriesType": panel.series,
        "xAccessor": x,
        "accessors": metrics,
        "yConfig": [],
    }
    if split:
        layer["splitAccessor"] = split
    axes = {"x": True, "yLeft": True, "yRight": True}
    return {
        "legend": {"isVisible": True, "position": "right", "showSingleSeries": True},
        "valueLabels": "hide",
        "fittingFunction": "None",
        "preferredSeriesType": panel.series,
        "axisTitlesVisibilitySettings": dict(axes),
        "tickLabelsVisibilitySettings": dict(axes),
        "gridlinesVisibilitySettings": dict(axes),
        "labelsOrientation": {"x": 0, "yLeft": 0, "yRight": 0},
        "yLeftExtent": {"mode": "full"},
        "yRightExtent": {"mode": "full"},
        "layers": [layer],
    }


def lens_object(
    panel: Panel, object_id: str, data_view_id: str, field_types: dict[str, str]
) -> dict[str, Any]:
    """One Lens visualization (lnsXY, lnsPie, lnsDatatable or lnsMetric) for a panel."""
    layer_id = f"layer-{panel.id}"
    metric_ids = [f"{panel.id}-m{i}" for i in range(len(panel.metrics))]
    columns: dict[str, dict[str, Any]] = {}
    bucket_ids: list[str] = []

    def add_bucket(col_id: str, bucket: Bucket) -> str:
        columns[col_id] = bucket_column(bucket, metric_ids[bucket.order_by], field_types)
        bucket_ids.append(col_id)
        return col_id

    visualization: dict[str, Any]
    if panel.kind == "xy":
        assert panel.x is not None
        split = add_bucket(f"{panel.id}-split", panel.split) if panel.split else None
        x = add_bucket(f"{panel.id}-x", panel.x)
        visualization = _xy_state(panel, layer_id, x, split, metric_ids)
        vis_type = "lnsXY"
    elif panel.kind == "pie":
        assert panel.slices is not None
        slices = add_bucket(f"{panel.id}-slices", panel.slices)
        visualization = {
            "shape": "donut",
            "palette": {"type": "palette", "name": "default"},
            "layers": [
                {
                    "layerId": layer_id,
                    "layerType": "data",
                    "primaryGroups": [slices],
                    "metrics": metric_ids,
                    "numberDisplay": "percent",
                    "categoryDisplay": "default",
                    "legendDisplay": "default",
                    "nestedLegend": False,
                }
            ],
        }
        vis_type = "lnsPie"
    elif panel.kind == "table":
        rows = [add_bucket(f"{panel.id}-r{i}", b) for i, b in enumerate(panel.rows)]
        visualization = {
            "layerId": layer_id,
            "layerType": "data",
            "columns": [{"columnId": c, "isTransposed": False} for c in rows + metric_ids],
            "rowHeight": "single",
            "rowHeightLines": 1,
        }
        if panel.sort_by is not None:
            visualization["sorting"] = {"columnId": metric_ids[panel.sort_by], "direction": "desc"}
        vis_type = "lnsDatatable"
    else:  # metric
        visualization = {"layerId": layer_id, "layerType": "data", "metricAccessor": metric_ids[0]}
        if len(metric_ids) > 1:
            visualization["secondaryMetricAccessor"] = metric_ids[1]
        vis_type = "lnsMetric"

    for col_id, metric in zip(metric_ids, panel.metrics, strict=True):
        columns[col_id] = metric_column(metric, field_types)
    layer = {
        "columns": columns,
        "columnOrder": bucket_ids + metric_ids,
        "incompleteColumns": {},
        "sampling": 1,
        "ignoreGlobalFilters": False,
    }
    attributes = {
        "title": panel.title,
        "description": panel.description,
        "visualizationType": vis_type,
        "state": {
            "datasourceStates": {
                "formBased": {"layers": {layer_id: layer}},
                "textBased": {"layers": {}},
            },
            "visualization": visualization,
            "query": _kql(panel.query),
            "filters": [],
            "internalReferences": [],
            "adHocDataViews": {},
        },
    }
    refs = [
        {
            "type": "index-pattern",
            "id": data_view_id,
            "name": f"indexpattern-datasource-layer-{layer_id}",
        }
    ]
    return _object("lens", object_id, attributes, refs)


def search_object(panel: Panel, object_id: str, data_view_id: str) -> dict[str, Any]:
    """A saved Discover session: the rows themselves, for free text Lens cannot aggregate."""
    search_source = {
        "query": _kql(panel.query),
        "filter": [],
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
    }
    attributes = {
        "title": panel.title,
        "description": panel.description,
        "columns": list(panel.columns),
        "sort": [list(pair) for pair in panel.sort],
        "hits": 0,
        "version": 1,
        "kibanaSavedObjectMeta": {
            "searchSourceJSON": json.dumps(search_source, ensure_ascii=False)
        },
    }
    refs = [
        {
            "type": "index-pattern",
            "id": data_view_id,
            "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
        }
    ]
    return _object("search", object_id, attributes, refs)


def layout(panels: list[Panel]) -> list[dict[str, int]]:
    """Grid positions: panels flow left to right in rows of 48 columns."""
    x = y = row_height = 0
    grid = []
    for panel in panels:
        if x + panel.width > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        grid.append({"x": x, "y": y, "w": panel.width, "h": panel.height})
        x += panel.width
        row_height = max(row_height, panel.height)
    return grid


def dashboard_object(spec: DashboardSpec, panel_objects: list[dict[str, Any]]) -> dict[str, Any]:
    panels_json = []
    refs = []
    for index, (grid, obj) in enumerate(zip(layout(spec.panels), panel_objects, strict=True)):
        panel_index = str(index + 1)
        ref_name = f"panel_{panel_index}"
        panels_json.append(
            {
                "type": obj["type"],
                "gridData": {**grid, "i": panel_index},
                "panelIndex": panel_index,
                "embeddableConfig": {"enhancements": {}},
                "panelRefName": ref_name,
            }
        )
        refs.append({"name": f"{panel_index}:{ref_name}", "type": obj["type"], "id": obj["id"]})
    refresh = spec.refresh_seconds
    attributes = {
        "title": spec.title,
        "description": spec.description,
        "panelsJSON": json.dumps(panels_json, ensure_ascii=False),
        "optionsJSON": json.dumps(
            {
                "useMargins": True,
                "syncColors": False,
                "syncCursor": True,
                "syncTooltips": False,
                "hidePanelTitles": False,
            }
        ),
        "timeRestore": True,
        "timeFrom": spec.time_from,
        "timeTo": spec.time_to,
        "refreshInterval": {"pause": refresh is None, "value": (refresh or 60) * 1000},
        "kibanaSavedObjectMeta": {
            "searchSourceJSON": json.dumps({"query": _kql(""), "filter": []})
        },
        "version": 1,
    }
    return _object("dashboard", spec.id, attributes, refs)
