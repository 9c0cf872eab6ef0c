"""The after-action report of one incident: timeline from first post to closure, time metrics,
drafts and approvals, in HTML, Markdown and PDF."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import DigestNotFound
from digest.report import build_report, write_report
from store.records import AuditEvent, Escalation, Incident
from tests.digest import fixture_day as fx
from tests.digest.conftest import Built, pdf_text


@pytest.fixture(scope="module")
def incident(built: Built) -> Incident:
    posts = fx.make_posts(built.settings)
    first, second = posts[0], posts[1]
    incident = fx.incident(
        "r1",
        category="rumor",
        severity=2,
        created_at=fx.at(0, 2),
        updated_at=fx.at(0, 20),
        state="closed",
        team="city-press",
        assignee="wang.wei",
        first_post_at=first.created_at,
        assigned_at=fx.at(0, 2, 30),
        published_at=fx.at(0, 6),
        closed_at=fx.at(0, 20),
        time_to_detect_s=7200.0,
        time_to_assign_s=1800.0,
        time_to_publish_s=14400.0,
        half_life_h=3.5,
        evidence_post_ids=[first.id, second.id],
        escalations=[Escalation(level=1, team="city-lead", clock="first_response", at=fx.at(0, 4))],
    )
    built.store.put("incidents", incident)
    events = [
        ("draft.create", "wang.wei", fx.at(0, 3), None),
        ("draft.submit", "wang.wei", fx.at(0, 4, 30), None),
        ("draft.approve", "chief", fx.at(0, 5, 30), "同意发布，注意措辞"),
        ("incident.close", "chief", fx.at(0, 20), "相关帖子量已回落"),
    ]
    built.store.put_many(
        "audit",
        [
            AuditEvent(
                id=f"e{i}",
                at=at,
                actor=actor,
                action=action,
                entity_type="incident",
                entity_id="r1",
                reason=reason,
            )
            for i, (action, actor, at, reason) in enumerate(events)
        ],
    )
    return incident


def test_timeline_metrics_and_approvals(built: Built, incident: Incident) -> None:
    report = build_report(built.store, "r1", public_url="http://x", now=fx.at(1, 8))
    whats = [e.what for e in report.timeline]
    assert whats[0] == "首条相关帖子" and whats[-1] == "事件关闭"
    assert [
        w
        for w in whats
        if w in {"事件创建", "已分派", "升级至第 1 级", "draft.approve", "发布回应"}
    ] == ["事件创建", "已分派", "升级至第 1 级", "draft.approve", "发布回应"]
    times = [e.at for e in report.timeline]
    assert times == sorted(times)
    metrics = dict(report.metrics)
    assert metrics["发现用时（首帖→事件）"] == "2.0 小时"
    assert metrics["发布用时"] == "4.0 小时"
    assert metrics["全程（首帖→关闭）"] == "20.0 小时"
    assert [(e.what, e.who) for e in report.approvals] == [
        ("draft.create", "wang.wei"),
        ("draft.submit", "wang.wei"),
        ("draft.approve", "chief"),
    ]
    assert report.evidence_total == 2


def test_html_md_and_pdf(built: Built, incident: Incident, tmp_path: Path) -> None:
    report = build_report(built.store, "r1", public_url="http://x", now=fx.at(1, 8))
    paths = write_report(report, tmp_path, tz="Asia/Shanghai")
    assert paths["pdf"] == tmp_path / "reports" / "incidents" / "r1" / "report.pdf"
    text = "\n".join(pdf_text(paths["pdf"].read_bytes()))
    for expected in (
        "事件复盘报告",
        "时间指标",
        "完整时间线",
        "稿件与审批",
        "同意发布",
        "证据帖子",
    ):
        assert expected in text, expected
    html = paths["html"].read_text("utf-8")
    assert "city-press / wang.wei" in html and "<script" not in html
    assert "draft.approve | chief | 同意发布，注意措辞 |" in paths["md"].read_text("utf-8")


def test_unknown_incident(built: Built) -> None:
    with pytest.raises(DigestNotFound, match="no incident"):
        build_report(built.store, "nope", public_url="http://x", now=fx.at(1, 8))
