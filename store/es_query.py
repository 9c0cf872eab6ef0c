"""Elasticsearch query bodies for the storage interface's query types.

Each builder mirrors a clause of `store.sqlite`, so both backends select the same documents:
`post_query` for `PostQuery`, `doc_query` for the generic `find`/`count` filters. The Chinese
query text is segmented with the same function that segmented the indexed `tokens` field.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from analysis.text import segment_query
from store.base import POST_KEYWORD_FIELDS, PostQuery

MATCH_NONE: dict[str, Any] = {"match_none": {}}
MATCH_ALL: dict[str, Any] = {"match_all": {}}


def check_post_field(field: str) -> None:
    if field not in POST_KEYWORD_FIELDS:
        raise ValueError(f"unknown post field {field!r}; use one of {POST_KEYWORD_FIELDS}")


def json_value(value: Any) -> Any:
    """A Python filter value as Elasticsearch expects it (enums by value, ISO datetimes)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _bool(filters: list[dict[str, Any]], must_not: list[dict[str, Any]]) -> dict[str, Any]:
    if not filters and not must_not:
        return MATCH_ALL
    body: dict[str, Any] = {}
    if filters:
        body["filter"] = filters
    if must_not:
        body["must_not"] = must_not
    return {"bool": body}


def post_query(query: PostQuery) -> dict[str, Any]:
    """The `query` clause selecting the posts `query` describes (filter context, no scores)."""
    filters: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    if query.q is not None:
        tokens = segment_query(query.q)
        if not tokens:
            return MATCH_NONE
        filters.append({"match": {"tokens": {"query": " ".join(tokens), "operator": "and"}}})
    created: dict[str, str] = {}
    if query.since is not None:
        created["gte"] = query.since.isoformat()
    if query.until is not None:
        created["lt"] = query.until.isoformat()
    if created:
        filters.append({"range": {"created_at": created}})
    if query.ids is not None:
        if not query.ids:
            return MATCH_NONE
        filters.append({"terms": {"id": list(query.ids)}})
    for field, values in query.terms.items():
        check_post_field(field)
        if not values:
            return MATCH_NONE
        filters.append({"terms": {field: list(values)}})
    for field, values in query.exclude_terms.items():
        check_post_field(field)
        if values:
            must_not.append({"terms": {field: list(values)}})
    for field in query.missing:
        check_post_field(field)
        must_not.append({"exists": {"field": field}})
    for task, minimum in query.min_score.items():
        filters.append({"range": {f"nlp.{task}.score": {"gte": minimum}}})
    return _bool(filters, must_not)


def doc_query(
    where: dict[str, Any] | None, ranges: dict[str, tuple[Any, Any]] | None
) -> dict[str, Any]:
    """`where`: field == value (a list: any of; None: absent); `ranges`: gte low, lt high."""
    filters: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    for field, value in (where or {}).items():
        if isinstance(value, list | tuple | set):
            values = [json_value(v) for v in value]
            if not values:
                return MATCH_NONE
            filters.append({"terms": {field: values}})
        elif value is None:
            must_not.append({"exists": {"field": field}})
        else:
            filters.append({"term": {field: json_value(value)}})
    for field, (low, high) in (ranges or {}).items():
        bounds: dict[str, Any] = {}
        if low is not None:
            bounds["gte"] = json_value(low)
        if high is not None:
            bounds["lt"] = json_value(high)
        if bounds:
            filters.append({"range": {field: bounds}})
    return _bool(filters, must_not)


def post_sort(descending: bool) -> list[dict[str, Any]]:
    """Posts ordered by (created_at, id), as the SQLite store orders them."""
    order = "desc" if descending else "asc"
    return [{"created_at": {"order": order}}, {"id": {"order": order}}]


def doc_sort(sort: str | None, descending: bool) -> list[dict[str, Any]]:
    if not sort:
        return [{"id": {"order": "asc"}}]
    # SQLite sorts NULL below every value: first ascending, last descending.
    order, missing = ("desc", "_last") if descending else ("asc", "_first")
    return [
        {sort: {"order": order, "missing": missing, "unmapped_type": "keyword"}},
        {"id": {"order": "asc"}},
    ]
