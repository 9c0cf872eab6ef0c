"""`tingfeng bench nlp-compare`: the NLP chain of this tree against another git revision, on the
same machine in the same run: speed (runs interleaved, medians) and outputs (identical?).

The other revision is exported with `git archive` into a temporary folder and this module is
copied into it; each measurement then runs in its own subprocess (`python -m bench.nlp_compare
measure|outputs`) whose working directory decides which tree is imported, so both sides time
their own code with the same bench functions (`bench.nlp.bench_nlp`, `bench.nlp_stages
.bench_steps`) and dump their outputs with the same public calls. PYTHONHASHSEED is fixed, so
set iteration orders (and float sums that follow them) are the same on both sides.

Outputs compared on every post: labels, keywords, places, claim matches, topic ids exactly;
scores and the models' raw probabilities within `TOLERANCE`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOLERANCE = 1e-9
ROOT = Path(__file__).resolve().parent.parent

# -- inside one tree (subprocess) -----------------------------------------------------------


def measure(root: Path, posts: int) -> dict[str, float]:
    """posts/s of each step (CPU time, one core) as `tingfeng bench nlp` measures them."""
    from bench.nlp import bench_nlp, bench_texts
    from bench.nlp_stages import bench_steps
    from nlp.predict import Predictor

    result = bench_nlp(bench_texts(root, posts), Predictor())
    out = {"jieba lcut alone": result.jieba_posts_per_s, "classify": result.enrich_posts_per_s}
    stages, _ = bench_steps(root, min(posts, 5000))
    for stage in stages[:-1]:
        out[stage.stage] = stage.posts_per_s
    out["whole chain"] = 1 / sum(1 / v for k, v in out.items() if k != "jieba lcut alone")
    return out


def outputs(root: Path, posts: int) -> dict[str, Any]:
    """Everything the chain writes on each post, and the models' raw probabilities."""
    from analysis.text import normalize, segment
    from bench.nlp import _posts, bench_texts
    from bench.nlp_stages import bench_posts
    from nlp.enrich import default_steps
    from nlp.eval_matching import load_dataset_claims
    from nlp.matching import ClaimIndex
    from nlp.places import tag_places
    from nlp.predict import Predictor
    from nlp.topics import TopicAssigner, assign_posts

    predictor = Predictor()
    batch = _posts(bench_texts(root, posts))
    for post in batch:
        post.text_norm = normalize(post.text)
        post.tokens = " ".join(segment(post.text_norm))
    for start in range(0, len(batch), 500):
        for step in default_steps(predictor):
            step(batch[start : start + 500])
    norm = [p.text_norm for p in batch]
    tokens = [p.tokens.split() for p in batch]
    probs = {
        "rumor": predictor.linear("rumor").predict_proba(norm, tokens),
        "emotion": predictor.linear("emotion").predict_proba(norm, tokens),
        "help": predictor.help().predict_proba(norm, tokens),
    }
    stage_posts = bench_posts(root, min(posts, 5000))
    index = ClaimIndex(load_dataset_claims(root))
    tag_places(stage_posts)
    for post in stage_posts:
        post.nlp.claim_match = index.match(post)
    assign_posts(TopicAssigner([]), stage_posts)
    return {
        "classify": [p.nlp.model_dump(mode="json") for p in batch],
        "probabilities": {name: p.tolist() for name, p in probs.items()},
        "steps": [
            {
                "places": [pl.model_dump(mode="json") for pl in p.places],
                "claim_match": p.nlp.claim_match.model_dump(mode="json")
                if p.nlp.claim_match
                else None,
                "topic_id": p.nlp.topic_id,
            }
            for p in stage_posts
        ],
    }


# -- the driver -----------------------------------------------------------------------------


@dataclass
class Comparison:
    base: str
    runs: int
    base_rates: dict[str, list[float]] = field(default_factory=dict)
    our_rates: dict[str, list[float]] = field(default_factory=dict)
    compared: int = 0
    differences: list[str] = field(default_factory=list)
    max_difference: float = 0.0

    def median(self, side: dict[str, list[float]], step: str) -> float:
        return statistics.median(side[step])


@contextmanager
def exported(ref: str) -> Iterator[Path]:
    """The tree of git revision `ref` in a temporary folder, with this module copied in."""
    with tempfile.TemporaryDirectory(prefix="tingfeng-compare-") as tmp:
        archive = Path(tmp) / "tree.tar"
        with archive.open("wb") as fh:
            subprocess.run(["git", "archive", ref], cwd=ROOT, stdout=fh, check=True)
        tree = Path(tmp) / "tree"
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        shutil.copy2(Path(__file__), tree / "bench" / "nlp_compare.py")
        yield tree


def _run(tree: Path, what: str, data: Path, posts: int) -> Any:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [sys.executable, "-m", "bench.nlp_compare", what, str(data), str(posts), out.name],
            cwd=tree,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return json.loads(Path(out.name).read_text("utf-8"))


def _diff(a: Any, b: Any, path: str, found: list[str], worst: list[float]) -> None:
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        worst[0] = max(worst[0], abs(a - b))
        if abs(a - b) > TOLERANCE:
            found.append(f"{path}: {a!r} != {b!r}")
    elif isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        for key in a:
            _diff(a[key], b[key], f"{path}.{key}", found, worst)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", found, worst)
    elif a != b:
        found.append(f"{path}: {a!r} != {b!r}")


def compare(
    base: str,
    data: Path,
    posts: int,
    runs: int,
    on_run: Callable[[str], None] | None = None,
) -> Comparison:
    """Interleaved runs (base, ours, base, ours, ...) and one outputs check."""
    result = Comparison(base=base, runs=runs)
    with exported(base) as tree:
        for r in range(runs):
            for side, folder in (("base", tree), ("ours", ROOT)):
                rates = _run(folder, "measure", data, posts)
                target = result.base_rates if side == "base" else result.our_rates
                for step, rate in rates.items():
                    target.setdefault(step, []).append(rate)
                if on_run:
                    on_run(f"run {r + 1}/{runs}: {side}")
        theirs = _run(tree, "outputs", data, posts)
    ours = _run(ROOT, "outputs", data, posts)
    worst = [0.0]
    _diff(theirs, ours, "outputs", result.differences, worst)
    result.max_difference = worst[0]
    result.compared = len(ours["classify"]) + len(ours["steps"])
    return result


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["measure", "outputs"])
    parser.add_argument("data", type=Path)
    parser.add_argument("posts", type=int)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    fn = measure if args.what == "measure" else outputs
    args.out.write_text(json.dumps(fn(args.data, args.posts), ensure_ascii=False), "utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
