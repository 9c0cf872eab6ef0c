"""The cascade routes only the posts the linear model is unsure about (band from config), and
the shipped transformer stage runs with onnxruntime + tokenizers and labels clear cases."""

from __future__ import annotations

import numpy as np
import pytest

from nlp.transformer.cascade import Band, cascade_probabilities


def _linear(p_rumor: list[float]) -> np.ndarray:
    p = np.array(p_rumor)
    return np.stack([1 - p, p], axis=1)


def test_cascade_sends_only_rows_inside_the_band() -> None:
    linear = _linear([0.01, 0.25, 0.5, 0.75, 0.99, 0.2, 0.8])
    asked: list[list[int]] = []

    def second(rows):  # type: ignore[no-untyped-def]
        asked.append(list(rows))
        return _linear([0.9] * len(rows))

    probs, routed = cascade_probabilities(linear, 1, Band(0.2, 0.8, "average"), second)
    assert routed.tolist() == [1, 2, 3, 5, 6] == asked[0]
    assert probs[[0, 4]].tolist() == linear[[0, 4]].tolist()
    assert probs[2].tolist() == pytest.approx([0.3, 0.7])  # mean of 0.5 and 0.9
    replaced, _ = cascade_probabilities(linear, 1, Band(0.2, 0.8, "transformer"), second)
    assert replaced[1].tolist() == pytest.approx([0.1, 0.9])


def test_cascade_with_nothing_uncertain_never_calls_the_transformer() -> None:
    def second(rows):  # type: ignore[no-untyped-def]
        raise AssertionError("called")

    probs, routed = cascade_probabilities(_linear([0.01, 0.99]), 1, Band(0.3, 0.7), second)
    assert len(routed) == 0
    assert probs.tolist() == _linear([0.01, 0.99]).tolist()


# -- the shipped transformer stage and the Predictor's cascade ------------------------------
RUMORS = [
    "转发救人！今天下午在人民广场有一个小孩被拐走了，穿红衣服，家长急疯了，求扩散！！",
    "震惊！喝醋可以杀死新冠病毒，赶紧转给家里人！",
    # the linear model is unsure about these two (P(rumor) between 0.2 and 0.8); the default
    # path (rumor-lin-2 + the encoder band) gets the first right, the cascade both
    "紧急扩散！明天起全市停水三天，赶紧囤水，转给家人",
    "内部消息：银行明天全部停业，赶紧取钱，扩散",
]
NEWS = [
    "【权威发布】市疾控中心：本市新增确诊病例2例，均为境外输入",
    "市气象台发布天气预报：明天多云转晴，气温回升",
    "#新冠肺炎# 国家卫健委：截至2月10日24时，据31个省（自治区、直辖市）报告，现有确诊病例37626例。",
]


@pytest.fixture(scope="module")
def linear_only():  # type: ignore[no-untyped-def]
    from nlp.predict import Predictor

    return Predictor(cascade=False)


def test_shipped_transformer_runs_on_onnxruntime_and_labels_clear_cases() -> None:
    from analysis.text import normalize
    from nlp.predict import default_models_dir
    from nlp.transformer.runtime import TransformerClassifier

    clf = TransformerClassifier.load(default_models_dir() / "rumor_transformer")
    probs = clf.predict_proba([normalize(t) for t in RUMORS + NEWS])
    labels = [clf.classes[i] for i in probs.argmax(axis=1)]
    assert labels == ["rumor"] * len(RUMORS) + ["non-rumor"] * len(NEWS)


def test_runtime_imports_neither_torch_nor_transformers() -> None:
    import subprocess
    import sys

    probe = (
        "import sys; from nlp.predict import Predictor; "
        "Predictor(cascade=True).predict('rumor', ['紧急扩散！明天起全市停水三天，赶紧囤水，转给家人']); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("low", "high"), [(0.2, 0.8), (0.3, 0.7), (0.0, 1.0), (0.5, 0.5)])
def test_predictor_routes_only_posts_inside_the_band(linear_only, low: float, high: float) -> None:  # type: ignore[no-untyped-def]
    from nlp.predict import Predictor

    texts = RUMORS + NEWS
    linear = [p["scores"]["rumor"] for p in linear_only.predict("rumor", texts)]
    inside = {i for i, p in enumerate(linear) if low <= p <= high}
    predictor = Predictor(band=Band(low, high, "average"), cascade=True)
    preds = predictor.predict("rumor", texts)
    assert predictor.routing["rumor"] == [len(texts), len(inside)]
    for i, (pred, p) in enumerate(zip(preds, linear, strict=True)):
        if i not in inside:
            assert pred["scores"]["rumor"] == p  # untouched: the transformer never saw it
    if (low, high) == (0.0, 1.0):
        assert len(inside) == len(texts)
    if (low, high) == (0.5, 0.5):
        assert not inside


def test_cascade_fixes_the_posts_the_linear_model_is_unsure_about(linear_only) -> None:  # type: ignore[no-untyped-def]
    from nlp.predict import Predictor

    texts = RUMORS + NEWS
    alone = [p["label"] for p in linear_only.predict("rumor", texts)]
    cascade = Predictor(cascade=True)  # the band shipped in rumor_transformer/meta.json
    labels = [p["label"] for p in cascade.predict("rumor", texts)]
    assert "non-rumor" in alone[2:4]  # the default path (linear + encoder band) misses one
    assert labels == ["rumor"] * len(RUMORS) + ["non-rumor"] * len(NEWS)
    assert cascade.routing["rumor"][1] >= 2
    assert "rumor-tf" in cascade.versions()["rumor"]
    assert "rumor-tf" not in linear_only.versions()["rumor"]


def test_a_posts_rumor_score_does_not_depend_on_the_posts_scored_with_it() -> None:
    """The int8 stage quantizes activations with one scale per input tensor: batched, a post's
    P(rumor) moved by up to 0.08 with its batch-mates. Each post alone, in any company, in any
    order, must get the very same scores (what `tingfeng nlp predict` and enrichment write)."""
    from nlp.predict import Predictor
    from nlp.transformer.runtime import RUN_MODE

    more = [
        "听说小区有人确诊了，物业什么都不说，是真的吗？",
        "医院说口罩要囤够，半年都买不到了，快转给家里人" * 3,
        "今天天气不错",
    ]
    texts = RUMORS + NEWS + more
    predictor = Predictor()
    together = predictor.predict("rumor", texts)
    reversed_ = predictor.predict("rumor", texts[::-1])[::-1]
    alone = [predictor.predict("rumor", [t])[0] for t in texts]
    assert predictor.routing["rumor"][1] > 0  # the transformer stage did run
    assert together == alone == reversed_
    # posts enriched when batch-mates still moved the scores carry another pipeline version,
    # so enrichment scores them again
    stage = predictor.transformer("rumor")
    assert stage is not None
    assert predictor.versions()["rumor"].endswith(f"~{stage.version}/{RUN_MODE}")
