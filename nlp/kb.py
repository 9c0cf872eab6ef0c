"""The debunk knowledge base: import, read back, office replies, search.

    NlpError (nlp.errors)
    └── KbError              base of the knowledge-base errors
        ├── KbDatasetError   a dataset folder/row cannot be read (from `nlp.kb_import`)
        └── MatchingError    invalid `matching.yaml` (from `nlp.matching`)

Claims are `Claim` records of kind "claims" (index `claims` on Elasticsearch, the `docs` table
on SQLite). Matching never queries the backend: `claim_index(store)` reads every claim through
the store API and builds the in-process BM25 + n-gram index, cached per store until the number
of claims changes, so both backends return the same candidates.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from nlp.kb_import import READERS, KbDatasetError, KbError, make_claim
from nlp.matching import ClaimIndex, Hit, MatchConfig, MatchingError
from store.base import BulkResult, Store
from store.records import Claim, Post

log = logging.getLogger(__name__)

KIND = "claims"
PAGE = 1000
BATCH = 500
OFFICE_ORIGIN = "office"
MATCHER_VERSION = "1"  # bump when nlp/matching.py scores differently

__all__ = [
    "KbDatasetError",
    "KbError",
    "MatchingError",
    "add_office_reply",
    "claim_index",
    "import_claims",
    "load_claims",
    "match_claims",
    "search_claims",
    "seed_demo_claims",
]


def import_claims(
    store: Store,
    root: Path,
    origins: Sequence[str] | None = None,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, BulkResult]:
    """Read the debunk datasets under `root` and upsert their claims (idempotent).

    `progress(origin, n)` is called after each written batch. Returns results per origin."""
    unknown = sorted(set(origins or ()) - set(READERS))
    if unknown:
        raise KbDatasetError(f"unknown dataset(s) {unknown}; known: {sorted(READERS)}")
    results: dict[str, BulkResult] = {}
    for origin, reader in READERS.items():
        if origins and origin not in origins:
            continue
        result = BulkResult()
        for batch in _batches(reader(root), BATCH):
            result = result.merge(store.put_many(KIND, batch))
            if progress:
                progress(origin, len(batch))
        results[origin] = result
        log.info("kb import %s: %d written, %d failed", origin, result.written, len(result.failed))
    _invalidate(store)
    return results


def _batches(items: Iterable[Claim], size: int) -> Iterator[list[Claim]]:
    batch: list[Claim] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def load_claims(store: Store, *, page_size: int = PAGE) -> list[Claim]:
    """Every claim in the store, in id order (keyset pages: no deep offsets)."""
    claims: list[Claim] = []
    after: str | None = None
    while True:
        ranges = {"id": (after, None)} if after is not None else None
        page = store.find(KIND, Claim, ranges=ranges, sort="id", size=page_size)
        fresh = [c for c in page if c.id != after]
        claims.extend(fresh)
        if len(page) < page_size or not fresh:
            return claims
        after = fresh[-1].id


def add_office_reply(
    store: Store,
    *,
    reply_id: str,
    claim: str,
    answer: str,
    verdict: str = "false",
    source_url: str | None = None,
    published_at: datetime | None = None,
    source_name: str = "本单位发布",
) -> Claim:
    """Put one of our own published replies into the knowledge base (origin "office").

    `reply_id` is the caller's stable id (e.g. the incident or reply id): calling again with
    the same id updates the same claim."""
    record = make_claim(
        origin=OFFICE_ORIGIN,
        native_id=reply_id,
        claim=claim,
        answer=answer,
        verdict=verdict,
        source_name=source_name,
        source_url=source_url,
        published_at=published_at,
    )
    store.put(KIND, record)
    _invalidate(store)
    return record


# -- the cached index -----------------------------------------------------------------------
_lock = threading.Lock()
_cache: dict[int, tuple[int, ClaimIndex]] = {}


def _invalidate(store: Store) -> None:
    with _lock:
        _cache.pop(id(store), None)


def claim_index(store: Store, config: MatchConfig | None = None) -> ClaimIndex:
    """The in-process index over the store's claims; rebuilt when the claim count changes."""
    count = store.count(KIND)
    with _lock:
        cached = _cache.get(id(store))
        if cached and cached[0] == count and (config is None or cached[1].config == config):
            return cached[1]
    index = ClaimIndex(load_claims(store), config)
    log.info("claim index built over %d claims", len(index))
    with _lock:
        _cache[id(store)] = (count, index)
    return index


def search_claims(store: Store, q: str, *, size: int = 10) -> list[Hit]:
    """Claims best matching a text, best first (the API's `/kb/search`)."""
    return claim_index(store).search(q, k=size)


def match_claims(posts: Sequence[Post], store: Store, *, index: ClaimIndex | None = None) -> int:
    """Enrichment step: set `nlp.claim_match` of each post (None when nothing passes
    `suggest`). Returns how many posts matched."""
    index = index or claim_index(store)
    matched = 0
    for post, match in zip(posts, index.match_many(posts), strict=True):
        post.nlp.claim_match = match
        matched += match is not None
    return matched


def seed_demo_claims(store: Store) -> list[Claim]:
    """Put the hand-written demo debunks (`nlp/kb_demo.yaml`, origin "demo") into the store."""
    from importlib import resources

    import yaml

    rows = yaml.safe_load(resources.files("nlp").joinpath("kb_demo.yaml").read_text("utf-8"))
    claims = [
        make_claim(
            origin="demo",
            native_id=str(row["id"]),
            claim=str(row["claim"]),
            answer=str(row["answer"]),
            verdict=str(row["verdict"]),
            source_name="听风 demo",
        )
        for row in rows
    ]
    result = store.put_many(KIND, claims)
    if result.failed:
        raise KbDatasetError(f"nlp/kb_demo.yaml: {result.failed[0][0]}: {result.failed[0][1]}")
    _invalidate(store)
    return claims


class ClaimMatchStep:
    """Enrichment step (`nlp.enrich`): claim matches; versioned by `matching.yaml`, so a new
    claim does not re-score old posts but a new threshold or method does."""

    def __init__(self, store: Store) -> None:
        from importlib import resources

        text = resources.files("nlp").joinpath("matching.yaml").read_bytes()
        self.version = f"claims-{MATCHER_VERSION}-{hashlib.sha1(text).hexdigest()[:8]}"
        self.store = store

    def __call__(self, posts: list[Post]) -> None:
        match_claims(posts, self.store)
