"""Hand-labelled help/demand posts: the pool of real epidemic-era Weibo posts, the stratified
sample drawn from it, and the label fixture that joins ids back to the shared texts.

Labels are kept as ids only (`tests/nlp/fixtures/help_labels.tsv`: key, dataset, id, stratum,
weight, label); the texts stay in the shared datasets folder and are read from there. Strata:

- `rule_hit`: the help rules (`nlp/help.py`, lexicon help-rules-2) label the post non-`none`;
- `plea`: the rules say `none` but the post has a plea word outside its hashtags (求助, 救救,
  拜托, ...) or a plea hashtag (#肺炎患者求助#) (`plea_terms`, `plea_hashtags`);
- `strong`: none of the above, but the post (hashtags included) has a strong plea or grievance
  word (`strong_terms` of `nlp/resources/help_near_miss.yaml`: 求助, 床位, 买不到, 投诉, ...);
- `near_miss`: none of the above, but the post has a help-ish word (`terms` of the same file);
- `random`: every other post.

Posts were drawn in three rounds: (1) every rule hit, a seeded random sample of the near misses
and of the rest (then defined without `strong` and `plea`), spread over the datasets in
proportion to their sizes; (2) a seeded sample of the `strong` posts; (3) every `plea` post.
Round (4) ranked every pool post by the shipped model help-linear-1 (commit 37f84ab, P(positive) =
1 - P(none)) into four bands and drew a seeded simple random sample from each, previously
labelled posts included (`model_hi` P >= 0.15: all 306; `model_mid` 0.07-0.15: 202 of 675;
`model_low` 0.03-0.07: 60 of 2,690; `model_rest` < 0.03: 60 of 16,226); the 473 drawn posts not
labelled before were labelled by hand and carry their band as stratum. Round (5) did the same
with the model retrained on rounds 1-4 (help-linear-2): `model2_hi` P >= 0.3: all 363;
`model2_mid` 0.2-0.3: 100 of 325 (seed 20261203); 149 new posts labelled.
Round (6) drew from a second pool, posts from other sources and periods (`OTHER_POOL_FILES`,
`load_other_pool`: 43,407 posts), in the word strata above plus bands of help-linear-3's score
(`banded`: `model3_hi` >= 0.3, `model3_mid` 0.1-0.3, taken out of strong/near_miss/random),
`ROUND6_SIZES` posts per stratum (`draw_other_sample`, seed 20261207); 667 posts labelled into
`tests/nlp/fixtures/help_labels_other.tsv`, weights = 1 / inclusion probability in that pool.
Round (7) drew from the posts of the pool not labelled in rounds 1-5 (18,372), banded by
help-linear-3's P(help or demand) (`ROUND7_BANDS`): all 132 of `round7_top` (>= 0.1), 180 of
1,852 `round7_low` (0.03-0.1) and 120 of 16,388 `round7_rest` (`ROUND7_SIZES`, seed 20261208,
`draw_remaining_sample`), spread over the datasets in proportion; 432 posts labelled.
Weights (`census_weights`, a two-phase design): the 1,525 posts of rounds 1-5 stand for
themselves (weight 1) and a round-7 post for the unlabelled posts of its dataset and band
(their number / the posts drawn), so weighted counts add up to the 19,897 posts of the pool
exactly. (Until round 7 a post's weight was 1 / its probability of being drawn in any of rounds 1-5,
with the bands of models fitted on earlier labels treated as independent draws; the two-phase
weights need no such assumption.)
The labelling guide is `nlp/models/help/LABELLING.md`.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from analysis.text import normalize
from nlp.errors import DatasetError
from nlp.help import HelpClassifier
from nlp.readings import read_readings

if TYPE_CHECKING:  # nlp.help_model imports this module
    from nlp.help_model import HelpModel

POOL_FILES = {
    "covid_weibo_hashtag_topics": "posts_sample.jsonl",
    "nlpcc2020_covid_weibo_emotion": "labeled.jsonl",
    "checked_covid_weibo": "posts.jsonl",
}
# Round 6: posts from other sources and periods (2011-2016 Weibo rumor-era posts, comments on
# social-movement incidents, everyday Weibo posts), a second pool with its own weights.
OTHER_POOL_FILES = {
    "ced_weibo_rumor": "posts.jsonl",
    "ma2016_weibo_rumor": "events.jsonl",
    "osm2022_weibo_social_movement_sentiment": "train.jsonl",
    "smp2020_ewect_usual": "train.jsonl",
}
STRATA = (
    "rule_hit",
    "plea",
    "strong",
    "near_miss",
    "random",
    "model_hi",
    "model_mid",
    "model_low",
    "model_rest",
    "model2_hi",
    "model2_mid",
    "model3_hi",
    "model3_mid",
    "round7_top",
    "round7_low",
    "round7_rest",
)
LABELS = ("help_request", "public_demand", "none")
COLUMNS = ("key", "dataset", "id", "stratum", "weight", "label")
_HASHTAG = re.compile(r"#[^#\n]{1,60}#")


@dataclass
class PoolPost:
    dataset: str
    id: str
    text: str  # raw text as stored in the shared file
    norm: str = ""

    @property
    def key(self) -> str:
        return f"{self.dataset}:{self.id}"


@dataclass
class LabelledPost:
    key: str
    dataset: str
    id: str
    stratum: str
    weight: float
    label: str
    text: str = ""


def load_pool(root: Path, datasets: Iterable[str] = POOL_FILES) -> list[PoolPost]:
    """Every post of the epidemic-era Weibo sets (or of `datasets`, from either pool),
    normalized (read from the shared folder)."""
    out: list[PoolPost] = []
    files = {**POOL_FILES, **OTHER_POOL_FILES}
    for name in datasets:
        path = root / name / files[name]
        if not path.is_file():
            raise DatasetError(f"{path}: not found (is --data pointing at the shared datasets?)")
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    text = row.get("text") or ""
                    out.append(PoolPost(name, str(row["id"]), text, normalize(text)))
    return out


def load_other_pool(root: Path) -> list[PoolPost]:
    """The round-6 pool: every post of `OTHER_POOL_FILES`, a text kept once (its first
    dataset in that order: 1,782 ma2016 source posts repeat a CED post)."""
    seen: set[str] = set()
    out = []
    for post in load_pool(root, OTHER_POOL_FILES):
        if post.norm not in seen:
            seen.add(post.norm)
            out.append(post)
    return out


def near_miss_terms() -> dict[str, list[str]]:
    """`terms`, `strong_terms`, `plea_terms` and `plea_hashtags` of the near-miss word list."""
    raw = resources.files("nlp.resources").joinpath("help_near_miss.yaml").read_text("utf-8")
    data = yaml.safe_load(raw)
    keys = ("terms", "strong_terms", "plea_terms", "plea_hashtags")
    return {k: [str(t) for t in data[k]] for k in keys}


def _alternation(terms: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)))


def strata(posts: Sequence[PoolPost], rules: HelpClassifier) -> list[str]:
    """The stratum of each post (see the module docstring)."""
    words = near_miss_terms()
    near, strong = _alternation(words["terms"]), _alternation(words["strong_terms"])
    plea, plea_tags = _alternation(words["plea_terms"]), _alternation(words["plea_hashtags"])
    labels = [p["label"] for p in rules.predict([p.norm for p in posts])]
    out = []
    for post, label in zip(posts, labels, strict=True):
        bare = _HASHTAG.sub(" ", post.norm)
        tags = " ".join(_HASHTAG.findall(post.norm))
        if label != "none":
            out.append("rule_hit")
        elif plea.search(bare) or plea_tags.search(tags):
            out.append("plea")
        elif strong.search(post.norm):
            out.append("strong")
        elif near.search(bare):
            out.append("near_miss")
        else:
            out.append("random")
    return out


def draw_sample(
    posts: Sequence[PoolPost],
    post_strata: Sequence[str],
    sizes: dict[str, int],
    *,
    seed: int = 20260,
    exclude: Iterable[str] = (),
) -> list[LabelledPost]:
    """A seeded sample of `sizes[stratum]` posts per stratum, spread over the datasets in
    proportion to their stratum sizes; weights as in the module docstring (label `none` is a
    placeholder until a person labels the row)."""
    skip = set(exclude)
    cells: dict[tuple[str, str], list[PoolPost]] = {}
    for post, stratum in zip(posts, post_strata, strict=True):
        cells.setdefault((post.dataset, stratum), []).append(post)
    rng = random.Random(seed)
    out: list[LabelledPost] = []
    for stratum, size in sizes.items():
        total = sum(len(v) for (d, s), v in cells.items() if s == stratum)
        for (dataset, s), members in sorted(cells.items()):
            if s != stratum or not total:
                continue
            take = min(len(members), max(1, round(size * len(members) / total)))
            chosen = [p for p in rng.sample(members, take) if p.key not in skip]
            for p in chosen:
                out.append(
                    LabelledPost(p.key, dataset, p.id, stratum, len(members) / take, "none", p.text)
                )
    return out


ROUND6_SIZES = {
    "rule_hit": 150,
    "plea": 120,
    "model3_hi": 76,
    "model3_mid": 50,
    "strong": 100,
    "near_miss": 100,
    "random": 100,
}
ROUND6_SEED = 20261207


def banded(post_strata: Sequence[str], scores: Sequence[float]) -> list[str]:
    """Round 6 strata: posts the word strata call `strong`, `near_miss` or `random` go to
    `model3_hi` when the shipped model's P(help or demand) >= 0.3, `model3_mid` at 0.1-0.3."""
    out = []
    for stratum, p in zip(post_strata, scores, strict=True):
        if stratum in ("strong", "near_miss", "random") and p >= 0.1:
            stratum = "model3_hi" if p >= 0.3 else "model3_mid"
        out.append(stratum)
    return out


def draw_other_sample(root: Path, rules: HelpClassifier, model: HelpModel) -> list[LabelledPost]:
    """Round 6 (see the module docstring): the other-source pool in word strata and bands of
    `model`'s P(help or demand), `ROUND6_SIZES` posts per stratum (seeded)."""
    pool = load_other_pool(root)
    scores = _positive_scores(model, pool)
    return draw_sample(pool, banded(strata(pool, rules), scores), ROUND6_SIZES, seed=ROUND6_SEED)


def _positive_scores(model: HelpModel, posts: Sequence[PoolPost]) -> list[float]:
    """`model`'s P(help or demand) of each post (the score the model bands are cut on)."""
    probs = model.predict_proba([p.norm for p in posts])
    return (1.0 - probs[:, model.classes.index("none")]).tolist()


# Round 7: the epidemic pool posts not labelled in rounds 1-5, banded by help-linear-3's
# P(help or demand) (lower edges); every post of the top band, a sample of the others.
ROUND7_BANDS = (("round7_top", 0.1), ("round7_low", 0.03), ("round7_rest", 0.0))
ROUND7_SIZES = {"round7_low": 180, "round7_rest": 120}
ROUND7_SEED = 20261208


def draw_remaining_sample(
    root: Path, model: HelpModel, labelled: Sequence[LabelledPost]
) -> list[LabelledPost]:
    """Round 7 (see the module docstring): the pool posts not in `labelled`, in bands of
    `model`'s P(help or demand) (`ROUND7_BANDS`): all of `round7_top`, `ROUND7_SIZES` of the
    others. Weights: unlabelled posts of the dataset and band / posts drawn from them."""
    done = {r.key for r in labelled}
    pool = [p for p in load_pool(root) if p.key not in done]
    scores = _positive_scores(model, pool)
    bands = [next(name for name, low in ROUND7_BANDS if s >= low) for s in scores]
    sizes = {"round7_top": bands.count("round7_top"), **ROUND7_SIZES}
    return draw_sample(pool, bands, sizes, seed=ROUND7_SEED)


def census_weights(rows: Sequence[LabelledPost]) -> list[LabelledPost]:
    """The weights of the two-phase design after round 7: the posts labelled in rounds 1-5
    stand for themselves (weight 1); a round-7 post keeps its weight, which stands for the
    unlabelled posts of its dataset and band."""
    for r in rows:
        if not r.stratum.startswith("round7_"):
            r.weight = 1.0
    return list(rows)


def cell_sizes(posts: Sequence[PoolPost], post_strata: Sequence[str]) -> Counter[str]:
    """Posts per `dataset/stratum` cell of the pool."""
    return Counter(f"{p.dataset}/{s}" for p, s in zip(posts, post_strata, strict=True))


def read_labels(path: Path) -> list[LabelledPost]:
    """The label fixture (TSV, no texts)."""
    if not path.is_file():
        raise DatasetError(f"{path}: label file not found")
    rows = []
    with path.open(encoding="utf-8") as fh:
        reader = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")
        for i, row in enumerate(reader, 2):
            if row.get("label") not in LABELS or row.get("stratum") not in STRATA:
                raise DatasetError(f"{path}:{i}: bad label or stratum in {row}")
            rows.append(
                LabelledPost(
                    row["key"],
                    row["dataset"],
                    row["id"],
                    row["stratum"],
                    float(row["weight"]),
                    row["label"],
                )
            )
    return rows


def read_agreement(path: Path, labelled: Sequence[LabelledPost]) -> tuple[list[str], list[str]]:
    """The second and the third annotator's labels of the posts of `labelled`, in its order, from
    `path` (`nlp.readings`: key, second, third; `tests/nlp/fixtures/help_labels_agreement.tsv`).
    A post not listed got its label in `labelled` from the second annotator too, and no third
    label ("")."""
    found = read_readings(path, [r.key for r in labelled], LABELS, ("second", "third"))
    second = [found["second"].get(i, r.label) for i, r in enumerate(labelled)]
    third = [found["third"].get(i, "") for i in range(len(labelled))]
    return second, third


def write_labels(path: Path, rows: Sequence[LabelledPost], header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        for line in header.splitlines():
            fh.write(f"# {line}\n")
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([r.key, r.dataset, r.id, r.stratum, f"{r.weight:.4f}", r.label])


def attach_texts(rows: Sequence[LabelledPost], root: Path) -> list[LabelledPost]:
    """Fill `text` of each labelled row from the shared datasets (fails on a missing id)."""
    datasets = sorted({r.dataset for r in rows})
    by_key = {p.key: p.text for p in load_pool(root, datasets)}
    missing = [r.key for r in rows if r.key not in by_key]
    if missing:
        raise DatasetError(
            f"{root}: {len(missing)} labelled ids not in the shared datasets "
            f"(first: {missing[0]}); is --data the right folder?"
        )
    for r in rows:
        r.text = by_key[r.key]
    return list(rows)


def counts(rows: Sequence[LabelledPost]) -> dict[str, dict[str, int]]:
    """Labelled rows per stratum and label."""
    table: dict[str, Counter[str]] = {s: Counter() for s in STRATA}
    for r in rows:
        table[r.stratum][r.label] += 1
    return {s: {lab: c[lab] for lab in LABELS} for s, c in table.items()}
