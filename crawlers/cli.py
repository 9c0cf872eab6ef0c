"""CLI of the crawlers: `tingfeng crawl SOURCE...` and `tingfeng sources status|check`.

Registered in `cli/main.py`; Scrapy is imported only when a crawl runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

sources_app = typer.Typer(help="Crawl sources: health per source, validate the sources file.")
console = Console()

VarOption = Annotated[
    list[str] | None,
    typer.Option("--var", help="sources-file variable, e.g. --var fixture=http://127.0.0.1:8765"),
]


def parse_vars(values: list[str] | None) -> dict[str, str]:
    out = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep:
            raise typer.BadParameter(f"{value!r} is not name=value", param_hint="--var")
        out[key.strip()] = rest.strip()
    return out


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def crawl_command(
    sources: Annotated[list[str] | None, typer.Argument(help="source names")] = None,
    all_enabled: Annotated[bool, typer.Option("--all", help="every enabled source")] = False,
    var: VarOption = None,
) -> None:
    """Crawl sources now, in this process (concurrently, one run each), and show their stats.

    Example: tingfeng crawl demo-news demo-weibo --var fixture=http://127.0.0.1:8765
    """
    from crawlers.run import crawl
    from crawlers.sources import load_sources
    from store.context import load_settings

    settings = load_settings()
    variables = parse_vars(var)
    names = list(sources or [])
    if all_enabled:
        names += [s.name for s in load_sources(settings.sources_file, variables).enabled()]
    if not names:
        raise typer.BadParameter("name at least one source, or use --all", param_hint="SOURCES")
    runs = crawl(list(dict.fromkeys(names)), settings, variables=variables)
    table = Table(title="crawl")
    for column in (
        "source",
        "status",
        "pages",
        "posts",
        "new",
        "duplicate",
        "dropped",
        "errors",
        "s",
    ):
        table.add_column(column, justify="left" if column in ("source", "status") else "right")
    for run in runs:
        detail = json.loads(run.detail or "{}")
        style = "green" if run.status == "ok" else "red"
        table.add_row(
            run.source,
            f"[{style}]{run.status}[/]",
            str(detail.get("pages", 0)),
            str(run.fetched),
            str(run.new),
            str(run.duplicate),
            _counts(run.dropped, detail.get("dropped")),
            _counts(run.errors, detail.get("errors")),
            f"{detail.get('duration_s', 0):.1f}",
        )
    console.print(table)
    if len(runs) != len(names) or any(r.status != "ok" for r in runs):
        raise typer.Exit(1)


def _counts(total: int, by_reason: dict[str, int] | None) -> str:
    if not total:
        return "0"
    reasons = ", ".join(f"{k} {v}" for k, v in sorted((by_reason or {}).items()))
    return f"{total} ({reasons})" if reasons else str(total)


@sources_app.command("status")
def status_command() -> None:
    """Health of every source: last run, consecutive failures, freshness, open alerts.

    Example: tingfeng sources status
    """
    from crawlers.health import source_health
    from crawlers.sources import load_sources
    from store.context import load_settings, store_from

    settings = load_settings()
    sources = load_sources(settings.sources_file)
    store = store_from(settings)
    try:
        rows = source_health(store, sources, now=datetime.now(UTC))
    finally:
        store.close()
    table = Table(title=f"sources ({settings.sources_file})")
    for column in (
        "source",
        "type",
        "state",
        "last run",
        "new/dup/drop/err",
        "fails",
        "freshness",
        "alerts",
    ):
        table.add_column(column)
    colours = {"ok": "green", "stale": "yellow", "never_run": "dim", "disabled": "dim"}
    for row in rows:
        last = row.last_run
        table.add_row(
            row.name,
            row.type,
            f"[{colours.get(row.state, 'red')}]{row.state}[/]",
            f"{last.finished_at.astimezone(settings.tz):%m-%d %H:%M} {last.status}"
            if last
            else "—",
            f"{last.new}/{last.duplicate}/{last.dropped}/{last.errors}" if last else "—",
            str(row.consecutive_failures),
            _age(row.freshness_s),
            ", ".join(a.split(":", 1)[0] for a in row.open_alerts) or "—",
        )
    console.print(table)
    for row in rows:
        for alert in row.open_alerts:
            console.print(f"[red]alert[/] {row.name}: {alert}", highlight=False)


@sources_app.command("check")
def check_command(var: VarOption = None) -> None:
    """Validate the sources file (errors name the source and field) and list its sources.

    Example: tingfeng sources check
    """
    from crawlers.credentials import load_credentials
    from crawlers.health import describe_schedule
    from crawlers.sources import load_sources
    from store.context import load_settings

    settings = load_settings()
    sources = load_sources(settings.sources_file, parse_vars(var))
    credentials = load_credentials(settings)
    table = Table(title=f"{settings.sources_file}: {len(sources)} sources")
    for column in ("source", "type", "platform", "enabled", "schedule", "entry"):
        table.add_column(column)
    problems = []
    for source in sources:
        if source.enabled and source.credentials and source.credentials not in credentials:
            problems.append(
                f"source '{source.name}' needs credentials '{source.credentials}', not configured"
            )
        table.add_row(
            source.name,
            source.type,
            source.platform,
            "yes" if source.enabled else "no",
            describe_schedule(source),
            "\n".join(source.entry_urls()),
        )
    console.print(table)
    for problem in problems:
        console.print(f"[red]problem:[/] {problem}")
    if problems:
        raise typer.Exit(1)
