"""Notification formats and alert-fatigue pieces: robot payloads (DingTalk, WeCom), DingTalk
signing, quiet-hour windows, the auth rate limiter; and a WeCom webhook end to end."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from api.limits import RateLimiter
from store import Settings, Store
from store.records import Notification
from tests.triage.factories import help_cluster, make_topic, write
from tests.webhook import WebhookRecorder
from triage.job import TriageJob
from triage.notify import Notifier, QuietHours, dingtalk_signed, webhook_payload

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_robot_payloads() -> None:
    ding = webhook_payload("dingtalk", "标题", "### 标题\n- a")
    assert ding == {"msgtype": "markdown", "markdown": {"title": "标题", "text": "### 标题\n- a"}}
    wecom = webhook_payload("wecom", "标题", "### 标题\n- a")
    assert wecom == {"msgtype": "markdown", "markdown": {"content": "### 标题\n- a"}}


def test_dingtalk_signature() -> None:
    url = dingtalk_signed(
        "https://oapi.dingtalk.com/robot/send?access_token=t", "SEC123", 1700000000000
    )
    query = parse_qs(urlsplit(url).query)
    assert query["access_token"] == ["t"] and query["timestamp"] == ["1700000000000"]
    digest = hmac.new(b"SEC123", b"1700000000000\nSEC123", hashlib.sha256).digest()
    assert query["sign"] == [base64.b64encode(digest).decode()]


def test_quiet_hours_over_midnight_and_within_a_day() -> None:
    night = QuietHours.parse("23:00-07:00")
    assert night is not None and QuietHours.parse("  ") is None

    def at(hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 3, 1, hour, minute, tzinfo=SHANGHAI)

    assert night.contains(at(23, 30)) and night.contains(at(3)) and not night.contains(at(7))
    assert not night.contains(at(12))
    assert night.ends_after(at(23, 30)) == datetime(2026, 3, 2, 7, 0, tzinfo=SHANGHAI)
    assert night.ends_after(at(3)) == datetime(2026, 3, 1, 7, 0, tzinfo=SHANGHAI)
    lunch = QuietHours.parse("12:00-13:30")
    assert lunch is not None and lunch.contains(at(12, 45)) and not lunch.contains(at(13, 30))


def test_rate_limiter_window() -> None:
    now = [100.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    assert limiter.hit("a") is None and limiter.hit("a") is None
    assert limiter.hit("a") == 60
    assert limiter.hit("b") is None  # per key
    now[0] += 30
    assert limiter.hit("a") == 30
    now[0] += 31
    assert limiter.hit("a") is None


def test_wecom_webhook_end_to_end(
    store: Store, settings: Settings, webhook_server: WebhookRecorder
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    posts = help_cluster(settings, now)
    write(store, posts, [make_topic("topic-help", "江岸区求助", posts, now=now)])
    notifier = Notifier(
        team_webhooks={"jiangan-district": webhook_server.url},
        default_webhook=None,
        webhook_format="wecom",
    )
    job = TriageJob(store, playbook_path=None, notifier=notifier)
    job.run_once(now)
    store.refresh()
    job.run_once(now)
    [message] = webhook_server.received
    assert set(message["json"]) == {"msgtype", "markdown"}
    content = message["json"]["markdown"]["content"]
    assert "江岸区应急联动中心" in content and "求助" in content
    store.refresh()
    [note] = store.find("notifications", Notification)
    assert (note.team, note.channel, note.status) == ("jiangan-district", "webhook", "sent")
