"""Keywords of a post: TF-IDF over its jieba tokens, with jieba's bundled IDF table.

Works on the tokens segmented at ingest (no second segmentation), so it costs a dictionary
lookup per token. The IDF table loads once, on first use.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

KEYWORDS_VERSION = "kw-tfidf-1"
_SKIP = re.compile(r"^[\d_a-z]{0,2}$|^\d+$")
_STOP_WORDS = (
    "the of is and to in that we for an are by be as on with can if from which you "
    "it this then at have all not one has or 的 了 和 是 就 都 而 及 與 着 或 一个 没有 我们 你们 他们 她们 "
    "自己 什么 还是 就是 因为 所以 但是 可以 这个 那个 这些 那些 已经 现在 今天 真的 时候 不是 如果 还有 然后 大家 知道 怎么 这样 一下 "
    "起来 觉得 需要 进行 表示 目前 一些 这么 那么 其他 以及 或者 并且 以后 之后 之前 以上 通过 情况 问题 "
)
_STOP = frozenset(_STOP_WORDS.split())

_lock = threading.Lock()
_table: tuple[dict[str, float], float, frozenset[str]] | None = None


def _idf_path() -> Path:
    # read jieba's bundled table directly: importing jieba.analyse leaks an open file handle
    spec = importlib.util.find_spec("jieba")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("jieba is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "analyse" / "idf.txt"


def _idf() -> tuple[dict[str, float], float, frozenset[str]]:
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                idf: dict[str, float] = {}
                for line in _idf_path().read_text("utf-8").splitlines():
                    word, _, value = line.strip().partition(" ")
                    if value:
                        idf[word] = float(value)
                median = sorted(idf.values())[len(idf) // 2]
                _table = (idf, median, _STOP)
    return _table


def extract_keywords(tokens: Sequence[str], k: int = 5) -> list[str]:
    """Top-`k` tokens by tf x idf (ties: first occurrence), skipping stop words and
    single characters."""
    idf, median, stop = _idf()
    counts = Counter(t for t in tokens if len(t) >= 2 and t not in stop and not _SKIP.match(t))
    # a Counter lists its tokens in order of first occurrence and the sort is stable, so equal
    # scores stay in order of first occurrence
    ranked = sorted(counts.items(), key=lambda tc: -tc[1] * idf.get(tc[0], median))
    return [t for t, _ in ranked[:k]]
