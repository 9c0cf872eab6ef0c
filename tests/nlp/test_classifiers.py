"""The shipped models load and label clear, hand-written cases; the help lexicon keeps its
precision/recall on the hand-labeled samples. Assertions are on labels, never on scores."""

from __future__ import annotations

import pytest

from nlp.errors import UnknownTask
from nlp.help import help_samples
from nlp.predict import TASKS, Predictor


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


RUMORS = [
    "转发救人！今天下午在人民广场有一个小孩被拐走了，穿红衣服，家长急疯了，求扩散！！",
    "紧急通知：今晚12点开始全城消毒，飞机撒药，请关好门窗不要出门，收到请转发",
    "求扩散！有人在超市门口给小孩吃糖然后拐走，已经好几个了",
]
NEWS = [
    "【权威发布】市疾控中心：本市新增确诊病例2例，均为境外输入",
    "#新冠肺炎# 国家卫健委：截至2月10日24时，据31个省（自治区、直辖市）报告，现有确诊病例37626例。",
]


def test_rumor_labels_clear_cases(predictor: Predictor) -> None:
    preds = predictor.predict("rumor", RUMORS + NEWS)
    assert [p["label"] for p in preds] == ["rumor"] * len(RUMORS) + ["non-rumor"] * len(NEWS)
    for p in preds:
        assert set(p["scores"]) == {"rumor", "non-rumor"}
        assert p["score"] == max(p["scores"].values())


def test_rumor_context_uses_reposts(predictor: Predictor) -> None:
    preds = predictor.predict(
        "rumor_context", RUMORS[:1] + NEWS[:1], contexts=[["真的假的？", "求证"], ["转发"]]
    )
    assert [p["label"] for p in preds] == ["rumor", "non-rumor"]


EMOTIONS = {
    "气死我了，排了三个小时队还没轮到，什么破服务！": ("angry", "negative"),
    "今天太开心了，终于拿到offer了[哈哈]": ("happy", "positive"),
    "外婆走了，好难过，再也见不到她了[泪]": ("sad", "negative"),
    "好害怕，楼下有人确诊了，不敢出门": ("fear", "negative"),
    "什么？竟然是他干的？太意外了吧": ("surprise", "neutral"),
}


def test_emotion_and_polarity_label_clear_cases(predictor: Predictor) -> None:
    texts = list(EMOTIONS)
    emotion = [p["label"] for p in predictor.predict("emotion", texts)]
    polarity = [p["label"] for p in predictor.predict("polarity", texts)]
    assert emotion == [e for e, _ in EMOTIONS.values()]
    assert polarity == [p for _, p in EMOTIONS.values()]


def test_help_keeps_precision_and_recall_on_hand_labeled_samples(predictor: Predictor) -> None:
    samples = help_samples()
    assert len(samples) >= 150
    preds = predictor.predict("help", [s["text"] for s in samples])
    gold = [s["label"] != "none" for s in samples]
    flagged = [p["label"] != "none" for p in preds]
    tp = sum(g and f for g, f in zip(gold, flagged, strict=True))
    precision = tp / sum(flagged)
    recall = tp / sum(gold)
    assert precision >= 0.9, precision
    assert recall >= 0.9, recall


def test_help_labels_request_demand_and_offer() -> None:
    preds = Predictor().predict(
        "help",
        [
            "求助！家里老人的降压药吃完了，药店都关门了，谁能帮帮忙",
            "强烈要求有关部门管一管小区的垃圾，一个星期没人清运了",
            "社区志愿者今天给独居老人送去了药品，感谢他们",
        ],
    )
    assert [p["label"] for p in preds] == ["help_request", "public_demand", "none"]


def test_batches_give_the_same_labels(predictor: Predictor) -> None:
    texts = RUMORS + NEWS + list(EMOTIONS)
    small = Predictor(batch_size=2)
    for task in TASKS:
        assert [p["label"] for p in small.predict(task, texts)] == [
            p["label"] for p in predictor.predict(task, texts)
        ]


def test_unknown_task_is_refused(predictor: Predictor) -> None:
    with pytest.raises(UnknownTask, match="sentiment"):
        predictor.predict("sentiment", ["x"])


def test_pipeline_version_names_every_model(predictor: Predictor) -> None:
    versions = predictor.versions()
    assert predictor.version == "+".join(versions[k] for k in ("rumor", "emotion", "help"))
