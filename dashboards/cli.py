"""`tingfeng dashboards ...`: regenerate the NDJSON, import it into Kibana."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Kibana dashboards: build the saved objects, import them into Kibana.")
console = Console()


@app.command("build")
def build(
    check: Annotated[
        bool, typer.Option("--check", help="fail if the committed NDJSON is out of date")
    ] = False,
) -> None:
    """Regenerate dashboards/*.ndjson from dashboards/source/*.yaml (fields checked against
    the index mappings).

    Example: tingfeng dashboards build
    """
    from dashboards.build import OUTPUT_DIR, build_objects, to_ndjson, write_ndjson

    if check:
        stale = [
            name
            for name, objects in build_objects().items()
            if not (OUTPUT_DIR / f"{name}.ndjson").exists()
            or (OUTPUT_DIR / f"{name}.ndjson").read_text(encoding="utf-8") != to_ndjson(objects)
        ]
        if stale:
            console.print(f"out of date: {', '.join(stale)}; run: tingfeng dashboards build")
            raise typer.Exit(1)
        console.print("dashboards NDJSON is up to date")
        return
    table = Table(title="saved objects")
    for column in ("file", "objects", "lens", "search", "dashboard"):
        table.add_column(column, justify="left" if column == "file" else "right")
    for path in write_ndjson():
        types = [json.loads(line)["type"] for line in path.read_text("utf-8").splitlines()]
        counts = [str(types.count(t)) for t in ("lens", "search", "dashboard")]
        table.add_row(path.name, str(len(types)), *counts)
    console.print(table)


@app.command("import")
def import_(
    kibana: Annotated[
        str | None, typer.Option("--kibana", help="Kibana URL (default: TINGFENG_KIBANA_URL)")
    ] = None,
    space: Annotated[
        str | None, typer.Option(help="Kibana space id (default space if unset)")
    ] = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for Kibana to become ready")] = 300.0,
) -> None:
    """Create/update the data views (on the index aliases) and import every dashboard, with
    overwrite. Credentials: TINGFENG_KIBANA_USERNAME / TINGFENG_KIBANA_PASSWORD. Exits non-zero
    if any object fails.

    Example: tingfeng dashboards import --kibana http://localhost:5601
    """
    from dashboards.build import DATA_VIEWS_FILE, ndjson_files
    from dashboards.errors import DashboardError
    from dashboards.importer import KibanaImporter, make_client
    from dashboards.lens import data_view_object
    from dashboards.spec import load_data_views
    from store.context import load_settings

    settings = load_settings()
    url = kibana or settings.kibana_url
    if not url:
        raise DashboardError("no Kibana URL: pass --kibana URL or set TINGFENG_KIBANA_URL")
    password = settings.kibana_password.get_secret_value() if settings.kibana_password else None
    views = [data_view_object(v, settings.index_prefix) for v in load_data_views()]
    files = [p for p in ndjson_files() if p.stem != DATA_VIEWS_FILE]
    with make_client(url, settings.kibana_username, password, space=space) as client:
        report = KibanaImporter(client, wait_seconds=wait).run(views, files)
    table = Table(title=f"Kibana import: {url}")
    for column in ("type", "id", "title", "result"):
        table.add_column(column)
    for r in report.results:
        result = "[green]ok[/]" if r.ok else f"[red]failed[/]: {r.reason}"
        table.add_row(r.type, r.id, r.title, result)
    console.print(table)
    console.print(f"{len(report.results) - len(report.failures)} ok, {len(report.failures)} failed")
    if not report.ok:
        raise typer.Exit(1)
