"""The storage interface both backends implement, and the query types it takes.

Posts have their own operations (Chinese full-text search, filters, trend aggregations).
Every other record kind (topics, incidents, audit, claims, ...) goes through a small generic
document API: `put`, `put_many`, `get`, `find`, and `put_versioned` for optimistic concurrency.
One contract suite (`tests/store/test_contract.py`) runs against both backends.
"""

from __future__ import annotations

import abc
import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, Field

from store.errors import StoreUnavailable
from store.records import Post, Record

if TYPE_CHECKING:
    from store.spool import Spool

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Record)

# Post fields that filters and aggregations may name, on both backends.
POST_KEYWORD_FIELDS = (
    "source",
    "platform",
    "author",
    "dup_of",
    "minhash_bands",
    "place_codes",
    "places.province",
    "places.city",
    "nlp.version",
    "nlp.rumor.label",
    "nlp.emotion.label",
    "nlp.polarity.label",
    "nlp.help.label",
    "nlp.topic_id",
    "nlp.claim_match.claim_id",
    "nlp.claim_match.level",
)


class PostQuery(BaseModel):
    """What to search for. All given conditions must hold (AND)."""

    q: str | None = Field(None, description="Chinese text; segmented, every token must occur")
    since: datetime | None = Field(None, description="created_at >= since")
    until: datetime | None = Field(None, description="created_at < until")
    ids: list[str] | None = None
    terms: dict[str, list[str]] = Field(
        default_factory=dict,
        description="keyword field -> accepted values (any of); fields: POST_KEYWORD_FIELDS",
    )
    exclude_terms: dict[str, list[str]] = Field(
        default_factory=dict, description="keyword field -> rejected values"
    )
    missing: list[str] = Field(
        default_factory=list, description="keyword fields that must be absent (e.g. dup_of)"
    )
    min_score: dict[str, float] = Field(
        default_factory=dict, description="nlp task -> minimum score, e.g. {'rumor': 0.8}"
    )


@dataclass
class Page:
    posts: list[Post]
    total: int


@dataclass
class Bucket:
    key: str
    count: int


@dataclass
class BulkResult:
    """Outcome of a bulk write: per-document failures are reported, never swallowed."""

    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)
    spooled: int = 0

    def merge(self, other: BulkResult) -> BulkResult:
        return BulkResult(
            self.written + other.written, self.failed + other.failed, self.spooled + other.spooled
        )


@dataclass
class StoreStatus:
    backend: Literal["sqlite", "elasticsearch"]
    reachable: bool
    detail: str
    counts: dict[str, int] = field(default_factory=dict)
    spool_depth: int = 0


class Store(abc.ABC):
    """Storage backend. Writes are idempotent upserts keyed by the record's deterministic id,
    except for append-only kinds (`IndexSpec.append_only`: audit, publications), which are
    create-only: an existing id is never overwritten (the identical record again is a no-op).

    `write_posts` and `put_many` never lose data: when the backend is unreachable or refuses a
    whole request, the batch goes to the local append-only spool and is replayed, in order,
    before the next write (or by `replay_spool`).
    """

    backend: Literal["sqlite", "elasticsearch"]
    spool: Spool | None = None

    # -- outage safety ---------------------------------------------------------------------
    def write_posts(self, posts: Iterable[Post]) -> BulkResult:
        """Upsert posts by id; spooled if the store is unavailable."""
        return self._safe_write("posts", list(posts))

    def put_many(self, kind: str, records: Iterable[Record]) -> BulkResult:
        """Upsert records of `kind` by id; spooled if the store is unavailable."""
        return self._safe_write(kind, list(records))

    def replay_spool(self) -> BulkResult:
        """Write spooled batches in order; stops (keeping the rest) at the first outage."""
        if self.spool is None:
            return BulkResult()
        return self.spool.replay(self._write_kind)

    def _write_kind(self, kind: str, records: Sequence[Record]) -> BulkResult:
        if kind == "posts":
            return self._write_posts(records)  # type: ignore[arg-type]
        return self._put_many(kind, records)

    def _safe_write(self, kind: str, records: Sequence[Record]) -> BulkResult:
        if not records:
            return BulkResult()
        if self.spool is None:
            return self._write_kind(kind, records)
        if self.spool.depth():
            with contextlib.suppress(StoreUnavailable):
                self.replay_spool()
            if self.spool.depth():
                self.spool.append(kind, records)
                return BulkResult(spooled=len(records))
        try:
            return self._write_kind(kind, records)
        except StoreUnavailable as exc:
            log.warning("store unavailable (%s); spooling %d %s", exc, len(records), kind)
            self.spool.append(kind, records)
            return BulkResult(spooled=len(records))

    # -- lifecycle -------------------------------------------------------------------------
    @abc.abstractmethod
    def init(self) -> None:
        """Create templates, indices/tables and aliases. Safe to run at every deploy."""

    @abc.abstractmethod
    def status(self) -> StoreStatus: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def refresh(self, *kinds: str) -> None:  # noqa: B027 - optional hook, a no-op where not needed
        """Make recent writes visible to search (a no-op where not needed): of `kinds` only
        (e.g. "posts"), or of every index. Tests, benchmarks and the event-driven triage worker
        (which must see a batch's posts, and make its incidents visible, without waiting for the
        scheduled refresh); not for bulk paths."""

    # -- posts -----------------------------------------------------------------------------
    @abc.abstractmethod
    def _write_posts(self, posts: Sequence[Post]) -> BulkResult:
        """Upsert posts by id. Raises StoreUnavailable if the store refuses the whole batch."""

    @abc.abstractmethod
    def get_posts(self, ids: Sequence[str]) -> list[Post]:
        """Posts with these ids, in the given order, skipping unknown ids."""

    @abc.abstractmethod
    def post_sources(self, ids: Sequence[str]) -> dict[str, str]:
        """The `source` of each stored post among `ids` (unknown ids are left out): who
        owns a post id before a writer may overwrite it."""

    @abc.abstractmethod
    def search_posts(
        self,
        query: PostQuery,
        *,
        size: int = 20,
        offset: int = 0,
        sort: Literal["created_at", "-created_at"] = "-created_at",
    ) -> Page: ...

    @abc.abstractmethod
    def count_posts(self, query: PostQuery) -> int: ...

    @abc.abstractmethod
    def iter_posts(self, query: PostQuery, *, batch: int = 500) -> Iterator[Post]:
        """Every matching post, oldest first (created_at, id), in stable batches."""

    @abc.abstractmethod
    def histogram(
        self, query: PostQuery, *, interval: Literal["hour", "day"], tz: str
    ) -> list[Bucket]:
        """Post counts per hour/day (bucket key: ISO start time in `tz`); empty buckets omitted."""

    @abc.abstractmethod
    def terms(self, query: PostQuery, field: str, *, size: int = 10) -> list[Bucket]:
        """Top values of a keyword field by post count (a post counts once per value)."""

    @abc.abstractmethod
    def delete_posts_before(self, cutoff: datetime) -> int:
        """Retention: delete posts created before `cutoff`; returns how many."""

    # -- other records ---------------------------------------------------------------------
    @abc.abstractmethod
    def _put_many(self, kind: str, records: Sequence[Record]) -> BulkResult:
        """Upsert records by id. Raises StoreUnavailable if the store refuses the whole batch."""

    def put(self, kind: str, record: Record) -> None:
        result = self.put_many(kind, [record])
        if result.failed:
            raise ValueError(f"{kind} {record.id!r} not written: {result.failed[0][1]}")

    @abc.abstractmethod
    def get(self, kind: str, id: str, model: type[R]) -> R | None: ...

    @abc.abstractmethod
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
        """Records whose scalar fields equal `where` values (a list value means any of), and
        whose fields lie in `ranges` (gte, lt; None for open)."""

    @abc.abstractmethod
    def count(
        self,
        kind: str,
        *,
        where: dict[str, Any] | None = None,
        ranges: dict[str, tuple[Any, Any]] | None = None,
    ) -> int: ...

    @abc.abstractmethod
    def put_versioned(self, kind: str, record: Record, expected_version: int | None) -> int:
        """Write `record` if the stored version equals `expected_version` (None: must not exist).

        The record's own `version` field is set to the new version, which is returned.
        Raises ConflictError (with the current version) otherwise."""

    @abc.abstractmethod
    def update_fields(
        self,
        kind: str,
        id: str,
        fields: dict[str, Any],
        *,
        expect: dict[str, Any] | None = None,
    ) -> bool:
        """Partial write: set only `fields` (top-level) of a stored record, leaving every
        other field as it is now (never a stale copy of the whole record). With `expect`, only
        if those fields currently hold those values (compare-and-set). False if the record is
        missing or `expect` does not hold."""

    @abc.abstractmethod
    def delete(self, kind: str, id: str) -> bool: ...
