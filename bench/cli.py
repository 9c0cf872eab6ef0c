"""`tingfeng bench ...`: benchmarks, one sub-command per stage (store, nlp, crawl, ...).

Each sub-command does its heavy lifting in its stage's package and only prints here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

app = typer.Typer(
    help="Benchmarks: store, nlp, nlp-compare, api, latency, crawl, replies, segment",
    no_args_is_help=True,
)
console = Console()

STORE_TARGET_RATIO = 0.8


@app.command("store")
def bench_store_command(
    posts: Annotated[int, typer.Option(help="synthetic posts per run", min=100)] = 20_000,
    runs: Annotated[int, typer.Option(help="runs per write path (median reported)", min=1)] = 3,
    es_url: Annotated[
        str | None, typer.Option(help="Elasticsearch URL (default: TINGFENG_ES_URL)")
    ] = None,
) -> None:
    """Ingest N synthetic Chinese posts through our Elasticsearch backend and through raw
    `streaming_bulk` into scratch indices, and compare docs/s (median of runs).

    Example: tingfeng bench store --posts 20000 --runs 3
    """
    from elasticsearch import Elasticsearch

    from bench.store import bench_store, synthetic_posts
    from store.context import load_settings
    from store.errors import StoreError

    auth = None
    if es_url is None:
        settings = load_settings()
        es_url = settings.es_url
        if settings.es_username and settings.es_password:
            auth = (settings.es_username, settings.es_password.get_secret_value())
    if not es_url:
        raise StoreError("no Elasticsearch: set TINGFENG_ES_URL or pass --es-url")
    corpus = synthetic_posts(posts)
    client = Elasticsearch(es_url, basic_auth=auth, request_timeout=120)
    try:
        with Progress(
            TextColumn("bench store"), BarColumn(), MofNCompleteColumn(), console=console
        ) as progress:
            task = progress.add_task("runs", total=2 * runs)
            result = bench_store(
                client, corpus, runs=runs, on_run=lambda _n, _s: progress.advance(task)
            )
    finally:
        client.close()

    table = Table(title=f"bench store: {posts:,} posts × {runs} runs on {es_url}")
    table.add_column("write path")
    table.add_column("median s", justify="right")
    table.add_column("docs/s", justify="right")
    table.add_column("runs (s)", justify="right")
    for timing in (result.ours, result.raw):
        table.add_row(
            timing.name,
            f"{timing.median_seconds:.2f}",
            f"{timing.docs_per_second:,.0f}",
            " ".join(f"{s:.2f}" for s in timing.seconds),
        )
    console.print(table)
    verdict = "[green]meets" if result.ratio >= STORE_TARGET_RATIO else "[red]below"
    console.print(
        f"ours / raw = [bold]{result.ratio:.2f}x[/]  ({verdict} the {STORE_TARGET_RATIO}x target[/])"
    )


CRAWL_TARGET_RATIO = 0.85


@app.command("crawl")
def bench_crawl_command(
    list_pages: Annotated[
        int, typer.Option("--list-pages", help="list pages (20 detail pages each)", min=1)
    ] = 25,
    runs: Annotated[int, typer.Option(help="runs per mode (median reported)", min=1)] = 3,
) -> None:
    """Crawl a local fixture site with the full pipeline (normalize, dedup, store) and with our
    item pipelines disabled, alternating runs on scratch stores, and compare pages/s.

    Example: tingfeng bench crawl --list-pages 25 --runs 3
    """
    from bench.crawl import bench_crawl
    from store.context import load_settings

    settings = load_settings()
    with Progress(
        TextColumn("bench crawl"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task("runs", total=2 * runs)
        result = bench_crawl(
            settings,
            list_pages=list_pages,
            runs=runs,
            on_run=lambda _m, _p, _s: progress.advance(task),
        )
    table = Table(title=f"bench crawl: {list_pages} list pages × 21 pages, {runs} runs per mode")
    table.add_column("mode")
    table.add_column("pages", justify="right")
    table.add_column("median pages/s", justify="right")
    table.add_column("runs (pages/s)", justify="right")
    for mode in (result.full, result.bare):
        table.add_row(
            mode.name,
            str(mode.pages[-1]),
            f"{mode.pages_per_second:,.1f}",
            " ".join(f"{r:.1f}" for r in mode.rates),
        )
    console.print(table)
    verdict = "[green]meets" if result.ratio >= CRAWL_TARGET_RATIO else "[red]below"
    console.print(
        f"full / bare = [bold]{result.ratio:.2f}x[/]  ({verdict} the {CRAWL_TARGET_RATIO}x "
        f"target[/]); {result.posts} posts stored per full run"
    )


NLP_TARGET_POSTS_PER_S = 500


@app.command("nlp")
def bench_nlp_command(
    posts: Annotated[int, typer.Option(help="posts to enrich", min=100)] = 20_000,
    data: Annotated[
        str, typer.Option(help="shared datasets folder (source of real post texts)")
    ] = "../shared/datasets",
) -> None:
    """Full enrichment (normalize, segment, rumor, emotion/polarity, help, keywords) vs jieba
    segmentation alone on the same real posts, one core: posts/s, ratio, peak memory.

    Example: tingfeng bench nlp --posts 20000
    """
    from bench.nlp import bench_nlp, bench_texts
    from nlp.predict import Predictor

    texts = bench_texts(Path(data), posts)
    with Progress(
        TextColumn("bench nlp"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task("posts", total=len(texts))
        predictor = Predictor()
        result = bench_nlp(texts, predictor, on_batch=lambda n: progress.advance(task, n))
    table = Table(
        title=f"bench nlp: {result.posts:,} posts, {result.chars / result.posts:.0f} chars/post"
    )
    table.add_column("path")
    table.add_column("seconds", justify="right")
    table.add_column("posts/s", justify="right")
    table.add_row(
        "jieba lcut alone", f"{result.jieba_seconds:.2f}", f"{result.jieba_posts_per_s:,.0f}"
    )
    table.add_row(
        "full enrichment", f"{result.enrich_seconds:.2f}", f"{result.enrich_posts_per_s:,.0f}"
    )
    console.print(table)
    verdict = (
        "[green]meets" if result.enrich_posts_per_s >= NLP_TARGET_POSTS_PER_S else "[red]below"
    )
    console.print(
        f"enrichment / jieba = [bold]{result.ratio:.2f}x[/]; {result.enrich_posts_per_s:,.0f} "
        f"posts/s ({verdict} the {NLP_TARGET_POSTS_PER_S} posts/s/core target[/]); "
        f"peak memory {result.peak_rss_mb:,.0f} MB"
    )
    for name in ("rumor", "help"):
        seen, routed = predictor.routing.get(name, [0, 0])
        if predictor.transformer(name) is not None and seen:
            console.print(
                f"{name} cascade ({predictor.versions()[name]}): {routed:,} of {seen:,} posts "
                f"({routed / seen:.1%}) also scored by the transformer"
            )
    seen, routed = predictor.routing.get("rumor_encoder", [0, 0])
    if seen:
        console.print(
            f"rumor encoder stage ({predictor.versions()['rumor']}): {routed:,} of {seen:,} posts "
            f"({routed / seen:.1%}) in the band, also scored by the int8 encoder"
        )
    _bench_nlp_steps(Path(data), posts, result.enrich_posts_per_s, result.jieba_posts_per_s)


def _bench_nlp_steps(
    data: Path, posts: int, classify_posts_per_s: float, jieba_posts_per_s: float
) -> None:
    """Places, claim matching and topic assignment (bench.nlp_stages), and the whole chain;
    each also as a ratio to jieba alone measured in the same run (comparable across runs on a
    machine whose speed varies)."""
    from bench.nlp_stages import bench_steps

    stages, build_s = bench_steps(data, min(posts, 5000))
    table = Table(
        title=f"further steps (claim index over the whole KB built once: {build_s:.1f} s)"
    )
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("posts/s", justify="right")
    table.add_column("/ jieba", justify="right")
    for t in stages:
        table.add_row(
            t.stage,
            f"{t.seconds:.2f}",
            f"{t.posts_per_s:,.0f}",
            f"{t.posts_per_s / jieba_posts_per_s:.2f}x",
        )
    console.print(table)
    per_post = 1 / classify_posts_per_s + sum(1 / t.posts_per_s for t in stages[:-1])
    chain = 1 / per_post
    verdict = "[green]meets" if chain >= NLP_TARGET_POSTS_PER_S else "[red]below"
    console.print(
        f"whole enrichment chain: [bold]{chain:,.0f}[/] posts/s per core "
        f"({chain / jieba_posts_per_s:.2f}x jieba; {verdict} the "
        f"{NLP_TARGET_POSTS_PER_S} posts/s/core target[/])"
    )


@app.command("nlp-compare")
def bench_nlp_compare_command(
    base: Annotated[str, typer.Option(help="git revision to compare against")] = "main",
    posts: Annotated[int, typer.Option(help="posts per run", min=100)] = 3000,
    runs: Annotated[int, typer.Option(help="runs per side, interleaved (median)", min=1)] = 3,
    data: Annotated[
        str, typer.Option(help="shared datasets folder (source of real post texts)")
    ] = "../shared/datasets",
) -> None:
    """The NLP chain of this tree vs another git revision, same machine, same run: each step's
    posts/s (median of interleaved runs, CPU time, one core) and their ratio, and whether every
    output (labels, scores within 1e-9, keywords, places, claim matches, topics) is the same.

    Example: tingfeng bench nlp-compare --base main --runs 3
    """
    from bench.nlp_compare import TOLERANCE, compare

    with console.status("bench nlp-compare") as status:
        result = compare(base, Path(data).resolve(), posts, runs, on_run=lambda s: status.update(s))
    jieba = "jieba lcut alone"
    table = Table(title=f"nlp chain: {base} vs this tree ({posts:,} posts, median of {runs})")
    table.add_column("step")
    for name in (base, "this tree"):
        table.add_column(f"{name} posts/s", justify="right")
        table.add_column("/ jieba", justify="right")
    table.add_column("speed-up", justify="right")
    for step in result.our_rates:
        theirs = result.median(result.base_rates, step)
        ours = result.median(result.our_rates, step)
        table.add_row(
            step,
            f"{theirs:,.0f}",
            f"{theirs / result.median(result.base_rates, jieba):.2f}x",
            f"{ours:,.0f}",
            f"{ours / result.median(result.our_rates, jieba):.2f}x",
            f"{ours / theirs:.2f}x",
        )
    console.print(table)
    if result.differences:
        console.print(
            f"[red]outputs differ[/] on {len(result.differences)} values of "
            f"{result.compared:,} posts, e.g. {result.differences[0]}"
        )
        raise typer.Exit(1)
    console.print(
        f"[green]outputs identical[/] on {result.compared:,} posts (scores within "
        f"{TOLERANCE:g}; largest difference {result.max_difference:.1e})"
    )


API_TARGET_P99_MS = 50.0
LATENCY_TARGET_P95_S = 10.0
LATENCY_TARGET_KAFKA_P95_S = 2.0  # issue 14: the event-driven path (Kafka on)


@app.command("api")
def bench_api_command(
    rps: Annotated[float, typer.Option(help="requests per second per endpoint", min=1)] = 200.0,
    duration: Annotated[float, typer.Option(help="seconds of load per round", min=1)] = 10.0,
    rounds: Annotated[int, typer.Option(help="rounds over the endpoints (median)", min=1)] = 3,
    incidents: Annotated[int, typer.Option(help="incidents seeded", min=10)] = 500,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes", min=1)] = 1,
) -> None:
    """Load the API on loopback (its own uvicorn process): incident list and detail vs a bare
    FastAPI endpoint on the same server, at a fixed rate, in rounds: median p50/p99, rps,
    ratio. Uses the configured backend (Elasticsearch when TINGFENG_ES_URL is set) on
    scratch indices.

    Example: tingfeng bench api --rps 200 --duration 10 --rounds 3
    """
    from bench.api import run_bench_api
    from store.context import load_settings

    settings = load_settings()
    with console.status("bench api") as status:
        result = run_bench_api(
            settings,
            rps=rps,
            duration=duration,
            incidents=incidents,
            workers=workers,
            rounds=rounds,
            on_phase=lambda name: status.update(f"bench api: {name} at {rps:.0f} rps"),
        )
    table = Table(
        title=f"bench api ({result.backend}, {result.incidents} incidents, {rps:.0f} rps, "
        f"{rounds} x {duration:.0f} s per endpoint; medians over rounds)"
    )
    for col in ("endpoint", "p50 ms", "p99 ms", "p99 per round", "rps", "errors", "p99 / bare"):
        table.add_column(col, justify="right" if col != "endpoint" else "left")
    bare = result.median("bare", 99)
    for target, runs in result.runs.items():
        p99 = result.median(target, 99)
        table.add_row(
            target,
            f"{result.median(target, 50):.1f}",
            f"{p99:.1f}",
            " ".join(f"{r.p(99):.0f}" for r in runs),
            f"{result.rps_of(target):.0f}",
            str(result.errors(target)),
            f"{p99 / bare:.1f}x" if bare else "-",
        )
    console.print(table)
    worst = max(result.median(t, 99) for t in result.runs if t != "bare")
    verdict = "[green]meets" if worst <= API_TARGET_P99_MS else "[red]misses"
    console.print(
        f"worst incident p99 {worst:.1f} ms ({verdict} the {API_TARGET_P99_MS:.0f} ms target[/])"
    )


@app.command("latency")
def bench_latency_command(
    clusters: Annotated[int, typer.Option(help="post clusters replayed", min=1)] = 20,
    gap: Annotated[float, typer.Option(help="seconds between clusters", min=0)] = 2.0,
    timeout: Annotated[float, typer.Option(help="seconds to wait after the last", min=1)] = 60.0,
) -> None:
    """Replay a stream of post clusters into a scratch store while enrichment and triage run on
    their `tingfeng run` intervals: stored -> incident and stored -> notified (local robot
    webhook), p50/p95. With TINGFENG_KAFKA_BOOTSTRAP: through Kafka and the event-driven
    workers, timed from the posts being accepted by posts.raw.

    Example: tingfeng bench latency --clusters 20 --gap 2
    """
    from bench.api import percentile
    from bench.latency import run_bench_latency
    from store.context import load_settings

    settings = load_settings()
    with Progress(
        TextColumn("bench latency"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task("clusters", total=clusters)
        run = run_bench_latency
        if (
            settings.kafka_bootstrap
        ):  # event-driven: posts.raw -> enrich -> posts.enriched -> triage
            from bench.latency_stream import run_bench_latency_kafka as run
        result = run(
            settings,
            clusters=clusters,
            gap=gap,
            timeout=timeout,
            on_cluster=lambda _k: progress.advance(task),
        )
    table = Table(
        title=f"bench latency ({result.backend}; enrich every {result.enrich_interval:g} s, "
        f"triage every {result.triage_interval:g} s; {clusters} clusters)"
    )
    for col in ("from post stored to", "clusters", "p50 s", "p95 s", "max s"):
        table.add_column(col, justify="right" if col != "from post stored to" else "left")
    for name, values in (
        ("incident holds it", result.to_incident_s),
        ("team notified (webhook)", result.to_notified_s),
    ):
        table.add_row(
            name,
            str(len(values)),
            f"{percentile(values, 50):.1f}",
            f"{percentile(values, 95):.1f}",
            f"{max(values, default=float('nan')):.1f}",
        )
    console.print(table)
    p95 = percentile(result.to_incident_s, 95)
    target = LATENCY_TARGET_KAFKA_P95_S if settings.kafka_bootstrap else LATENCY_TARGET_P95_S
    verdict = "[green]meets" if p95 <= target else "[red]misses"
    console.print(
        f"stored -> incident p95 {p95:.1f} s ({verdict} the {target:.0f} s target[/]); "
        f"{len(result.to_incident_s)}/{clusters} clusters reached an incident"
    )


@app.command("replies")
def bench_replies_command(
    limit: Annotated[int, typer.Option(help="cases per dataset", min=10)] = 400,
    data: Annotated[
        str, typer.Option(help="shared datasets folder (CHECKED, 较真, 丁香医生)")
    ] = "../shared/datasets",
) -> None:
    """Reply drafts on real debunks: template drafts with grounding problems, injected
    hallucinations (number, place, date, dropped citation) the check rejects, time per draft,
    and the half-life estimator's error on simulated decays.

    Example: tingfeng bench replies --limit 400
    """
    from bench.replies import bench_replies

    with Progress(
        TextColumn("bench replies"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task("drafts", total=None)
        result = bench_replies(Path(data), limit=limit, on_case=lambda: progress.advance(task))
    console.print(
        f"{result.drafts} rebuttal drafts from real debunks: {result.with_errors} with grounding "
        f"errors, {result.with_warnings} with warnings; compose {result.compose_ms:.1f} ms, "
        f"check {result.check_ms:.1f} ms per draft"
    )
    for example in result.examples:
        console.print(f"  {example}", highlight=False)
    table = Table(title="injected hallucinations rejected by the grounding check")
    table.add_column("injected")
    table.add_column("rejected", justify="right")
    for kind, (caught, tried) in result.injected.items():
        table.add_row(kind, f"{caught}/{tried} ({caught / max(1, tried):.1%})")
    console.print(table)
    ok, tried = result.faithful
    console.print(f"faithful rewrites (same facts, other spelling) accepted: {ok}/{tried}")
    decay = Table(title="half-life estimate on Poisson decays (200 runs each)")
    decay.add_column("true half-life (h)", justify="right")
    decay.add_column("median relative error", justify="right")
    for true, error in result.half_life_error.items():
        decay.add_row(f"{true:g}", f"{error:.1%}")
    console.print(decay)


@app.command("segment")
def bench_segment_command(
    data: Annotated[
        str, typer.Option(help="shared datasets folder (every text of every dataset)")
    ] = "../shared/datasets",
    show: Annotated[int, typer.Option(help="differing texts to show", min=0)] = 5,
) -> None:
    """The analyzer's segmenter vs jieba itself on every text of the shared datasets: texts
    whose tokens differ, and CPU chars/s of both (same texts, same run).

    Example: tingfeng bench segment --data ../shared/datasets
    """
    import difflib

    from bench.segment import bench_segment, corpus

    texts = corpus(Path(data))
    with Progress(
        TextColumn("bench segment"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task("texts", total=len(texts))
        result = bench_segment(texts, on_chunk=lambda n: progress.advance(task, n))
    table = Table(title=f"bench segment: {result.texts:,} texts, {result.chars:,} chars")
    table.add_column("segmenter")
    table.add_column("CPU seconds", justify="right")
    table.add_column("chars/s", justify="right")
    table.add_row(
        "jieba (reference)",
        f"{result.jieba_seconds:.1f}",
        f"{result.chars / result.jieba_seconds:,.0f}",
    )
    table.add_row(
        "analysis.text.segment",
        f"{result.segment_seconds:.1f}",
        f"{result.chars / result.segment_seconds:,.0f}",
    )
    console.print(table)
    share = len(result.differing) / result.texts if result.texts else 0.0
    console.print(
        f"segment / jieba speed = [bold]{result.speedup:.1f}x[/]; tokens differ in "
        f"[bold]{len(result.differing):,}[/] of {result.texts:,} texts ({share:.2%})"
    )
    for text, ref, got in result.differing[:show]:
        ops = difflib.SequenceMatcher(a=ref, b=got, autojunk=False).get_opcodes()
        spans = [
            f"jieba {' '.join(ref[max(0, i1 - 1) : i2 + 1])} | segment "
            f"{' '.join(got[max(0, j1 - 1) : j2 + 1])}"
            for op, i1, i2, j1, j2 in ops
            if op != "equal"
        ]
        console.print(f"  {text[:40]}…  {'; '.join(spans[:2])}", markup=False)


PIPELINE_TARGET_RATIO = 0.8


@app.command("pipeline")
def bench_pipeline_command(
    posts: Annotated[int, typer.Option(help="synthetic posts per path", min=100)] = 5000,
    workers: Annotated[int, typer.Option(help="most enrichment workers tried", min=1)] = 2,
) -> None:
    """posts/s from posts.raw to the store with 1..N enrichment worker processes (consumer lag
    over time) vs. the in-process path (ingest + enrichment job) on the same posts, same run.

    Example: tingfeng bench pipeline --posts 5000 --workers 2
    """
    from bench.pipeline import run_in_process, run_workers
    from bench.store import synthetic_posts
    from store.context import load_settings
    from stream.kafka import bootstrap

    settings = load_settings()
    bootstrap(settings)
    corpus = synthetic_posts(posts)
    console.print(f"bench pipeline: {posts:,} posts, store {settings.es_url or 'sqlite'}")
    baseline = run_in_process(settings, corpus)
    console.print(f"  {baseline.name}: {baseline.seconds:.1f} s")
    runs = []
    for n in range(1, workers + 1):
        run = run_workers(settings, corpus, n)
        console.print(f"  {run.name}: {run.seconds:.1f} s")
        runs.append(run)
    table = Table(title=f"bench pipeline: {posts:,} posts -> store ({settings.es_url or 'sqlite'})")
    for col in ("path", "seconds", "posts/s", "vs in-process", "vs 1 worker"):
        table.add_column(col, justify="left" if col == "path" else "right")
    table.add_row(
        baseline.name, f"{baseline.seconds:.1f}", f"{baseline.posts_per_s:,.0f}", "1.00x", ""
    )
    for run in runs:
        table.add_row(
            run.name,
            f"{run.seconds:.1f}",
            f"{run.posts_per_s:,.0f}",
            f"{run.posts_per_s / baseline.posts_per_s:.2f}x",
            f"{run.posts_per_s / runs[0].posts_per_s:.2f}x",
        )
    console.print(table)
    lag_table = Table(title="consumer lag over time (messages)")
    lag_table.add_column("workers", justify="right")
    lag_table.add_column("lag at 0%, 25%, 50%, 75%, 100% of the run", justify="left")
    for run in runs:
        points = [
            run.lag[min(len(run.lag) - 1, int(f * (len(run.lag) - 1)))]
            for f in (0, 0.25, 0.5, 0.75, 1)
        ]
        lag_table.add_row(str(run.workers), "  ".join(f"{t:.0f}s:{lag:,}" for t, lag in points))
    console.print(lag_table)
    ratio = runs[0].posts_per_s / baseline.posts_per_s
    verdict = "[green]meets" if ratio >= PIPELINE_TARGET_RATIO else "[red]below"
    console.print(
        f"1 worker / in-process = [bold]{ratio:.2f}x[/] ({verdict} the {PIPELINE_TARGET_RATIO}x "
        "target[/]); this machine's cores are shared by the workers, Kafka and Elasticsearch"
    )
