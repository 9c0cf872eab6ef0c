"""Embedded SQLite store: what a newcomer runs with no servers.

Posts live in `posts` (JSON body) with two side tables that make filters and aggregations
behave like Elasticsearch keyword fields: `post_terms` (field, value) holds every keyword value
of a post (arrays: one row per value) and `post_scores` the nlp scores. `posts_fts` is an FTS5
table over the same space-joined analyzer tokens Elasticsearch indexes with its whitespace
analyzer, so a segmented query matches the same posts on both backends.

Other record kinds share one `docs` table (kind, id, version, JSON body).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import typing
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic_core import to_jsonable_python

from analysis.text import segment_query
from store.base import (
    POST_KEYWORD_FIELDS,
    Bucket,
    BulkResult,
    Page,
    PostQuery,
    R,
    Store,
    StoreStatus,
)
from store.errors import ConflictError, StoreUnavailable
from store.files import private_dir, private_file
from store.indices import INDICES, spec_for
from store.records import Post, Record
from store.spool import Spool

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS posts (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_created ON posts(created_at, id);
CREATE TABLE IF NOT EXISTS post_terms (
    rid INTEGER NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS post_terms_fv ON post_terms(field, value);
CREATE INDEX IF NOT EXISTS post_terms_rid ON post_terms(rid);
CREATE TABLE IF NOT EXISTS post_scores (
    rid INTEGER NOT NULL,
    task TEXT NOT NULL,
    score REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS post_scores_rid ON post_scores(rid);
CREATE INDEX IF NOT EXISTS post_scores_ts ON post_scores(task, score);
CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING fts5(tokens);
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"""

SCORED_TASKS = ("rumor", "emotion", "polarity", "help")


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _keyword_values(doc: dict[str, Any], path: str) -> list[str]:
    """Values at a dotted path, flattening lists (like an Elasticsearch keyword field)."""
    values: list[Any] = [doc]
    for part in path.split("."):
        nxt: list[Any] = []
        for value in values:
            if isinstance(value, dict) and value.get(part) is not None:
                item = value[part]
                nxt.extend(item if isinstance(item, list) else [item])
            elif isinstance(value, list):
                for element in value:
                    if isinstance(element, dict) and element.get(part) is not None:
                        nxt.append(element[part])
        values = nxt
    return sorted({str(v) for v in values})


def _fts_query(q: str) -> str | None:
    tokens = segment_query(q)
    if not tokens:
        return None
    return " ".join('"' + t.replace('"', '""') + '"' for t in tokens)


def _is_datetime_field(model: type[Record], field: str) -> bool:
    hints = typing.get_type_hints(model, include_extras=True)
    tp = hints.get(field)
    return tp is not None and "datetime" in repr(tp)


class SqliteStore(Store):
    backend: Literal["sqlite", "elasticsearch"] = "sqlite"

    def __init__(self, path: Path, spool: Spool | None = None) -> None:
        self.path = path
        self.spool = spool
        self._lock = threading.RLock()
        private_dir(path.parent)
        try:
            private_file(path)  # owner-only before SQLite writes anything (WAL/SHM follow it)
            self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open SQLite store {path}: {exc}") from exc
        self._db.execute("PRAGMA foreign_keys=ON")
        # WAL + NORMAL: no fsync per commit (a crawl commits every page); an application crash
        # loses nothing, a power cut may lose the last commits, the file is never corrupted
        self._db.execute("PRAGMA synchronous=NORMAL")

    # -- lifecycle -------------------------------------------------------------------------
    def init(self) -> None:
        with self._lock:
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def status(self) -> StoreStatus:
        with self._lock:
            counts = {"posts": self._db.execute("SELECT COUNT(*) FROM posts").fetchone()[0]}
            for kind, n in self._db.execute("SELECT kind, COUNT(*) FROM docs GROUP BY kind"):
                counts[kind] = n
        for name in INDICES:
            counts.setdefault(name, 0)
        return StoreStatus(
            backend="sqlite",
            reachable=True,
            detail=str(self.path),
            counts=counts,
            spool_depth=self.spool.depth() if self.spool else 0,
        )

    # -- posts: writes ---------------------------------------------------------------------
    def _write_posts(self, posts: Sequence[Post]) -> BulkResult:
        result = BulkResult()
        with self._lock, self._db:
            cur = self._db.cursor()
            for post in posts:
                doc = post.model_dump(mode="json")
                rid = cur.execute(
                    "INSERT INTO posts(id, created_at, body) VALUES (?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET created_at=excluded.created_at, "
                    "body=excluded.body RETURNING rid",
                    (post.id, _epoch(post.created_at), json.dumps(doc, ensure_ascii=False)),
                ).fetchone()[0]
                cur.execute("DELETE FROM post_terms WHERE rid=?", (rid,))
                cur.execute("DELETE FROM post_scores WHERE rid=?", (rid,))
                cur.execute("DELETE FROM posts_fts WHERE rowid=?", (rid,))
                cur.executemany(
                    "INSERT INTO post_terms(rid, field, value) VALUES (?, ?, ?)",
                    [
                        (rid, field, value)
                        for field in POST_KEYWORD_FIELDS
                        for value in _keyword_values(doc, field)
                    ],
                )
                cur.executemany(
                    "INSERT INTO post_scores(rid, task, score) VALUES (?, ?, ?)",
                    [
                        (rid, task, label.score)
                        for task in SCORED_TASKS
                        if (label := getattr(post.nlp, task)) is not None
                    ],
                )
                cur.execute(
                    "INSERT INTO posts_fts(rowid, tokens) VALUES (?, ?)", (rid, post.tokens)
                )
                result.written += 1
        return result

    def delete_posts_before(self, cutoff: datetime) -> int:
        with self._lock, self._db:
            rids = [
                row[0]
                for row in self._db.execute(
                    "SELECT rid FROM posts WHERE created_at < ?", (_epoch(cutoff),)
                )
            ]
            for table, col in (
                ("post_terms", "rid"),
                ("post_scores", "rid"),
                ("posts_fts", "rowid"),
                ("posts", "rid"),
            ):
                self._db.executemany(f"DELETE FROM {table} WHERE {col}=?", [(r,) for r in rids])
        return len(rids)

    # -- posts: reads ----------------------------------------------------------------------
    def _where(self, query: PostQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.q is not None:
            match = _fts_query(query.q)
            if match is None:
                clauses.append("0")
            else:
                clauses.append("p.rid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?)")
                params.append(match)
        if query.since is not None:
            clauses.append("p.created_at >= ?")
            params.append(_epoch(query.since))
        if query.until is not None:
            clauses.append("p.created_at < ?")
            params.append(_epoch(query.until))
        if query.ids is not None:
            clauses.append(f"p.id IN ({','.join('?' * len(query.ids))})" if query.ids else "0")
            params.extend(query.ids)
        for negate, terms in ((False, query.terms), (True, query.exclude_terms)):
            for field, values in terms.items():
                _check_field(field)
                if not values:
                    clauses.append("1" if negate else "0")
                    continue
                # uncorrelated subqueries use the (field, value) index once per query
                sub = (
                    "p.rid IN (SELECT t.rid FROM post_terms t WHERE t.field=? "
                    f"AND t.value IN ({','.join('?' * len(values))}))"
                )
                clauses.append(sub.replace("p.rid IN", "p.rid NOT IN") if negate else sub)
                params.append(field)
                params.extend(values)
        for field in query.missing:
            _check_field(field)
            clauses.append("p.rid NOT IN (SELECT t.rid FROM post_terms t WHERE t.field=?)")
            params.append(field)
        for task, minimum in query.min_score.items():
            clauses.append(
                "p.rid IN (SELECT s.rid FROM post_scores s WHERE s.task=? AND s.score>=?)"
            )
            params.extend([task, minimum])
        return (" AND ".join(clauses) or "1"), params

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def get_posts(self, ids: Sequence[str]) -> list[Post]:
        if not ids:
            return []
        rows = self._rows(
            f"SELECT id, body FROM posts WHERE id IN ({','.join('?' * len(ids))})", list(ids)
        )
        by_id = {row[0]: Post.model_validate_json(row[1]) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def post_sources(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        rows = self._rows(
            "SELECT id, json_extract(body, '$.source') FROM posts "
            f"WHERE id IN ({','.join('?' * len(ids))})",
            list(ids),
        )
        return {str(row[0]): str(row[1]) for row in rows}

    def search_posts(
        self,
        query: PostQuery,
        *,
        size: int = 20,
        offset: int = 0,
        sort: Literal["created_at", "-created_at"] = "-created_at",
    ) -> Page:
        where, params = self._where(query)
        order = "DESC" if sort.startswith("-") else "ASC"
        rows = self._rows(
            f"SELECT body FROM posts p WHERE {where} "
            f"ORDER BY p.created_at {order}, p.id {order} LIMIT ? OFFSET ?",
            [*params, size, offset],
        )
        return Page([Post.model_validate_json(r[0]) for r in rows], self.count_posts(query))

    def count_posts(self, query: PostQuery) -> int:
        where, params = self._where(query)
        return int(self._rows(f"SELECT COUNT(*) FROM posts p WHERE {where}", params)[0][0])

    def iter_posts(self, query: PostQuery, *, batch: int = 500) -> Iterator[Post]:
        where, params = self._where(query)
        after: tuple[float, str] = (float("-inf"), "")
        while True:
            rows = self._rows(
                f"SELECT created_at, id, body FROM posts p WHERE {where} "
                "AND (p.created_at > ? OR (p.created_at = ? AND p.id > ?)) "
                "ORDER BY p.created_at, p.id LIMIT ?",
                [*params, after[0], after[0], after[1], batch],
            )
            if not rows:
                return
            for row in rows:
                yield Post.model_validate_json(row[2])
            after = (rows[-1][0], rows[-1][1])

    def histogram(
        self, query: PostQuery, *, interval: Literal["hour", "day"], tz: str
    ) -> list[Bucket]:
        where, params = self._where(query)
        zone = ZoneInfo(tz)
        counts: dict[str, int] = {}
        for (ts,) in self._rows(f"SELECT created_at FROM posts p WHERE {where}", params):
            local = datetime.fromtimestamp(ts, UTC).astimezone(zone)
            start = local.replace(minute=0, second=0, microsecond=0)
            if interval == "day":
                start = start.replace(hour=0)
            key = start.isoformat()
            counts[key] = counts.get(key, 0) + 1
        return [Bucket(k, counts[k]) for k in sorted(counts)]

    def terms(self, query: PostQuery, field: str, *, size: int = 10) -> list[Bucket]:
        _check_field(field)
        where, params = self._where(query)
        rows = self._rows(
            "SELECT t.value, COUNT(DISTINCT t.rid) AS n FROM post_terms t "
            f"WHERE t.field=? AND t.rid IN (SELECT p.rid FROM posts p WHERE {where}) "
            "GROUP BY t.value ORDER BY n DESC, t.value LIMIT ?",
            [field, *params, size],
        )
        return [Bucket(str(r[0]), int(r[1])) for r in rows]

    # -- other records ---------------------------------------------------------------------
    def _put_many(self, kind: str, records: Sequence[Record]) -> BulkResult:
        spec = spec_for(kind)
        result = BulkResult()
        with self._lock, self._db:
            for record in records:
                if not isinstance(record, spec.model):
                    result.failed.append((record.id, f"not a {spec.model.__name__}"))
                    continue
                version = getattr(record, "version", 1)
                body = record.model_dump_json()
                if spec.append_only:
                    cur = self._db.execute(
                        "INSERT INTO docs(kind, id, version, body) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(kind, id) DO NOTHING",
                        (kind, record.id, version, body),
                    )
                    if cur.rowcount == 0 and not self._same_doc(kind, record):
                        result.failed.append((record.id, f"exists; {kind} is append-only"))
                        continue
                else:
                    self._db.execute(
                        "INSERT INTO docs(kind, id, version, body) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(kind, id) DO UPDATE SET version=excluded.version, "
                        "body=excluded.body",
                        (kind, record.id, version, body),
                    )
                result.written += 1
        return result

    def _same_doc(self, kind: str, record: Record) -> bool:
        row = self._db.execute(
            "SELECT body FROM docs WHERE kind=? AND id=?", (kind, record.id)
        ).fetchone()
        return row is not None and json.loads(row[0]) == record.model_dump(mode="json")

    def update_fields(
        self,
        kind: str,
        id: str,
        fields: dict[str, Any],
        *,
        expect: dict[str, Any] | None = None,
    ) -> bool:
        spec = spec_for(kind)
        _check_fields(spec.model, [*fields, *(expect or {})])
        sets = ", ".join(f"'$.{name}', json(?)" for name in fields)
        clauses = ["kind=?", "id=?"]
        params: list[Any] = [json.dumps(to_jsonable_python(v)) for v in fields.values()]
        params += [kind, id]
        for name, value in (expect or {}).items():
            clauses.append(f"json_extract(body, '$.{name}') IS json_extract(?, '$')")
            params.append(json.dumps(to_jsonable_python(value)))
        with self._lock, self._db:  # one statement: atomic against every other writer
            cur = self._db.execute(
                f"UPDATE docs SET body=json_set(body, {sets}) WHERE {' AND '.join(clauses)}",
                params,
            )
        return cur.rowcount > 0

    def get(self, kind: str, id: str, model: type[R]) -> R | None:
        spec_for(kind)
        rows = self._rows("SELECT body FROM docs WHERE kind=? AND id=?", [kind, id])
        return model.model_validate_json(rows[0][0]) if rows else None

    def _doc_where(
        self,
        kind: str,
        where: dict[str, Any] | None,
        ranges: dict[str, tuple[Any, Any]] | None,
    ) -> tuple[str, list[Any]]:
        clauses = ["kind=?"]
        params: list[Any] = [kind]
        for field, value in (where or {}).items():
            expr = f"json_extract(body, '$.{_safe_path(field)}')"
            if isinstance(value, list | tuple | set):
                values = [_sql_value(v) for v in value]
                if not values:
                    clauses.append("0")
                    continue
                clauses.append(f"{expr} IN ({','.join('?' * len(values))})")
                params.extend(values)
            elif value is None:
                clauses.append(f"{expr} IS NULL")
            else:
                clauses.append(f"{expr} = ?")
                params.append(_sql_value(value))
        for field, (low, high) in (ranges or {}).items():
            expr = f"json_extract(body, '$.{_safe_path(field)}')"
            for bound, op in ((low, ">="), (high, "<")):
                if bound is None:
                    continue
                if isinstance(bound, datetime):
                    clauses.append(f"julianday({expr}) {op} julianday(?)")
                    params.append(bound.isoformat())
                else:
                    clauses.append(f"{expr} {op} ?")
                    params.append(_sql_value(bound))
        return " AND ".join(clauses), params

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
        spec_for(kind)
        clause, params = self._doc_where(kind, where, ranges)
        order = "id"
        if sort:
            expr = f"json_extract(body, '$.{_safe_path(sort)}')"
            if _is_datetime_field(model, sort):
                expr = f"julianday({expr})"
            order = f"{expr} {'DESC' if descending else 'ASC'}, id"
        rows = self._rows(
            f"SELECT body FROM docs WHERE {clause} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, size, offset],
        )
        return [model.model_validate_json(r[0]) for r in rows]

    def count(
        self,
        kind: str,
        *,
        where: dict[str, Any] | None = None,
        ranges: dict[str, tuple[Any, Any]] | None = None,
    ) -> int:
        spec_for(kind)
        clause, params = self._doc_where(kind, where, ranges)
        return int(self._rows(f"SELECT COUNT(*) FROM docs WHERE {clause}", params)[0][0])

    def put_versioned(self, kind: str, record: Record, expected_version: int | None) -> int:
        spec = spec_for(kind)
        if not isinstance(record, spec.model) or not hasattr(record, "version"):
            raise TypeError(f"{kind} records carry no version field")
        with self._lock, self._db:
            row = self._db.execute(
                "SELECT version FROM docs WHERE kind=? AND id=?", (kind, record.id)
            ).fetchone()
            current = row[0] if row else None
            if current != expected_version:
                raise ConflictError(kind, record.id, current)
            new_version = (current or 0) + 1
            record.version = new_version
            self._db.execute(
                "INSERT INTO docs(kind, id, version, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(kind, id) DO UPDATE SET version=excluded.version, body=excluded.body",
                (kind, record.id, new_version, record.model_dump_json()),
            )
        return new_version

    def delete(self, kind: str, id: str) -> bool:
        spec_for(kind)
        with self._lock, self._db:
            cur = self._db.execute("DELETE FROM docs WHERE kind=? AND id=?", (kind, id))
        return cur.rowcount > 0


def _check_field(field: str) -> None:
    if field not in POST_KEYWORD_FIELDS:
        raise ValueError(f"unknown post field {field!r}; use one of {POST_KEYWORD_FIELDS}")


def _check_fields(model: type[Record], names: Sequence[str]) -> None:
    for name in names:
        if name not in model.model_fields or name == "id":
            raise ValueError(f"{model.__name__} has no updatable field {name!r}")


def _safe_path(field: str) -> str:
    if not all(part.isidentifier() for part in field.split(".")):
        raise ValueError(f"invalid field name {field!r}")
    return field


def _sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return value
