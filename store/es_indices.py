"""Elasticsearch index lifecycle: templates, versioned indices, aliases.

For every `IndexSpec` of `store.indices`: a composable template `<prefix>-<name>` (patterns
`<prefix>-<name>-v*`, one shard, the strict mapping derived from the record model), the
concrete index `<prefix>-<name>-v<version>`, and the alias `<prefix>-<name>` pointing at it as
the write index. A mapping change bumps the spec's version: `ensure_indices` then creates the
new index, copies the documents of the old one into it (scan + bulk, each document checked
against the current model: the bare distribution has no `_reindex`), and moves the alias to it
in one atomic `_aliases` request. The old index is kept for a rollback. Writes that reach the
old index while the copy runs are not carried over: bump versions during a maintenance window.

Callers translate client errors (see `store.es`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, helpers
from pydantic import ValidationError

from store.errors import StoreError, StoreUnavailable
from store.indices import INDICES, IndexSpec

log = logging.getLogger(__name__)

TEMPLATE_PRIORITY = 500


def ensure_indices(
    es: Elasticsearch, prefix: str, replicas: int, specs: Sequence[IndexSpec] | None = None
) -> list[str]:
    """Put templates, create missing indices, point aliases, for every index (or `specs`).
    Idempotent; returns the indices it created. Requests run concurrently: each is a
    cluster-state update, and the master batches concurrent ones."""
    specs = list(INDICES.values()) if specs is None else list(specs)
    found = es.indices.get_alias(index=",".join(f"{s.alias(prefix)}-v*" for s in specs)).body
    aliased: dict[str, set[str]] = {}
    for index, info in found.items():
        for alias in info.get("aliases", {}):
            aliased.setdefault(alias, set()).add(index)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda spec: put_template(es, spec, prefix, replicas), specs))
        new = pool.map(
            lambda spec: _ensure_index(es, spec, prefix, aliased.get(spec.alias(prefix), set())),
            specs,
        )
        created = [spec.index(prefix) for spec, made in zip(specs, new, strict=True) if made]
    if created:  # new shards start in parallel; wait for all primaries at once
        # (not wait_for_status: a new index reports yellow while its primaries initialize)
        health = es.cluster.health(
            index=",".join(created), wait_for_active_shards=str(len(created)), timeout="90s"
        )
        if health["timed_out"]:
            raise StoreUnavailable(f"new indices not ready after 90s: {', '.join(created)}")
    return created


def put_template(es: Elasticsearch, spec: IndexSpec, prefix: str, replicas: int) -> None:
    alias = spec.alias(prefix)
    es.indices.put_index_template(
        name=alias,
        index_patterns=[f"{alias}-v*"],
        priority=TEMPLATE_PRIORITY,
        version=spec.version,
        meta={"managed_by": "tingfeng", "description": spec.description},
        template={
            "settings": {"number_of_shards": 1, "number_of_replicas": replicas},
            "mappings": spec.mapping(),
        },
    )


def _ensure_index(es: Elasticsearch, spec: IndexSpec, prefix: str, current: set[str]) -> bool:
    """Index and alias of one spec; True if the index was created."""
    alias, index = spec.alias(prefix), spec.index(prefix)
    created = False
    if index not in current:
        try:  # the template supplies settings and mapping; a first alias is set in one step
            es.indices.create(
                index=index,
                aliases=None if current else {alias: {"is_write_index": True}},
                wait_for_active_shards="0",
            )
            created = True
            log.info("created index %s", index)
        except ApiError as exc:  # exists (another process, or an unaliased leftover)
            if exc.error != "resource_already_exists_exception":
                raise
    if not created:
        try:  # additive field changes apply in place; conflicting ones need a new version
            es.indices.put_mapping(index=index, **spec.mapping())
        except ApiError as exc:
            if exc.status_code != 400:
                raise
            raise StoreError(
                f"mapping of {index} conflicts with the {spec.model.__name__} model "
                f"({exc.message}); bump IndexSpec.version for {spec.name!r}"
            ) from exc
    if current != {index} and not (created and not current):
        if created:
            copy_documents(es, spec, sorted(current), index)
        point_alias(es, alias, index, current)
    return created


def copy_documents(es: Elasticsearch, spec: IndexSpec, sources: list[str], target: str) -> int:
    """Copy every document of the older indices into `target`, validated by the current model
    (fields the model no longer has are dropped; new fields get their defaults). A document the
    model rejects stops the migration with the ids named, before the alias moves."""
    fields = set(spec.model.model_fields)
    actions: list[dict[str, Any]] = []
    rejected: list[str] = []
    for hit in helpers.scan(es, index=",".join(sources), query={"query": {"match_all": {}}}):
        doc = {k: v for k, v in hit["_source"].items() if k in fields}
        try:
            record = spec.model.model_validate(doc)
        except ValidationError:
            rejected.append(hit["_id"])
            continue
        actions.append(
            {"_index": target, "_id": record.id, "_source": record.model_dump(mode="json")}
        )
    if rejected:
        raise StoreError(
            f"{len(rejected)} documents of {', '.join(sources)} do not fit the current "
            f"{spec.model.__name__} model (e.g. {', '.join(rejected[:5])}); fix them before "
            "moving the alias"
        )
    ok, errors = helpers.bulk(es, actions, raise_on_error=False, refresh="wait_for")
    if isinstance(errors, list) and errors:
        raise StoreError(f"copying into {target} failed for {len(errors)} documents: {errors[:3]}")
    log.info("copied %d documents from %s into %s", ok, ", ".join(sources), target)
    return int(ok)


def point_alias(es: Elasticsearch, alias: str, index: str, current: set[str]) -> None:
    """Atomically move `alias` to `index` (one request: remove from old, add to new)."""
    actions: list[dict[str, Any]] = [
        {"remove": {"index": old, "alias": alias}} for old in sorted(current - {index})
    ]
    actions.append({"add": {"index": index, "alias": alias, "is_write_index": True}})
    es.indices.update_aliases(actions=actions)
    log.info("alias %s -> %s (was %s)", alias, index, sorted(current) or "unset")


def drop_indices(es: Elasticsearch, prefix: str) -> None:
    """Delete every version of this prefix's indices, and its templates."""
    aliases = [spec.alias(prefix) for spec in INDICES.values()]
    names = list(
        es.indices.get(index=",".join(f"{a}-v*" for a in aliases), expand_wildcards="all").body
    )
    if names:
        es.indices.delete(index=",".join(names))
    try:
        templates = es.indices.get_index_template(name=f"{prefix}-*").body
    except NotFoundError:  # none left
        return
    ours = [t["name"] for t in templates["index_templates"] if t["name"] in aliases]
    if ours:
        es.indices.delete_index_template(name=",".join(ours))
