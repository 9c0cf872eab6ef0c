"""The text analyzer: normalization and segmentation shared by ingest, indexing, queries and
the models.

The same function segments text at index time and at query time, so the Elasticsearch
`whitespace`-analyzed field and the SQLite FTS5 table see identical tokens. `SEGMENTER_VERSION`
names the segmenter and dictionary; a change to either is a change of index contents.

`segment` runs rjieba (jieba's algorithm and dictionary in Rust, ~20x faster) with our user
dictionary, and reproduces jieba 0.42's precise mode around it: text is cut into the blocks
jieba cuts (its `re_han_default` character class; any other character is a token of its own),
and a token without Chinese characters is split the way jieba's HMM step splits runs of Latin
letters and digits (`4.5w` -> `4.5`, `w`; `minami_e` -> `minami`, `_`, `e`). On the 79,883 texts
of the shared datasets the tokens equal jieba's except in 54 texts (0.07%), all exact ties
between two routes of equal probability inside runs of a repeated character (哈哈哈哈哈, 啊啊啊啊)
or near-ties in the HMM, which the two implementations break differently; `tokenizer()` (jieba
itself, with the same dictionary) remains for dictionary look-ups such as place tags.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import unicodedata
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

import jieba
import rjieba

_URL = re.compile(r"https?://[^\s\u3000，。！？、）)]+", re.IGNORECASE)
_MENTION = re.compile(r"@[\w\-\u4e00-\u9fff]{1,30}")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")

# jieba 0.42's precise-mode block (`re_han_default`) and its HMM step's Latin/digit runs
# (`finalseg.re_skip`), reproduced around rjieba (see the module docstring).
_BLOCK = re.compile(r"([\u4e00-\u9fd5a-zA-Z0-9+#&\._%\-]+)")
_LATIN_RUN = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")
_HAN = re.compile(r"[\u4e00-\u9fd5]")

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None
_cache_dir: list[Path] = []  # where jieba keeps its dictionary cache (set at the edge)


def use_cache_dir(directory: Path) -> None:
    """Keep jieba's dictionary cache in `directory` (the data directory's `cache/`) instead of
    the shared /tmp, where another user could plant or read it. Call before first use."""
    _cache_dir[:] = [directory]


_segmenter: rjieba.Jieba | None = None


def _userdict_text() -> str:
    return resources.files("analysis.resources").joinpath("userdict.txt").read_text("utf-8")


SEGMENTER_VERSION = (
    f"rjieba-{metadata.version('rjieba')}-jieba{jieba.__version__}"
    f"+userdict-{hashlib.sha1(_userdict_text().encode()).hexdigest()[:8]}"
)


@lru_cache(maxsize=1)
def _converter():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional -> simplified Chinese (OpenCC t2s)."""
    return str(_converter().convert(text))


def normalize(text: str) -> str:
    """Normalize a post for matching and models.

    Full-width -> half-width (NFKC), traditional -> simplified, lower case, URLs and
    @mentions removed, emoticon tags such as `[泪]` kept (they carry emotion), whitespace folded.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = to_simplified(text).lower()
    return _SPACES.sub(" ", text).strip()


def tokenizer() -> jieba.Tokenizer:
    """The process-wide jieba tokenizer with the domain dictionary, loaded once: for dictionary
    look-ups (frequencies, part-of-speech tags); `segment` is the analyzer's segmenter."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import logging
                from io import BytesIO

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                if _cache_dir:  # owner-only: jieba loads the cache with marshal
                    _cache_dir[0].mkdir(parents=True, exist_ok=True, mode=0o700)
                    os.chmod(_cache_dir[0], 0o700)
                    tok.tmp_dir = str(_cache_dir[0])
                tok.initialize()
                tok.load_userdict(BytesIO(_userdict_text().encode("utf-8")))
                _tokenizer = tok
    return _tokenizer


def segmenter() -> rjieba.Jieba:
    """The process-wide rjieba segmenter with the domain dictionary, loaded once."""
    global _segmenter
    if _segmenter is None:
        with _lock:
            if _segmenter is None:
                seg = rjieba.Jieba()
                for line in _userdict_text().splitlines():
                    # the user dictionary's format: word [frequency] [tag], like jieba's
                    parts = line.split()
                    if parts:
                        freq = int(parts[1]) if len(parts) > 1 else None
                        seg.add_word(parts[0], freq, parts[2] if len(parts) > 2 else None)
                _segmenter = seg
    return _segmenter


def segment(text: str) -> list[str]:
    """Precise-mode tokens of already-normalized text, word characters only.

    Tokens are split at any non-word character so that Elasticsearch's whitespace analyzer and
    SQLite's unicode61 tokenizer agree on token boundaries.
    """
    seg = segmenter()
    out: list[str] = []
    for i, part in enumerate(_BLOCK.split(text)):
        if not part:
            continue
        if i % 2 == 0:  # outside jieba's blocks every character is a token of its own
            for char in part:
                out.extend(_WORD.findall(char.lower()))
            continue
        for tok in seg.cut(part, True):
            if len(tok) > 1 and not _HAN.search(tok):
                for piece in _LATIN_RUN.split(tok):
                    out.extend(_WORD.findall(piece.lower()))
            else:
                out.extend(_WORD.findall(tok.lower()))
    return out


def jieba_segment(text: str) -> list[str]:
    """jieba's own precise-mode tokens, split like `segment`'s: the reference `segment` is
    checked against (tests, `tingfeng bench segment`); about ten times slower."""
    out: list[str] = []
    for tok in tokenizer().lcut(text, HMM=True):
        out.extend(_WORD.findall(tok.lower()))
    return out


def segment_query(query: str) -> list[str]:
    """Tokens of a user's search query, normalized exactly like indexed text."""
    return segment(normalize(query))
