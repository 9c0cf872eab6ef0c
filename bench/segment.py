"""`tingfeng bench segment`: the analyzer's segmenter against jieba itself on every text of the
shared datasets, same texts, same run: how many texts get other tokens, and chars/s of both.

The reference is `analysis.text.jieba_segment`: jieba 0.42's precise mode with HMM and our user
dictionary, split at non-word characters exactly like `segment` splits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from analysis.text import jieba_segment, segment, segmenter
from nlp.data import LOADERS, load_dataset


@dataclass
class SegmentBench:
    texts: int
    chars: int
    jieba_seconds: float
    segment_seconds: float
    differing: list[tuple[str, list[str], list[str]]] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        return self.jieba_seconds / self.segment_seconds if self.segment_seconds else 0.0


def corpus(root: Path) -> list[str]:
    """Every non-empty text of every shared dataset the NLP loaders read."""
    texts: list[str] = []
    for name in sorted(LOADERS):
        texts.extend(e.text for e in load_dataset(root, name) if e.text.strip())
    return texts


def bench_segment(
    texts: list[str], *, chunk: int = 1000, on_chunk: Callable[[int], None] | None = None
) -> SegmentBench:
    """Alternate jieba and `segment` chunk by chunk (so machine load hits both alike)."""
    segmenter()
    jieba_segment("预热")
    jieba_s = segment_s = 0.0
    differing: list[tuple[str, list[str], list[str]]] = []
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        t0 = time.process_time()
        ref = [jieba_segment(t) for t in part]
        t1 = time.process_time()
        got = [segment(t) for t in part]
        t2 = time.process_time()
        jieba_s += t1 - t0
        segment_s += t2 - t1
        differing.extend((t, r, g) for t, r, g in zip(part, ref, got, strict=True) if r != g)
        if on_chunk:
            on_chunk(len(part))
    return SegmentBench(len(texts), sum(map(len, texts)), jieba_s, segment_s, differing)
