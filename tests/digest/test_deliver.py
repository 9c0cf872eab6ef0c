"""Delivery: saved under the data dir, email at a local SMTP server (HTML + text, charts, PDF
attached), summary at a local robot webhook; the scheduler has the daily and weekly jobs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from cli.service import build_scheduler
from digest.deliver import SmtpTarget, build_email, save_digest, send_email
from digest.errors import DeliveryError
from digest.jobs import default_day, run_digest
from tests.conftest import make_settings
from tests.digest import fixture_day as fx
from tests.digest.conftest import Built
from tests.smtp import SmtpRecorder
from tests.webhook import WebhookRecorder


def test_saved_files(built: Built, tmp_path: Path) -> None:
    directory = save_digest(built.digest, built.rendered, tmp_path)
    assert directory == tmp_path / "digests" / "daily" / "2026-11-18"
    names = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}
    assert names == {
        "digest.json",
        "digest.html",
        "digest.md",
        "digest.txt",
        "digest.pdf",
        "charts/volume.png",
        "charts/states.png",
        "charts/publish.png",
    }
    saved = json.loads((directory / "digest.json").read_text("utf-8"))
    assert saved["day"] == "2026-11-18" and saved["numbers"][0]["value"] == 12
    # re-running overwrites, never duplicates
    assert save_digest(built.digest, built.rendered, tmp_path) == directory


def test_email_arrives_with_html_text_charts_and_pdf(
    built: Built, smtp_server: SmtpRecorder
) -> None:
    message = build_email(
        built.digest,
        built.rendered,
        sender="tingfeng@example.gov.cn",
        recipients=["chief@example.gov.cn", "deputy@example.gov.cn"],
    )
    send_email(message, SmtpTarget(host=smtp_server.host, port=smtp_server.port))
    assert smtp_server.recipients == [["chief@example.gov.cn", "deputy@example.gov.cn"]]
    got = smtp_server.messages[0]
    assert got["Subject"] == "听风舆情日报 2026年11月18日"
    assert got.get_content_type() == "multipart/mixed"
    text = got.get_body(preferencelist=("plain",))
    html = got.get_body(preferencelist=("html",))
    assert text is not None and "【关键数字】" in text.get_content()
    assert html is not None and "cid:volume" in html.get_content()
    parts = list(got.walk())
    images = [p for p in parts if p.get_content_type() == "image/png"]
    assert sorted(p["Content-ID"] for p in images) == ["<publish>", "<states>", "<volume>"]
    pdfs = [p for p in got.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1
    assert pdfs[0].get_filename() == "tingfeng-daily-2026-11-18.pdf"
    assert pdfs[0].get_content() == built.rendered.pdf


def test_smtp_failure_is_a_delivery_error(built: Built) -> None:
    message = build_email(built.digest, built.rendered, sender="a@b.c", recipients=["x@y.z"])
    with pytest.raises(DeliveryError, match=r"127\.0\.0\.1:9"):
        send_email(message, SmtpTarget(host="127.0.0.1", port=9, timeout=2))


def test_run_digest_saves_emails_and_posts(
    tmp_path: Path, smtp_server: SmtpRecorder, webhook_server: WebhookRecorder
) -> None:
    settings = make_settings(
        tmp_path,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        digest_recipients="chief@example.gov.cn",
        digest_webhook_url=SecretStr(webhook_server.url),
    )
    from store.sqlite import SqliteStore

    store = SqliteStore(settings.sqlite_path)
    store.init()
    result = run_digest(settings, store, kind="daily", day=fx.DAY)  # an empty day: fast
    store.close()
    assert result.errors == []
    assert (result.directory / "digest.pdf").is_file()
    assert result.emailed_to == ["chief@example.gov.cn"]
    assert len(smtp_server.messages) == 1
    assert result.webhook and len(webhook_server.received) == 1
    robot = webhook_server.received[0]["json"]
    assert robot["msgtype"] == "markdown"
    assert robot["markdown"]["title"] == "听风舆情日报 2026年11月18日"
    assert "本期无活动" in robot["markdown"]["text"]
    assert "/api/v1/digests/2026-11-18" in robot["markdown"]["text"]


def test_default_days() -> None:
    now = datetime(2026, 11, 23, 8, 0, tzinfo=fx.TZ)  # a Monday
    assert str(default_day("daily", now)) == "2026-11-22"
    assert str(default_day("weekly", now)) == "2026-11-16"


def test_scheduler_has_daily_and_weekly_digest_jobs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, digest_time="07:45", digest_weekly_day="mon")
    from store.sqlite import SqliteStore

    store = SqliteStore(settings.sqlite_path)
    scheduler = build_scheduler(settings, store)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    daily, weekly = jobs["digest-daily"], jobs["digest-weekly"]
    fields = {f.name: str(f) for f in daily.trigger.fields}
    assert (fields["hour"], fields["minute"], fields["day_of_week"]) == ("7", "45", "*")
    fields = {f.name: str(f) for f in weekly.trigger.fields}
    assert (fields["hour"], fields["minute"], fields["day_of_week"]) == ("7", "45", "mon")
    assert str(daily.trigger.timezone) == "Asia/Shanghai"
    store.close()
