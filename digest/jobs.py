"""Build, save and deliver a digest: what `tingfeng digest` and the scheduled jobs run."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
from apscheduler.schedulers.base import BaseScheduler

from digest.charts import render_charts
from digest.collect import collect_digest, monday_of
from digest.deliver import SmtpTarget, build_email, post_webhook, save_digest, send_email
from digest.errors import DeliveryError
from digest.fonts import find_cjk_font_or_none
from digest.model import Digest, Kind
from digest.render import Rendered, render_digest
from digest.series import collect_series
from store import Settings, Store

log = logging.getLogger(__name__)


@dataclass
class DigestResult:
    digest: Digest
    directory: Path
    emailed_to: list[str] = field(default_factory=list)
    webhook: bool = False
    errors: list[str] = field(default_factory=list)
    pdf_off: str | None = None  # why no PDF was made (a missing system package)


def make_digest(
    store: Store,
    *,
    kind: Kind,
    day: date,
    tz: str,
    public_url: str,
    font_path: Path | None = None,
    now: datetime | None = None,
) -> tuple[Digest, Rendered]:
    """Collect the numbers, draw the charts (none for an empty period), render every format."""
    font = find_cjk_font_or_none(font_path)
    digest = collect_digest(store, kind=kind, day=day, tz=tz, public_url=public_url, now=now)
    images: dict[str, bytes] = {}
    if not digest.empty and font is not None:  # no CJK font: no charts (they would be tofu)
        images = render_charts(digest, collect_series(store, digest), font)
    return digest, render_digest(digest, images, font)


def recipients(settings: Settings) -> list[str]:
    return [a.strip() for a in settings.digest_recipients.split(",") if a.strip()]


def smtp_target(settings: Settings) -> SmtpTarget | None:
    if not settings.smtp_host:
        return None
    return SmtpTarget(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        sender=settings.smtp_from,
    )


def default_day(kind: Kind, now: datetime) -> date:
    """Yesterday for a daily digest; last week's Monday for a weekly one."""
    today = now.date()
    if kind == "daily":
        return today - timedelta(days=1)
    return monday_of(today) - timedelta(days=7)


def run_digest(
    settings: Settings,
    store: Store,
    *,
    kind: Kind = "daily",
    day: date | None = None,
    deliver: bool = True,
    now: datetime | None = None,
) -> DigestResult:
    """Build and save a digest, then email and post it where configured. A delivery failure is
    logged and reported in the result; the saved digest stands."""
    now = now or datetime.now(settings.tz)
    day = day or default_day(kind, now.astimezone(settings.tz))
    digest, rendered = make_digest(
        store,
        kind=kind,
        day=day,
        tz=settings.timezone,
        public_url=settings.public_url,
        font_path=settings.digest_font,
        now=now,
    )
    result = DigestResult(digest, save_digest(digest, rendered, settings.data_dir))
    result.pdf_off = rendered.pdf_off
    if not deliver:
        return result
    if rendered.pdf_off:
        log.warning("digest %s/%s: PDF off: %s", kind, day, rendered.pdf_off)
    to = recipients(settings)
    smtp = smtp_target(settings)
    if to and smtp:
        try:
            send_email(build_email(digest, rendered, sender=smtp.sender, recipients=to), smtp)
            result.emailed_to = to
        except DeliveryError as exc:
            log.error("digest email failed: %s", exc)
            result.errors.append(str(exc))
    elif to:
        log.warning("digest recipients set but TINGFENG_SMTP_HOST is not; no email sent")
    if settings.digest_webhook_url:
        secret = settings.notify_webhook_secret
        try:
            with httpx.Client(timeout=15) as client:
                post_webhook(
                    client,
                    settings.digest_webhook_url.get_secret_value(),
                    digest,
                    fmt=settings.notify_webhook_format,
                    secret=secret.get_secret_value() if secret else None,
                )
            result.webhook = True
        except DeliveryError as exc:
            log.error("digest webhook failed: %s", exc)
            result.errors.append(str(exc))
    log.info(
        "%s digest %s: %s, emailed to %d, webhook %s, %d errors",
        kind,
        day,
        result.directory,
        len(result.emailed_to),
        result.webhook,
        len(result.errors),
    )
    return result


def scheduled_digest(settings: Settings, store: Store, kind: Kind) -> None:
    """APScheduler entry point: never raises (a failing digest must not stop the scheduler)."""
    try:
        run_digest(settings, store, kind=kind)
    except Exception:
        log.exception("%s digest failed", kind)


def add_digest_jobs(scheduler: BaseScheduler, settings: Settings, store: Store) -> None:
    """Daily at TINGFENG_DIGEST_TIME (yesterday's digest) and weekly on
    TINGFENG_DIGEST_WEEKLY_DAY at the same time (last week's digest), in TINGFENG_TIMEZONE."""
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    scheduler.add_job(
        scheduled_digest,
        "cron",
        hour=hour,
        minute=minute,
        id="digest-daily",
        args=[settings, store, "daily"],
        misfire_grace_time=3600,
    )
    scheduler.add_job(
        scheduled_digest,
        "cron",
        day_of_week=settings.digest_weekly_day,
        hour=hour,
        minute=minute,
        id="digest-weekly",
        args=[settings, store, "weekly"],
        misfire_grace_time=3600,
    )
