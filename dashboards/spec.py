"""The readable source of the dashboards: YAML files under `dashboards/source/`, validated here.

One file per dashboard (`patrol.yaml`, `incidents.yaml`, `overview.yaml`) plus
`data_views.yaml`. A panel names its data view, what it shows and how it is bucketed; the
builder (`dashboards.build`) turns it into Lens / saved-search objects. Errors name the file,
the panel and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dashboards.errors import SourceError

SOURCE_DIR = Path(__file__).resolve().parent / "source"
DASHBOARD_FILES = ("patrol.yaml", "incidents.yaml", "overview.yaml")
SLUG = r"^[a-z0-9][a-z0-9-]{0,60}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataViewSpec(_Strict):
    id: str = Field(pattern=SLUG)
    index: str = Field(description="key of store.indices.INDICES; the title is <prefix>-<index>")
    name: str
    time_field: str | None = Field(
        description="date field the time picker filters on; null: no time filter "
        "(every document, whatever its age)"
    )


class FilterItem(_Strict):
    label: str
    query: str = Field(description="KQL; empty matches everything")


class Bucket(_Strict):
    """How rows/x-axis/series are formed: exactly one of `date`, `terms`, `filters`."""

    label: str
    date: str | None = None
    interval: str = "auto"
    terms: str | None = None
    size: int = Field(10, ge=1, le=500)
    other: bool = False
    order_by: int = Field(0, ge=0, description="index of the metric that orders the terms")
    filters: list[FilterItem] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Bucket:
        given = [k for k in ("date", "terms", "filters") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of date, terms, filters (got {given or 'none'})")
        return self

    @property
    def field(self) -> str | None:
        return self.date or self.terms


MetricOp = Literal["count", "sum", "average", "median", "min", "max", "unique_count", "last_value"]


class Metric(_Strict):
    label: str
    op: MetricOp
    field: str | None = None
    filter: str | None = Field(None, description="KQL that narrows this metric only")
    shift: str | None = Field(None, pattern=r"^\d+[hdwMy]$", description="time shift, e.g. 1d")
    sort_field: str | None = Field(None, description="last_value: the date field that orders")
    decimals: int | None = Field(None, ge=0, le=6)

    @model_validator(mode="after")
    def _field_rules(self) -> Metric:
        if self.op == "count" and self.field:
            raise ValueError("count takes no field")
        if self.op != "count" and not self.field:
            raise ValueError(f"{self.op} needs a field")
        if self.op == "last_value" and not self.sort_field:
            raise ValueError("last_value needs sort_field")
        return self


SeriesType = Literal[
    "bar",
    "bar_stacked",
    "bar_percentage_stacked",
    "bar_horizontal",
    "bar_horizontal_stacked",
    "line",
    "area",
    "area_stacked",
    "area_percentage_stacked",
]


class Panel(_Strict):
    id: str = Field(pattern=SLUG)
    title: str
    description: str = ""
    kind: Literal["xy", "pie", "table", "metric", "search"]
    data_view: str = Field(description="id of a data view in data_views.yaml")
    query: str = Field("", description="KQL applied to the whole panel")
    width: int = Field(24, ge=4, le=48)
    height: int = Field(12, ge=4, le=60)
    metrics: list[Metric] = Field(default_factory=list)
    # xy
    series: SeriesType = "bar_stacked"
    x: Bucket | None = None
    split: Bucket | None = None
    # pie
    slices: Bucket | None = None
    # table
    rows: list[Bucket] = Field(default_factory=list)
    sort_by: int | None = Field(None, ge=0, description="table: metric index to sort by (desc)")
    # search (Discover session: shows free-text fields Lens cannot aggregate)
    columns: list[str] = Field(default_factory=list)
    sort: list[tuple[str, Literal["asc", "desc"]]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _kind_rules(self) -> Panel:
        need: dict[str, list[str]] = {
            "xy": ["x", "metrics"],
            "pie": ["slices", "metrics"],
            "table": ["rows", "metrics"],
            "metric": ["metrics"],
            "search": ["columns"],
        }
        for name in need[self.kind]:
            if not getattr(self, name):
                raise ValueError(f"a {self.kind} panel needs {name}")
        if self.kind == "pie" and len(self.metrics) != 1:
            raise ValueError("a pie panel has exactly one metric")
        if self.kind == "metric" and len(self.metrics) > 2:
            raise ValueError("a metric panel has a primary and at most one secondary metric")
        if self.kind == "search" and self.metrics:
            raise ValueError("a search panel has columns, not metrics")
        for bucket in (self.x, self.split, self.slices, *self.rows):
            if bucket is not None and bucket.terms and bucket.order_by >= len(self.metrics):
                raise ValueError(f"bucket {bucket.label!r} orders by metric {bucket.order_by}")
        if self.sort_by is not None and self.sort_by >= len(self.metrics):
            raise ValueError(f"sort_by {self.sort_by} is not a metric index")
        return self


class DashboardSpec(_Strict):
    id: str = Field(pattern=SLUG)
    title: str
    description: str = ""
    time_from: str = "now-24h"
    time_to: str = "now"
    refresh_seconds: int | None = Field(60, ge=5)
    panels: list[Panel] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_panels(self) -> DashboardSpec:
        seen: set[str] = set()
        for panel in self.panels:
            if panel.id in seen:
                raise ValueError(f"panel id {panel.id!r} appears twice")
            seen.add(panel.id)
        return self


def _describe(file: Path, raw: object, exc: ValidationError, prefix: str = "") -> str:
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join([prefix] * bool(prefix) + [str(p) for p in loc])
        # name the panel by its id, not only its position
        if len(loc) >= 2 and loc[0] == "panels" and isinstance(loc[1], int):
            panels = raw.get("panels") if isinstance(raw, dict) else None
            if isinstance(panels, list) and loc[1] < len(panels):
                pid = panels[loc[1]].get("id") if isinstance(panels[loc[1]], dict) else None
                where = f"panel {pid!r} (panels[{loc[1]}])" + (
                    "." + ".".join(str(p) for p in loc[2:]) if loc[2:] else ""
                )
        problems.append(f"{where}: {err['msg']}")
    return f"{file.name}: " + "; ".join(problems)


def _read_yaml(file: Path) -> object:
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{file}: no such dashboard source file") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"{file.name}: not valid YAML: {exc}") from None


def load_data_views(source_dir: Path = SOURCE_DIR) -> list[DataViewSpec]:
    file = source_dir / "data_views.yaml"
    raw = _read_yaml(file)
    items = raw.get("data_views") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise SourceError(f"{file.name}: expected a top-level 'data_views' list")
    views = []
    for i, item in enumerate(items):
        try:
            views.append(DataViewSpec.model_validate(item))
        except ValidationError as exc:
            name = item.get("id") if isinstance(item, dict) else None
            raise SourceError(
                _describe(file, None, exc, prefix=f"data view {name!r} (data_views[{i}])")
            ) from None
    return views


def load_dashboard(file: Path) -> DashboardSpec:
    raw = _read_yaml(file)
    try:
        return DashboardSpec.model_validate(raw)
    except ValidationError as exc:
        raise SourceError(_describe(file, raw, exc)) from None


def load_dashboards(source_dir: Path = SOURCE_DIR) -> dict[str, DashboardSpec]:
    """File stem (patrol, incidents, overview) -> its dashboard."""
    return {Path(name).stem: load_dashboard(source_dir / name) for name in DASHBOARD_FILES}


_KQL_FIELD = re.compile(r"(?<![\w.\"'])([A-Za-z_][\w.]*)\s*(?::|<=|>=|<|>)")


def kql_fields(query: str) -> set[str]:
    """Field names a KQL expression mentions (`a.b : x`, `n >= 2`), quoted values excluded."""
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    return set(_KQL_FIELD.findall(unquoted))
