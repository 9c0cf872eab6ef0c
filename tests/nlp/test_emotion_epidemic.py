"""The hand-labelled epidemic-era emotion posts (ids + labels only, joined with the shared
datasets beside the clone): the fixture itself, its scorer, its rows in the cross-source
protocol (tiny data), and the shipped emotion model against a floor on those posts."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from nlp.config import default_config_path, load_config
from nlp.crosssource import cross_source, hand_labelled_data, unlabeled_texts
from nlp.emotion_epidemic import (
    COLUMNS,
    LABELS,
    EpidemicPost,
    attach_texts,
    draw_sample,
    load_pool,
    read_labels,
    read_second_reading,
    score,
    write_labels,
)
from nlp.errors import DatasetError
from nlp.linear import LinearModel
from nlp.metrics import cohen_kappa
from nlp.modelcard import cross_source_lines
from nlp.predict import default_models_dir
from nlp.train import fit_model, load_task_data
from tests.nlp.tiny_data import EMOTION, write_tiny_datasets

REPO = Path(__file__).resolve().parents[2]
LABELS_TSV = Path(__file__).parent / "fixtures" / "emotion_epidemic_labels.tsv"
SECOND_TSV = Path(__file__).parent / "fixtures" / "emotion_epidemic_second.tsv"
# CI keeps a read-only copy of shared/ beside the clone; worktrees sit one level deeper
SHARED = next(
    (
        p
        for p in (REPO.parent / "shared" / "datasets", REPO.parents[1] / "shared" / "datasets")
        if p.is_dir()
    ),
    REPO.parent / "shared" / "datasets",
)
# The shipped model on the 460 posts (bootstrap 95% intervals in the card): macro-F1 and fear
# precision must stay above these floors (emotion-lin-2 scores 0.536 and 0.45). emotion-lin-1
# (the svm over mapped labels, which called neutral epidemic posts fearful) scored 0.447 and
# 0.18 on the same posts and fails both.
MACRO_F1_FLOOR = 0.50
FEAR_PRECISION_FLOOR = 0.35


def test_fixture_has_enough_ids_valid_labels_and_no_texts() -> None:
    rows = read_labels(LABELS_TSV)
    assert len(rows) >= 400
    assert len({r.key for r in rows}) == len(rows)
    counts = Counter(r.label for r in rows)
    assert set(counts) == set(LABELS)  # every class occurs
    body = [
        line.rstrip("\n").split("\t")
        for line in LABELS_TSV.read_text("utf-8").splitlines()
        if not line.startswith("#")
    ]
    assert tuple(body[0]) == COLUMNS
    for cells in body[1:]:
        assert len(cells) == len(COLUMNS)
        assert re.fullmatch(r"[\w.:-]+", cells[0]) and re.fullmatch(r"[\w.-]+", cells[2])
        assert not re.search(r"[\u4e00-\u9fff]", "".join(cells))  # ids and labels only


def test_fixture_ids_are_the_seeded_sample_of_the_shared_pool() -> None:
    rows = read_labels(LABELS_TSV)
    pool = load_pool(SHARED)
    drawn = draw_sample(pool, len(rows))
    assert [p.key for p in drawn] == [r.key for r in rows]  # same seed, same order
    joined = attach_texts(rows, SHARED)
    assert all(len(r.text) >= 5 for r in joined)


def test_label_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.tsv"
    write_labels(path, [EpidemicPost("covid_weibo_hashtag_topics", "u1", "joy")])
    with pytest.raises(DatasetError, match=r"labels\.tsv:2: bad label"):
        read_labels(path)
    with pytest.raises(DatasetError, match="not found"):
        read_labels(tmp_path / "missing.tsv")
    write_labels(path, [EpidemicPost("covid_weibo_hashtag_topics", "nope", "fear")])
    with pytest.raises(DatasetError, match="not in the shared datasets"):
        attach_texts(read_labels(path), write_tiny_datasets(tmp_path / "d"))


def test_score_counts_precision_recall_and_bootstrap_intervals() -> None:
    classes = list(LABELS)
    gold = ["neutral"] * 6 + ["fear"] * 2 + ["happy"] * 2
    pred = ["neutral"] * 4 + ["fear"] * 2 + ["fear", "neutral"] + ["happy"] * 2
    probs = np.eye(len(classes))[[classes.index(p) for p in pred]]
    m = score(classes, gold, probs, boot=300)
    assert m["n"] == 10
    assert m["fear_precision"]["value"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["per_class"]["fear"]["recall"]["value"] == 0.5
    assert m["neutral_recall"]["value"] == pytest.approx(4 / 6, abs=1e-4)
    assert m["per_class"]["fear"]["predicted"] == 3
    # macro over the three gold classes: neutral P 4/5 R 4/6, fear P 1/3 R 1/2, happy 1.0
    f1 = [2 * p * r / (p + r) for p, r in ((4 / 5, 4 / 6), (1 / 3, 1 / 2), (1.0, 1.0))]
    assert m["macro_f1"]["value"] == pytest.approx(sum(f1) / 3, abs=1e-4)
    lo, hi = m["macro_f1"]["ci95"]
    assert lo <= m["macro_f1"]["value"] <= hi and lo < hi
    perfect = score(classes, gold, np.eye(len(classes))[[classes.index(g) for g in gold]])
    assert perfect["macro_f1"] == {"value": 1.0, "ci95": [1.0, 1.0]}


def _tiny_config(folder: Path, labels: Path, second: Path | None = None) -> Path:
    raw = yaml.safe_load(default_config_path("emotion").read_text("utf-8"))
    raw["features"].update({"bits": 12})
    raw["data"].update({"test_fraction": 0.3, "dev_fraction": 0.2})
    raw["cross_dataset"], raw["out_of_domain"] = [], {}
    raw["hand_labelled"] = {"labels": str(labels), "title": "tiny epidemic posts"}
    if second is not None:
        raw["hand_labelled"]["second_reading"] = str(second)
    path = folder / "emotion.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


def test_cross_source_scores_the_hand_labelled_posts_with_every_model(tmp_path: Path) -> None:
    root = write_tiny_datasets(tmp_path / "datasets")
    # the tiny unlabeled epidemic posts are the EMOTION texts in order: label the first of each
    rows, i = [], 0
    for label, texts in EMOTION.items():
        rows.append(EpidemicPost("covid_weibo_hashtag_topics", f"u{i}", label))
        i += len(texts)
    labels = tmp_path / "labels.tsv"
    write_labels(labels, rows)
    second = tmp_path / "second.tsv"  # a second reader who calls the first post (happy) sad
    second.write_text(f"# differs once\nkey\tsecond\n{rows[0].key}\tsad\n", encoding="utf-8")
    config = load_config(_tiny_config(tmp_path, labels, second))
    hand = hand_labelled_data(config, root)
    assert hand is not None and [e.label for e in hand.examples] == list(EMOTION)
    stream, _ = unlabeled_texts(config, root)
    assert not set(stream) & {e.text for e in hand.examples}  # EM never sees the test posts
    assert len(stream) == sum(len(t) for t in EMOTION.values()) - len(rows)

    data = load_task_data(config, root)
    model = fit_model(config, data, data.mask("train"), data.mask("dev"))
    result = cross_source(config, data, root, trained=model)
    for row in result["families"].values():
        m = row["hand_labelled"]
        assert m["n"] == len(rows)
        assert sum(pc["support"] for pc in m["per_class"].values()) == len(rows)
        assert "hand_labelled" in row["prior_correction"]
    assert result["hand_labelled"]["trained"]["version"] == config.version
    assert result["hand_labelled"]["trained"]["test"]["n"] == len(rows)
    reread = result["hand_labelled"]["second_reading"]
    assert reread["accuracy"]["value"] == round(1 - 1 / len(rows), 4)
    assert reread["per_class"]["happy"]["recall"]["value"] == 0.0
    assert reread["per_class"]["sad"]["predicted"] == 2 and reread["kappa"] < 1.0
    card = "\n".join(cross_source_lines(config, result))
    assert "tiny epidemic posts: a second annotator, blind" in card
    assert f"kappa {reread['kappa']:.2f}" in card
    assert f"**tiny epidemic posts: {config.version}**" in card
    assert "tiny epidemic posts: model trained without nlpcc2020" in card


def test_a_second_reading_of_the_epidemic_posts_agrees_with_the_first() -> None:
    """The 460 posts read again, blind: the labels are consistent (kappa >= 0.75), so the
    model's distance to them is the model's; the file lists only posts that differ."""
    rows = read_labels(LABELS_TSV)
    second = read_second_reading(SECOND_TSV, rows)
    changed = [r.key for r, c in zip(rows, second, strict=True) if c != r.label]
    lines = [ln for ln in SECOND_TSV.read_text("utf-8").splitlines() if not ln.startswith("#")]
    listed = [ln.split("\t")[0] for ln in lines[1:]]
    assert sorted(changed) == sorted(listed) and changed
    first = np.array([LABELS.index(r.label) for r in rows])
    assert cohen_kappa(first, np.array([LABELS.index(c) for c in second])) >= 0.75
    assert "疫情" not in SECOND_TSV.read_text("utf-8")


def test_shipped_model_clears_the_floor_on_hand_labelled_epidemic_posts() -> None:
    model = LinearModel.load(default_models_dir() / "emotion")
    config = load_config(default_config_path("emotion"))
    hand = hand_labelled_data(config, SHARED)
    assert hand is not None
    order = [model.classes.index(c) for c in config.classes]
    probs = model.predict_proba([e.text for e in hand.examples], hand.tokens)[:, order]
    m = score(config.classes, [e.label for e in hand.examples], probs, boot=200)
    assert m["macro_f1"]["value"] >= MACRO_F1_FLOOR, m["macro_f1"]
    assert m["fear_precision"]["value"] >= FEAR_PRECISION_FLOOR, m["per_class"]["fear"]


def test_masked_ovr_svm_never_uses_a_source_as_negatives_of_a_class_it_cannot_express() -> None:
    from scipy.sparse import csr_matrix
    from sklearn.svm import LinearSVC

    from nlp.masked import fit_masked_ovr_svm

    classes = ["neutral", "happy", "fear"]
    # source A (has neutral): neutral posts carry feature 1, fear posts feature 2;
    # source B (no neutral, epidemic): happy and fear posts all carry the epidemic feature 0
    rows = [[0, 1, 0, 0]] * 6 + [[0, 0, 1, 0]] * 6 + [[1, 0, 0, 1]] * 6 + [[1, 0, 1, 0]] * 6
    y = np.array([0] * 6 + [2] * 6 + [1] * 6 + [2] * 6)
    allowed = np.array([[True, True, True]] * 12 + [[False, True, True]] * 12)
    X = csr_matrix(np.array(rows, dtype=float))
    W, b = fit_masked_ovr_svm(X, y, allowed, C=1.0)
    assert W.shape == (4, 3) and b.shape == (3,)
    assert W[0, 0] == 0.0  # the epidemic feature never met a neutral negative
    plain = LinearSVC(C=1.0).fit(X, y)
    assert plain.coef_[0, 0] < -0.1  # a plain one-vs-rest SVM learns "epidemic => not neutral"
    scores = X.toarray() @ W + b
    assert [classes[i] for i in scores.argmax(axis=1)[[0, 6, 12]]] == ["neutral", "fear", "happy"]
    with pytest.raises(ValueError, match="not among its allowed"):
        fit_masked_ovr_svm(X, np.array([0] * 24), allowed)


def test_topic_masking_zeroes_only_the_words_typical_of_the_topic_dataset() -> None:
    from nlp.features import Featurizer
    from nlp.train import mask_topic_features

    fz = Featurizer(bits=14, char_min=1, char_max=1, words=False)
    topic_posts = [f"疫情好怕{i}" for i in range(10)] + ["开心"] * 10
    other_posts = ["开心"] * 40 + ["好怕"] * 20 + ["疫"]
    raw = fz.hashes(topic_posts + other_posts, None)
    topic = np.array([True] * 20 + [False] * 61)
    idf = np.ones(fz.n_features, dtype=np.float32)
    out = mask_topic_features(raw, topic, idf, ratio=5.0, min_df=0.2)

    def col(ch: str) -> int:
        return int(fz.hashes([ch], None).indices[0])

    assert out[col("情")] == 0.0  # only in the topic posts
    assert out[col("疫")] == 0.0  # 10/20 there vs 1/61 elsewhere
    assert out[col("怕")] == 1.0 and out[col("开")] == 1.0  # common elsewhere too: kept
    assert idf.min() == 1.0  # the input is not modified
    # nothing to compare against (the topic dataset is the one left out): unchanged
    assert mask_topic_features(raw, np.zeros(81, dtype=bool), idf, ratio=5.0, min_df=0.0) is idf
