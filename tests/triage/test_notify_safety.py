"""Crawled text and secrets in notifications: a title with a line break still e-mails, Markdown
in crawled text renders as text in robot messages, and a failing robot webhook leaves its
access_token / sign in no error field, log line or CLI output. SMTP refuses a clear-text login."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from pydantic import ValidationError

from store import Settings, Store
from store.records import Incident, Notification
from tests.conftest import TEST_KEYS, make_settings, open_backend
from tests.smtp import SmtpRecorder
from tests.triage.factories import make_topic, rumor_wave, write
from tests.webhook import WebhookRecorder
from triage.job import TriageJob
from triage.notify import (
    InsecureLogin,
    Notifier,
    SmtpConfig,
    md_text,
    one_line,
    render,
    require_tls_for_login,
)
from triage.playbook import current_playbook

EVIL_TITLE = (
    "网传全市封城\r\nBcc: everyone@example.com\n"
    "[点此领取补贴](http://evil.example/phish) ![x](http://evil.example/i.png) "
    "**紧急** <a href='http://evil.example/a'>官方</a> 详见 https://evil.example/b\x00\x1b"
)
TOKEN, SIGN_SECRET = "SECRET-ACCESS-TOKEN-42", "SEC-SIGNING-SECRET-99"


def rendered_links(markdown: str) -> list[str]:
    html = MarkdownIt("commonmark").render(markdown)
    return [part for part in ("<a ", "<img", "<h1", "<em", "<strong", 'href="') if part in html]


def test_one_line_and_markdown_text() -> None:
    assert one_line(" a\r\n\tb\x00c\u2028d  ") == "a b c d"
    safe = md_text(EVIL_TITLE)
    assert "\n" not in safe and "](" not in safe and "://" not in safe
    assert rendered_links(f"- {safe}") == []
    assert "网传全市封城" in safe and "点此领取补贴" in safe  # still readable


def test_hostile_title_emails_and_robot_shows_text(
    store: Store, settings: Settings, webhook_server: WebhookRecorder, smtp_server: SmtpRecorder
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    posts = rumor_wave(settings, now)
    write(store, posts, [make_topic("topic-lockdown", EVIL_TITLE, posts, now=now, burst_ratio=5)])
    notifier = Notifier(
        default_webhook=webhook_server.url,
        smtp=SmtpConfig(host=smtp_server.host, port=smtp_server.port),
    )
    job = TriageJob(store, playbook_path=None, notifier=notifier)
    for _ in range(2):
        job.run_once(now)
        store.refresh()
    notes = store.find("notifications", Notification)
    assert sorted((n.channel, n.status) for n in notes) == [("email", "sent"), ("webhook", "sent")]
    [mail] = smtp_server.messages
    assert "\n" not in str(mail["Subject"]) and "网传全市封城" in str(mail["Subject"])
    assert mail["Bcc"] is None and smtp_server.recipients == [["rumor-desk@example.gov.cn"]]
    [robot] = webhook_server.received
    text = robot["json"]["markdown"]["text"]
    assert rendered_links(text) == [] and "evil.example/" not in text.replace("：//", "")
    assert "\n" not in robot["json"]["markdown"]["title"]

    # an incident stored with a raw title (older data, other writers) renders safely too
    [incident] = store.find("incidents", Incident)
    incident.title = EVIL_TITLE
    subject, body = render(
        incident, current_playbook(None), event="opened", team_id=incident.team or "",
        clock=None, public_url="http://127.0.0.1:8000", tz=settings.tz,
    )  # fmt: skip
    assert "\n" not in subject and "\r" not in subject
    assert rendered_links(body) == []


def test_failing_webhook_keeps_its_secrets(
    store: Store, settings: Settings, webhook_server: WebhookRecorder, caplog: pytest.LogCaptureFixture
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="triage")
    now = datetime.now(UTC).replace(microsecond=0)
    posts = rumor_wave(settings, now)
    write(store, posts, [make_topic("topic-lockdown", "封城谣言", posts, now=now, burst_ratio=5)])
    url = webhook_server.url.replace("access_token=test", f"access_token={TOKEN}")
    notifier = Notifier(default_webhook=url, webhook_secret=SIGN_SECRET)
    webhook_server.fail_next = 10
    job = TriageJob(store, playbook_path=None, notifier=notifier)
    job.run_once(now)
    store.refresh()
    report = job.run_once(now)
    store.refresh()
    [note] = store.find("notifications", Notification)
    host = url.split("/")[2]
    assert note.last_error == f"HTTP 500 from {host}"
    everything = " ".join([note.last_error or "", caplog.text, *report.delivery.errors])
    assert TOKEN not in everything and "sign=" not in everything and SIGN_SECRET not in everything


def test_failing_webhook_cli_output_and_logs_keep_secrets(
    tmp_path: Path, webhook_server: WebhookRecorder
) -> None:
    """The operator's view: `tingfeng -v triage run-once` (library logs on) prints the failure
    with status and host, and neither stdout nor stderr carries the token or the sign."""
    settings = make_settings(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    store = open_backend("sqlite", settings, None)
    posts = rumor_wave(settings, now)
    write(store, posts, [make_topic("topic-lockdown", "封城谣言", posts, now=now, burst_ratio=5)])
    store.close()
    url = webhook_server.url.replace("access_token=test", f"access_token={TOKEN}")
    webhook_server.fail_next = 10
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TINGFENG_")},
        "TINGFENG_PSEUDONYM_KEY": TEST_KEYS["pseudonym_key"],
        "TINGFENG_SECRET_KEY": TEST_KEYS["secret_key"],
        "TINGFENG_DATA_DIR": str(settings.data_dir),
        "TINGFENG_NOTIFY_WEBHOOK_URL": url,
        "TINGFENG_NOTIFY_WEBHOOK_SECRET": SIGN_SECRET,
        "COLUMNS": "200",
    }
    outputs = []
    for _ in range(2):  # plan and deliver; then a pass with nothing to do
        proc = subprocess.run(
            [sys.executable, "-m", "cli.main", "-v", "triage", "run-once"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs.append(proc.stdout + proc.stderr)
    host = url.split("/")[2]
    assert f"HTTP 500 from {host}" in outputs[0]  # in the table's error lines and the log
    assert "POST http://" in outputs[0]  # the HTTP client's own line is there (-v) ...
    for out in outputs:  # ... with its secrets replaced
        assert TOKEN not in out and SIGN_SECRET not in out
        assert "sign=" not in out.replace("sign=***", "")


def test_smtp_login_needs_tls(tmp_path: Path, smtp_server: SmtpRecorder) -> None:
    with pytest.raises(ValidationError, match="SMTP_SECURITY"):
        make_settings(tmp_path, smtp_host="127.0.0.1", smtp_username="u", smtp_password="p")
    with pytest.raises(InsecureLogin, match="without TLS"):
        require_tls_for_login("none", "mail.example.gov.cn")
    require_tls_for_login("starttls", "mail.example.gov.cn")
    # a notifier built by hand with a clear-text login refuses before any password is sent
    notifier = Notifier(
        smtp=SmtpConfig(host=smtp_server.host, port=smtp_server.port, username="u", password="p")
    )
    note = Notification(
        id="n1", incident_id="i1", event="opened", team="t", channel="email",
        recipients=["a@example.gov.cn"], severity=2, subject="s", body="b",
        created_at=datetime.now(UTC), not_before=datetime.now(UTC),
    )  # fmt: skip
    with pytest.raises(InsecureLogin):
        notifier._send_email(note)
    assert smtp_server.messages == []
