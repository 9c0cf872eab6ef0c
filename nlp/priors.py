"""Class priors of the deployment stream, re-estimated without labels (Saerens, Latinne and
Decaestecker 2002, "Adjusting the outputs of a classifier to new a priori probabilities").

A classifier's posteriors carry the class priors of its training data. On a stream with other
priors (epidemic posts: far fewer fear posts than the fear-rich training sets suggest, or more)
EM alternates: re-weight every posterior by target/train prior ratios, then set the target priors
to the mean re-weighted posterior. `adjust` applies the ratios at prediction time.
"""

from __future__ import annotations

import numpy as np


def adjust(probs: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Posteriors re-weighted by per-class prior ratios (target / train), renormalized."""
    p = probs * ratio[None, :]
    s = p.sum(axis=1, keepdims=True)
    s[s == 0] = 1.0
    return np.asarray(p / s)


def em_priors(
    probs: np.ndarray,
    train_priors: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    limit: float = 4.0,
) -> tuple[np.ndarray, int]:
    """(target priors, iterations) estimated from unlabeled posteriors `probs` (n x k).

    `limit` caps every ratio target/train to [1/limit, limit]: EM on a few thousand posts can
    drive a rare class towards zero, and a capped correction degrades gracefully."""
    train = np.clip(np.asarray(train_priors, dtype=np.float64), 1e-6, None)
    train = train / train.sum()
    target = train.copy()
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        ratio = np.clip(target / train, 1.0 / limit, limit)
        new = adjust(probs, ratio).mean(axis=0)
        done = np.abs(new - target).max() < tol
        target = new
        if done:
            break
    ratio = np.clip(target / train, 1.0 / limit, limit)
    capped = train * ratio
    return capped / capped.sum(), iterations
