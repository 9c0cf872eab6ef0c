"""`tingfeng demo`: the whole path on the embedded store, with no internet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ingest.posts import ingest_posts, read_jsonl
from store import Settings
from store.base import PostQuery, Store
from store.records import Post


def sample_path():  # type: ignore[no-untyped-def]
    return resources.files("cli.demo").joinpath("sample_posts.jsonl")


def load_sample(settings: Settings):  # type: ignore[no-untyped-def]
    """The bundled sample posts, shifted so the newest one is one hour old."""
    posts = read_jsonl(Path(str(sample_path())), settings)
    newest = max(p.created_at for p in posts)
    shift = datetime.now(UTC) - timedelta(hours=1) - newest
    for post in posts:
        post.created_at = (post.created_at + shift).astimezone(settings.tz)
    return posts


def run_demo(
    settings: Settings, console: Console, *, serve_api: bool = True, port: int | None = None
) -> None:
    from store.context import store_from

    store = store_from(settings)
    crawled = crawl_fixture_site(settings, store, console)
    posts = load_sample(settings)  # the curated scenario the later stages are shown on
    result = ingest_posts(store, posts)
    store.refresh()
    console.print(
        f"[bold]听风 demo[/]: {crawled} crawled + {result.written} scenario posts in "
        f"{store.status().detail}"
    )
    from nlp.enrich import enrich
    from nlp.kb import seed_demo_claims
    from nlp.predict import Predictor

    claims = seed_demo_claims(store)
    console.print(
        f"knowledge base: {len(claims)} demo debunks (import real ones: tingfeng kb import)"
    )
    enriched = enrich(store, Predictor.from_settings(settings), batch=settings.enrich_batch_size)
    console.print(f"enriched {enriched.enriched} posts (NLP pipeline {enriched.version})")
    show_matches(store, console)
    show_incidents(settings, store, console)

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

    show_digest(settings, store, posts, console)

    if serve_api:
        import uvicorn

        from api.app import create_app

        port = port or settings.api_port
        token = demo_token(settings, store)
        base = f"http://{settings.api_host}:{port}"
        console.print(f"API: {base}/docs  —  a patrol token for the next 8 hours:", markup=False)
        console.print(
            f'  curl -H "Authorization: Bearer {token}" '
            f"'{base}/api/v1/posts?q=%E6%B1%82%E5%8A%A9'   # q=求助",
            markup=False,
            soft_wrap=True,
        )
        show_desk_logins(settings, store, console, base)
        uvicorn.run(create_app(settings, store=store), host=settings.api_host, port=port)


DEMO_SOURCES = (
    "demo-news",
    "demo-gov",
    "demo-html",
    "demo-bulletin",
    "demo-weibo",
    "demo-tieba",
    "demo-hotline",
)


def crawl_fixture_site(settings: Settings, store: Store, console: Console) -> int:
    """Serve the local fixture site on 127.0.0.1 and crawl its demo sources into the store,
    the way `tingfeng run` does (one subprocess); returns how many posts were crawled."""
    from crawlers.fixtures.server import FixtureSite
    from crawlers.health import source_health
    from crawlers.run import run_subprocess
    from crawlers.sources import load_sources

    bundled = Path(str(resources.files("crawlers").joinpath("sources.yaml")))
    console.print("crawling the local fixture site (feeds, news pages, Weibo/Tieba-style) ...")
    with FixtureSite() as site:
        # the fixture site is on loopback, which crawls refuse unless it is named
        crawl_settings = settings.model_copy(
            update={"sources_file": bundled, "crawler_internal_hosts": site.netloc}
        )
        code = run_subprocess(
            list(DEMO_SOURCES),
            crawl_settings,
            variables={"fixture": site.url},
            timeout=300,
            quiet=True,
        )
    store.refresh()
    sources = load_sources(bundled)
    rows = [
        h for h in source_health(store, sources, now=datetime.now(UTC)) if h.name in DEMO_SOURCES
    ]
    table = Table(title=f"crawl of the fixture site (exit {code})")
    for column in ("source", "type", "state", "new", "duplicate", "dropped", "errors"):
        table.add_column(column)
    total = 0
    for row in rows:
        last = row.last_run
        if last is None:
            table.add_row(row.name, row.type, row.state, "—", "—", "—", "—")
            continue
        total += last.new
        table.add_row(
            row.name,
            row.type,
            row.state,
            *(str(n) for n in (last.new, last.duplicate, last.dropped, last.errors)),
        )
    console.print(table)
    if not rows or all(r.last_run is None for r in rows):
        console.print("[yellow]the crawl did not run; continuing with the bundled scenario only[/]")
    return total


def show_matches(store: Store, console: Console) -> None:
    """Posts linked to an already-debunked claim, as patrol staff see them."""
    page = store.search_posts(PostQuery(terms={"nlp.claim_match.level": ["confirm"]}), size=5)
    table = Table(title=f"posts matching known debunks ({page.total} confirmed)")
    for column in ("post", "claim", "score", "debunk source"):
        table.add_column(column)
    for post in page.posts:
        match = post.nlp.claim_match
        if match is None:
            continue
        table.add_row(
            post.text[:28], match.claim_id[:10], f"{match.score:.2f}", match.source_url or ""
        )
    console.print(table)


def show_incidents(settings: Settings, store: Store, console: Console) -> None:
    """Topics -> incidents (triage pass), then a cited reply draft for the top rumor."""
    from nlp.bursts import detect_bursts
    from store.records import Incident
    from triage.job import TriageJob
    from triage.replies.drafts import ReplyConfig, create_draft
    from triage.replies.errors import ReplyError

    now = datetime.now(UTC)
    detect_bursts(store, now=now)
    TriageJob(store, playbook_path=settings.playbook_file, notifier=None).run_once(now)
    store.refresh()
    incidents = store.find("incidents", Incident, sort="severity", size=10)
    table = Table(title=f"incidents opened by triage ({len(incidents)})")
    for column in ("severity", "category", "title", "team", "state"):
        table.add_column(column)
    for incident in incidents:
        table.add_row(
            str(incident.severity),
            incident.category,
            incident.title[:30],
            incident.team or "—",
            incident.state.value,
        )
    console.print(table)
    rumor = next((i for i in incidents if i.category == "rumor"), None)
    if rumor is None:
        return
    try:
        draft = create_draft(
            store, rumor.id, actor="demo-press", now=now, config=ReplyConfig.from_settings(settings)
        )
    except ReplyError as exc:
        console.print(f"draft skipped: {exc}")
        return
    console.print(f"[bold]reply draft[/] ({draft.template}) for incident {rumor.id[:10]}:")
    console.print(draft.title, markup=False)
    console.print(draft.text, markup=False)
    for source in draft.sources:
        console.print(
            f"  [{source.ref}] {source.kind} {source.name} {source.url or source.id[:12]}",
            markup=False,
        )


def demo_token(settings: Settings, store: Store) -> str:
    """A session token for a read-only `demo-patrol` user (created once, no password)."""
    from store.records import Role, User
    from triage.users import get_user, issue_session_token

    now = datetime.now(UTC)
    user = get_user(store, "demo-patrol")
    if user is None:
        user = User(
            id="demo-patrol",
            username="demo-patrol",
            role=Role.patrol,
            display_name="演示巡查员",
            created_at=now,
            updated_at=now,
        )
        store.put("users", user)
    token, _ = issue_session_token(
        user, settings.secret_key.get_secret_value(), now=now, ttl=timedelta(hours=8)
    )
    return token


DESK_DEMO_USERS = (
    ("demo-press", "press", "演示新闻发言人"),
    ("demo-supervisor", "supervisor", "演示值班主管"),
)


def show_desk_logins(settings: Settings, store: Store, console: Console, base: str) -> None:
    """The desk's URL and a press and a supervisor login (a fresh password on every run)."""
    import secrets

    from store.records import Role
    from triage.users import add_user, get_user, set_password

    now = datetime.now(UTC)
    console.print(f"desk (web pages for press officers and supervisors): {base}/desk", markup=False)
    for username, role, name in DESK_DEMO_USERS:
        password = secrets.token_urlsafe(9)
        if get_user(store, username) is None:
            add_user(store, username, Role(role), password=password, now=now, actor="demo",
                     display_name=name)  # fmt: skip
        else:
            set_password(store, username, password, now=now, actor="demo")
        console.print(f"  {role:10} login: {username} / {password}", markup=False)


def show_digest(settings: Settings, store: Store, posts: list[Post], console: Console) -> None:
    """The supervisors' digest of the sample's (latest) day, saved for a person to open."""
    from digest.errors import DigestError
    from digest.jobs import run_digest

    day = max(p.created_at for p in posts).astimezone(settings.tz).date()
    try:
        result = run_digest(settings, store, kind="daily", day=day, deliver=False)
    except DigestError as exc:
        console.print(f"digest skipped: {exc}")
        return
    console.print(f"[bold]digest[/] {result.digest.title}: open {result.directory / 'digest.html'}")
    if result.pdf_off:
        console.print(f"  PDF off: {result.pdf_off}", highlight=False)
    else:
        console.print(f"  PDF: {result.directory / 'digest.pdf'}")
