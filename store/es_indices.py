"""Elasticsearch index lifecycle: templates, versioned indices, aliases.

For every `IndexSpec` of `store.indices`: a composable template `<prefix>-<name>` (patterns
`<prefix>-<name>-v*`, one shard, the strict mapping derived from the record model), the
concrete index `<prefix>-<name>-v<version>`, and the alias `<prefix>-<name>` pointing at it as
the write index. A mapping change bumps the spec's version: `ensure_indices` then creates the
new index and moves the alias to it in one atomic `_aliases` request (the old index is kept
for a copy-over or a rollback; the bare distribution has no `_reindex`).

Callers translate client errors (see `store.es`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError

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
        point_alias(es, alias, index, current)
    return created


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
