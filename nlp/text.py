"""Text normalization and segmentation shared by ingest, indexing, queries and the models.

The same function segments text at index time and at query time, so the Elasticsearch
`whitespace`-analyzed field and the SQLite FTS5 table see identical tokens. `SEGMENTER_VERSION`
names the segmenter and dictionary; a change to either is a change of index contents.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jieba

_URL = re.compile(r"https?://[^\s\u3000，。！？、）)]+", re.IGNORECASE)
_MENTION = re.compile(r"@[\w\-\u4e00-\u9fff]{1,30}")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None
_cache_dir: list[Path] = []  # where jieba keeps its dictionary cache (set at the edge)


def use_cache_dir(directory: Path) -> None:
    """Keep jieba's dictionary cache in `directory` (the data directory's `cache/`) instead of
    the shared /tmp, where another user could plant or read it. Call before first use."""
    _cache_dir[:] = [directory]


def _userdict_text() -> str:
    return resources.files("nlp.resources").joinpath("userdict.txt").read_text("utf-8")


SEGMENTER_VERSION = (
    f"jieba-{jieba.__version__}+userdict-{hashlib.sha1(_userdict_text().encode()).hexdigest()[:8]}"
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
    """The process-wide jieba tokenizer with the domain dictionary, loaded once."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import logging
                from io import BytesIO

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                if _cache_dir:
                    from store.files import private_dir

                    tok.tmp_dir = str(private_dir(_cache_dir[0]))
                tok.initialize()
                tok.load_userdict(BytesIO(_userdict_text().encode("utf-8")))
                _tokenizer = tok
    return _tokenizer


def segment(text: str) -> list[str]:
    """Precise-mode jieba tokens of already-normalized text, word characters only.

    Tokens are split at any non-word character so that Elasticsearch's whitespace analyzer and
    SQLite's unicode61 tokenizer agree on token boundaries.
    """
    out: list[str] = []
    for tok in tokenizer().lcut(text, HMM=True):
        out.extend(_WORD.findall(tok.lower()))
    return out


def segment_query(query: str) -> list[str]:
    """Tokens of a user's search query, normalized exactly like indexed text."""
    return segment(normalize(query))
