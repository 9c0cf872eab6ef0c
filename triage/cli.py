"""CLI: `tingfeng playbook check|show`, `tingfeng users ...`, `tingfeng triage run-once`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from triage.errors import PlaybookError
from triage.playbook import Playbook, load_playbook

console = Console()

playbook_app = typer.Typer(help="Playbooks: validate and show routing, SLA and escalation rules.")
users_app = typer.Typer(help="Users, roles and API tokens of the secured API.")
triage_app = typer.Typer(help="Triage: open and escalate incidents from topics and alerts.")


def _fmt_delta(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@playbook_app.command("check")
def playbook_check(
    file: Annotated[Path, typer.Argument(help="playbook YAML file")],
) -> None:
    """Validate a playbook; every problem is listed with its file, rule and field.

    Example: tingfeng playbook check triage/playbooks/default.yaml
    """
    from triage.replies.checks import check_playbook_templates

    try:
        book = load_playbook(file)
        # the reply templates its routes name must render cleanly too (triage/replies)
        template_problems = check_playbook_templates(book)
        if template_problems:
            raise PlaybookError(template_problems)
    except PlaybookError as exc:
        for problem in exc.problems:
            console.print(f"[red]✗[/] {problem}", highlight=False)
        console.print(f"{len(exc.problems)} problem(s)")
        raise typer.Exit(1) from None
    console.print(
        f"[green]✓[/] {file}: {len(book.signals)} signals, {len(book.alerts)} alert rules, "
        f"{len(book.teams)} teams, {len(book.routes)} routes",
        highlight=False,
    )


def _show(book: Playbook) -> None:
    signals = Table(title=f"signals of {book.name} (first that fires names the category)")
    for col in ("id", "category", "when"):
        signals.add_column(col)
    for s in book.signals:
        when = ", ".join(f"{k}={v}" for k, v in s.when.model_dump(exclude_none=True).items())
        signals.add_row(s.id, s.category, when)
    console.print(signals)
    routes = Table(title="routes (first match wins)")
    for col in ("id", "match", "team", "ack", "first resp.", "resolve", "escalation", "template"):
        routes.add_column(col)
    for r in book.routes:
        match = "; ".join(
            f"{k}={','.join(map(str, v))}" for k, v in r.match.model_dump(exclude_none=True).items()
        )
        routes.add_row(
            r.id,
            match or "*",
            r.team,
            _fmt_delta(r.sla.acknowledge),
            _fmt_delta(r.sla.first_response),
            _fmt_delta(r.sla.resolution),
            " → ".join(r.escalation) or "-",
            r.reply_template or "-",
        )
    console.print(routes)
    teams = Table(title="teams")
    for col in ("id", "name", "webhook", "email"):
        teams.add_column(col)
    for t in book.teams:
        teams.add_row(t.id, t.name, "yes" if t.webhook else "no", ", ".join(t.email) or "-")
    console.print(teams)


@playbook_app.command("show")
def playbook_show(
    file: Annotated[
        Path | None, typer.Argument(help="playbook YAML (default: TINGFENG_PLAYBOOK_FILE)")
    ] = None,
) -> None:
    """Show a playbook's signals, routes (team, SLA, escalation, template) and teams.

    Example: tingfeng playbook show
    """
    if file is None:
        from store.context import load_settings

        file = load_settings().playbook_file
    _show(load_playbook(file))


# --------------------------------------------------------------------------------------------
# users
# --------------------------------------------------------------------------------------------


def _store():  # type: ignore[no-untyped-def]
    from store.context import load_settings, store_from

    settings = load_settings()
    return settings, store_from(settings)


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="login name (a-z, 0-9, . _ -)")],
    role: Annotated[str, typer.Option(help="patrol, press, supervisor, admin or service")],
    display_name: Annotated[str | None, typer.Option(help="name shown to colleagues")] = None,
    email: Annotated[str | None, typer.Option(help="email address")] = None,
    team: Annotated[list[str] | None, typer.Option(help="playbook team (repeatable)")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
) -> None:
    """Add a person (asks for a password) or a service account (role service; no password).

    Example: tingfeng users add wang.wei --role press --team rumor-desk
    """
    from triage.users import add_user

    settings, store = _store()
    password = None
    if role != "service":
        if password_stdin:
            password = typer.get_text_stream("stdin").readline().rstrip("\n")
        else:
            password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    user = add_user(
        store,
        username,
        role,
        password=password,
        now=datetime.now(UTC),
        actor="cli",
        display_name=display_name,
        email=email,
        teams=team or [],
        blocklist=settings.password_blocklist_file,
    )
    console.print(f"added {user.username} ({user.role.value})")


@users_app.command("list")
def users_list() -> None:
    """List users with role, teams and status.

    Example: tingfeng users list
    """
    from triage.users import list_users

    _, store = _store()
    table = Table(title="users")
    for col in ("username", "role", "teams", "status", "last login"):
        table.add_column(col)
    for user in list_users(store):
        table.add_row(
            user.username,
            user.role.value,
            ", ".join(user.teams) or "-",
            "disabled" if user.disabled else "active",
            f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "-",
        )
    console.print(table)


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="user to disable")]) -> None:
    """Disable a user: every session and API token of theirs stops working at once.

    Example: tingfeng users disable wang.wei
    """
    from triage.users import set_disabled

    _, store = _store()
    set_disabled(store, username, True, now=datetime.now(UTC), actor="cli")
    console.print(f"disabled {username}")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument(help="user to re-enable")]) -> None:
    """Re-enable a disabled user (they log in again; old tokens stay revoked).

    Example: tingfeng users enable wang.wei
    """
    from triage.users import set_disabled

    _, store = _store()
    set_disabled(store, username, False, now=datetime.now(UTC), actor="cli")
    console.print(f"enabled {username}")


@users_app.command("password")
def users_password(username: Annotated[str, typer.Argument(help="person")]) -> None:
    """Set a person's password (their sessions are revoked).

    Example: tingfeng users password wang.wei
    """
    from triage.users import set_password

    settings, store = _store()
    password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    set_password(
        store,
        username,
        password,
        now=datetime.now(UTC),
        actor="cli",
        blocklist=settings.password_blocklist_file,
    )
    console.print(f"password of {username} set")


@users_app.command("token")
def users_token(
    username: Annotated[str, typer.Argument(help="service account (or person, see --hours)")],
    scope: Annotated[
        list[str] | None, typer.Option(help="service scopes: ingest, feed (repeatable)")
    ] = None,
    jurisdiction: Annotated[
        list[str] | None,
        typer.Option(help="feed: admin-code prefix (repeatable), or 'all' for every one"),
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option(help="ingest: a post source it may write (repeatable)")
    ] = None,
    ttl_days: Annotated[
        int | None,
        typer.Option(help="service token lifetime (days); default TINGFENG_API_TOKEN_TTL_DAYS"),
    ] = None,
    hours: Annotated[float, typer.Option(help="session token lifetime for a person")] = 12.0,
    name: Annotated[str, typer.Option(help="label of the token")] = "cli",
) -> None:
    """Print a new API token for a service account (shown once), or a session token for a
    person (for curl and scripts).

    Example: tingfeng users token health-commission --scope feed --jurisdiction 4201
    Example: tingfeng users token partner --scope ingest --source partner-hotline
    """
    from store.records import Role
    from triage.errors import UserError
    from triage.users import (
        audit_session_token,
        get_user,
        issue_api_token,
        issue_session_token,
    )

    settings, store = _store()
    user = get_user(store, username)
    if user is None:
        raise UserError(f"no user {username!r}", field="username", kind="missing")
    now = datetime.now(UTC)
    if user.role is Role.service:
        token, record = issue_api_token(
            store,
            username,
            name=name,
            scopes=scope or ["feed"],
            jurisdictions=jurisdiction or [],
            sources=source or [],
            ttl=timedelta(days=ttl_days or settings.api_token_ttl_days),
            now=now,
            actor="cli",
        )
        console.print(f"token {record.id} for {username} (scopes {', '.join(record.scopes)}):")
    else:
        if user.disabled:
            raise UserError(f"user {username!r} is disabled", field="username")
        token, expires = issue_session_token(
            user, settings.secret_key.get_secret_value(), now=now, ttl=timedelta(hours=hours)
        )
        audit_session_token(store, user, expires=expires, now=now, actor="cli")
        console.print(f"session token for {username} ({user.role.value}), expires {expires:%c}:")
    typer.echo(token)


@users_app.command("tokens")
def users_tokens(
    username: Annotated[str | None, typer.Argument(help="service account; all if omitted")] = None,
) -> None:
    """List API tokens (id, owner, scopes, jurisdictions, sources, expiry, revocation).

    Example: tingfeng users tokens partner
    """
    from triage.users import list_api_tokens

    _, store = _store()
    table = Table(title="API tokens")
    for col in ("id", "user", "name", "scopes", "jurisdictions", "sources", "expires", "status"):
        table.add_column(col)
    now = datetime.now(UTC)
    for t in list_api_tokens(store, username):
        expired = t.expires_at is not None and t.expires_at <= now
        status = "revoked" if t.revoked_at else "expired" if expired else "active"
        table.add_row(
            t.id,
            t.user_id,
            t.name,
            ", ".join(t.scopes),
            ", ".join(t.jurisdictions) or "-",
            ", ".join(t.sources) or "-",
            f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never",
            status,
        )
    console.print(table)


@users_app.command("revoke-token")
def users_revoke_token(
    token_id: Annotated[str, typer.Argument(help="token id (see `users tokens`)")],
) -> None:
    """Revoke an API token: it stops working at once (within seconds for a running API).

    Example: tingfeng users revoke-token 3f9a1c2d4e5b
    """
    from triage.users import revoke_api_token

    _, store = _store()
    revoke_api_token(store, token_id, now=datetime.now(UTC), actor="cli")
    console.print(f"revoked token {token_id}")


# --------------------------------------------------------------------------------------------
# triage
# --------------------------------------------------------------------------------------------


@triage_app.command("run-once")
def triage_run_once() -> None:
    """One triage pass: topics -> incidents, alerts, SLA escalation, notifications.

    Example: tingfeng triage run-once
    """
    from triage.job import TriageJob

    settings, store = _store()
    report = TriageJob.from_settings(settings, store).run_once()
    table = Table(title="triage pass")
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in (
        ("topics looked at", report.topics),
        ("incidents opened", report.opened),
        ("incidents updated", report.updated),
        ("incidents escalated", report.escalated),
        ("notifications planned", report.planned),
        ("notifications sent", report.delivery.sent),
        ("notifications retried", report.delivery.retried),
        ("notifications failed", report.delivery.failed),
        ("notifications suppressed", report.delivery.suppressed),
    ):
        table.add_row(label, str(value))
    console.print(table)
    for error in report.delivery.errors[:10]:
        console.print(f"[yellow]delivery:[/] {error}", highlight=False)
