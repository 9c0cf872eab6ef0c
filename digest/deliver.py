"""Where a digest goes: saved under the data dir, emailed to supervisors, posted to a robot.

Saved layout (re-running overwrites; the API serves these files):

    <data_dir>/digests/<kind>/<YYYY-MM-DD>/
        digest.json  digest.html  digest.md  digest.txt  digest.pdf  charts/<name>.png
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Literal

import httpx

from digest.errors import DeliveryError
from digest.model import Digest, Kind
from digest.render import Rendered, fmt_delta, fmt_number

log = logging.getLogger(__name__)

FILES = {
    "json": "digest.json",
    "html": "digest.html",
    "md": "digest.md",
    "txt": "digest.txt",
    "pdf": "digest.pdf",
}


def digest_dir(data_dir: Path, kind: Kind, day: str) -> Path:
    return data_dir / "digests" / kind / day


def save_digest(digest: Digest, rendered: Rendered, data_dir: Path) -> Path:
    """Write every format and chart; returns the digest's directory."""
    target = digest_dir(data_dir, digest.kind, digest.day.isoformat())
    (target / "charts").mkdir(parents=True, exist_ok=True)
    for name, png in rendered.images.items():
        (target / "charts" / f"{name}.png").write_bytes(png)
    (target / FILES["html"]).write_text(rendered.html, encoding="utf-8")
    (target / FILES["md"]).write_text(rendered.markdown, encoding="utf-8")
    (target / FILES["txt"]).write_text(rendered.text, encoding="utf-8")
    if rendered.pdf is not None:
        (target / FILES["pdf"]).write_bytes(rendered.pdf)
    else:
        (target / FILES["pdf"]).unlink(missing_ok=True)  # never a stale PDF beside new HTML
    # json last: its presence marks a complete digest for the API
    (target / FILES["json"]).write_text(digest.model_dump_json(indent=2), encoding="utf-8")
    log.info("digest saved: %s", target)
    return target


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int = 25
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password: str | None = None
    sender: str = "tingfeng@localhost"
    timeout: float = 30.0


def build_email(
    digest: Digest, rendered: Rendered, *, sender: str, recipients: Sequence[str]
) -> EmailMessage:
    """multipart/mixed: alternative(text, related(html, charts)) + the PDF attached."""
    message = EmailMessage()
    message["Subject"] = digest.title
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="tingfeng.local")
    message["X-Tingfeng-Digest"] = f"{digest.kind}/{digest.day}"
    message.set_content(rendered.text, charset="utf-8")
    message.add_alternative(rendered.email_html, subtype="html", charset="utf-8")
    html_part = message.get_body(preferencelist=("html",))
    assert isinstance(html_part, EmailMessage)
    for name, png in rendered.images.items():
        html_part.add_related(png, "image", "png", cid=f"<{name}>", filename=f"{name}.png")
    if rendered.pdf is not None:
        message.add_attachment(
            rendered.pdf,
            maintype="application",
            subtype="pdf",
            filename=f"tingfeng-{digest.kind}-{digest.day}.pdf",
        )
    return message


def send_email(message: EmailMessage, smtp: SmtpTarget) -> None:
    smtp_cls = smtplib.SMTP_SSL if smtp.security == "ssl" else smtplib.SMTP
    try:
        with smtp_cls(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username and smtp.password:
                if smtp.security not in ("starttls", "ssl"):  # never a password in clear text
                    raise DeliveryError(
                        f"SMTP server {smtp.host}: refusing to log in without TLS; set "
                        "TINGFENG_SMTP_SECURITY=starttls or ssl"
                    )
                client.login(smtp.username, smtp.password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"email to {message['To']} via {smtp.host}:{smtp.port}: {exc}") from exc
    log.info("digest emailed to %s", message["To"])


def summary_markdown(digest: Digest) -> str:
    """A short robot message: headline numbers, what needs a decision, the link."""
    lines = [f"### {digest.title}"]
    if digest.empty:
        lines.append("本期无活动（无新帖子、事件或回应）。")
    for key in ("posts", "rumors", "help", "opened", "sla_breaches"):
        n = digest.number(key)
        change = fmt_delta(n.value, n.previous)
        lines.append(f"- {n.label}：**{fmt_number(n.value)}**{n.unit} {change}".rstrip())
    if digest.decisions:
        lines.append(f"- 需要决定的事件：**{len(digest.decisions)}** 件")
        for incident in digest.decisions[:3]:
            lines.append(f"  - {incident.severity} 级 [{incident.title}]({incident.link})")
    if digest.coverage or digest.alerts:
        lines.append(f"- 采集覆盖缺口：{len(digest.coverage) + len(digest.alerts)} 处")
    lines.append(f"- [查看完整报告]({digest.link})")
    return "\n".join(lines)


def post_webhook(
    client: httpx.Client,
    url: str,
    digest: Digest,
    *,
    fmt: str = "dingtalk",
    secret: str | None = None,
) -> None:
    """Post the summary to a DingTalk/WeCom robot (same message formats as triage)."""
    from triage.notify import dingtalk_signed, webhook_payload

    target = dingtalk_signed(url, secret) if secret else url
    payload: dict[str, Any] = webhook_payload(fmt, digest.title, summary_markdown(digest))
    try:
        response = client.post(target, json=payload)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("errcode") not in (None, 0):
        raise DeliveryError(f"webhook refused: errcode {body.get('errcode')} {body.get('errmsg')}")
    log.info("digest posted to webhook")
