"""Crawler test fixtures: the fixture site on 127.0.0.1 (one per session, in a thread) and
crawls run exactly as the scheduler runs them: `python -m crawlers.run` in a subprocess, with
the settings passed in the environment."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawlers.fixtures.server import FixtureSite
from crawlers.run import settings_env, subprocess_command
from store import Settings
from store.records import SourceRun

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_SOURCES = ROOT / "crawlers" / "sources.yaml"
TEST_SOURCES = HERE / "sources_test.yaml"
CREDENTIALS = '{"weibo": {"cookies": {"SUB": "s3cret-cookie-value-do-not-log"}}}'
# the fixture site runs on loopback, which crawls refuse unless it is named explicitly
LOCAL_HOSTS = "127.0.0.1"
FAST = ["--set", "RETRY_BACKOFF_BASE=0.2"]


@dataclass
class Crawl:
    returncode: int
    runs: dict[str, SourceRun]
    stderr: str

    def detail(self, source: str) -> dict[str, object]:
        return json.loads(self.runs[source].detail or "{}")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as running:
        yield running


def start_crawl(
    settings: Settings,
    names: Sequence[str],
    site: FixtureSite,
    cwd: Path,
    *,
    variables: dict[str, str] | None = None,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """`variables`: more sources-file variables; `args`: more `crawlers.run` arguments;
    `env`: more environment variables of the crawl process."""
    cmd = [*subprocess_command(names, {"fixture": site.url, **(variables or {})}), *FAST, *args]
    return subprocess.Popen(
        cmd,
        env={**settings_env(settings), **(env or {})},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_crawl(
    settings: Settings,
    names: Sequence[str],
    site: FixtureSite,
    cwd: Path,
    timeout: float = 90,
    *,
    variables: dict[str, str] | None = None,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Crawl:
    proc = start_crawl(settings, names, site, cwd, variables=variables, args=args, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"crawl of {names} timed out; stderr tail:\n{err[-3000:]}")
    runs = {}
    for line in out.splitlines():
        if line.startswith("{"):
            run = SourceRun.model_validate_json(line)
            runs[run.source] = run
    if proc.returncode == 2 or set(runs) != set(names):
        sys.stderr.write(err[-5000:])
        pytest.fail(f"crawl of {names} did not report every source (exit {proc.returncode})")
    return Crawl(proc.returncode, runs, err)
