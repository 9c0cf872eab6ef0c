"""What a person (or a log shipper) reads: no library INFO chatter unless `-v`, APScheduler
job runs hidden, JSON lines on request, secrets redacted, and the service's one-line summary."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from cli.logs import redact
from cli.service import ServiceSummary
from tests.conftest import TEST_KEYS, make_settings, open_backend
from tests.triage.factories import rumor_wave

SCHEDULER_SCRIPT = """
import logging, sys, time
from apscheduler.schedulers.background import BackgroundScheduler
from cli.logs import configure_logging
configure_logging(int(sys.argv[1]), sys.argv[2])
scheduler = BackgroundScheduler()
scheduler.add_job(lambda: None, "interval", seconds=0.1, id="tick")
scheduler.start()
time.sleep(0.6)
logging.getLogger("triage.job").info("incident opened")
logging.getLogger("apscheduler.scheduler").warning("a real scheduler warning")
scheduler.shutdown()
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TINGFENG_")}
    return base | {
        "TINGFENG_PSEUDONYM_KEY": TEST_KEYS["pseudonym_key"],
        "TINGFENG_SECRET_KEY": TEST_KEYS["secret_key"],
        "TINGFENG_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }


def _scheduler_log(tmp_path: Path, verbose: int, fmt: str = "text") -> str:
    proc = subprocess.run(
        [sys.executable, "-c", SCHEDULER_SCRIPT, str(verbose), fmt],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_job_runs_are_hidden_unless_verbose(tmp_path: Path) -> None:
    quiet = _scheduler_log(tmp_path, 0)
    assert "Running job" not in quiet and "executed successfully" not in quiet
    assert "incident opened" in quiet and "a real scheduler warning" in quiet
    loud = _scheduler_log(tmp_path, 1)
    assert loud.count("Running job") >= 3


def test_json_lines(tmp_path: Path) -> None:
    lines = _scheduler_log(tmp_path, 1, "json").splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert {"level": "INFO", "logger": "triage.job", "message": "incident opened"}.items() <= next(
        r for r in records if r["logger"] == "triage.job"
    ).items()


def test_digest_command_is_quiet_and_v_brings_font_logs_back(tmp_path: Path) -> None:
    """Rendering the PDF logs WeasyPrint steps and (without HarfBuzz subsetting) dozens of
    fontTools font-subsetting lines at INFO."""
    args = ["digest", "--date", "2026-11-18", "--no-send"]
    runs = {}
    for flags in ([], ["-v"]):
        proc = subprocess.run(
            [sys.executable, "-m", "cli.main", *flags, *args],
            cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[bool(flags)] = proc.stderr
    ours = ("digest.", "store.", "cli.", "triage.", "nlp.")
    info = [line.split(" INFO ", 1)[1] for line in runs[False].splitlines() if " INFO " in line]
    assert [line for line in info if not line.startswith(ours)] == []  # only our own lines
    assert "weasyprint" not in runs[False] and "fontTools" not in runs[False]
    assert "INFO weasyprint" in runs[True]  # the PDF library's own lines are back with -v


def test_log_format_setting_reaches_the_cli(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "-v", "store", "init"],
        cwd=tmp_path, env=_env(tmp_path, TINGFENG_LOG_FORMAT="json"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert all(json.loads(line)["level"] for line in lines)


def test_secrets_in_urls_are_redacted() -> None:
    url = "https://oapi.dingtalk.com/robot/send?access_token=abc123&timestamp=1&sign=x%2By"
    assert redact(f"POST {url} 500") == (
        "POST https://oapi.dingtalk.com/robot/send?access_token=***&timestamp=1&sign=*** 500"
    )


def test_service_summary_line(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = open_backend("sqlite", settings, None)
    summary = ServiceSummary(store)
    try:
        first = summary.line()
        assert first.startswith("summary: posts 0 (+0), incidents open 0 (+0 opened)")
        assert "lag: ? posts to enrich" in first  # enrichment has not run yet
        store.write_posts(rumor_wave(settings, datetime.now(UTC)))
        logging.getLogger("crawlers.test").warning("source weibo: login expired")
        logging.getLogger("crawlers.test").error("source rss: HTTP 500")
        second = summary.line()
        assert "posts 12 (+12)" in second and "1 warnings, 1 errors" in second
        assert "0 warnings, 0 errors" in summary.line()
    finally:
        logging.getLogger().removeHandler(summary.errors)
        store.close()
