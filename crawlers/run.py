"""Running crawls: in this process (`crawl`) or as a subprocess (`run_subprocess`).

One process runs one reactor once (it cannot restart), so the scheduler starts every crawl
as `python -m crawlers.run SOURCE`, with the Tingfeng settings passed in the environment
(`settings_env`). `tingfeng crawl SOURCE` calls `crawl` directly.

    python -m crawlers.run demo-news [demo-weibo ...] [--var fixture=http://127.0.0.1:8765]

Exit status: 0 when every run is ok, 1 when a run failed or stopped (credentials expired,
blocked), 2 for configuration errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from crawlers.context import Runtime
from crawlers.credentials import credential_for
from crawlers.errors import CrawlerError
from store.errors import StoreError
from store.records import SourceRun
from store.settings import Settings

log = logging.getLogger(__name__)

SPIDERS = {
    "feed": "crawlers.spiders.feed.FeedSpider",
    "html": "crawlers.spiders.html.HtmlSpider",
    "json_api": "crawlers.spiders.json_api.JsonApiSpider",
    "weibo": "crawlers.spiders.weibo.WeiboSpider",
    "tieba": "crawlers.spiders.tieba.TiebaSpider",
}


def scrapy_settings(overrides: dict[str, Any] | None = None, *, pipelines: bool = True) -> Any:
    """The project's Scrapy settings, plus overrides (which beat per-source values)."""
    from scrapy.settings import Settings as ScrapySettings

    settings = ScrapySettings()
    settings.setmodule("crawlers.settings", priority="project")
    if not pipelines:
        settings.set("ITEM_PIPELINES", {}, priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


def crawl(
    names: Sequence[str],
    settings: Settings,
    *,
    variables: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
    pipelines: bool = True,
) -> list[SourceRun]:
    """Crawl the named sources concurrently in this process (once per process)."""
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.misc import load_object

    runtime = Runtime.open(settings, variables)
    try:
        sources = [runtime.sources.get(name) for name in names]
        for source in sources:  # a missing credential is the operator's to fix: fail now
            credential_for(settings, source.credentials)
        for source in sources:
            if not source.enabled:
                log.info(
                    "source %s is disabled in the sources file; crawling it on request", source.name
                )
        project = scrapy_settings(
            {"LOG_INSTALL_ROOT_HANDLER": False, **(overrides or {})}, pipelines=pipelines
        )
        process = CrawlerProcess(project)
        # our logging is configured by the caller; keep Scrapy's chatter at LOG_LEVEL
        for name in ("scrapy", "twisted", "py.warnings"):
            logging.getLogger(name).setLevel(project.get("LOG_LEVEL", "INFO"))
        crawlers = []
        for source in sources:
            spider_cls = load_object(SPIDERS[source.type])
            crawler = process.create_crawler(spider_cls)
            crawlers.append(crawler)
            process.crawl(crawler, source=source.name, runtime=runtime)
        process.start()
        runs = []
        for crawler in crawlers:
            ctx = getattr(crawler.spider, "ctx", None)
            run = getattr(ctx, "run", None) if ctx is not None else None
            if run is not None:
                runs.append(run)
        return runs
    finally:
        runtime.close()


def settings_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment that makes `Settings()` in a child process equal to `settings`."""
    env = dict(os.environ if base is None else base)
    for name in type(settings).model_fields:
        key = "TINGFENG_" + name.upper()
        value = getattr(settings, name)
        if value is None:
            env.pop(key, None)
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, dict | list):
            env[key] = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, Path):
            env[key] = str(value)
        else:
            env[key] = str(value)
    return env


def subprocess_command(names: Sequence[str], variables: dict[str, str] | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "crawlers.run", *names]
    for key, value in (variables or {}).items():
        cmd += ["--var", f"{key}={value}"]
    return cmd


def run_subprocess(
    names: Sequence[str],
    settings: Settings,
    *,
    variables: dict[str, str] | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
    quiet: bool = False,
) -> int:
    """Run `python -m crawlers.run` for these sources; returns its exit status.

    `quiet` keeps only warnings and errors of the crawl (for the demo's console)."""
    cmd = subprocess_command(names, variables)
    if quiet:
        cmd += ["--set", "LOG_LEVEL=WARNING"]
    timeout = timeout or settings.crawl_timeout_s
    try:
        proc = subprocess.run(
            cmd,
            env=settings_env(settings),
            cwd=cwd,
            timeout=timeout,
            check=False,
            stdout=subprocess.DEVNULL if quiet else None,
        )
    except subprocess.TimeoutExpired:
        log.error("crawl of %s exceeded %.0fs and was stopped", ", ".join(names), timeout)
        return 124
    return proc.returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crawlers.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("sources", nargs="+", help="source names from the sources file")
    parser.add_argument("--var", action="append", default=[], help="sources-file variable k=v")
    parser.add_argument("--set", action="append", default=[], help="Scrapy setting override K=V")
    parser.add_argument("--no-pipelines", action="store_true", help="benchmark: skip pipelines")
    args = parser.parse_args(argv)
    variables = dict(v.split("=", 1) for v in args.var if "=" in v)
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    # LOG_LEVEL=WARNING (the demo's quiet crawls) quiets our own lines too, not only Scrapy's
    logging.basicConfig(
        level=str(overrides.get("LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings()  # type: ignore[call-arg]
        runs = crawl(
            args.sources,
            settings,
            variables=variables,
            overrides=overrides,
            pipelines=not args.no_pipelines,
        )
    except (CrawlerError, StoreError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    for run in runs:
        sys.stdout.write(run.model_dump_json() + "\n")
    ok = len(runs) == len(args.sources) and all(r.status == "ok" for r in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
