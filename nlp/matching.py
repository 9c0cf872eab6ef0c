"""Match posts to already-debunked claims: BM25 recall on jieba tokens, char n-gram rerank.

    post text ──normalize/segment──> BM25 over `Claim.claim_tokens` ──top N──> rerank
    (IDF-weighted character n-gram overlap with the claim) ──> score in [0, 1]
    score >= confirm  -> level "confirm";  score >= suggest -> level "suggest"; else no match

The index lives in process and is built from claims read through the store API, so both
backends return the same candidates. Thresholds and parameters come from `matching.yaml`
(tuned by `tingfeng kb evaluate` on the CHECKED dev half).

Rerank score: the weighted share of the claim's character n-grams found in the post
("containment"), times a length factor that damps very short claims, blended with the
n-gram cosine. Claims are short and posts long, so containment ("does the post state this
claim?") carries more signal than a symmetric similarity.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from analysis.text import normalize, segment
from nlp.kb_import import KbError
from store.records import Claim, ClaimMatch, Post

CONFIG_FILE = "matching.yaml"
TOP_K_BLOCK = 64  # block size of the top-k's lower bound (see top_k)
BATCH = 128  # queries scored together (a dense BATCH x claims score matrix)
MAX_NGRAM = 3  # n-grams are packed into 64-bit keys, 21 bits per character


class MatchingError(KbError):
    """Matching cannot run: invalid config file (message names file and field)."""


@dataclass(frozen=True)
class MatchConfig:
    candidates: int = 20
    k1: float = 1.2
    b: float = 0.75
    max_df: float = 0.2
    ngram_min: int = 2
    ngram_max: int = 3
    min_claim_ngrams: int = 6
    rerank_chars: int = 160
    cosine_weight: float = 0.3
    suggest: float = 0.39
    confirm: float = 0.7

    def level(self, score: float) -> str | None:
        if score >= self.confirm:
            return "confirm"
        if score >= self.suggest:
            return "suggest"
        return None


def load_match_config(path: Path | None = None) -> MatchConfig:
    """Read and validate `matching.yaml` (the packaged one unless `path` is given)."""
    if path is None:
        text = resources.files("nlp").joinpath(CONFIG_FILE).read_text("utf-8")
        name = f"nlp/{CONFIG_FILE}"
    else:
        text = path.read_text("utf-8")
        name = str(path)
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise MatchingError(f"{name}: not valid YAML: {exc}") from None
    return config_from_dict(raw, name)


def config_from_dict(raw: dict[str, Any], name: str = "config") -> MatchConfig:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                flat[sub] = subvalue
        else:
            flat[key] = value
    defaults = MatchConfig()
    known = set(MatchConfig.__dataclass_fields__)
    for key in flat:
        if key not in known:
            raise MatchingError(f"{name}: unknown field {key!r}; known: {sorted(known)}")
    values: dict[str, Any] = {}
    for key in known:
        value = flat.get(key, getattr(defaults, key))
        expected = type(getattr(defaults, key))
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise MatchingError(f"{name}: field {key!r} must be a number, got {value!r}")
        values[key] = expected(value)
    config = MatchConfig(**values)
    if not 0 <= config.suggest <= config.confirm <= 1:
        raise MatchingError(f"{name}: need 0 <= suggest <= confirm <= 1")
    if not 1 <= config.ngram_min <= config.ngram_max <= MAX_NGRAM:
        raise MatchingError(f"{name}: need 1 <= ngram_min <= ngram_max <= {MAX_NGRAM}")
    return config


@lru_cache(maxsize=1)
def default_config() -> MatchConfig:
    return load_match_config()


_ALNUM_RUN = re.compile(r"[^\W_]+")  # runs of str.isalnum() characters (same class)


def char_ngrams(text: str, low: int, high: int) -> set[str]:
    """Character n-grams of normalized text, not crossing spaces."""
    return {
        chunk[i : i + n]
        for chunk in text.split()
        for n in range(low, high + 1)
        for i in range(len(chunk) - n + 1)
    }


def match_text(text: str, *, normalized: bool = False) -> str:
    """Normalized text with punctuation folded to spaces (what n-grams are taken from)."""
    return " ".join(segment_chunks(text if normalized else normalize(text)))


def segment_chunks(text: str) -> list[str]:
    """The runs of alphanumeric characters (`str.isalnum`) of a text."""
    return _ALNUM_RUN.findall(text)


@dataclass
class Hit:
    claim: Claim
    score: float
    bm25: float
    level: str | None


class ClaimIndex:
    """In-process BM25 + n-gram index over a list of claims.

    Everything that does not depend on the post is computed once here: the BM25 weight of each
    (token, claim), each claim's character n-grams as ids into one vocabulary (a CSR layout:
    `_gram_ids[_gram_ptr[i]:_gram_ptr[i + 1]]`), their idf and each claim's idf total. A search
    then costs one scatter-add per post token, a top-k over the claims and one vectorized
    rerank of the candidates.
    """

    def __init__(self, claims: Sequence[Claim], config: MatchConfig | None = None) -> None:
        self.config = config or default_config()
        self.claims = list(claims)
        n_docs = len(self.claims)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths = np.zeros(n_docs, dtype=np.float32)
        for i, claim in enumerate(self.claims):
            counts = Counter(claim.claim_tokens.split())
            lengths[i] = sum(counts.values())
            for token, tf in counts.items():
                docs, tfs = postings.setdefault(token, ([], []))
                docs.append(i)
                tfs.append(tf)
        avg_len = float(lengths.mean()) if n_docs else 1.0
        k1, b = self.config.k1, self.config.b
        max_df = max(2, int(self.config.max_df * n_docs))
        # Query-independent BM25 weight of each (token, claim): idf * saturated, length-normed tf.
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for token, (docs, tfs) in postings.items():
            if len(docs) > max_df:
                continue
            idf = math.log(1 + (n_docs - len(docs) + 0.5) / (len(docs) + 0.5))
            doc_arr = np.asarray(docs, dtype=np.intp)  # intp: no conversion when indexing
            tf_arr = np.asarray(tfs, dtype=np.float32)
            norm = k1 * (1 - b + b * lengths[doc_arr] / avg_len)
            self._postings[token] = (doc_arr, (idf * tf_arr * (k1 + 1) / (tf_arr + norm)))
        cfg = self.config
        texts = [match_text(c.claim[: cfg.rerank_chars]) for c in self.claims]
        doc, keys = gram_keys(texts, cfg.ngram_min, cfg.ngram_max)
        # the vocabulary: every distinct claim n-gram, as a sorted array of keys
        self._vocab, ids = np.unique(keys, return_inverse=True)
        order = np.lexsort((ids, doc))
        doc, ids = doc[order], ids[order]
        first = np.ones(len(ids), dtype=bool)  # each claim's distinct n-grams
        first[1:] = (ids[1:] != ids[:-1]) | (doc[1:] != doc[:-1])
        doc, ids = doc[first], ids[first]
        self._gram_ids = ids.astype(np.int64)
        self._gram_len = np.bincount(doc, minlength=n_docs).astype(np.int64)
        self._gram_ptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(self._gram_len, out=self._gram_ptr[1:])
        df = np.bincount(self._gram_ids, minlength=len(self._vocab))
        by_df = {d: math.log((n_docs + 1) / (d + 0.5)) for d in np.unique(df).tolist()}
        self._gram_idf = np.asarray([by_df[d] for d in df.tolist()], dtype=np.float64)
        self._gram_norm = np.bincount(
            doc, weights=self._gram_idf[self._gram_ids], minlength=n_docs
        ).astype(np.float64)
        self._unknown_idf = math.log(n_docs + 1)  # a post n-gram no claim has
        # each claim's place in claim id order (the last tie-break of the ranking)
        self._id_rank = np.empty(n_docs, dtype=np.int64)
        self._id_rank[sorted(range(n_docs), key=lambda i: self.claims[i].id)] = np.arange(n_docs)

    def __len__(self) -> int:
        return len(self.claims)

    # -- recall ------------------------------------------------------------------------------
    def _bm25(self, tokens: Sequence[Sequence[str]], k: int) -> list[_Candidates]:
        """Top-k claims of each query by Okapi BM25 (query term frequency ignored): claim
        indices and scores, best first (equal scores: lower index)."""
        scores = np.zeros((len(tokens), len(self.claims)), dtype=np.float32)
        for row, toks in zip(scores, tokens, strict=True):
            for token in set(toks):
                posting = self._postings.get(token)
                if posting is not None:
                    row[posting[0]] += posting[1]
        return top_k(scores, min(k, len(self.claims)))

    # -- rerank ------------------------------------------------------------------------------
    def _rerank(self, texts: Sequence[str], cands: Sequence[_Candidates]) -> list[list[float]]:
        """Rerank score of each candidate claim of each normalized text (its n-grams are those
        of `match_text`: a non-alphanumeric character breaks them like a space)."""
        cfg = self.config
        # the distinct n-grams of each text, and their ids in the claims' vocabulary
        doc, keys = gram_keys(texts, cfg.ngram_min, cfg.ngram_max)
        order = np.lexsort((keys, doc))
        doc, keys = doc[order], keys[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = (keys[1:] != keys[:-1]) | (doc[1:] != doc[:-1])
        doc, keys = doc[first], keys[first]
        vocab = self._vocab
        at = np.minimum(np.searchsorted(vocab, keys), max(len(vocab) - 1, 0))
        known = vocab[at] == keys if len(vocab) else np.zeros(len(keys), dtype=bool)
        idf = np.where(known, self._gram_idf[at] if len(vocab) else 0.0, self._unknown_idf)
        weight = np.bincount(doc, weights=idf, minlength=len(texts))
        # which texts have which claim n-gram: a (text x n-grams of these texts) table, and
        # each vocabulary id's column in it (-1: no text here has that n-gram)
        ids, column = np.unique(at[known], return_inverse=True)
        slot = np.full(len(vocab), -1, dtype=np.int32)
        slot[ids] = np.arange(len(ids))
        present = np.zeros((len(texts), len(ids)), dtype=bool)
        present[doc[known], column] = True
        # the candidates' n-grams, looked up among their text's
        rows = np.repeat(np.arange(len(cands)), [len(d) for d, _ in cands])
        docs = np.concatenate([d for d, _ in cands]) if cands else np.zeros(0, np.intp)
        lens = self._gram_len[docs]
        seg = np.repeat(np.arange(len(docs)), lens)
        offsets = np.cumsum(lens) - lens
        grams = self._gram_ids[
            np.arange(len(seg)) - np.repeat(offsets - self._gram_ptr[docs], lens)
        ]
        col = slot[grams]
        found = col >= 0
        found[found] = present[rows[seg[found]], col[found]]
        shared = np.bincount(
            seg, weights=np.where(found, self._gram_idf[grams], 0.0), minlength=len(docs)
        )
        has = lens > 0
        total = np.where(has, self._gram_norm[docs], 1.0)
        post = weight[rows]
        positive = post > 0
        containment = shared / total
        cosine = np.where(positive, shared / np.sqrt(total * np.where(positive, post, 1.0)), 0.0)
        damp = np.minimum(1.0, lens / cfg.min_claim_ngrams)
        w = cfg.cosine_weight
        score = np.where(has, damp * ((1 - w) * containment + w * np.minimum(1.0, cosine)), 0.0)
        out: list[list[float]] = []
        flat = score.tolist()
        at_row = 0
        for d, _ in cands:
            out.append(flat[at_row : at_row + len(d)])
            at_row += len(d)
        return out

    def search_many(
        self, texts: Sequence[str], tokens: Sequence[Sequence[str]], *, k: int = 5
    ) -> list[list[Hit]]:
        """`search` of many normalized texts with their tokens at once (vectorized)."""
        if not self.claims or not texts:
            return [[] for _ in texts]
        cands: list[_Candidates] = []
        scores: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            chunk = self._bm25(tokens[start : start + BATCH], self.config.candidates)
            cands.extend(chunk)
            scores.extend(self._rerank(texts[start : start + BATCH], chunk))
        # rank each text's candidates by (score, BM25, claim id), like sorting the hits
        counts = [len(d) for d, _ in cands]
        rows = np.repeat(np.arange(len(cands)), counts)
        docs = np.concatenate([d for d, _ in cands])
        bm25 = np.concatenate([b for _, b in cands]).astype(np.float64)
        rounded = np.asarray([round(x, 4) for row in scores for x in row], dtype=np.float64)
        order = np.lexsort((self._id_rank[docs], -bm25, -rounded, rows))
        bounds = np.searchsorted(rows[order], np.arange(len(cands) + 1))
        docs_l, bm25_l, rounded_l = docs.tolist(), bm25.tolist(), rounded.tolist()
        cfg = self.config
        out: list[list[Hit]] = []
        for r in range(len(cands)):
            picked = order[bounds[r] : min(bounds[r + 1], bounds[r] + k)].tolist()
            out.append(
                [
                    Hit(self.claims[docs_l[i]], rounded_l[i], bm25_l[i], cfg.level(rounded_l[i]))
                    for i in picked
                ]
            )
        return out

    def search(
        self,
        text: str,
        *,
        k: int = 5,
        tokens: Sequence[str] | None = None,
        normalized: bool = False,
    ) -> list[Hit]:
        """Best claims for a text (a post, or a user's query), best first. Pass `tokens` and
        `normalized=True` for a post's `tokens`/`text_norm`, already computed at ingest."""
        if not normalized:
            text = normalize(text)
        toks = list(tokens) if tokens is not None else segment(text)
        return self.search_many([text], [toks], k=k)[0]

    def match_many(self, posts: Sequence[Post]) -> list[ClaimMatch | None]:
        """The claim match each post gets, if its best claim passes the `suggest` threshold."""
        texts: list[str] = []
        tokens: list[list[str]] = []
        for post in posts:
            if post.title:
                title = normalize(post.title)
                texts.append(f"{title} {post.text_norm}")
                tokens.append(segment(title) + post.tokens.split())
            else:
                texts.append(post.text_norm)
                tokens.append(post.tokens.split())
        out: list[ClaimMatch | None] = []
        for hits in self.search_many(texts, tokens, k=1):
            if not hits or hits[0].level is None:
                out.append(None)
                continue
            hit = hits[0]
            out.append(
                ClaimMatch(
                    claim_id=hit.claim.id,
                    score=hit.score,
                    level=hit.level,  # type: ignore[arg-type]
                    source_url=hit.claim.source_url,
                )
            )
        return out

    def match(self, post: Post) -> ClaimMatch | None:
        """The claim match a post gets, if its best claim passes the `suggest` threshold."""
        return self.match_many([post])[0]


_Candidates = tuple[np.ndarray, np.ndarray]  # claim indices, their BM25 scores (float32)


def top_k(scores: np.ndarray, k: int) -> list[_Candidates]:
    """Each row's `k` largest positive scores: (indices, scores), best first, equal scores to
    the lower index.

    The k-th largest of the maxima of blocks of each row is a lower bound of the row's k-th
    largest score (k blocks hold at least k scores that high), so only the few scores above it
    are sorted. When equal scores straddle the cut, the row keeps the ones numpy's introselect
    keeps (as this index always did), so the candidates never depend on how the top was
    computed."""
    n_rows, n_cols = scores.shape
    if k <= 0 or n_cols == 0:
        return [(np.zeros(0, np.intp), np.zeros(0, np.float32)) for _ in range(n_rows)]
    blocks = n_cols // TOP_K_BLOCK
    width = blocks * TOP_K_BLOCK
    if blocks > k:
        tiled = scores[:, :width].reshape(n_rows, blocks, TOP_K_BLOCK)
        maxima = tiled.max(axis=2)
        floor = np.partition(maxima, blocks - k, axis=1)[:, blocks - k]
        # only blocks whose maximum reaches the floor can hold a score above it
        block_rows, block_ids = np.nonzero(maxima >= floor[:, None])
        inside = tiled[block_rows, block_ids]
        at, offset = np.nonzero((inside >= floor[block_rows, None]) & (inside > 0))
        tail = scores[:, width:]
        tail_rows, tail_cols = np.nonzero((tail >= floor[:, None]) & (tail > 0))
        rows = np.concatenate([block_rows[at], tail_rows])
        cols = np.concatenate([block_ids[at] * TOP_K_BLOCK + offset, tail_cols + width])
    else:
        rows, cols = np.nonzero(scores > 0)
    values = scores[rows, cols]
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    bounds = np.searchsorted(rows, np.arange(n_rows + 1))
    out: list[_Candidates] = []
    for r in range(n_rows):
        lo, hi = int(bounds[r]), int(bounds[r + 1])
        if hi - lo > k and values[lo + k] == values[lo + k - 1]:
            row = scores[r]
            top = np.argpartition(-row, k - 1)[:k]
            top = top[row[top] > 0]
            top = top[np.lexsort((top, -row[top]))]
            out.append((top, row[top]))
        else:
            out.append((cols[lo : min(hi, lo + k)], values[lo : min(hi, lo + k)]))
    return out


@lru_cache(maxsize=1)
def _alnum_table() -> np.ndarray:
    """`str.isalnum()` of every code point, as a lookup table (built once, ~0.2 s)."""
    table = np.zeros(sys.maxunicode + 1, dtype=bool)
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    for run in _ALNUM_RUN.finditer(every):
        table[run.start() : run.end()] = True
    return table


def gram_keys(texts: Sequence[str], low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """The character n-grams of `char_ngrams` (runs of alphanumerics, `low` to `high`
    characters) of each text, as (text index, key) arrays with repeats. A key packs the code
    points of an n-gram into 21 bits each: exact, and distinct across lengths because an
    alphanumeric code point is never below 0x30."""
    if high > MAX_NGRAM:
        raise MatchingError(f"n-grams of up to {MAX_NGRAM} characters are supported, not {high}")
    lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
    joined = " ".join(texts) + " "
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    codes = codes.astype(np.uint64)
    alnum = _alnum_table()[codes]
    doc = np.repeat(np.arange(len(texts)), lengths)
    docs: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    total = len(codes)
    for n in range(low, high + 1):
        m = total - n + 1
        if m <= 0:
            break
        key = codes[:m].copy()
        valid = alnum[:m].copy()
        for j in range(1, n):
            key = (key << np.uint64(21)) | codes[j : j + m]
            valid &= alnum[j : j + m]
        docs.append(doc[:m][valid])
        keys.append(key[valid])
    if not keys:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    return np.concatenate(docs), np.concatenate(keys)
