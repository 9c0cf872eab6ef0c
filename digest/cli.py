"""`tingfeng digest` and `tingfeng report incident ID`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
report_app = typer.Typer(help="After-action reports (HTML + PDF).")


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2024-05-01") from None


def digest_command(
    day: Annotated[
        str | None,
        typer.Option("--date", help="day YYYY-MM-DD (default: yesterday; weekly: last week)"),
    ] = None,
    weekly: Annotated[bool, typer.Option("--weekly", help="the week containing --date")] = False,
    send: Annotated[
        bool, typer.Option("--send/--no-send", help="email and post it where configured")
    ] = True,
) -> None:
    """Build the supervisors' digest (HTML, PDF, Markdown, text, charts), save it under the data
    dir and deliver it by email/webhook when configured.

    Example: tingfeng digest --date 2024-05-01
    """
    from digest.jobs import run_digest
    from store.context import load_settings, store_from

    settings = load_settings()
    store = store_from(settings)
    result = run_digest(
        settings, store, kind="weekly" if weekly else "daily", day=_parse_day(day), deliver=send
    )
    d = result.digest
    table = Table(title=d.title)
    table.add_column("指标")
    table.add_column("本期", justify="right")
    table.add_column("前一期", justify="right")
    for n in d.numbers:
        table.add_row(
            n.label,
            "—" if n.value is None else f"{n.value:g}",
            "—" if n.previous is None else f"{n.previous:g}",
        )
    console.print(table)
    if d.empty:
        console.print("本期无活动 (no activity in this period)")
    console.print(f"saved: {result.directory / 'digest.html'}")
    if result.pdf_off:
        console.print(f"PDF off: {result.pdf_off}", highlight=False)
    else:
        console.print(f"       {result.directory / 'digest.pdf'}")
    if result.emailed_to:
        console.print(f"emailed to: {', '.join(result.emailed_to)}")
    if result.webhook:
        console.print("posted to the digest webhook")
    for error in result.errors:
        console.print(f"[red]delivery failed:[/] {error}")
    if result.errors:
        raise typer.Exit(1)


@report_app.command("incident")
def report_incident(
    incident_id: Annotated[str, typer.Argument(help="incident id")],
) -> None:
    """After-action report of one incident: timeline from first post to closure, time metrics,
    drafts and approvals (HTML, Markdown, PDF under the data dir).

    Example: tingfeng report incident 3f2a9c1d
    """
    from digest.report import build_report, write_report
    from store.context import load_settings, store_from

    settings = load_settings()
    store = store_from(settings)
    report = build_report(
        store, incident_id, public_url=settings.public_url, now=datetime.now(settings.tz)
    )
    paths = write_report(
        report, settings.data_dir, tz=settings.timezone, font_path=settings.digest_font
    )
    console.print(f"事件复盘报告：{report.incident.title}（时间线 {len(report.timeline)} 项）")
    for kind, path in paths.items():
        console.print(f"  {kind}: {path}")
