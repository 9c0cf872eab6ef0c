"""Duplicate detection: exact (deterministic ids) and near-duplicate (across sources).

Exact: a post's id is a hash of source + native id (or of the canonical URL), so a re-crawled
post has the id it had; `split_known` separates those from new posts.

Near: every post gets fingerprints of its normalized text (`text_norm`, i.e. after full-width,
traditional -> simplified and URL/@mention removal), computed on character 3-gram shingles:

- `simhash`: a 64-bit SimHash (hex), a compact fingerprint for downstream use;
- `minhash_bands`: MinHash LSH band keys (16 bands x 4 rows). Short Chinese posts that are
  copies of each other differ by 5-10 SimHash bits, too many to index; their shingle sets
  still overlap by Jaccard >= 0.8, which LSH bands find with one keyword lookup.

`link_near_duplicates` looks candidates up by band key among the originals (posts without
`dup_of`) of the store, across every source, and of the batch itself; confirms them by exact
Jaccard similarity of the shingle sets (>= 0.7); and sets `dup_of` to the id of the most
similar original (earliest on ties), so volume counts can include or exclude copies
(`missing=["dup_of"]`).
"""

from __future__ import annotations

import hashlib
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from store.base import PostQuery, Store
from store.records import Post

SHINGLE = 3
BANDS = 16
ROWS = 4
JACCARD_MIN = 0.7
MAX_CANDIDATES = 1000
_NON_WORD = re.compile(r"[\W_]+")
_MASK32 = np.uint64(0xFFFFFFFF)


def _coefficients() -> tuple[np.ndarray, np.ndarray]:
    """Fixed multiply-shift hash coefficients, derived from blake2b (stable everywhere)."""
    a, b = [], []
    for i in range(BANDS * ROWS):
        digest = hashlib.blake2b(f"tingfeng-minhash-{i}".encode(), digest_size=16).digest()
        a.append(int.from_bytes(digest[:8], "little") | 1)
        b.append(int.from_bytes(digest[8:], "little"))
    return np.array(a, dtype=np.uint64), np.array(b, dtype=np.uint64)


_A, _B = _coefficients()


def shingles(text_norm: str) -> set[str]:
    """Character 3-grams of the text without punctuation or spaces."""
    text = _NON_WORD.sub("", text_norm)
    if len(text) <= SHINGLE:
        return {text} if text else set()
    return {text[i : i + SHINGLE] for i in range(len(text) - SHINGLE + 1)}


def _hashes(grams: set[str]) -> np.ndarray:
    return np.fromiter((zlib.crc32(g.encode("utf-8")) for g in grams), np.uint64, len(grams))


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: 64 well-mixed bits per 32-bit shingle hash."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _simhash(x: np.ndarray) -> int:
    if not len(x):
        return 0
    bits = np.unpackbits(_mix64(x).view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    votes = bits.sum(axis=0).astype(np.int64) * 2 - len(x)
    return int(np.packbits(votes > 0, bitorder="little").view("<u8")[0])


def _bands(x: np.ndarray) -> list[str]:
    if not len(x):
        return []
    with np.errstate(over="ignore"):
        values = ((_A[:, None] * x[None, :] + _B[:, None]) >> np.uint64(32)) & _MASK32
    mins = values.min(axis=1).astype("<u4")
    keys = []
    for band in range(BANDS):
        chunk = mins[band * ROWS : (band + 1) * ROWS].tobytes()
        keys.append(f"{band:x}" + hashlib.blake2b(chunk, digest_size=6).hexdigest())
    return keys


def simhash(grams: set[str]) -> int:
    """64-bit SimHash of a shingle set (each shingle weight 1)."""
    return _simhash(_hashes(grams))


def minhash_bands(grams: set[str]) -> list[str]:
    """LSH band keys: `<band><12 hex>`; two texts share a key with high probability when the
    Jaccard similarity of their shingle sets is high (0.7 -> 0.99, 0.3 -> 0.13)."""
    return _bands(_hashes(grams))


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)  # |a | b| without building the union


def fingerprint(post: Post) -> Post:
    """The post with `simhash` and `minhash_bands` filled from its text_norm."""
    x = _hashes(shingles(post.text_norm))
    return post.model_copy(update={"simhash": f"{_simhash(x):016x}", "minhash_bands": _bands(x)})


class RecentOriginals:
    """Originals this process wrote lately, by band key. A search index shows new documents
    only after a refresh (Elasticsearch: about a second), so posts written by another spider
    of the same process a moment ago are looked up here too. Bounded (oldest dropped)."""

    def __init__(self, capacity: int = 5000) -> None:
        self.capacity = capacity
        self.posts: OrderedDict[str, Post] = OrderedDict()
        self.by_key: dict[str, set[str]] = {}
        self._lock = threading.Lock()  # spiders of one process flush in worker threads

    def add(self, post: Post) -> None:
        with self._lock:
            self._add(post)

    def _add(self, post: Post) -> None:
        if post.dup_of is not None or post.id in self.posts:
            return
        self.posts[post.id] = post
        for key in post.minhash_bands:
            self.by_key.setdefault(key, set()).add(post.id)
        while len(self.posts) > self.capacity:
            _, old = self.posts.popitem(last=False)
            for key in old.minhash_bands:
                ids = self.by_key.get(key)
                if ids is not None:
                    ids.discard(old.id)
                    if not ids:
                        del self.by_key[key]

    def candidates(self, keys: Sequence[str]) -> list[Post]:
        with self._lock:
            ids = {i for key in keys for i in self.by_key.get(key, ())}
            return [self.posts[i] for i in sorted(ids)]


def split_known(store: Store, posts: Sequence[Post]) -> tuple[list[Post], dict[str, Post]]:
    """(posts not yet stored, stored posts by id) for a batch."""
    stored = {p.id: p for p in store.get_posts([p.id for p in posts])} if posts else {}
    return [p for p in posts if p.id not in stored], stored


def link_near_duplicates(
    store: Store, posts: Sequence[Post], recent: RecentOriginals | None = None
) -> list[Post]:
    """Set `dup_of` on posts that near-duplicate a stored post or an earlier one of the batch.

    `posts` must already be fingerprinted and not yet stored; `recent` adds the originals this
    process wrote too recently for the store's search to show. Returns the posts (copies where
    `dup_of` was set), in order."""
    keys = sorted({k for p in posts for k in p.minhash_bands})
    candidates: list[Post] = recent.candidates(keys) if recent is not None else []
    if keys:
        # originals only: a copy links to its group's original, so viral reposts do not
        # multiply the candidates every new post is compared with
        page = store.search_posts(
            PostQuery(terms={"minhash_bands": keys}, missing=["dup_of"]),
            size=MAX_CANDIDATES,
            sort="created_at",
        )
        have = {p.id for p in posts} | {c.id for c in candidates}
        candidates += [c for c in page.posts if c.id not in have]
    by_key: dict[str, list[Post]] = {}
    grams_of: dict[str, set[str]] = {}

    def grams(post: Post) -> set[str]:
        found = grams_of.get(post.id)
        if found is None:
            found = grams_of[post.id] = shingles(post.text_norm)
        return found

    def index(post: Post) -> None:
        for key in post.minhash_bands:
            by_key.setdefault(key, []).append(post)

    for candidate in candidates:
        index(candidate)
    out: list[Post] = []
    for post in posts:
        own = grams(post)
        best: tuple[float, Post] | None = None
        seen: set[str] = set()
        for key in post.minhash_bands:
            for other in by_key.get(key, ()):
                if other.id in seen or other.id == post.id:
                    continue
                seen.add(other.id)
                score = jaccard(own, grams(other))
                if score < JACCARD_MIN:
                    continue
                if (
                    best is None
                    or score > best[0]
                    or (score == best[0] and other.created_at < best[1].created_at)
                ):
                    best = (score, other)
        if best is not None:
            original = best[1]
            post = post.model_copy(update={"dup_of": original.dup_of or original.id})
        else:
            index(post)
        out.append(post)
    return out
