"""Source health: stats of every run, coverage-gap and credentials alerts, status per source.

After each crawl, `record_run` stores a `SourceRun` (kind "source-runs") and `evaluate_alerts`
raises or resolves `Alert` records (kind "alerts"):

- `coverage_gap`: the source failed its last `max_failures` runs, or its newest post is older
  than its `freshness_limit`;
- `credentials_expired`: the last run hit a login wall or captcha (cookie/token to renew).

An alert stays open (one per source and kind) until the condition clears; its id is derived
from source, kind and the time it was raised, so re-evaluating never duplicates it.
`source_health` is what `tingfeng sources status` and `GET /api/v1/sources` show.
No Scrapy import here: the API uses this module.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from crawlers.sources import SourceBase, SourceSet
from store.base import PostQuery, Store
from store.records import Alert, SourceRun, make_id

FAILED = frozenset({"failed", "credentials_expired", "blocked"})
RUNS = "source-runs"
ALERTS = "alerts"


@dataclass
class RunStats:
    """Counters of one crawl of one source. Items: fetched = new + duplicate + dropped."""

    source: str
    started_at: datetime
    pages: int = 0
    fetched: int = 0
    new: int = 0
    duplicate: int = 0
    updated: int = 0
    skipped_known: int = 0
    not_modified: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # requests the host guard refused
    status: str | None = None
    reason: str | None = None
    newest_post_at: datetime | None = None

    def drop(self, reason: str) -> None:
        self.dropped[reason] += 1

    def error(self, kind: str) -> None:
        self.errors[kind] += 1

    def stop(self, status: str, reason: str) -> None:
        """Mark the run as stopped for a reason that needs a person (first reason wins)."""
        if self.status is None:
            self.status, self.reason = status, reason

    def saw_post(self, created_at: datetime) -> None:
        if self.newest_post_at is None or created_at > self.newest_post_at:
            self.newest_post_at = created_at


def run_status(stats: RunStats, close_reason: str) -> str:
    if stats.status:
        return stats.status
    if close_reason in ("shutdown", "cancelled"):
        return "interrupted"
    if stats.pages == 0:
        return "failed"
    return "ok"


def record_run(
    store: Store, source: SourceBase, stats: RunStats, *, finished_at: datetime, close_reason: str
) -> SourceRun:
    """Store the run's stats, then raise/resolve the source's alerts."""
    detail = {
        "pages": stats.pages,
        "dropped": dict(stats.dropped),
        "errors": dict(stats.errors),
        "retries": dict(stats.retries),
        "refused": dict(stats.refused),
        "updated": stats.updated,
        "skipped_known": stats.skipped_known,
        "not_modified": stats.not_modified,
        "close_reason": close_reason,
        "reason": stats.reason,
        "duration_s": round((finished_at - stats.started_at).total_seconds(), 3),
    }
    run = SourceRun(
        id=make_id("run", source.name, stats.started_at.isoformat()),
        source=source.name,
        started_at=stats.started_at,
        finished_at=finished_at,
        status=run_status(stats, close_reason),
        fetched=stats.fetched,
        new=stats.new,
        duplicate=stats.duplicate,
        dropped=sum(stats.dropped.values()),
        errors=sum(stats.errors.values()),
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
        newest_post_at=stats.newest_post_at,
    )
    store.put(RUNS, run)
    evaluate_alerts(store, source, now=finished_at, latest=run)
    return run


def recent_runs(store: Store, source: str, size: int = 20) -> list[SourceRun]:
    return store.find(
        RUNS, SourceRun, where={"source": source}, sort="started_at", descending=True, size=size
    )


def newest_post_at(store: Store, source: str) -> datetime | None:
    page = store.search_posts(PostQuery(terms={"source": [source]}), size=1, sort="-created_at")
    return page.posts[0].created_at if page.posts else None


def open_alerts(store: Store, source: str) -> list[Alert]:
    alerts = store.find(
        ALERTS, Alert, where={"source": source}, sort="raised_at", descending=True, size=50
    )
    return [a for a in alerts if a.resolved_at is None]


def _consecutive_failures(runs: list[SourceRun]) -> int:
    count = 0
    for run in runs:
        if run.status == "interrupted":
            continue
        if run.status not in FAILED:
            break
        count += 1
    return count


def _gap_reasons(
    source: SourceBase, runs: list[SourceRun], newest: datetime | None, now: datetime
) -> list[str]:
    reasons = []
    failures = _consecutive_failures(runs)
    if failures >= source.max_failures:
        last = runs[0]
        why = json.loads(last.detail or "{}").get("reason") or last.status
        reasons.append(f"连续 {failures} 次采集失败（最近一次：{why}）")
    if source.freshness_limit is not None and runs:
        age = (now - newest).total_seconds() if newest else None
        if age is None or age > source.freshness_limit:
            shown = f"{age / 3600:.1f} 小时" if age is not None else "从未"
            reasons.append(
                f"最新帖子距今 {shown}，超过 {source.freshness_limit / 3600:.1f} 小时的时效要求"
            )
    return reasons


def evaluate_alerts(
    store: Store, source: SourceBase, *, now: datetime, latest: SourceRun | None = None
) -> list[Alert]:
    """Raise or resolve this source's alerts; returns the alerts that are open afterwards.

    `latest` is the run just recorded (a search index may not show it yet)."""
    runs = recent_runs(store, source.name, size=max(source.max_failures, 5))
    if latest is not None and latest.id not in {r.id for r in runs}:
        runs = sorted([latest, *runs], key=lambda r: r.started_at, reverse=True)
    newest = newest_post_at(store, source.name)
    if latest is not None and latest.newest_post_at is not None:
        newest = max(newest, latest.newest_post_at) if newest else latest.newest_post_at
    wanted: dict[str, str] = {}
    gap = _gap_reasons(source, runs, newest, now)
    if gap:
        wanted["coverage_gap"] = f"数据源 {source.name} 出现覆盖缺口：" + "；".join(gap)
    if runs and runs[0].status == "credentials_expired":
        wanted["credentials_expired"] = (
            f"数据源 {source.name} 的登录凭据已失效（{source.credentials or '未配置'}），"
            "请更新 Cookie/Token 后重新采集"
        )
    current = open_alerts(store, source.name)
    still_open: list[Alert] = []
    for alert in current:
        if alert.kind in wanted:
            if alert.message != wanted[alert.kind]:
                alert = alert.model_copy(update={"message": wanted[alert.kind]})
                store.put(ALERTS, alert)
            still_open.append(alert)
            wanted.pop(alert.kind)
        elif alert.kind in ("coverage_gap", "credentials_expired"):
            store.put(ALERTS, alert.model_copy(update={"resolved_at": now}))
    for kind, message in wanted.items():
        alert = Alert(
            id=make_id("alert", kind, source.name, now.isoformat()),
            kind=kind,
            source=source.name,
            message=message,
            raised_at=now,
        )
        store.put(ALERTS, alert)
        still_open.append(alert)
    return still_open


class RunSummary(BaseModel):
    status: str
    started_at: datetime
    finished_at: datetime
    fetched: int
    new: int
    duplicate: int
    dropped: int
    errors: int
    detail: dict[str, object]


class SourceHealth(BaseModel):
    """Health of one configured source, as shown by the CLI and the API."""

    name: str
    type: str
    platform: str
    enabled: bool
    schedule: str
    state: Literal["ok", "failing", "stale", "credentials_expired", "never_run", "disabled"]
    last_run: RunSummary | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    newest_post_at: datetime | None = None
    freshness_s: float | None = None
    freshness_limit_s: float | None = None
    open_alerts: list[str] = []


def describe_schedule(source: SourceBase) -> str:
    if source.schedule.every is not None:
        return f"every {int(source.schedule.every)}s"
    return f"cron {source.schedule.cron}"


def source_health(store: Store, sources: SourceSet, *, now: datetime) -> list[SourceHealth]:
    out = []
    for source in sources:
        runs = recent_runs(store, source.name, size=max(source.max_failures, 20))
        newest = newest_post_at(store, source.name)
        alerts = open_alerts(store, source.name)
        failures = _consecutive_failures(runs)
        last = runs[0] if runs else None
        age = (now - newest).total_seconds() if newest else None
        if not source.enabled and last is None:
            state = "disabled"
        elif last is None:
            state = "never_run"
        elif last.status == "credentials_expired":
            state = "credentials_expired"
        elif failures >= source.max_failures or last.status in FAILED:
            state = "failing"
        elif source.freshness_limit is not None and (age is None or age > source.freshness_limit):
            state = "stale"
        else:
            state = "ok"
        out.append(
            SourceHealth(
                name=source.name,
                type=source.type,
                platform=source.platform,
                enabled=source.enabled,
                schedule=describe_schedule(source),
                state=state,  # type: ignore[arg-type]
                last_run=RunSummary(
                    status=last.status,
                    started_at=last.started_at,
                    finished_at=last.finished_at,
                    fetched=last.fetched,
                    new=last.new,
                    duplicate=last.duplicate,
                    dropped=last.dropped,
                    errors=last.errors,
                    detail=json.loads(last.detail or "{}"),
                )
                if last
                else None,
                last_success_at=next((r.finished_at for r in runs if r.status == "ok"), None),
                consecutive_failures=failures,
                newest_post_at=newest,
                freshness_s=age,
                freshness_limit_s=source.freshness_limit,
                open_alerts=[f"{a.kind}: {a.message}" for a in alerts],
            )
        )
    return out
