"""`tingfeng kb ...` (debunk knowledge base, matching evaluation) and `tingfeng topics ...`
(topic evaluation, burst replay, burst detection on the store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

app = typer.Typer(help="Debunk knowledge base: import, search, evaluate claim matching.")
topics_app = typer.Typer(help="Hot topics: evaluate clustering, replay bursts, detect bursts.")

console = Console()
err_console = Console(stderr=True)

DEFAULT_DATASETS = Path("../shared/datasets")
DatasetsOpt = Annotated[
    Path, typer.Option("--datasets", help="folder of the shared datasets (read-only)")
]


def _progress(label: str) -> Progress:
    return Progress(
        TextColumn(label),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
    )


@app.command("import")
def kb_import(
    datasets: DatasetsOpt = DEFAULT_DATASETS,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="import only these datasets (repeatable)")
    ] = None,
) -> None:
    """Import the debunk datasets (较真, 丁香医生, piyao, CHECKED rulings, Cofacts) as claims.
    Idempotent: ids are deterministic, a re-import rewrites the same records.

    Example: tingfeng kb import --datasets ../shared/datasets
    """
    from nlp.kb import import_claims
    from store.context import load_settings, store_from

    store = store_from(load_settings())
    tasks: dict[str, TaskID] = {}
    with _progress("kb import") as progress:

        def advance(origin: str, n: int) -> None:
            if origin not in tasks:
                tasks[origin] = progress.add_task(origin, total=None)
            progress.advance(tasks[origin], n)

        results = import_claims(store, datasets, only or None, progress=advance)
    table = Table(title="knowledge base import")
    for col in ("dataset", "written", "spooled", "failed"):
        table.add_column(col, justify="left" if col == "dataset" else "right")
    for origin, result in results.items():
        table.add_row(origin, str(result.written), str(result.spooled), str(len(result.failed)))
    console.print(table)
    console.print(f"claims in the store: {store.count('claims')}")
    if any(r.failed for r in results.values()):
        raise typer.Exit(1)


@app.command("search")
def kb_search(
    query: Annotated[str, typer.Argument(help="a claim or a post text")],
    size: Annotated[int, typer.Option(help="how many claims")] = 5,
) -> None:
    """Claims of the knowledge base that best match a text, with score and level.

    Example: tingfeng kb search "盐水漱口可以预防新冠病毒"
    """
    from nlp.kb import search_claims
    from store.context import load_settings, store_from

    store = store_from(load_settings())
    hits = search_claims(store, query, size=size)
    table = Table(title=f"kb search: {query[:40]}")
    for col in ("score", "level", "verdict", "claim", "source"):
        table.add_column(col)
    for hit in hits:
        table.add_row(
            f"{hit.score:.2f}",
            hit.level or "-",
            hit.claim.verdict,
            hit.claim.claim[:60],
            hit.claim.source_url or hit.claim.source_name,
        )
    console.print(table)


@app.command("evaluate")
def kb_evaluate(
    datasets: DatasetsOpt = DEFAULT_DATASETS,
    out: Annotated[Path, typer.Option(help="metrics file (JSON)")] = Path(
        "data/eval/matching.json"
    ),
) -> None:
    """Claim matching on CHECKED: Recall@1/@5, MRR, thresholds tuned on the dev half,
    false-match rate and recall at `suggest`/`confirm` on the test half. Reads the datasets
    directly (not the store).

    Example: tingfeng kb evaluate --datasets ../shared/datasets
    """
    from nlp.eval_matching import checked_posts, evaluate_matching, write_reports

    fake, real = checked_posts(datasets)
    with _progress("matching") as progress:
        task = progress.add_task("posts", total=2 * (len(fake) + len(real)))
        reports = evaluate_matching(datasets, progress=lambda n: progress.advance(task, n))
    table = Table(title="claim matching on CHECKED (thresholds tuned on dev, rates on test)")
    cols = (
        "kb",
        "claims",
        "R@1",
        "R@5",
        "MRR",
        "grouped R@1",
        "suggest",
        "confirm",
        "false@confirm",
        "false@suggest",
        "recall@confirm",
        "recall@suggest",
        "posts/s",
    )
    for col in cols:
        table.add_column(col, justify="right")
    for r in reports:
        table.add_row(
            r.kb,
            str(r.claims),
            f"{r.recall_at_1:.3f}",
            f"{r.recall_at_5:.3f}",
            f"{r.mrr:.3f}",
            f"{r.grouped_recall_at_1:.3f}",
            f"{r.suggest:.2f}",
            f"{r.confirm:.2f}",
            f"{r.test_false_match_confirm:.2%}",
            f"{r.test_false_match_suggest:.2%}",
            f"{r.test_recall_confirm:.3f}",
            f"{r.test_recall_suggest:.3f}",
            f"{r.posts_per_s:.0f}",
        )
    console.print(table)
    write_reports(reports, out)
    console.print(f"metrics written to {out}")


@topics_app.command("evaluate")
def topics_evaluate(
    datasets: DatasetsOpt = DEFAULT_DATASETS,
    out: Annotated[Path, typer.Option(help="metrics file (JSON)")] = Path("data/eval/topics.json"),
) -> None:
    """Topic clustering vs hashtag topics and Ma2016 events (NMI, ARI), and the burst replay
    of the hashtag days (surges caught, lag). Reads the datasets directly (not the store).

    Example: tingfeng topics evaluate --datasets ../shared/datasets
    """
    import json
    from dataclasses import asdict

    from nlp.eval_topics import evaluate_clustering, replay_bursts

    with _progress("topics") as progress:
        task = progress.add_task("", total=6)

        def step(name: str) -> None:
            progress.update(task, description=name, advance=1)

        scores = evaluate_clustering(datasets, progress=step)
        step("burst replay")
        replay = replay_bursts(datasets)
    table = Table(title="topic clustering (threshold from nlp/topics.yaml)")
    for col in ("dataset", "posts", "true clusters", "topics", "NMI", "ARI"):
        table.add_column(col, justify="left" if col == "dataset" else "right")
    for s in scores:
        table.add_row(
            s.dataset,
            str(s.posts),
            str(s.true_clusters),
            str(s.topics),
            f"{s.nmi:.3f}",
            f"{s.ari:.3f}",
        )
    console.print(table)
    caught = replay.caught / replay.surges if replay.surges else 0.0
    precision = replay.flags_on_surge / replay.flags if replay.flags else 0.0
    console.print(
        f"burst replay (1-day window, hashtag days): {replay.surges} surges, "
        f"{replay.caught_lag0} caught the same day, {replay.caught_lag1} one day later, "
        f"{replay.missed} missed ({caught:.1%} within one window); "
        f"{replay.flags} flags, {precision:.1%} on surging hashtags; "
        f"{replay.flagged_topics_per_day} flagged topics/day"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"clustering": [asdict(s) for s in scores], "bursts": asdict(replay)},
            ensure_ascii=False,
            indent=2,
        ),
        "utf-8",
    )
    console.print(f"metrics written to {out}")


@topics_app.command("update")
def topics_update(
    hours: Annotated[int, typer.Option(help="look at posts of the last N hours")] = 72,
) -> None:
    """Assign topics to recent posts that have none, then recompute bursts (what the
    enrichment and burst jobs do), and show the bursting topics.

    Example: tingfeng topics update --hours 24
    """
    from datetime import UTC, datetime, timedelta

    from nlp.bursts import detect_bursts
    from nlp.topics import assign_topics
    from store.base import PostQuery
    from store.context import load_settings, store_from

    store = store_from(load_settings())
    now = datetime.now(UTC)
    query = PostQuery(since=now - timedelta(hours=hours), missing=["nlp.topic_id"])
    batch: list = []
    assigned = 0
    for post in store.iter_posts(query):
        batch.append(post)
        if len(batch) >= 500:
            assign_topics(batch, store, now=now)
            store.write_posts(batch)
            assigned += len(batch)
            batch = []
    if batch:
        assign_topics(batch, store, now=now)
        store.write_posts(batch)
        assigned += len(batch)
    store.refresh()
    bursting = detect_bursts(store, now=now)
    console.print(f"{assigned} posts given topics; {len(bursting)} topics bursting")
    show_topics(bursting)


@topics_app.command("bursts")
def topics_bursts() -> None:
    """Recompute bursts of the active topics now and list the bursting ones with reasons.

    Example: tingfeng topics bursts
    """
    from nlp.bursts import detect_bursts
    from store.context import load_settings, store_from

    store = store_from(load_settings())
    show_topics(detect_bursts(store))


def show_topics(topics: list) -> None:
    table = Table(title="bursting topics")
    for col in ("score", "posts", "keywords", "reason"):
        table.add_column(col)
    for t in topics[:30]:
        table.add_row(
            f"{t.burst_score:.1f}",
            str(t.post_count),
            " ".join(t.keywords[:5]),
            t.burst.reason if t.burst else "-",
        )
    console.print(table)
