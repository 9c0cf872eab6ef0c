"""`tingfeng worker ...` and `tingfeng pipeline ...`: the Kafka scale-out path's commands.

Every command needs `TINGFENG_KAFKA_BOOTSTRAP`; a worker runs until SIGTERM or Ctrl-C, then
finishes its batch, commits and leaves its consumer group (its partitions move at once).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from store import Settings
from store.context import load_settings, store_from

worker_app = typer.Typer(help="Kafka workers: enrich, crawl and triage consumer groups.")
pipeline_app = typer.Typer(help="The Kafka pipeline: topics, lag, replay.")
console = Console()


def _stop_on_signals() -> Callable[[], bool]:
    stopped = threading.Event()

    def handle(_signum: int, _frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stopped.is_set


def _kafka_settings() -> Settings:
    from stream.kafka import bootstrap

    settings = load_settings()
    bootstrap(settings)  # NotConfigured names the variable
    return settings


@worker_app.command("enrich")
def worker_enrich() -> None:
    """Enrichment worker: consumer group on posts.raw -> enrich -> store -> posts.enriched.

    Example: tingfeng worker enrich
    """
    from nlp.worker import run_enrich_worker

    settings = _kafka_settings()
    stats = run_enrich_worker(settings, _stop_on_signals())
    console.print(f"enrich worker: {stats.handled} posts, {stats.dead_lettered} dead-lettered")


@worker_app.command("crawl")
def worker_crawl(
    var: Annotated[
        list[str] | None, typer.Option(help="sources-file variable KEY=VALUE (repeatable)")
    ] = None,
) -> None:
    """Crawl worker: consumer group on crawl.requests; each request is one crawl subprocess
    whose posts go to posts.raw.

    Example: tingfeng worker crawl
    """
    from crawlers.cli import parse_vars
    from crawlers.worker import run_crawl_worker

    settings = _kafka_settings()
    store = store_from(settings)
    try:
        stats = run_crawl_worker(settings, store, _stop_on_signals(), variables=parse_vars(var))
    finally:
        store.close()
    console.print(f"crawl worker: {stats.handled} requests, {stats.dead_lettered} dead-lettered")


@worker_app.command("triage")
def worker_triage() -> None:
    """Triage worker: consumer group on posts.enriched; re-evaluates only the topics the new
    posts joined (alerts and SLA sweeps stay on the scheduler).

    Example: tingfeng worker triage
    """
    from triage.worker import run_triage_worker

    settings = _kafka_settings()
    store = store_from(settings)
    try:
        stats = run_triage_worker(settings, store, _stop_on_signals())
    finally:
        store.close()
    console.print(f"triage worker: {stats.handled} events")


@pipeline_app.command("topics")
def pipeline_topics() -> None:
    """Create the configured topics (partitions and retention from settings). Idempotent.

    Example: tingfeng pipeline topics
    """
    from stream.kafka import ensure_topics, topics

    settings = _kafka_settings()
    created = set(ensure_topics(settings))
    for name in topics(settings):
        console.print(f"{name}: {'created' if name in created else 'exists'}")


@pipeline_app.command("lag")
def pipeline_lag() -> None:
    """Consumer lag of every worker group, per partition.

    Example: tingfeng pipeline lag
    """
    from stream.kafka import group_id, lag

    settings = _kafka_settings()
    table = Table(title="consumer lag")
    for col in ("group", "topic", "partition", "committed", "end", "lag"):
        table.add_column(col, justify="left" if col in ("group", "topic") else "right")
    for role, topic in (
        ("enrich", settings.kafka_topic_posts_raw),
        ("triage", settings.kafka_topic_posts_enriched),
        ("crawl", settings.kafka_topic_crawl_requests),
    ):
        group = group_id(settings, role)
        for p in lag(settings, group, topic):
            table.add_row(group, topic, str(p.partition), str(p.committed), str(p.end), str(p.lag))
    console.print(table)


@pipeline_app.command("replay")
def pipeline_replay(
    since: Annotated[
        datetime, typer.Option(help="re-label posts produced since (ISO time, local zone)")
    ],
    model_version: Annotated[
        str | None,
        typer.Option(help="refuse unless the installed pipeline has this version"),
    ] = None,
    models_dir: Annotated[
        Path | None, typer.Option(help="models folder of the newer version (else the settings')")
    ] = None,
) -> None:
    """Re-label a period with the current (newer) pipeline by resetting the dedicated consumer
    group <prefix>-replay on posts.raw to `--since`; same ids, so no duplicates.

    Example: tingfeng pipeline replay --since 2026-03-01T00:00 --model-version rumor-lin-2+...
    """
    from nlp.worker import replay

    settings = _kafka_settings()
    if models_dir is not None:
        settings = settings.model_copy(update={"nlp_models_dir": models_dir})
    if since.tzinfo is None:
        since = since.replace(tzinfo=settings.tz)
    result = replay(settings, since, model_version=model_version, stop=_stop_on_signals())
    console.print(
        f"replay ({result.group}, {result.version}): {result.messages} messages since "
        f"{since.isoformat()}, {result.stats.handled} re-labelled, "
        f"{result.stats.dead_lettered} dead-lettered"
    )
