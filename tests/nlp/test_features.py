"""Hashed features: a batch's hashes are shared between feature spaces, never reused stale."""

from __future__ import annotations

import threading

import numpy as np

from nlp.features import Features, Featurizer

TEXTS = ["盐水漱口能预防新冠病毒", "武汉加油 abc 123", "", "😀😀"]
TOKENS = [["盐水", "漱口", "能", "预防", "新冠", "病毒"], ["武汉", "加油", "abc", "123"], [], []]
SPACES = [
    Featurizer(bits=20, char_min=1, char_max=2),
    Featurizer(bits=19, char_min=1, char_max=3),
    Featurizer(bits=12, char_min=2, char_max=4, words=False),
]


def _alone(featurizer: Featurizer, texts: list[str], tokens: list[list[str]]) -> Features:
    """Hashes computed in a fresh thread, so nothing from this thread's last batch is used."""
    out: list[Features] = []
    thread = threading.Thread(target=lambda: out.append(featurizer.hashes(texts, tokens)))
    thread.start()
    thread.join()
    return out[0]


def _same(a: Features, b: Features) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("data", "indices", "indptr"))


def test_feature_spaces_sharing_a_batch_get_their_own_features() -> None:
    shared = [f.hashes(TEXTS, TOKENS) for f in SPACES]  # one batch, three spaces
    for featurizer, feats in zip(SPACES, shared, strict=True):
        assert _same(feats, _alone(featurizer, TEXTS, TOKENS))
        assert int(feats.indices.max()) < featurizer.n_features
    assert shared[0].n_features != shared[1].n_features


def test_a_reused_token_list_changed_in_place_is_hashed_again() -> None:
    tokens = [list(t) for t in TOKENS]
    before = SPACES[0].hashes(TEXTS, tokens)
    tokens[0].append("谣言")  # the caller reuses its list for other tokens
    after = SPACES[0].hashes(TEXTS, tokens)
    assert not _same(before, after)
    assert _same(after, _alone(SPACES[0], TEXTS, tokens))
