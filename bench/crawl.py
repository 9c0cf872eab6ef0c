"""`tingfeng bench crawl`: pages/s of the full pipeline vs. the same spider with our item
pipelines disabled, against the same local fixture site, in the same run.

The site serves generated list pages linking to 20 detail pages each (`/bench/list`); every
crawl is a subprocess (`python -m crawlers.run`) on a fresh scratch store, so the full run
really normalizes, dedups and stores every post. Runs alternate (full, bare, full, bare, ...)
and the median pages/s of each mode is compared.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from crawlers.fixtures.server import FixtureSite
from crawlers.run import settings_env
from store.settings import Settings

SOURCE = "bench-html"
OVERRIDES = {
    "AUTOTHROTTLE_ENABLED": "false",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "LOG_LEVEL": "WARNING",
}


@dataclass
class ModeResult:
    name: str
    pages: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        return [p / s for p, s in zip(self.pages, self.seconds, strict=True) if s > 0]

    @property
    def pages_per_second(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0


@dataclass
class CrawlBench:
    full: ModeResult
    bare: ModeResult
    posts: int

    @property
    def ratio(self) -> float:
        return (
            self.full.pages_per_second / self.bare.pages_per_second
            if self.bare.pages_per_second
            else 0.0
        )


def write_sources(path: Path, site_url: str, list_pages: int) -> None:
    doc = {
        "sources": [
            {
                "name": SOURCE,
                "type": "html",
                "platform": "news",
                "start_url": f"{site_url}/bench/list?page=1&pages={list_pages}",
                "list": {"links": "ul.list a::attr(href)", "next": "a.next::attr(href)"},
                "detail": {"title": "h1.title", "time": "span.time", "text": "div.article"},
                "max_pages": list_pages + 1,
                "politeness": {
                    "delay": 0,
                    "concurrency": 16,
                    "autothrottle": False,
                    "timeout": "30s",
                },
            }
        ]
    }
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")


def crawl_once(settings: Settings, workdir: Path, *, pipelines: bool) -> tuple[int, float, int]:
    """(pages, seconds, posts stored) of one subprocess crawl on a fresh scratch store."""
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    run_settings = settings.model_copy(update={"data_dir": run_dir, "es_url": None})
    cmd = [sys.executable, "-m", "crawlers.run", SOURCE]
    cmd += [arg for key, value in OVERRIDES.items() for arg in ("--set", f"{key}={value}")]
    if not pipelines:
        cmd.append("--no-pipelines")
    proc = subprocess.run(
        cmd,
        env=settings_env(run_settings),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench crawl failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")
    run = json.loads(lines[-1])
    detail = json.loads(run["detail"])
    return int(detail["pages"]), float(detail["duration_s"]), int(run["new"])


def bench_crawl(
    settings: Settings,
    *,
    list_pages: int = 25,
    runs: int = 3,
    on_run: Callable[[str, int, float], None] | None = None,
) -> CrawlBench:
    full, bare = ModeResult("full pipeline"), ModeResult("pipelines disabled")
    posts = 0
    with tempfile.TemporaryDirectory(prefix="tingfeng-bench-") as tmp, FixtureSite() as site:
        workdir = Path(tmp)
        sources = workdir / "sources.yaml"
        write_sources(sources, site.url, list_pages)
        base = settings.model_copy(
            update={"sources_file": sources, "crawler_internal_hosts": site.netloc}
        )
        for _ in range(runs):
            for mode, pipelines in ((full, True), (bare, False)):
                pages, seconds, stored = crawl_once(base, workdir, pipelines=pipelines)
                mode.pages.append(pages)
                mode.seconds.append(seconds)
                if pipelines:
                    posts = stored
                if on_run:
                    on_run(mode.name, pages, seconds)
    return CrawlBench(full=full, bare=bare, posts=posts)
