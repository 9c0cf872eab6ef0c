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
from collections import Counter
from collections.abc import Iterable, Sequence
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
    if config.ngram_min < 1 or config.ngram_max < config.ngram_min:
        raise MatchingError(f"{name}: need 1 <= ngram_min <= ngram_max")
    return config


@lru_cache(maxsize=1)
def default_config() -> MatchConfig:
    return load_match_config()


def char_ngrams(text: str, low: int, high: int) -> set[str]:
    """Character n-grams of normalized text, not crossing spaces."""
    grams: set[str] = set()
    for chunk in text.split():
        n_chars = len(chunk)
        for n in range(low, high + 1):
            for i in range(n_chars - n + 1):
                grams.add(chunk[i : i + n])
    return grams


def match_text(text: str, *, normalized: bool = False) -> str:
    """Normalized text with punctuation folded to spaces (what n-grams are taken from)."""
    return " ".join(segment_chunks(text if normalized else normalize(text)))


def segment_chunks(text: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch.isalnum():
            current.append(ch)
        elif current:
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out


@dataclass
class Hit:
    claim: Claim
    score: float
    bm25: float
    level: str | None


class ClaimIndex:
    """In-process BM25 + n-gram index over a list of claims."""

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
            doc_arr = np.asarray(docs, dtype=np.int32)
            tf_arr = np.asarray(tfs, dtype=np.float32)
            norm = k1 * (1 - b + b * lengths[doc_arr] / avg_len)
            self._postings[token] = (doc_arr, (idf * tf_arr * (k1 + 1) / (tf_arr + norm)))
        cfg = self.config
        self._grams = [
            char_ngrams(match_text(c.claim[: cfg.rerank_chars]), cfg.ngram_min, cfg.ngram_max)
            for c in self.claims
        ]
        gram_df: Counter[str] = Counter()
        for grams in self._grams:
            gram_df.update(grams)
        self._gram_idf = {g: math.log((n_docs + 1) / (df + 0.5)) for g, df in gram_df.items()}
        self._gram_norm = [sum(self._gram_idf[g] for g in grams) for grams in self._grams]

    def __len__(self) -> int:
        return len(self.claims)

    # -- recall ------------------------------------------------------------------------------
    def bm25(self, tokens: Iterable[str], k: int) -> list[tuple[int, float]]:
        """Top-k claims by Okapi BM25 (query term frequency ignored), best first."""
        scores = np.zeros(len(self.claims), dtype=np.float32)
        touched = False
        for token in set(tokens):
            posting = self._postings.get(token)
            if posting is not None:
                scores[posting[0]] += posting[1]
                touched = True
        if not touched:
            return []
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        ranked = sorted(
            ((int(i), float(scores[i])) for i in top if scores[i] > 0),
            key=lambda kv: (-kv[1], kv[0]),
        )
        return ranked

    # -- rerank ------------------------------------------------------------------------------
    def rerank_score(self, doc: int, post_grams: set[str], post_weight: float) -> float:
        grams = self._grams[doc]
        total = self._gram_norm[doc]
        if not grams or total <= 0:
            return 0.0
        idf = self._gram_idf
        shared = sum(idf[g] for g in grams & post_grams)
        containment = shared / total
        cosine = shared / math.sqrt(total * post_weight) if post_weight > 0 else 0.0
        damp = min(1.0, len(grams) / self.config.min_claim_ngrams)
        w = self.config.cosine_weight
        return damp * ((1 - w) * containment + w * min(1.0, cosine))

    def _post_weight(self, post_grams: set[str]) -> float:
        default = math.log(len(self.claims) + 1)
        return sum(self._gram_idf.get(g, default) for g in post_grams)

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
        if not self.claims:
            return []
        if not normalized:
            text = normalize(text)
        toks = list(tokens) if tokens is not None else segment(text)
        candidates = self.bm25(toks, self.config.candidates)
        if not candidates:
            return []
        cfg = self.config
        post_grams = char_ngrams(match_text(text, normalized=True), cfg.ngram_min, cfg.ngram_max)
        weight = self._post_weight(post_grams)
        hits = [
            Hit(self.claims[doc], score, bm25, None)
            for doc, bm25 in candidates
            for score in [round(self.rerank_score(doc, post_grams, weight), 4)]
        ]
        hits.sort(key=lambda h: (-h.score, -h.bm25, h.claim.id))
        for hit in hits:
            hit.level = cfg.level(hit.score)
        return hits[:k]

    def match(self, post: Post) -> ClaimMatch | None:
        """The claim match a post gets, if its best claim passes the `suggest` threshold."""
        text = post.text_norm if not post.title else f"{normalize(post.title)} {post.text_norm}"
        tokens = post.tokens.split()
        if post.title:
            tokens = segment(normalize(post.title)) + tokens
        hits = self.search(text, k=1, tokens=tokens, normalized=True)
        if not hits or hits[0].level is None:
            return None
        hit = hits[0]
        return ClaimMatch(
            claim_id=hit.claim.id,
            score=hit.score,
            level=hit.level,  # type: ignore[arg-type]
            source_url=hit.claim.source_url,
        )
