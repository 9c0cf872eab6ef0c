"""The crawl entry points a person uses: `tingfeng crawl`, `scrapy crawl`, `tingfeng sources
check` (subprocesses: a crawl installs a Twisted reactor, which the test process must not)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from crawlers.fixtures.server import FixtureSite
from crawlers.run import settings_env
from store.base import PostQuery
from tests.conftest import make_settings, open_backend
from tests.crawlers.conftest import DEFAULT_SOURCES, LOCAL_HOSTS, ROOT

TINGFENG = [sys.executable, "-c", "from cli.main import main; main()"]


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_tingfeng_crawl_and_scrapy_crawl(site: FixtureSite, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, sources_file=DEFAULT_SOURCES, crawler_internal_hosts=LOCAL_HOSTS
    )
    env = {**settings_env(settings), "COLUMNS": "200"}
    done = run([*TINGFENG, "crawl", "demo-bulletin", "--var", f"fixture={site.url}"], env, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "demo-bulletin" in done.stdout and "ok" in done.stdout

    # `scrapy crawl` from the project root (scrapy.cfg) runs the same spider and pipelines
    scrapy = [sys.executable, "-m", "scrapy", "crawl", "tieba", "-a", "source=demo-tieba"]
    done = run([*scrapy, "-a", f"vars=fixture={site.url}"], env, ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "source demo-tieba: ok" in done.stderr

    store = open_backend("sqlite", settings, None)
    try:
        assert store.count_posts(PostQuery(terms={"source": ["demo-bulletin"]})) == 3
        assert store.count_posts(PostQuery(terms={"source": ["demo-tieba"]})) == 11
    finally:
        store.close()


def test_sources_check_names_the_source_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text(
        "sources:\n  - {name: city, type: feed, platform: gov, urls: ['ftp://x']}\n", "utf-8"
    )
    settings = make_settings(tmp_path, sources_file=bad)
    done = run(
        [*TINGFENG, "sources", "check"], {**settings_env(settings), "COLUMNS": "200"}, tmp_path
    )
    assert done.returncode == 2
    assert f"{bad}, source 'city', field 'urls.0'" in done.stderr
    assert "Traceback" not in done.stderr

    ok = make_settings(tmp_path, sources_file=DEFAULT_SOURCES, crawler_internal_hosts=LOCAL_HOSTS)
    done = run([*TINGFENG, "sources", "check"], {**settings_env(ok), "COLUMNS": "200"}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "example-weibo-city" in done.stdout and "demo-tieba" in done.stdout
