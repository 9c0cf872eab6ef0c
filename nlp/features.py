"""Hashed character n-gram (+ word unigram) features, computed with numpy only.

The same code builds the training matrix (train time, handed to scikit-learn as CSR) and
scores posts at run time, so training and serving features cannot drift apart. Hashes are
deterministic (no Python `hash()`): character n-grams use a polynomial over code points mixed
by Fibonacci hashing, words use CRC-32. Each n-gram order and the word space get their own seed.
The hashes of a batch are computed once and kept per thread until the next batch, so models of
different feature spaces that score the same batch (enrichment: rumor, emotion, help) share them.

A feature row is `log1p(count) * idf`, L2-normalized. `Features` is the CSR triple.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_MIX = np.uint64(0x9E3779B97F4A7C15)
_MULT = np.uint64(1_000_003)
_SEEDS = [np.uint64(s) for s in (0x51ED27, 0x2545F491, 0x6C8E9CF5, 0x7FEB352D, 0x846CA68B)]
_WORD_SEED = 0x1B873593
_WORD_MIX = np.uint64(0x9E3779B1)
_BOS, _EOS = 0x2, 0x3


@dataclass
class Features:
    """A CSR matrix: row i has columns indices[indptr[i]:indptr[i+1]] with values data[...]."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    n_features: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def to_scipy(self):  # type: ignore[no-untyped-def]  # train time only
        from scipy.sparse import csr_matrix

        return csr_matrix(
            (self.data, self.indices, self.indptr), shape=(self.n_rows, self.n_features)
        )

    def dot(self, weights: np.ndarray) -> np.ndarray:
        """Rows times `weights` (n_features x k) -> (n_rows x k), without scipy."""
        n = self.n_rows
        k = weights.shape[1]
        rows = np.repeat(np.arange(n), np.diff(self.indptr))
        contrib = weights[self.indices].astype(np.float64) * self.data[:, None]
        # one pass: cell (row, j) sums its terms in the same order as a per-column pass
        cells = (rows[:, None] * k + np.arange(k)).ravel()
        return np.bincount(cells, weights=contrib.ravel(), minlength=n * k).reshape(n, k)


@dataclass(frozen=True)
class Featurizer:
    """Settings of the feature space; stored with every model."""

    bits: int = 20
    char_min: int = 1
    char_max: int = 3
    words: bool = True

    @property
    def n_features(self) -> int:
        return 1 << self.bits

    def as_meta(self) -> dict[str, Any]:
        """The settings as stored in a model's meta.json (`Featurizer(**meta)` reads them)."""
        return {
            "bits": self.bits,
            "char_min": self.char_min,
            "char_max": self.char_max,
            "words": self.words,
        }

    def hashes(self, texts: Sequence[str], tokens: Sequence[Sequence[str]] | None) -> Features:
        """Raw term counts (before idf and norm) of each text, as CSR."""
        hashed = _hashed(texts, tokens)
        shift = np.uint64(64 - self.bits)
        idx_parts: list[np.ndarray] = []
        doc_parts: list[np.ndarray] = []
        for n in range(self.char_min, self.char_max + 1):
            grams = hashed.grams(n)
            if grams is None:
                break
            mixed, doc = grams
            idx_parts.append((mixed >> shift).astype(np.int64))
            doc_parts.append(doc)
        if self.words and tokens is not None:
            crc, doc = hashed.words()
            mask = np.uint64(self.n_features - 1)
            idx_parts.append((((crc * _WORD_MIX) >> np.uint64(7)) & mask).astype(np.int64))
            doc_parts.append(doc)
        all_idx = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64)
        all_doc = np.concatenate(doc_parts) if doc_parts else np.zeros(0, np.int64)
        # count (doc, feature) pairs: sort by a combined key (32 bits when it fits: faster)
        key = all_doc * self.n_features + all_idx
        if len(texts) * self.n_features < 2**31:
            key = key.astype(np.int32)
        uniq, counts = np.unique(key, return_counts=True)
        uniq = uniq.astype(np.int64)
        rows = uniq // self.n_features
        cols = uniq % self.n_features
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(texts)), out=indptr[1:])
        return Features(counts.astype(np.float64), cols, indptr, self.n_features)

    def transform(
        self,
        texts: Sequence[str],
        tokens: Sequence[Sequence[str]] | None = None,
        idf: np.ndarray | None = None,
    ) -> Features:
        """Weighted, L2-normalized features of normalized texts (and their tokens)."""
        feats = self.hashes(texts, tokens)
        values = np.log1p(feats.data)
        if idf is not None:
            values = values * idf[feats.indices]
        rows = np.repeat(np.arange(feats.n_rows), np.diff(feats.indptr))
        norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=feats.n_rows))
        norms[norms == 0] = 1.0
        feats.data = values / norms[rows]
        return feats


class _Hashed:
    """The per-occurrence hashes of one batch of texts before they are cut to a feature space:
    each character n-gram order's full 64-bit mixed hash and each word's CRC-32, with the
    text each belongs to. Every model scores the same batch (rumor, emotion, help), and each
    feature space only shifts or masks these, so they are computed once per batch."""

    def __init__(self, texts: list[str], tokens: list[tuple[str, ...]] | None) -> None:
        self.texts = texts
        self.tokens = tokens  # a snapshot: a caller may reuse its lists
        padded = [f"\x02{t}\x03" for t in texts]
        lengths = np.fromiter((len(t) for t in padded), dtype=np.int64, count=len(padded))
        joined = "".join(padded)
        self.codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        self.doc = np.repeat(np.arange(len(padded)), lengths)
        self._grams: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
        self._words: tuple[np.ndarray, np.ndarray] | None = None

    def same_batch(self, texts: Sequence[str], tokens: Sequence[Sequence[str]] | None) -> bool:
        if len(texts) != len(self.texts) or (tokens is None) != (self.tokens is None):
            return False
        # equality checks identity first: the models of one batch get the same string objects
        return self.texts == list(texts) and (
            tokens is None or self.tokens == [tuple(t) for t in tokens]
        )

    def grams(self, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(mixed hash, text index) of every character n-gram of order `n` (None: too short)."""
        if n not in self._grams:
            codes, doc = self.codes, self.doc
            total = len(codes)
            if total < n:
                self._grams[n] = None
            else:
                m = total - n + 1
                h = codes[:m].copy()
                for j in range(1, n):
                    h = h * _MULT + codes[j : j + m]
                valid = doc[:m] == doc[n - 1 : n - 1 + m]
                if n == 1:  # the padding markers alone carry no information
                    valid &= (codes[:m] != _BOS) & (codes[:m] != _EOS)
                mixed = (h ^ _SEEDS[n % len(_SEEDS)]) * _MIX
                self._grams[n] = (mixed[valid], doc[:m][valid])
        return self._grams[n]

    def words(self) -> tuple[np.ndarray, np.ndarray]:
        """(CRC-32, text index) of every token."""
        if self._words is None:
            tokens = self.tokens or []
            crc = np.fromiter(
                (zlib.crc32(tok.encode("utf-8"), _WORD_SEED) for toks in tokens for tok in toks),
                dtype=np.uint64,
            )
            counts = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
            self._words = (crc, np.repeat(np.arange(len(tokens)), counts))
        return self._words


_last = threading.local()  # per thread: the hashes of the last batch (see _Hashed)
MEMO_MAX_TEXTS = 4096  # runtime batches; training corpora are hashed once and not kept


def _hashed(texts: Sequence[str], tokens: Sequence[Sequence[str]] | None) -> _Hashed:
    last: _Hashed | None = getattr(_last, "hashed", None)
    if last is not None and last.same_batch(texts, tokens):
        return last
    hashed = _Hashed(list(texts), [tuple(t) for t in tokens] if tokens is not None else None)
    _last.hashed = hashed if len(texts) <= MEMO_MAX_TEXTS else None
    return hashed


def document_frequency_idf(feats: Features) -> np.ndarray:
    """Smoothed idf (as scikit-learn: ln((1+n)/(1+df)) + 1) from raw count features."""
    df = np.bincount(feats.indices, minlength=feats.n_features).astype(np.float64)
    return (np.log((1.0 + feats.n_rows) / (1.0 + df)) + 1.0).astype(np.float32)
