"""`tingfeng`: one CLI for every stage. Each command's help ends with an example."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from bench.cli import app as bench_app
from cli.errors import USER_ERRORS
from cli.logs import LogFormat, configure_logging
from cli.workers import pipeline_app, worker_app
from crawlers.cli import crawl_command, sources_app
from dashboards.cli import app as dashboards_app
from digest.cli import digest_command, report_app
from nlp.cli import app as nlp_app
from nlp.kb_cli import app as kb_app
from nlp.kb_cli import topics_app
from store.context import load_settings, store_from
from triage.cli import playbook_app, triage_app, users_app

app = typer.Typer(
    name="tingfeng",
    help="听风 Tingfeng: public-opinion monitoring and rumor response.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
store_app = typer.Typer(help="Storage: create indices, status, spool replay, retention.")
app.add_typer(store_app, name="store")
app.add_typer(bench_app, name="bench")
app.add_typer(kb_app, name="kb")
app.add_typer(nlp_app, name="nlp")
app.add_typer(topics_app, name="topics")
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(report_app, name="report")
app.command("digest")(digest_command)
app.add_typer(playbook_app, name="playbook")
app.add_typer(users_app, name="users")
app.add_typer(triage_app, name="triage")
app.command("crawl")(crawl_command)
app.add_typer(sources_app, name="sources")
app.add_typer(worker_app, name="worker")
app.add_typer(pipeline_app, name="pipeline")

console = Console()
err_console = Console(stderr=True)


@store_app.command("init")
def store_init() -> None:
    """Create index templates, indices and aliases (or SQLite tables). Idempotent.

    Example: tingfeng store init
    """
    settings = load_settings()
    store = store_from(settings)
    status = store.status()
    console.print(f"store ready: {status.backend} ({status.detail})")


@store_app.command("status")
def store_status() -> None:
    """Backend, reachability, document counts and spool depth.

    Example: tingfeng store status
    """
    settings = load_settings()
    store = store_from(settings)
    status = store.status()
    table = Table(title=f"store: {status.backend} — {status.detail}")
    table.add_column("index")
    table.add_column("documents", justify="right")
    for name, count in sorted(status.counts.items()):
        table.add_row(name, str(count))
    console.print(table)
    console.print(f"reachable: {status.reachable}   spool depth: {status.spool_depth}")


@store_app.command("replay")
def store_replay() -> None:
    """Write spooled batches (kept while the store was down) to the store, in order.

    Example: tingfeng store replay
    """
    settings = load_settings()
    store = store_from(settings)
    result = store.replay_spool()
    console.print(f"replayed {result.written} records; {len(result.failed)} rejected")


@store_app.command("retention")
def store_retention(
    days: Annotated[int | None, typer.Option(help="override TINGFENG_RETENTION_DAYS")] = None,
) -> None:
    """Delete posts older than the retention period (bounded retention).

    Example: tingfeng store retention --days 180
    """
    settings = load_settings()
    store = store_from(settings)
    cutoff = datetime.now(UTC) - timedelta(days=days or settings.retention_days)
    deleted = store.delete_posts_before(cutoff)
    console.print(f"deleted {deleted} posts created before {cutoff:%Y-%m-%d}")


@app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(help="JSONL file, one raw post per line")],
) -> None:
    """Import posts from a JSONL file. The whole file is validated first; a bad line names
    the line and field and nothing is written.

    Example: tingfeng ingest partner_posts.jsonl
    """
    from ingest.posts import ingest_posts, read_jsonl
    from triage.audit import record_ingest

    settings = load_settings()
    posts = read_jsonl(file, settings)
    store = store_from(settings)
    with Progress(
        TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), console=err_console
    ) as progress:
        task = progress.add_task("posts", total=len(posts))
        result = ingest_posts(store, posts, progress=lambda n: progress.advance(task, n))
    record_ingest(
        store,
        actor="cli",
        token=None,
        ids=[p.id for p in posts],
        written=result.written,
        failed=result.failed,
        at=datetime.now(UTC),
        origin=str(file),
    )
    console.print(
        f"{file}: {len(posts)} posts read, {result.written} written, "
        f"{result.spooled} spooled, {len(result.failed)} failed"
    )
    for doc_id, reason in result.failed[:20]:
        err_console.print(f"  failed {doc_id}: {reason}")
    if result.failed:
        raise typer.Exit(1)


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
) -> None:
    """Serve the HTTP API only (no scheduler).

    Example: tingfeng serve --port 8000
    """
    import uvicorn

    from api.app import create_app

    settings = load_settings()
    import gc

    gc.freeze()  # import-time objects leave the collector's view: no 80 ms full collections
    uvicorn.run(
        create_app(settings), host=host or settings.api_host, port=port or settings.api_port
    )


@app.command("run")
def run(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
) -> None:
    """The long-running service: scheduler (crawls, enrichment, triage, digests, spool replay,
    retention) and the API, on SQLite unless TINGFENG_ES_URL is set.

    Example: tingfeng run
    """
    from cli.service import run_service

    settings = load_settings()
    run_service(settings, host=host, port=port)


@app.command("demo")
def demo(
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="serve the API after")
    ] = True,
    port: Annotated[int | None, typer.Option(help="API port")] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="library logs too (-vv: DEBUG)")
    ] = 0,
) -> None:
    """Newcomer's tour on the embedded store: load the bundled sample, show what was found,
    then serve the API.

    Example: tingfeng demo
    """
    from cli.demo import run_demo

    if verbose:
        configure_logging(verbose, _log_format())

    settings = load_settings()
    run_demo(settings, console, serve_api=serve_api, port=port)


@app.callback()
def _root(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="library logs: -v INFO, -vv DEBUG")
    ] = 0,
) -> None:
    """听风 Tingfeng: public-opinion monitoring and rumor response."""
    configure_logging(verbose, _log_format())


def _log_format() -> LogFormat:
    """TINGFENG_LOG_FORMAT, or text while the settings are incomplete (the command that needs
    them reports that)."""
    from pydantic import ValidationError

    from store import Settings

    try:
        return Settings().log_format  # type: ignore[call-arg]
    except ValidationError:
        return "text"


def main() -> None:
    configure_logging(0)
    try:
        app()
    except USER_ERRORS as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
