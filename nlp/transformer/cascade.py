"""The cascade: the linear model scores every post; posts whose linear probability of the
positive class falls inside the band [low, high] also go to the transformer, and their
probabilities become the mean of both models (`average`) or the transformer's (`transformer`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    combine: str = "average"  # average | transformer

    def uncertain(self, positive_probs: np.ndarray) -> np.ndarray:
        """Indices of the rows the linear model is unsure about."""
        return np.flatnonzero((positive_probs >= self.low) & (positive_probs <= self.high))


def cascade_probabilities(
    linear_probs: np.ndarray,
    positive: int,
    band: Band,
    second: Callable[[Sequence[int]], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, routed row indices). `second(rows)` scores only the routed rows."""
    routed = band.uncertain(linear_probs[:, positive])
    out = np.array(linear_probs, dtype=np.float64, copy=True)
    if len(routed):
        other = np.asarray(second(routed.tolist()), dtype=np.float64)
        out[routed] = other if band.combine == "transformer" else (out[routed] + other) / 2.0
    return out, routed
