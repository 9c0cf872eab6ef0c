"""Elasticsearch 9 store: the production backend, with the semantics of `store.sqlite`.

Every index of `store.indices` has a template, a versioned index and an alias (created by
`store.es_indices`). Reads and writes always go through the alias `<prefix>-<name>`, so a
mapping change is a new index plus an atomic alias flip.

Bulk writes are `index` operations keyed by the record's deterministic id (upserts), sent with
`require_alias` so a missing alias can never auto-create a dynamically mapped index. Failures of
single documents come back in `BulkResult.failed`; an unreachable node, a timeout or a rejection
of the whole request (429/5xx) raises `StoreUnavailable`, and `Store` spools the batch.

Works on the bare `integ-test-zip` distribution: no `GET /`, no `_delete_by_query`, no scripts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch, NotFoundError
from elasticsearch import ConflictError as EsConflict
from elasticsearch.helpers import streaming_bulk
from pydantic_core import to_jsonable_python

from store.base import Bucket, BulkResult, Page, PostQuery, R, Store, StoreStatus
from store.errors import ConflictError, StoreError, StoreUnavailable
from store.es_indices import drop_indices, ensure_indices
from store.es_query import (
    check_post_field,
    doc_query,
    doc_sort,
    post_query,
    post_sort,
)
from store.indices import INDICES, spec_for
from store.records import Post, Record

if TYPE_CHECKING:
    from store.settings import Settings
    from store.spool import Spool

log = logging.getLogger(__name__)

BULK_CHUNK_DOCS = 1000
BULK_CHUNK_BYTES = 20 * 1024 * 1024
SCAN_PAGE = 1000
INIT_TIMEOUT_S = 120


@contextmanager
def _guard(action: str) -> Iterator[None]:
    """Translate client errors: outages -> StoreUnavailable, other refusals -> StoreError."""
    try:
        yield
    except TransportError as exc:  # connection refused/reset, timeout
        raise StoreUnavailable(f"Elasticsearch unreachable during {action}: {exc}") from exc
    except ApiError as exc:
        if exc.status_code == 429 or exc.status_code >= 500:
            raise StoreUnavailable(
                f"Elasticsearch refused {action} ({exc.status_code}): {exc.message}"
            ) from exc
        raise StoreError(f"Elasticsearch {action} failed ({exc.status_code}): {exc}") from exc


def _raise_unless_missing_doc(exc: NotFoundError) -> None:
    """A 404 for a missing document is an answer; for a missing index/alias it is an error."""
    if isinstance(exc.body, dict) and "error" in exc.body:
        raise exc


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        return parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host).geturl()
    return url


def _reason(info: dict[str, Any]) -> str:
    error = info.get("error")
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error or info.get("result") or "failed")


class ElasticsearchStore(Store):
    backend: Literal["sqlite", "elasticsearch"] = "elasticsearch"

    def __init__(
        self,
        client: Elasticsearch,
        *,
        prefix: str,
        replicas: int = 0,
        spool: Spool | None = None,
        url: str = "",
        chunk_size: int = BULK_CHUNK_DOCS,
        manage_indices: bool = True,
    ) -> None:
        self.es = client
        self.prefix = prefix
        self.replicas = replicas
        self.spool = spool
        self.url = url
        self.chunk_size = chunk_size
        self.manage_indices = manage_indices

    @classmethod
    def from_settings(cls, settings: Settings, *, spool: Spool | None = None) -> ElasticsearchStore:
        if not settings.es_url:
            raise StoreError("TINGFENG_ES_URL is not set")
        auth = None
        if settings.es_username and settings.es_password:
            auth = (settings.es_username, settings.es_password.get_secret_value())
        client = Elasticsearch(settings.es_url, basic_auth=auth, request_timeout=30, max_retries=1)
        return cls(
            client,
            prefix=settings.index_prefix,
            replicas=settings.es_replicas,
            manage_indices=settings.es_manage_indices,
            spool=spool,
            url=_redact(settings.es_url),
        )

    def alias(self, kind: str) -> str:
        return spec_for(kind).alias(self.prefix)

    # -- lifecycle -------------------------------------------------------------------------
    def init(self) -> None:
        """Templates, versioned indices and aliases (see `store.es_indices`). Idempotent. Without
        `manage_indices` only checks that every alias exists (a role that may not manage them)."""
        if not self.manage_indices:
            with _guard("init check"):
                aliases = sorted(spec.alias(self.prefix) for spec in INDICES.values())
                missing = [a for a in aliases if not self.es.indices.exists_alias(name=a)]
            if missing:
                raise StoreError(
                    f"indices missing: {', '.join(missing)}; run `tingfeng store init` as a user "
                    "that may manage them (compose: the store-init one-shot), or set "
                    "TINGFENG_ES_MANAGE_INDICES=true"
                )
            return
        with _guard("init"):  # cluster-state updates queue up on a busy master: be patient
            ensure_indices(
                self.es.options(request_timeout=INIT_TIMEOUT_S), self.prefix, self.replicas
            )

    def close(self) -> None:
        self.es.close()

    def refresh(self, *kinds: str) -> None:
        aliases = [spec_for(k).alias(self.prefix) for k in kinds] or [
            s.alias(self.prefix) for s in INDICES.values()
        ]
        with _guard("refresh"):
            self.es.indices.refresh(index=",".join(aliases), ignore_unavailable=True)

    def status(self) -> StoreStatus:
        depth = self.spool.depth() if self.spool else 0
        try:
            health = self.es.cluster.health()
            counts = {
                name: self._count_alias(spec.alias(self.prefix)) for name, spec in INDICES.items()
            }
        except (TransportError, ApiError) as exc:
            return StoreStatus("elasticsearch", False, f"{self.url}: {exc}", {}, depth)
        detail = f"{self.url} cluster {health['cluster_name']} ({health['status']})"
        return StoreStatus("elasticsearch", True, detail, counts, depth)

    def _count_alias(self, alias: str) -> int:
        try:
            return int(self.es.count(index=alias)["count"])
        except NotFoundError:
            return 0

    def drop_all(self) -> None:
        """Delete this prefix's indices and templates (test fixtures, scratch benchmarks)."""
        with _guard("drop_all"):
            drop_indices(self.es, self.prefix)

    # -- bulk writes -----------------------------------------------------------------------
    def _bulk(self, actions: Iterable[dict[str, Any]], action: str) -> BulkResult:
        """Stream `actions` (header + pre-serialized body) and collect per-document results.

        Documents the node could not take for its own reasons (429/5xx after retries, e.g. a
        shard not yet recovered) make the batch unavailable as a whole, so it is spooled and
        re-sent (writes are idempotent); any other per-document failure is the document's."""
        result = BulkResult()
        transient = 0
        with _guard(action):
            for ok, item in streaming_bulk(
                self.es,
                actions,
                chunk_size=self.chunk_size,
                max_chunk_bytes=BULK_CHUNK_BYTES,
                expand_action_callback=_expand,
                raise_on_error=False,
                max_retries=3,
                initial_backoff=1,
                max_backoff=8,
                require_alias=True,
            ):
                op, info = next(iter(item.items()))
                if ok:
                    result.written += 1
                elif info.get("status") == 404 and op == "delete":
                    continue
                elif info.get("status", 500) == 429 or info.get("status", 500) >= 500:
                    transient += 1
                else:
                    result.failed.append((str(info.get("_id")), _reason(info)))
        if transient:
            raise StoreUnavailable(f"Elasticsearch could not take {transient} documents ({action})")
        return result

    def _index_actions(self, alias: str, records: Sequence[Record]) -> Iterator[dict[str, Any]]:
        for record in records:
            yield {"_index": alias, "_id": record.id, "body": record.model_dump_json()}

    def _write_posts(self, posts: Sequence[Post]) -> BulkResult:
        return self._bulk(self._index_actions(self.alias("posts"), posts), "bulk write of posts")

    def _put_many(self, kind: str, records: Sequence[Record]) -> BulkResult:
        spec = spec_for(kind)
        wrong = [r for r in records if not isinstance(r, spec.model)]
        good = [r for r in records if isinstance(r, spec.model)]
        alias = spec.alias(self.prefix)
        if spec.append_only:
            result = self._create_only(alias, kind, good)
        else:
            result = self._bulk(self._index_actions(alias, good), f"bulk {kind}")
        result.failed.extend((r.id, f"not a {spec.model.__name__}") for r in wrong)
        return result

    def _create_only(self, alias: str, kind: str, records: Sequence[Record]) -> BulkResult:
        """`create` operations: Elasticsearch refuses an existing id (409). Such a refusal
        counts as written when the stored document is this very record (a retried write)."""
        actions = (
            {"_op_type": "create", "_index": alias, "_id": r.id, "body": r.model_dump_json()}
            for r in records
        )
        result = self._bulk(actions, f"create-only bulk {kind}")
        exists = {i for i, reason in result.failed if reason.startswith("version_conflict")}
        if not exists:
            return result
        by_id = {r.id: r for r in records}
        with _guard(f"get of {kind}"):
            docs = self.es.mget(index=alias, ids=sorted(exists))["docs"]
        same = {
            d["_id"]
            for d in docs
            if d.get("found") and d["_source"] == by_id[d["_id"]].model_dump(mode="json")
        }
        failed = [
            (i, f"exists; {kind} is append-only" if i in exists else reason)
            for i, reason in result.failed
            if i not in same
        ]
        return BulkResult(result.written + len(same), failed, result.spooled)

    # -- posts: reads ----------------------------------------------------------------------
    def _search(self, kind: str, **body: Any) -> dict[str, Any]:
        with _guard(f"search of {kind}"):
            return self.es.search(index=self.alias(kind), **body).body

    def get_posts(self, ids: Sequence[str]) -> list[Post]:
        if not ids:
            return []
        with _guard("get of posts"):
            docs = self.es.mget(index=self.alias("posts"), ids=list(ids))["docs"]
        return [Post.model_validate(d["_source"]) for d in docs if d.get("found")]

    def post_sources(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        with _guard("get of posts"):
            docs = self.es.mget(
                index=self.alias("posts"), ids=list(ids), source_includes=["source"]
            )["docs"]
        return {str(d["_id"]): str(d["_source"]["source"]) for d in docs if d.get("found")}

    def search_posts(
        self,
        query: PostQuery,
        *,
        size: int = 20,
        offset: int = 0,
        sort: Literal["created_at", "-created_at"] = "-created_at",
    ) -> Page:
        resp = self._search(
            "posts",
            query=post_query(query),
            sort=post_sort(sort.startswith("-")),
            size=size,
            from_=offset,
            track_total_hits=True,
        )
        posts = [Post.model_validate(h["_source"]) for h in resp["hits"]["hits"]]
        return Page(posts, int(resp["hits"]["total"]["value"]))

    def count_posts(self, query: PostQuery) -> int:
        with _guard("count of posts"):
            return int(self.es.count(index=self.alias("posts"), query=post_query(query))["count"])

    def _scan(
        self, query: dict[str, Any], batch: int, source: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Hits in (created_at, id) order, page by page with search_after."""
        after: list[Any] | None = None
        while True:
            extra = {"search_after": after} if after is not None else {}
            hits = self._search(
                "posts", query=query, sort=post_sort(False), size=batch, source=source, **extra
            )["hits"]["hits"]
            yield from hits
            if len(hits) < batch:
                return
            after = hits[-1]["sort"]

    def iter_posts(self, query: PostQuery, *, batch: int = 500) -> Iterator[Post]:
        for hit in self._scan(post_query(query), batch):
            yield Post.model_validate(hit["_source"])

    def histogram(
        self, query: PostQuery, *, interval: Literal["hour", "day"], tz: str
    ) -> list[Bucket]:
        zone = ZoneInfo(tz)
        agg = {
            "field": "created_at",
            "calendar_interval": interval,
            "time_zone": tz,
            "min_doc_count": 1,
        }
        resp = self._search(
            "posts", query=post_query(query), size=0, aggs={"h": {"date_histogram": agg}}
        )
        return [
            Bucket(
                datetime.fromtimestamp(b["key"] / 1000, UTC).astimezone(zone).isoformat(),
                int(b["doc_count"]),
            )
            for b in resp["aggregations"]["h"]["buckets"]
        ]

    def terms(self, query: PostQuery, field: str, *, size: int = 10) -> list[Bucket]:
        check_post_field(field)
        agg = {"field": field, "size": size, "order": [{"_count": "desc"}, {"_key": "asc"}]}
        resp = self._search("posts", query=post_query(query), size=0, aggs={"t": {"terms": agg}})
        return [
            Bucket(str(b["key"]), int(b["doc_count"])) for b in resp["aggregations"]["t"]["buckets"]
        ]

    def delete_posts_before(self, cutoff: datetime) -> int:
        """No `_delete_by_query` on the bare distribution: page ids, then bulk-delete them."""
        alias = self.alias("posts")
        query = {"range": {"created_at": {"lt": cutoff.isoformat()}}}
        deleted = 0
        page: list[dict[str, Any]] = []
        for hit in self._scan(query, SCAN_PAGE, source=False):
            page.append({"_op_type": "delete", "_index": alias, "_id": hit["_id"]})
            if len(page) == SCAN_PAGE:
                deleted += self._bulk(page, "retention delete").written
                page = []
        if page:
            deleted += self._bulk(page, "retention delete").written
        return deleted

    # -- other records ---------------------------------------------------------------------
    def get(self, kind: str, id: str, model: type[R]) -> R | None:
        alias = self.alias(kind)
        with _guard(f"get of {kind}"):
            try:
                doc = self.es.get(index=alias, id=id)
            except NotFoundError as exc:
                _raise_unless_missing_doc(exc)
                return None
        return model.model_validate(doc["_source"])

    def find(
        self,
        kind: str,
        model: type[R],
        *,
        where: dict[str, Any] | None = None,
        ranges: dict[str, tuple[Any, Any]] | None = None,
        sort: str | None = None,
        descending: bool = False,
        size: int = 100,
        offset: int = 0,
    ) -> list[R]:
        resp = self._search(
            kind,
            query=doc_query(where, ranges),
            sort=doc_sort(sort, descending),
            size=size,
            from_=offset,
        )
        return [model.model_validate(h["_source"]) for h in resp["hits"]["hits"]]

    def count(
        self,
        kind: str,
        *,
        where: dict[str, Any] | None = None,
        ranges: dict[str, tuple[Any, Any]] | None = None,
    ) -> int:
        alias = self.alias(kind)
        with _guard(f"count of {kind}"):
            return int(self.es.count(index=alias, query=doc_query(where, ranges))["count"])

    def _current_version(self, alias: str, id: str) -> tuple[int | None, dict[str, Any]]:
        try:
            doc = self.es.get(index=alias, id=id)
        except NotFoundError as exc:
            _raise_unless_missing_doc(exc)
            return None, {}
        return int(doc["_source"]["version"]), {
            "if_seq_no": doc["_seq_no"],
            "if_primary_term": doc["_primary_term"],
        }

    def put_versioned(self, kind: str, record: Record, expected_version: int | None) -> int:
        """Compare-and-set on the record's `version`, enforced by Elasticsearch's
        `if_seq_no`/`if_primary_term` (or `op_type=create` for a new record)."""
        spec = spec_for(kind)
        if not isinstance(record, spec.model) or not hasattr(record, "version"):
            raise TypeError(f"{kind} records carry no version field")
        alias = spec.alias(self.prefix)
        with _guard(f"versioned write of {kind}"):
            current, cas = (
                (None, {}) if expected_version is None else self._current_version(alias, record.id)
            )
            if current != expected_version:
                raise ConflictError(kind, record.id, current)
            old = record.version
            record.version = (expected_version or 0) + 1
            try:
                if expected_version is None:
                    self.es.create(
                        index=alias,
                        id=record.id,
                        document=record.model_dump(mode="json"),
                        require_alias=True,
                    )
                else:
                    self.es.index(
                        index=alias,
                        id=record.id,
                        document=record.model_dump(mode="json"),
                        require_alias=True,
                        **cas,
                    )
            except EsConflict as exc:  # someone wrote between our read and our write
                record.version = old
                raise ConflictError(
                    kind, record.id, self._current_version(alias, record.id)[0]
                ) from exc
            except BaseException:
                record.version = old
                raise
        return int(record.version)

    def update_fields(
        self,
        kind: str,
        id: str,
        fields: dict[str, Any],
        *,
        expect: dict[str, Any] | None = None,
    ) -> bool:
        """A partial `update` (Elasticsearch merges it into the current document); with
        `expect`, guarded by the document's `if_seq_no`/`if_primary_term`."""
        spec = spec_for(kind)
        for name in [*fields, *(expect or {})]:
            if name not in spec.model.model_fields or name == "id":
                raise ValueError(f"{spec.model.__name__} has no updatable field {name!r}")
        alias = spec.alias(self.prefix)
        doc = to_jsonable_python(fields)
        with _guard(f"update of {kind}"):
            cas: dict[str, Any] = {"retry_on_conflict": 3}
            if expect:
                try:
                    current = self.es.get(index=alias, id=id)
                except NotFoundError as exc:
                    _raise_unless_missing_doc(exc)
                    return False
                wanted = to_jsonable_python(expect)
                if any(current["_source"].get(k) != v for k, v in wanted.items()):
                    return False
                cas = {
                    "if_seq_no": current["_seq_no"],
                    "if_primary_term": current["_primary_term"],
                }
            try:
                self.es.update(index=alias, id=id, doc=doc, **cas)
            except NotFoundError as exc:
                error = exc.body.get("error") if isinstance(exc.body, dict) else None
                if isinstance(error, dict) and error.get("type") == "document_missing_exception":
                    return False
                raise
            except EsConflict:
                return False
        return True

    def delete(self, kind: str, id: str) -> bool:
        alias = self.alias(kind)
        with _guard(f"delete of {kind}"):
            try:
                self.es.delete(index=alias, id=id)
            except NotFoundError as exc:
                _raise_unless_missing_doc(exc)
                return False
        return True


def _expand(action: bytes | str | dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """Bulk action line + body: bodies are serialized once, by pydantic, straight to JSON."""
    assert isinstance(action, dict)
    op = action.get("_op_type", "index")
    header = {op: {"_index": action["_index"], "_id": action["_id"]}}
    body = action.get("body")
    return header, (body.encode("utf-8") if body is not None else None)


__all__ = ["ElasticsearchStore"]
