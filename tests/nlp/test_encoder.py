"""The encoder stage: the shipped int8 encoder loads and embeds without torch, a rumor head
(`tingfeng nlp train-encoder` writes one; none ships since the fine-tuned transformer won the
cross-source table) combines only the posts in its band, and `tingfeng nlp predict` gives exactly
what enrichment writes (one default path)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analysis.text import normalize, segment
from cli.main import app
from nlp.encoder import Encoder, EncoderHead, has_encoder, has_head
from nlp.enrich import ClassifyStep
from nlp.linear import Calibration
from nlp.predict import Predictor, default_models_dir
from store.records import Post, make_id

TEXTS = [
    "转发救人！今天下午在人民广场有一个小孩被拐走了，穿红衣服，家长急疯了，求扩散！！",
    "【权威发布】市疾控中心：本市新增确诊病例2例，均为境外输入",
    "听说明天要封城了，超市的米都被抢光了，是真的吗？",
    "网传喝高度白酒可以预防新冠病毒，专家：没有科学依据",
    "今天天气很好，去公园散步",
    "紧急通知：今晚12点开始全城消毒，飞机撒药，请关好门窗不要出门，收到请转发",
    "某地自来水被污染了，大家千万别喝，赶紧告诉家人",
    "市交通局：地铁三号线今日起延长运营时间",
]


def _head(encoder: Encoder, folder: Path) -> EncoderHead:
    """A head over the shipped encoder whose weights favour the first two texts' direction."""
    vectors = encoder.embed([normalize(t) for t in TEXTS])
    mean, scale = vectors.mean(axis=0), vectors.std(axis=0) + 1e-6
    z = (vectors - mean) / scale
    w = (z[0] + z[5] - z[1] - z[7])[:, None] / encoder.dim
    head = EncoderHead(
        task="rumor",
        version="rumor-enc-test",
        classes=["non-rumor", "rumor"],
        W=w.astype(np.float32),
        b=np.zeros(1, dtype=np.float32),
        mean=mean,
        scale=scale,
        calibration=Calibration("platt", a=1.0, c=0.0),
        meta={"combine": {"low": 0.4, "high": 0.6, "weight": 0.5}, "encoder": encoder.version},
    )
    head.save(folder)
    return EncoderHead.load(folder)


def test_shipped_encoder_embeds_and_a_head_scores_its_vectors(tmp_path: Path) -> None:
    models = default_models_dir()
    assert has_encoder(models / "encoder")
    assert not has_head(models / "rumor_encoder")  # superseded by the transformer stage
    encoder = Encoder.load(models / "encoder")
    head = _head(encoder, tmp_path / "rumor_encoder")
    vectors = encoder.embed([normalize(t) for t in TEXTS])
    assert vectors.shape == (len(TEXTS), encoder.dim) and np.isfinite(vectors).all()
    # dynamic int8 quantizes activations with one scale per input tensor: each text runs
    # alone, so another batch in another order gives the very same vectors
    again = encoder.embed([normalize(TEXTS[3]), normalize(TEXTS[0])])
    assert np.array_equal(again, vectors[[3, 0]])
    probs = head.predict_proba(vectors)
    assert probs.shape == (len(TEXTS), 2) and np.allclose(probs.sum(axis=1), 1.0)
    assert head.meta["encoder"] == encoder.version
    assert encoder.embed([]).shape == (0, encoder.dim)


def test_only_posts_in_the_band_are_combined(tmp_path: Path) -> None:
    linear_only = tmp_path / "models"
    shutil.copytree(default_models_dir(), linear_only)
    with_head = tmp_path / "with_head"
    shutil.copytree(default_models_dir(), with_head)
    _head(Encoder.load(with_head / "encoder"), with_head / "rumor_encoder")
    base = Predictor(linear_only, cascade=False).predict("rumor", TEXTS)
    full = Predictor(with_head, cascade=False)
    out = full.predict("rumor", TEXTS)
    head = full.head("rumor")
    assert head is not None
    low, high = head.meta["combine"]["low"], head.meta["combine"]["high"]
    inside = [low <= b["scores"]["rumor"] <= high for b in base]
    assert any(inside) and not all(inside)  # the cases above straddle the band
    seen, routed = full.routing["rumor_encoder"]
    assert (seen, routed) == (len(TEXTS), sum(inside))
    for b, o, routed_here in zip(base, out, inside, strict=True):
        if routed_here:
            assert o["scores"] != b["scores"]
        else:
            assert o["scores"] == b["scores"]
    assert head.version in full.version and head.version not in Predictor(linear_only).version


def test_nlp_predict_is_the_enrichment_path() -> None:
    stdin = "".join(
        json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(TEXTS)
    )
    for task in ("rumor", "emotion"):
        result = CliRunner().invoke(app, ["nlp", "predict", "--task", task], input=stdin)
        assert result.exit_code == 0, result.output
        cli = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        posts = [
            Post(
                id=make_id("t", str(i)),
                source="t",
                platform="weibo",
                text=t,
                text_norm=normalize(t),
                tokens=" ".join(segment(normalize(t))),
                segmenter="",
                created_at="2020-02-01T00:00:00Z",
                fetched_at="2020-02-01T00:00:00Z",
            )
            for i, t in enumerate(TEXTS)
        ]
        ClassifyStep(Predictor())(posts)
        written = [getattr(p.nlp, task) for p in posts]
        assert [c["label"] for c in cli] == [w.label for w in written]
        assert [c["score"] for c in cli] == pytest.approx([w.score for w in written], abs=1e-4)
