"""The help/demand classifier on hand-labelled REAL posts (tests/nlp/fixtures/help_labels.tsv:
ids + labels only, joined with the shared datasets beside the clone), against the rules it
replaces; plus the training workflow end to end on a small slice."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis.text import normalize
from nlp.errors import ConfigError, DatasetError, ModelNotFound
from nlp.help import HelpClassifier
from nlp.help_data import (
    OTHER_POOL_FILES,
    POOL_FILES,
    ROUND6_SIZES,
    ROUND7_SIZES,
    STRATA,
    LabelledPost,
    PoolPost,
    attach_texts,
    banded,
    census_weights,
    draw_remaining_sample,
    load_pool,
    read_agreement,
    read_labels,
    strata,
)
from nlp.help_metrics import agreement, weighted_pr
from nlp.help_model import CLASSES, HelpModel, RuleFeatures
from nlp.help_train import (
    Fitter,
    _folds,
    _labels,
    default_config_path,
    families,
    load_dataset,
    load_train_config,
    near_duplicate_groups,
    rule_predictions,
    train_help,
    training_rows,
)
from nlp.linear import softmax
from nlp.metrics import cohen_kappa
from nlp.predict import default_models_dir

REPO = Path(__file__).resolve().parents[2]
LABELS = Path(__file__).parent / "fixtures" / "help_labels.tsv"
OTHER = Path(__file__).parent / "fixtures" / "help_labels_other.tsv"
AGREEMENT = Path(__file__).parent / "fixtures" / "help_labels_agreement.tsv"
# CI keeps a read-only copy of shared/ beside the clone; worktrees sit one level deeper
SHARED = next(
    (
        p
        for p in (REPO.parent / "shared" / "datasets", REPO.parents[1] / "shared" / "datasets")
        if p.is_dir()
    ),
    REPO.parent / "shared" / "datasets",
)
# weighted F1 (help_request or public_demand vs none) the model must reach on held-out folds
# (help-linear-4 on 1,957 posts, two-phase weights: 0.51 measured; help-linear-3 on 1,525 posts
# with the weights of rounds 1-5: 0.56; help-linear-1's settings gave 0.33 on 903); the rules
# it replaces score 0.25 on the same posts and weights
ANY_F1_FLOOR = 0.48
POSITIVE = [CLASSES.index("help_request"), CLASSES.index("public_demand")]


@pytest.fixture(scope="module")
def shipped() -> HelpModel:
    return HelpModel.load(default_models_dir() / "help")


@pytest.fixture(scope="module")
def labelled():  # type: ignore[no-untyped-def]
    assert SHARED.is_dir(), f"{SHARED}: the shared datasets must sit beside the clone"
    return load_dataset(LABELS, SHARED, 0.5)


def test_fixture_holds_ids_and_labels_of_at_least_600_real_posts() -> None:
    rows = read_labels(LABELS)
    assert len(rows) >= 600
    assert len({r.key for r in rows}) == len(rows)
    assert {r.stratum for r in rows} == set(STRATA) - {"model3_hi", "model3_mid"}
    labels = [r.label for r in rows]
    assert labels.count("help_request") >= 15 and labels.count("public_demand") >= 100
    assert all(r.weight >= 1.0 for r in rows)
    text = LABELS.read_text("utf-8")
    header = next(ln for ln in text.splitlines() if not ln.startswith("#"))
    assert header.split("\t") == ["key", "dataset", "id", "stratum", "weight", "label"]  # no text
    assert "新冠" not in text and "口罩" not in text  # no post texts in the repository


def test_fixture_weights_add_up_to_the_pool_round_7_posts_standing_for_the_unlabelled() -> None:
    """Two-phase weights: rounds 1-5 count once each; round 7 sampled the rest of the pool, so
    the weights of its posts add up to the posts no earlier round labelled, band by band."""
    rows = read_labels(LABELS)
    pool = load_pool(SHARED)
    assert abs(sum(r.weight for r in rows) - len(pool)) < 0.5
    first = [r for r in rows if not r.stratum.startswith("round7_")]
    later = [r for r in rows if r.stratum.startswith("round7_")]
    assert {r.weight for r in first} == {1.0}
    assert abs(sum(r.weight for r in later) - (len(pool) - len(first))) < 0.5
    assert {r.stratum for r in later} == {"round7_top", "round7_low", "round7_rest"}
    assert sum(r.stratum == "round7_low" for r in later) == ROUND7_SIZES["round7_low"]


def test_a_second_annotator_agrees_with_the_labels_of_record() -> None:
    """Every epidemic post labelled twice, blind: the guide is applied consistently enough
    for the labels to carry the model's metrics (kappa >= 0.75); the file lists exactly the
    disagreements and the posts a third annotator labelled, and holds no texts."""
    rows = read_labels(LABELS)
    second, third = read_agreement(AGREEMENT, rows)
    first = np.array([CLASSES.index(r.label) for r in rows])
    two = np.array([CLASSES.index(c) for c in second])
    three = np.array([CLASSES.index(c) if c else -1 for c in third])
    lines = [ln for ln in AGREEMENT.read_text("utf-8").splitlines() if not ln.startswith("#")]
    listed = {ln.split("\t")[0] for ln in lines[1:]}
    assert listed == {r.key for r, a, b in zip(rows, first, two, strict=True) if a != b} | {
        r.key for r, c in zip(rows, third, strict=True) if c
    }
    assert (three[first != two] >= 0).all()  # every disagreement went to the third
    assert cohen_kappa(first, two) >= 0.75
    assert "口罩" not in AGREEMENT.read_text("utf-8")


def test_agreement_scores_the_second_annotator_like_a_model() -> None:
    first, second = np.array([0, 1, 2, 2]), np.array([0, 2, 2, 2])
    # observed 3/4, expected 1/4 x 1/4 + 2/4 x 3/4 = 7/16
    assert abs(cohen_kappa(first, second) - (0.75 - 7 / 16) / (1 - 7 / 16)) < 1e-9
    got = agreement(first, second, np.array([-1, 1, 2, -1]), np.ones(4))
    assert got["disagreements"] == 1
    assert got["second_vs_first"]["any"]["precision"] == 1.0
    assert got["second_vs_first"]["any"]["recall"] == 0.5
    assert got["third_on_agreed"] == [1, 1]
    assert (got["third_with_first"], got["third_with_second"]) == (1, 0)


class _Scores:
    """A stand-in for HelpModel's scoring: P(help or demand) read from the post's text."""

    classes = CLASSES

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        p = np.array([float(t.split()[-1]) for t in texts])
        return np.stack([p / 2, p / 2, 1 - p], axis=1)


def test_round_7_draws_only_unlabelled_posts_all_of_the_top_band_weighted_by_the_rest(
    tmp_path: Path,
) -> None:
    cells = {  # dataset: {P(help or demand): posts}
        "covid_weibo_hashtag_topics": {0.01: 300, 0.05: 250, 0.5: 20},
        "nlpcc2020_covid_weibo_emotion": {0.0: 60, 0.05: 20},
        "checked_covid_weibo": {0.01: 5},
    }
    for name, scores in cells.items():
        (tmp_path / name).mkdir()
        posts = [(p, i) for p, n in scores.items() for i in range(n)]
        lines = [json.dumps({"id": f"{p}-{i}", "text": f"帖子{i} {p}"}) for p, i in posts]
        (tmp_path / name / POOL_FILES[name]).write_text("\n".join(lines) + "\n", "utf-8")
    key = "covid_weibo_hashtag_topics:0.5-0"
    done = [LabelledPost(key, "covid_weibo_hashtag_topics", "0.5-0", "random", 40.0, "none")]
    drawn = draw_remaining_sample(tmp_path, _Scores(), done)  # type: ignore[arg-type]
    keys = [r.key for r in drawn]
    assert len(keys) == len(set(keys)) and key not in keys
    by_cell: dict[tuple[str, str], list[LabelledPost]] = {}
    for r in drawn:
        by_cell.setdefault((r.dataset, r.stratum), []).append(r)
    top = by_cell[("covid_weibo_hashtag_topics", "round7_top")]
    assert len(top) == 19 and {r.weight for r in top} == {1.0}  # every unlabelled top post
    for band in ("round7_low", "round7_rest"):  # sampled in proportion to the datasets
        drawn_n = sum(len(v) for (d, b), v in by_cell.items() if b == band)
        assert abs(drawn_n - ROUND7_SIZES[band]) <= 2, (band, drawn_n)
    assert len(by_cell[("covid_weibo_hashtag_topics", "round7_rest")]) == 99  # 120 x 300 / 365
    # a cell's weights add up to the unlabelled posts of that dataset and band
    sizes = {
        ("covid_weibo_hashtag_topics", "round7_rest"): 300,
        ("covid_weibo_hashtag_topics", "round7_low"): 250,
        ("nlpcc2020_covid_weibo_emotion", "round7_rest"): 60,
        ("nlpcc2020_covid_weibo_emotion", "round7_low"): 20,
        ("checked_covid_weibo", "round7_rest"): 5,
    }
    for cell, n in sizes.items():
        assert abs(sum(r.weight for r in by_cell[cell]) - n) < 1e-6, cell
    weighted = census_weights(done + drawn)
    assert weighted[0].weight == 1.0 and weighted[1:] == drawn


def test_other_source_fixture_holds_ids_and_labels_only_and_joins_the_shared_posts() -> None:
    """Round 6: posts from other sources and periods, drawn from their own pool."""
    rows = read_labels(OTHER)
    assert len(rows) >= 600 and len({r.key for r in rows}) == len(rows)
    assert {r.dataset for r in rows} == set(OTHER_POOL_FILES)
    assert {r.stratum for r in rows} == set(ROUND6_SIZES)
    labels = [r.label for r in rows]
    assert labels.count("help_request") >= 50 and labels.count("public_demand") >= 30
    assert all(r.weight >= 1.0 for r in rows)
    text = OTHER.read_text("utf-8")
    assert "求扩散" not in text and "投诉" not in text  # no post texts in the repository
    joined = attach_texts(rows, SHARED)
    assert all(r.text for r in joined)


def test_round6_bands_only_move_word_strata_below_the_plea_strata() -> None:
    got = banded(
        ["rule_hit", "plea", "strong", "near_miss", "random", "random", "strong"],
        [0.9, 0.9, 0.35, 0.15, 0.3, 0.05, 0.099],
    )
    assert got == ["rule_hit", "plea", "model3_hi", "model3_mid", "model3_hi", "random", "strong"]


def test_other_sources_train_only_when_configured_and_leave_families_out(tmp_path: Path) -> None:
    """With `train: false` the other-source posts never train and no family of theirs is
    left out; with `train: true` they train, their weights are rescaled to the epidemic
    total, and CED + Ma2016 are left out together."""
    epi, other = _slice(tmp_path, LABELS, 40), _slice(tmp_path, OTHER, 40)
    fams = {"rumor_era": ["ced_weibo_rumor", "ma2016_weibo_rumor"]}
    test_only = load_dataset(epi, SHARED, 0.5, other)
    cfg: dict = {"other_sources": {"train": False, "families": fams}}
    assert set(training_rows(test_only, cfg)) == set(test_only.rows_of("epidemic"))
    assert "rumor_era" not in families(test_only, cfg)
    both = load_dataset(epi, SHARED, 0.5, other, rescale_other=1.0)
    cfg["other_sources"]["train"] = True
    assert len(training_rows(both, cfg)) == len(both.y)
    w_epi, w_other = both.w[both.rows_of("epidemic")], both.w[both.rows_of("other")]
    assert abs(w_epi.sum() - w_other.sum()) < 1e-6 * w_epi.sum()
    left_out = families(both, cfg)
    names = np.array([r.dataset for r in both.rows])
    assert set(names[left_out["rumor_era"]]) <= set(fams["rumor_era"])
    assert (
        "ced_weibo_rumor" not in left_out and "osm2022_weibo_social_movement_sentiment" in left_out
    )
    covered = np.concatenate(list(left_out.values()))
    assert sorted(covered.tolist()) == list(range(len(both.y)))  # every row left out once


@pytest.mark.parametrize(
    ("block", "named"),
    [
        ("{train: true}", "needs `labels`"),
        ("{labels: x.tsv, train: yes please}", "train must be true or false"),
        ("{labels: x.tsv, choose_on: epidemc}", "choose_on must be all or epidemic"),
        ("{labels: x.tsv, weight: 0}", "weight must be a number > 0"),
        ("{labels: x.tsv, families: {era: [ced_weibo_rumour]}}", "families.era"),
    ],
)
def test_bad_other_sources_settings_are_named(tmp_path: Path, block: str, named: str) -> None:
    config = tmp_path / "help_train.yaml"
    config.write_text(
        "version: v\nseed: 1\nfeatures: {}\ngrid: {}\nouter_folds: 2\ninner_folds: 2\n"
        f"bootstrap: 1\nother_sources: {block}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_train_config(config)
    assert load_train_config(default_config_path())["other_sources"]["train"] is False


def test_training_workflow_with_other_sources(tmp_path: Path) -> None:
    """The protocol with other-source labels: as a test set only, then training too."""
    epi, other = _slice(tmp_path, LABELS, 25), _slice(tmp_path, OTHER, 25)
    config = tmp_path / "help_train.yaml"
    settings = (
        "version: help-test\nseed: 1\nidf: labelled\n"
        "features: {bits: 12, char_min: 1, char_max: 2, words: false}\n"
        "grid: {C: [2.0], weighting: [none]}\nclass_weight: balanced\n"
        "outer_folds: 2\ninner_folds: 2\nnear_duplicate_jaccard: 0.5\nbootstrap: 20\n"
        "targets: {precision: 0.85, recall: 0.8, first_precision: 0.7, first_recall: 0.5}\n"
        f"other_sources:\n  labels: {other}\n  choose_on: epidemic\n"
        "  families: {rumor_era: [ced_weibo_rumor, ma2016_weibo_rumor]}\n"
    )
    config.write_text(settings + "  train: false\n", encoding="utf-8")
    tested = train_help(SHARED, tmp_path / "a", config=config, labels=epi)
    assert "other_sources" not in tested["protocol"]
    assert set(tested["cross_source"]) == {r.dataset for r in read_labels(epi)}
    block = tested["other_sources_test"]["all other sources"]
    assert block["n"] == len(read_labels(other))
    assert "rumor_era" in tested["other_sources_test"]
    card = (tmp_path / "a" / "model_card.md").read_text("utf-8")
    assert "never trained on" in card and "rumor_era" in card
    config.write_text(settings + "  train: true\n", encoding="utf-8")
    trained = train_help(SHARED, tmp_path / "b", config=config, labels=epi)
    assert "other_sources_test" not in trained
    assert trained["protocol"]["model"] != trained["protocol"]["other_sources"]["model"]
    assert "rumor_era" in trained["cross_source"]
    assert "ced_weibo_rumor" not in trained["cross_source"]
    assert "They train too" in (tmp_path / "b" / "model_card.md").read_text("utf-8")


def _slice(tmp_path: Path, source: Path, per_label: int) -> Path:
    """The first `per_label` rows of each label of a label file (header kept)."""
    lines = source.read_text("utf-8").splitlines()
    header = [ln for ln in lines if ln.startswith("#") or ln.startswith("key\t")]
    seen: dict[str, int] = {}
    body = []
    for ln in lines[len(header) :]:
        label = ln.split("\t")[-1]
        if seen.get(label, 0) < per_label:
            seen[label] = seen.get(label, 0) + 1
            body.append(ln)
    out = tmp_path / source.name
    out.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    return out


def test_model_beats_the_rules_on_held_out_real_posts(labelled, shipped: HelpModel) -> None:  # type: ignore[no-untyped-def]
    """Grouped 5-fold CV with the shipped hyperparameters and thresholds (chosen by the inner
    loop of `tingfeng nlp train-help`), weighted by the sampling weights."""
    meta = json.loads((default_models_dir() / "help" / "meta.json").read_text("utf-8"))
    cfg = {"class_weight": "balanced", "rule_scale": 1.0, "encoder": meta.get("encoder_cfg")}
    vectors = shipped.encoder.embed(labelled.texts) if shipped.encoder else None
    fitter = Fitter(labelled, shipped.featurizer, shipped.idf, cfg, vectors)  # type: ignore[arg-type]
    pred = np.zeros(len(labelled.y), dtype=int)
    for tr, te in _folds(labelled, np.arange(len(labelled.y)), 5, 20261202):
        clf = fitter.fit(tr, float(meta["C"]), str(meta["weighting"]))
        pred[te] = _labels(fitter.proba(clf, te), shipped.thresholds)
    model = weighted_pr(labelled.y, pred, labelled.w, POSITIVE)
    rules = weighted_pr(labelled.y, rule_predictions(labelled.texts), labelled.w, POSITIVE)
    assert model["f1"] >= ANY_F1_FLOOR, model
    assert rules["f1"] < ANY_F1_FLOOR, rules
    assert model["recall"] > rules["recall"] + 0.15, (model, rules)


def test_shipped_model_holds_up_on_posts_from_other_sources_and_periods(
    shipped: HelpModel,
) -> None:
    """The round-6 posts (2011-2016 rumor-era posts, incident comments, everyday posts) never
    train the shipped model; weighted to their pool it must still beat the rules (help-linear-3:
    help or demand P 0.47 / R 0.77, F1 0.59; the rules 0.40 / 0.50 / 0.44)."""
    cfg = yaml.safe_load((default_models_dir() / "help" / "config.yaml").read_text("utf-8"))
    assert not (cfg.get("other_sources") or {}).get("train"), "they train: this would be in-sample"
    data = load_dataset(OTHER, SHARED, 0.5)
    pred = np.array([CLASSES.index(c) for c in shipped.labels(shipped.predict_proba(data.texts))])
    model = weighted_pr(data.y, pred, data.w, POSITIVE)
    rules = weighted_pr(data.y, rule_predictions(data.texts), data.w, POSITIVE)
    assert model["f1"] >= 0.52 and model["recall"] >= 0.65, model
    assert model["f1"] > rules["f1"] + 0.08, (model, rules)


def test_shipped_model_labels_clear_cases(shipped: HelpModel) -> None:
    texts = [
        "求助！我爸发烧一周了，社区让等，医院说没有床位，谁能帮帮我们，求扩散",
        "小区封了半个月没人送菜，物业电话打不通，社区也不管，老人怎么办？",
        "【权威发布】本市今日新增确诊病例3例，均为境外输入，已转运至定点医院。",
    ]
    preds = shipped.predict([normalize(t) for t in texts])
    assert [p["label"] for p in preds] == ["help_request", "public_demand", "none"]
    for p in preds:
        assert set(p["scores"]) == set(CLASSES)
        assert abs(sum(p["scores"].values()) - 1.0) < 1e-3
        assert p["score"] == p["scores"][p["label"]]


def test_loading_a_folder_without_weights_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="train-help"):
        HelpModel.load(tmp_path)


def test_strata_follow_the_rules_and_word_lists() -> None:
    posts = [
        PoolPost("d", "1", "", normalize("求助！武汉一位老人断药三天，社区电话打不通，谁能帮帮忙")),
        PoolPost("d", "2", "", normalize("#肺炎患者求助# 转发")),
        PoolPost("d", "3", "", normalize("医院床位终于够了")),
        PoolPost("d", "4", "", normalize("社区今天发了口罩")),
        PoolPost("d", "5", "", normalize("今天天气很好")),
    ]
    got = strata(posts, HelpClassifier.load())
    assert got == ["rule_hit", "plea", "strong", "near_miss", "random"]


def test_bad_label_rows_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.tsv"
    path.write_text("key\tdataset\tid\tstratum\tweight\tlabel\nd:1\td\t1\trandom\t1\tmaybe\n")
    with pytest.raises(DatasetError, match=":2"):
        read_labels(path)


def test_demand_patterns_need_every_part_outside_hashtags() -> None:
    features = RuleFeatures(HelpClassifier.load(), patterns=True)
    names = [n.removeprefix("pattern:") for n in features.names if n.startswith("pattern:")]
    texts = [
        normalize("我们这里口罩一个都买不到"),
        normalize("一月份的工资还没发"),
        normalize("#口罩买不到# 今天天气很好"),  # the parts only inside a hashtag
        normalize("口罩日产量突破一亿只"),  # one part only
    ]
    got = features(texts)[:, -len(names) :]
    fired = [{n for n, v in zip(names, row, strict=True) if v} for row in got]
    assert "shortage_of_a_need" in fired[0] and "unpaid_wages" in fired[1]
    assert fired[2] == set() and fired[3] == set()
    assert len(RuleFeatures(HelpClassifier.load()).names) == len(features.names) - len(names)


def test_near_duplicates_share_a_group() -> None:
    base = "美国的10艘医疗军舰已经开进纽约港，每艘船上有1000张病床，相当于一个雷神山医院"
    groups = near_duplicate_groups([base, base + "，厉害", "今天去超市买菜了，人很少"], 0.5)
    assert groups[0] == groups[1] != groups[2]


def test_training_workflow_end_to_end_on_a_slice(tmp_path: Path) -> None:
    rows = read_labels(LABELS)
    keep = [r for r in rows if r.label != "none"] + [r for r in rows if r.label == "none"][:150]
    labels = tmp_path / "labels.tsv"
    lines = LABELS.read_text("utf-8").splitlines()
    header = [ln for ln in lines if ln.startswith("#") or ln.startswith("key\t")]
    wanted = {r.key for r in keep}
    body = [ln for ln in lines if ln.split("\t")[0] in wanted]
    labels.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    config = tmp_path / "help_train.yaml"
    config.write_text(
        "version: help-test\nseed: 1\nidf: labelled\n"
        "features: {bits: 12, char_min: 1, char_max: 2, words: false}\n"
        "grid: {C: [2.0], weighting: [none]}\nclass_weight: balanced\n"
        "outer_folds: 2\ninner_folds: 2\nnear_duplicate_jaccard: 0.5\nbootstrap: 20\n"
        "targets: {precision: 0.85, recall: 0.8, first_precision: 0.7, first_recall: 0.5}\n",
        encoding="utf-8",
    )
    out = tmp_path / "model"
    metrics = train_help(SHARED, out, config=config, labels=labels)
    assert metrics["n"] == len(keep)
    assert set(metrics["protocol"]["model"]) == {"help_request", "public_demand", "any"}
    assert set(metrics["cross_source"]) <= {r.dataset for r in keep}
    for name in ("weights.npz", "meta.json", "config.yaml", "metrics.json", "model_card.md"):
        assert (out / name).is_file(), name
    model = HelpModel.load(out)
    assert model.version == "help-test"
    preds = model.predict([normalize("求助！老人断药三天了，谁能帮帮忙")])
    assert preds[0]["label"] in CLASSES
    assert "tingfeng nlp train-help" in (out / "model_card.md").read_text("utf-8")
    # `tingfeng nlp evaluate help`: the protocol again, describing the model already there
    weights = (out / "weights.npz").read_bytes()
    again = train_help(SHARED, out, config=config, labels=labels, fit=False)
    assert again["protocol"] == metrics["protocol"]
    assert again["shipped"]["thresholds"] == model.thresholds
    for key in ("C", "weighting", "inner_f1"):  # kept from the run that fitted the model
        assert again["shipped"][key] == metrics["shipped"][key], key
    assert (out / "weights.npz").read_bytes() == weights


def test_encoder_stage_embeds_only_posts_past_the_gate(tmp_path: Path) -> None:
    """The optional encoder stage (off in the shipped config: it lost on the grouped CV) trains,
    saves and loads with the shipped frozen encoder; at run time only posts whose text-only
    P(positive) reaches the gate are embedded, the others keep the text-only probabilities."""
    rows = read_labels(LABELS)
    keep = [r for r in rows if r.label != "none"][:60] + [r for r in rows if r.label == "none"][:90]
    labels = tmp_path / "labels.tsv"
    lines = LABELS.read_text("utf-8").splitlines()
    wanted = {r.key for r in keep}
    body = [ln for ln in lines if ln.startswith("key\t") or ln.split("\t")[0] in wanted]
    labels.write_text("\n".join(body) + "\n", encoding="utf-8")
    config = tmp_path / "help_train.yaml"
    config.write_text(
        "version: help-enc-test\nseed: 1\nidf: labelled\n"
        "features: {bits: 12, char_min: 1, char_max: 2, words: false}\n"
        "grid: {C: [2.0], weighting: [none]}\nclass_weight: balanced\n"
        "outer_folds: 2\ninner_folds: 2\nnear_duplicate_jaccard: 0.5\nbootstrap: 10\n"
        "targets: {precision: 0.85, recall: 0.8, first_precision: 0.7, first_recall: 0.5}\n"
        "encoder: {use: true, gate: 0.5, scale: 0.1}\npatterns: true\n",
        encoding="utf-8",
    )
    models = tmp_path / "models"
    models.mkdir()
    (models / "encoder").symlink_to(default_models_dir() / "encoder", target_is_directory=True)
    train_help(SHARED, models / "help", config=config, labels=labels, evaluate=False)
    model = HelpModel.load(models / "help")
    assert model.We is not None and model.encoder is not None and model.gate == 0.5
    assert model._rules().names[-1].startswith("pattern:")  # loaded with the pattern features
    texts = [
        normalize("求助！我爸发烧一周了，社区让等，医院说没有床位，谁能帮帮我们"),
        normalize("今天天气很好，出去散步了"),
        normalize("小区封了半个月没人送菜，物业电话打不通，社区也不管"),
    ]
    probs = model.predict_proba(texts)
    assert model.routed[1] == 3
    # the text-only part: the same model without its encoder stage
    text_only = HelpModel(
        model.version,
        model.featurizer,
        model.W,
        model.Wd,
        model.b,
        model.idf,
        model.thresholds,
        rules=model.rules,
    )
    base = text_only.predict_proba(texts)
    past = 1.0 - base[:, CLASSES.index("none")] >= 0.5
    assert model.routed[0] == int(past.sum())
    assert past.any() and not past.all(), base  # the plea goes to the encoder, the weather not
    assert np.allclose(probs[~past], base[~past])
    vectors = model.encoder.embed([t for t, p in zip(texts, past, strict=True) if p])
    z = np.log(base[past]) + model.embedding_logits(vectors)
    assert np.allclose(probs[past], softmax(z), atol=1e-4)
    meta = json.loads((models / "help" / "meta.json").read_text("utf-8"))
    meta["encoder_stage"]["encoder"] = "another-encoder"
    (models / "help" / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelNotFound, match="train-help"):
        HelpModel.load(models / "help")
