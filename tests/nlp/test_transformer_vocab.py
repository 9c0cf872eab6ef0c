"""The converter's pure parts, without torch: Q4_0 dequantization, vocabulary trimming and
embedding-row remapping on a tiny synthetic unigram vocabulary, and the training data path."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from nlp.transformer.e5file import dequantize_q4_0
from nlp.transformer.vocab import (
    META,
    Specials,
    build_tokenizer,
    character_piece_ids,
    remap_rows,
    trim_vocabulary,
    used_piece_ids,
)

# a tiny XLM-R-like vocabulary: specials first, then pieces with unigram log-probabilities
PIECES = ["<s>", "<pad>", "</s>", "<unk>", META, f"{META}武汉", "武", "汉", "肺炎", "肺", "炎",
          f"{META}hello", "world", "谣言", "谣", "言", f"{META}谣言"]  # fmt: skip
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -6.0, -6.0, -4.0, -7.0, -7.0,
          -5.0, -5.0, -4.0, -8.0, -8.0, -3.5]  # fmt: skip
SPECIALS = Specials(bos=0, eos=2, pad=1, unk=3)


def test_full_tokenizer_segments_by_unigram_scores() -> None:
    tok = build_tokenizer(PIECES, SCORES, SPECIALS)
    assert tok.encode("武汉肺炎").tokens == ["<s>", f"{META}武汉", "肺炎", "</s>"]


def test_trimming_keeps_used_pieces_and_specials_in_original_order() -> None:
    full = build_tokenizer(PIECES, SCORES, SPECIALS)
    used = used_piece_ids(full, ["武汉肺炎", "谣言"])
    assert used == {0, 2, 5, 8, 16}  # <s> </s> ▁武汉 肺炎 ▁谣言
    keep = used | character_piece_ids(PIECES, "武汉肺炎谣言")
    trimmed = trim_vocabulary(PIECES, SCORES, keep, SPECIALS)
    assert trimmed.pieces == ["<s>", "<pad>", "</s>", "<unk>", f"{META}武汉", "武", "汉",
                              "肺炎", "肺", "炎", "谣", "言", f"{META}谣言"]  # fmt: skip
    assert trimmed.old_ids.tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 14, 15, 16]
    assert vars(trimmed.specials) == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert "world" not in trimmed.pieces and f"{META}hello" not in trimmed.pieces


def test_trimmed_tokenizer_gives_the_same_pieces_on_corpus_texts() -> None:
    corpus = ["武汉肺炎", "谣言", "肺炎谣言"]
    full = build_tokenizer(PIECES, SCORES, SPECIALS)
    keep = used_piece_ids(full, corpus) | character_piece_ids(PIECES, "".join(corpus))
    trimmed = trim_vocabulary(PIECES, SCORES, keep, SPECIALS)
    small = build_tokenizer(trimmed.pieces, trimmed.scores, trimmed.specials)
    for text in corpus:
        old, new = full.encode(text), small.encode(text)
        assert new.tokens == old.tokens
        assert [int(trimmed.old_ids[i]) for i in new.ids] == old.ids


def test_trimmed_tokenizer_falls_back_to_characters_then_unk() -> None:
    full = build_tokenizer(PIECES, SCORES, SPECIALS)
    keep = used_piece_ids(full, ["武汉肺炎"]) | character_piece_ids(PIECES, "武汉肺炎")
    trimmed = trim_vocabulary(PIECES, SCORES, keep, SPECIALS)
    small = build_tokenizer(trimmed.pieces, trimmed.scores, trimmed.specials)
    enc = small.encode("炎肺world")
    assert enc.tokens[0] == "<s>" and enc.tokens[-1] == "</s>"
    assert "炎" in enc.tokens and "肺" in enc.tokens
    assert trimmed.specials.unk in enc.ids  # "world" was trimmed away


def test_remap_rows_follows_the_id_map() -> None:
    matrix = np.arange(len(PIECES) * 4, dtype=np.float32).reshape(len(PIECES), 4)
    trimmed = trim_vocabulary(PIECES, SCORES, {5, 16}, SPECIALS)
    rows = remap_rows(matrix, trimmed.old_ids)
    assert rows.shape == (6, 4)
    assert rows[trimmed.pieces.index(f"{META}谣言")].tolist() == matrix[16].tolist()
    assert rows[trimmed.specials.unk].tolist() == matrix[3].tolist()


def test_trim_refuses_ids_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        trim_vocabulary(PIECES, SCORES, {99}, SPECIALS)


def test_q4_0_dequantization_matches_the_format() -> None:
    # one row of 32 weights: scale 0.5, nibble j = j % 16 for the low half, 15 - j for the high
    low = [j % 16 for j in range(16)]
    high = [15 - j for j in range(16)]
    block = struct.pack("<e", 0.5) + bytes(lo | (hi << 4) for lo, hi in zip(low, high, strict=True))
    row = dequantize_q4_0(block, 1, 32)
    assert row[0, :16].tolist() == [(q - 8) * 0.5 for q in low]
    assert row[0, 16:].tolist() == [(q - 8) * 0.5 for q in high]


def test_training_data_path_needs_no_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    from nlp.config import load_config
    from nlp.transformer.config import default_transformer_config_path, load_transformer_config
    from nlp.transformer.train import batches, training_examples
    from tests.nlp.test_train import _tiny_config
    from tests.nlp.tiny_data import write_tiny_datasets

    root = write_tiny_datasets(tmp_path / "datasets")
    linear = load_config(_tiny_config("rumor", tmp_path))
    config = load_transformer_config(default_transformer_config_path("rumor"))
    data, classes, splits = training_examples(config, root, linear)
    assert classes == ["non-rumor", "rumor"]
    assert sum(len(s.texts) for s in splits.values()) == len(data.examples)
    for name, split in splits.items():
        gold = [e.label for e in data.examples if e.split == name]
        assert [classes[i] for i in split.labels] == gold
    lengths = [len(t) for t in splits["train"].texts]
    rows = [i for b in batches(lengths, 3, seed=1) for i in b]
    assert sorted(rows) == list(range(len(lengths)))
    probe = "import sys, nlp.transformer.train, nlp.predict; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
