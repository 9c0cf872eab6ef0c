"""`tingfeng demo`: the whole path on the embedded store, with no internet."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

from rich.console import Console
from rich.table import Table

from store import Settings
from store.base import PostQuery
from store.ingest import ingest_posts, read_jsonl


def sample_path():  # type: ignore[no-untyped-def]
    return resources.files("cli.demo").joinpath("sample_posts.jsonl")


def load_sample(settings: Settings):  # type: ignore[no-untyped-def]
    """The bundled sample posts, shifted so the newest one is one hour old."""
    from datetime import timedelta
    from pathlib import Path

    posts = read_jsonl(Path(str(sample_path())), settings)
    newest = max(p.created_at for p in posts)
    shift = datetime.now(UTC) - timedelta(hours=1) - newest
    for post in posts:
        post.created_at = (post.created_at + shift).astimezone(settings.tz)
    return posts


def run_demo(
    settings: Settings, console: Console, *, serve_api: bool = True, port: int | None = None
) -> None:
    from cli.context import store_from

    store = store_from(settings)
    posts = load_sample(settings)
    result = ingest_posts(store, posts)
    store.refresh()
    console.print(f"[bold]听风 demo[/]: {result.written} sample posts in {store.status().detail}")

    table = Table(title="posts by platform")
    table.add_column("platform")
    table.add_column("posts", justify="right")
    for bucket in store.terms(PostQuery(), "platform"):
        table.add_row(bucket.key, str(bucket.count))
    console.print(table)

    hits = store.search_posts(PostQuery(q="封城"), size=5)
    console.print(f"search 封城: {hits.total} posts")
    for post in hits.posts:
        console.print(
            f"  {post.created_at:%m-%d %H:%M} {post.platform:6} {post.text[:40]}", markup=False
        )

    if serve_api:
        import uvicorn

        from api.app import create_app

        port = port or settings.api_port
        console.print(
            f"API: http://{settings.api_host}:{port}/docs  —  "
            f"try: curl 'http://{settings.api_host}:{port}/api/v1/posts?q=求助'"
        )
        uvicorn.run(create_app(settings, store=store), host=settings.api_host, port=port)
