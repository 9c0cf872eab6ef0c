"""Notifications: robot webhooks (DingTalk / WeCom markdown) and SMTP email.

Alert-fatigue control:
- dedup: a notification's id is a hash of (incident, event, level, clock, team, channel), and a
  planned one is never planned again, so re-running the job never sends twice;
- cooldown: a team hears about one incident at most once per cooldown on a channel, except
  escalations and severity 1 (a suppressed notification is kept, with the reason);
- quiet hours: outside severity 1, notifications planned in quiet hours wait until they end.

`plan` writes pending notifications (cheap, inside the job's incident pass); `deliver_due` sends
what is due, retrying failures with back-off (3 attempts). Webhook URLs are secrets and come
from settings, never from the playbook or the stored records.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import smtplib
import ssl
import time as _time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from typing import Any, Literal
from urllib.parse import quote_plus, urlsplit
from zoneinfo import ZoneInfo

import httpx

from store.base import Store
from store.records import Incident, Notification, make_id
from store.settings import Settings
from triage.playbook import Playbook

log = logging.getLogger(__name__)

NOTIFICATIONS = "notifications"
MAX_ATTEMPTS = 3
SHANGHAI = ZoneInfo("Asia/Shanghai")
CATEGORY_NAMES = {
    "rumor": "谣言",
    "help_request": "求助",
    "public_demand": "诉求",
    "public_order": "公共秩序",
    "supplies_logistics": "物资保供",
    "other": "其他",
}
EVENT_NAMES = {
    "opened": "新事件",
    "escalated": "升级",
    "severity_raised": "严重度上升",
    "reassigned": "转派",
}


class RobotRefused(Exception):
    """The robot answered HTTP 200 with a non-zero errcode (bad keyword, rate limit...)."""

    def __init__(self, errcode: str) -> None:
        super().__init__(f"robot refused: errcode {errcode}")
        self.errcode = errcode


class InsecureLogin(Exception):
    """SMTP credentials are configured but the connection is not encrypted."""


def require_tls_for_login(security: str, host: str) -> None:
    """Refuse to send an SMTP password in clear text: a login needs `starttls` or `ssl`."""
    if security not in ("starttls", "ssl"):
        raise InsecureLogin(
            f"SMTP server {host}: refusing to log in without TLS; set "
            "TINGFENG_SMTP_SECURITY=starttls or ssl (or drop the username and password)"
        )


def webhook_host(url: str) -> str:
    """host[:port] of a webhook URL: what errors and logs may say about it."""
    try:
        return urlsplit(url).netloc.rsplit("@", 1)[-1] or "webhook"
    except ValueError:
        return "webhook"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password: str | None = None
    sender: str = "tingfeng@localhost"


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        if not text.strip():
            return None
        a, b = text.strip().split("-")
        return cls(time.fromisoformat(a), time.fromisoformat(b))

    def contains(self, local: datetime) -> bool:
        t = local.time()
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # over midnight

    def ends_after(self, local: datetime) -> datetime:
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        return end if end > local else end + timedelta(days=1)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    suppressed: int = 0
    errors: list[str] = field(default_factory=list)


# Characters robot Markdown (DingTalk, WeCom) reads as syntax, swapped for their full-width
# look-alikes: crawled text reads the same but cannot make a link, heading, image or emphasis.
_MARKDOWN_LOOKALIKES = str.maketrans(
    {"[": "［", "]": "］", "(": "（", ")": "）", "<": "＜", ">": "＞", "*": "＊", "_": "＿",
     "`": "｀", "#": "＃", "!": "！", "|": "｜", "~": "～", "\\": "＼"}
)  # fmt: skip


def one_line(text: str) -> str:
    """Control characters and line breaks become spaces, runs of spaces one space (a header
    such as an e-mail Subject must be one line; a title must not start a new Markdown block)."""
    chars = (" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join("".join(chars).split())


def md_text(text: str) -> str:
    """Crawled text made inert in robot Markdown: one line, syntax characters swapped for
    full-width look-alikes, URL schemes broken (`http：//`) so nothing renders as a link."""
    text = one_line(text).translate(_MARKDOWN_LOOKALIKES)
    return text.replace("://", "：//").replace("www.", "www．")


def _fmt(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%m-%d %H:%M") if value else "-"


def render(
    incident: Incident,
    playbook: Playbook,
    *,
    event: str,
    team_id: str,
    clock: str | None,
    public_url: str,
    tz: ZoneInfo,
) -> tuple[str, str]:
    """Subject and markdown body of a message (also readable as plain text)."""
    category = CATEGORY_NAMES.get(incident.category, incident.category)
    event_name = EVENT_NAMES.get(event, event)
    title = one_line(incident.title)[:60]
    subject = f"[听风 S{incident.severity}] {event_name}·{category}: {title}"
    try:
        owner = playbook.team(incident.team).name if incident.team else "-"
    except KeyError:
        owner = incident.team or "-"
    place = (
        md_text(f"{incident.jurisdiction_name or ''} ({incident.jurisdiction})")
        if incident.jurisdiction
        else "-"
    )
    heading = f"[听风 S{incident.severity}] {event_name}·{category}: {md_text(title)}"
    lines = [
        f"### {heading}",
        f"- 事件 incident: {incident.id}",
        f"- 类别 category: {category} · 严重度 severity: {incident.severity}"
        + (f" (score {incident.severity_score:.2f})" if incident.severity_score else ""),
        f"- 辖区 jurisdiction: {place}",
        f"- 负责 team: {md_text(owner)} · 状态 state: {incident.state.value}",
        f"- 帖子 posts: {incident.post_count or len(incident.evidence_post_ids)}",
    ]
    for hit in incident.signals[:3]:
        lines.append(f"- 触发 signal {md_text(hit.rule)}: {md_text(hit.why)}")
    for clock_ in incident.sla:
        status = "met" if clock_.met_at else ("BREACHED" if clock_.breached else "due")
        lines.append(f"- SLA {clock_.name}: {status} {_fmt(clock_.due_at, tz)}")
    if event == "escalated":
        lines.append(
            f"- 升级 escalation: level {incident.escalation_level} → {team_id} ({clock} breached)"
        )
    lines.append(f"- 查看 open: {public_url.rstrip('/')}/api/v1/incidents/{incident.id}")
    return subject, "\n".join(lines)


def webhook_payload(fmt: str, subject: str, body: str) -> dict[str, Any]:
    """A robot message: DingTalk `markdown` (title + text) or WeCom `markdown` (content)."""
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": body}}
    return {"msgtype": "markdown", "markdown": {"title": subject, "text": body}}


def dingtalk_signed(url: str, secret: str, now_ms: int | None = None) -> str:
    """The webhook URL with DingTalk's 加签 parameters (timestamp + HMAC-SHA256 sign)."""
    stamp = now_ms if now_ms is not None else int(_time.time() * 1000)
    digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={stamp}&sign={quote_plus(base64.b64encode(digest))}"


class Notifier:
    """Plans and delivers notifications. Takes plain values; `from_settings` builds one."""

    def __init__(
        self,
        *,
        team_webhooks: dict[str, str] | None = None,
        default_webhook: str | None = None,
        webhook_format: str = "dingtalk",
        webhook_secret: str | None = None,
        smtp: SmtpConfig | None = None,
        cooldown: timedelta = timedelta(minutes=30),
        quiet: QuietHours | None = None,
        tz: ZoneInfo = SHANGHAI,
        public_url: str = "http://127.0.0.1:8000",
        timeout: float = 5.0,
    ) -> None:
        self.team_webhooks = dict(team_webhooks or {})
        self.default_webhook = default_webhook
        self.webhook_format = webhook_format
        self.webhook_secret = webhook_secret
        self.smtp = smtp
        self.cooldown = cooldown
        self.quiet = quiet
        self.tz = tz
        self.public_url = public_url
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        smtp = None
        if settings.smtp_host:
            smtp = SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=settings.smtp_security,
                username=settings.smtp_username,
                password=settings.smtp_password.get_secret_value()
                if settings.smtp_password
                else None,
                sender=settings.smtp_from,
            )
        return cls(
            team_webhooks=settings.notify_team_webhooks,
            default_webhook=settings.notify_webhook_url.get_secret_value()
            if settings.notify_webhook_url
            else None,
            webhook_format=settings.notify_webhook_format,
            webhook_secret=settings.notify_webhook_secret.get_secret_value()
            if settings.notify_webhook_secret
            else None,
            smtp=smtp,
            cooldown=timedelta(minutes=settings.notify_cooldown_minutes),
            quiet=QuietHours.parse(settings.quiet_hours),
            tz=settings.tz,
            public_url=settings.public_url,
        )

    def webhook_for(self, team_id: str) -> str | None:
        return self.team_webhooks.get(team_id) or self.default_webhook

    # -- planning --------------------------------------------------------------------------
    def plan(
        self,
        store: Store,
        incident: Incident,
        playbook: Playbook,
        *,
        event: str,
        team_id: str,
        now: datetime,
        level: int = 0,
        clock: str | None = None,
    ) -> list[Notification]:
        """Pending notifications for one event to one team (none twice; see module doc)."""
        try:
            team = playbook.team(team_id)
        except KeyError:
            log.warning("incident %s: team %r is not in the playbook", incident.id, team_id)
            return []
        channels: list[tuple[Literal["webhook", "email"], list[str]]] = []
        if team.webhook and self.webhook_for(team.id):
            channels.append(("webhook", []))
        if team.email and self.smtp is not None:
            channels.append(("email", list(team.email)))
        subject, body = render(
            incident,
            playbook,
            event=event,
            team_id=team_id,
            clock=clock,
            public_url=self.public_url,
            tz=self.tz,
        )
        not_before, reason = now, None
        if self.quiet and incident.severity != 1:
            local = now.astimezone(self.tz)
            if self.quiet.contains(local):
                not_before, reason = self.quiet.ends_after(local), "quiet_hours"
        planned = []
        for channel, recipients in channels:
            severity_key = str(incident.severity) if event == "severity_raised" else ""
            ident = make_id(
                "notification",
                incident.id,
                event,
                str(level),
                clock or "",
                severity_key,
                team.id,
                channel,
            )
            if store.get(NOTIFICATIONS, ident, Notification) is not None:
                continue
            note = Notification(
                id=ident,
                incident_id=incident.id,
                event=event,
                team=team.id,
                channel=channel,
                recipients=recipients,
                severity=incident.severity,
                level=level,
                reason=reason,
                subject=subject,
                body=body,
                created_at=now,
                not_before=not_before,
            )
            store.put(NOTIFICATIONS, note)
            planned.append(note)
        return planned

    # -- delivery --------------------------------------------------------------------------
    def _cooling(self, store: Store, note: Notification, now: datetime) -> bool:
        if note.event == "escalated" or note.severity == 1 or not self.cooldown:
            return False
        recent = store.find(
            NOTIFICATIONS,
            Notification,
            where={
                "incident_id": note.incident_id,
                "team": note.team,
                "channel": note.channel,
                "status": "sent",
            },
            ranges={"sent_at": (now - self.cooldown, None)},
            size=1,
        )
        return bool(recent)

    def deliver_due(self, store: Store, now: datetime, *, limit: int = 200) -> DeliveryReport:
        report = DeliveryReport()
        due = store.find(
            NOTIFICATIONS,
            Notification,
            where={"status": "pending"},
            ranges={"not_before": (None, now + timedelta(milliseconds=1))},
            sort="created_at",
            size=limit,
        )
        with httpx.Client(timeout=self.timeout) as client:
            for note in due:
                if self._cooling(store, note, now):
                    note.status, note.reason = "suppressed", "cooldown"
                    store.put(NOTIFICATIONS, note)
                    report.suppressed += 1
                    continue
                note.attempts += 1
                try:
                    if note.channel == "webhook":
                        self._send_webhook(client, note)
                    else:
                        self._send_email(note)
                except Exception as exc:  # any delivery failure is recorded and retried
                    note.last_error = self._describe_failure(note, exc)[:500]
                    if note.attempts >= MAX_ATTEMPTS:
                        note.status, note.reason = "failed", "error"
                        report.failed += 1
                    else:
                        note.not_before = now + timedelta(minutes=2**note.attempts)
                        report.retried += 1
                    report.errors.append(f"{note.channel} to {note.team}: {note.last_error}")
                    log.warning("notification %s failed: %s", note.id, note.last_error)
                else:
                    note.status, note.sent_at = "sent", now
                    report.sent += 1
                store.put(NOTIFICATIONS, note)
        return report

    def _describe_failure(self, note: Notification, exc: Exception) -> str:
        """What went wrong, without secrets: a webhook URL carries its access_token (and the
        DingTalk sign) in the query, and httpx puts the URL in its messages, so a webhook
        failure is told by status and host only."""
        if note.channel != "webhook":
            return f"{type(exc).__name__}: {exc}"
        host = webhook_host(self.webhook_for(note.team) or "")
        if isinstance(exc, httpx.HTTPStatusError):
            return f"HTTP {exc.response.status_code} from {host}"
        if isinstance(exc, RobotRefused):
            return f"robot at {host} refused: errcode {exc.errcode}"
        return f"{type(exc).__name__} contacting {host}"

    def _send_webhook(self, client: httpx.Client, note: Notification) -> None:
        url = self.webhook_for(note.team)
        if not url:
            raise RuntimeError(f"no webhook configured for team {note.team!r}")
        if self.webhook_secret:
            url = dingtalk_signed(url, self.webhook_secret)
        resp = client.post(url, json=webhook_payload(self.webhook_format, note.subject, note.body))
        resp.raise_for_status()
        try:
            data = resp.json()
        except ValueError:
            return
        if isinstance(data, dict) and data.get("errcode") not in (None, 0):
            raise RobotRefused(str(data.get("errcode")))

    def _send_email(self, note: Notification) -> None:
        if self.smtp is None:
            raise RuntimeError("SMTP is not configured (TINGFENG_SMTP_HOST)")
        cfg = self.smtp
        message = EmailMessage()
        message["Subject"] = one_line(note.subject)
        message["From"] = cfg.sender
        message["To"] = ", ".join(note.recipients)
        message["X-Tingfeng-Incident"] = note.incident_id
        message.set_content(note.body)
        smtp_cls = smtplib.SMTP_SSL if cfg.security == "ssl" else smtplib.SMTP
        with smtp_cls(cfg.host, cfg.port, timeout=self.timeout) as smtp:
            if cfg.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username and cfg.password:
                require_tls_for_login(cfg.security, cfg.host)
                smtp.login(cfg.username, cfg.password)
            smtp.send_message(message)
