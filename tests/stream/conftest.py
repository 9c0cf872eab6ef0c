"""Kafka fixtures: a real broker (TINGFENG_KAFKA_BOOTSTRAP if set, else `scripts/kafka start`
for the session), per-test topics and consumer groups (deleted afterwards), workers as real
processes (`python -m cli.main worker ...`) with the settings in their environment."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from crawlers.run import settings_env
from store import Settings, Store
from store.records import Post
from tests.conftest import ROOT, make_settings, open_backend

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
WORDS = [
    "自来水",
    "病毒",
    "封城",
    "超市",
    "口罩",
    "疫苗",
    "医院",
    "发热",
    "物资",
    "谣言",
    "核酸",
    "小区",
]


@pytest.fixture(scope="session", autouse=True)
def _collect_kafka_clients() -> Iterator[None]:
    """Destroy unreferenced Kafka clients before interpreter shutdown: librdkafka's threads
    calling into a finalizing interpreter crash it."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    address = os.environ.get("TINGFENG_KAFKA_BOOTSTRAP")
    if address:
        return address
    proc = subprocess.run(
        [str(ROOT / "scripts" / "kafka"), "start"], capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        pytest.fail(f"could not start Kafka: {proc.stderr.strip()[-2000:]}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


def kafka_settings(tmp_path: Path, bootstrap: str, es_url: str | None, **extra: object) -> Settings:
    ns = f"t{uuid.uuid4().hex[:10]}"
    return make_settings(
        tmp_path,
        es_url=es_url,
        kafka_bootstrap=bootstrap,
        kafka_topic_posts_raw=f"{ns}.posts.raw",
        kafka_topic_posts_enriched=f"{ns}.posts.enriched",
        kafka_topic_crawl_requests=f"{ns}.crawl.requests",
        kafka_topic_dead_letter=f"{ns}.posts.dead-letter",
        kafka_group_prefix=ns,
        kafka_partitions=6,
        **extra,
    )


@pytest.fixture
def ksettings(tmp_path: Path, kafka_bootstrap: str, es_url: str) -> Iterator[Settings]:
    """Settings on the real ES node and broker, with this test's own topics and groups."""
    settings = kafka_settings(tmp_path, kafka_bootstrap, es_url)
    from stream.kafka import delete_topics, ensure_topics

    ensure_topics(settings)
    yield settings
    delete_topics(settings)


@pytest.fixture
def es_store(ksettings: Settings) -> Iterator[Store]:
    store = open_backend("elasticsearch", ksettings, ksettings.es_url)
    yield store
    store.drop_all()  # type: ignore[attr-defined]
    store.close()


def make_post(i: int, prefix: str = "k") -> Post:
    a, b, c = WORDS[i % 12], WORDS[(i // 12) % 12], WORDS[(i // 144) % 12]
    text = f"{a}{b}{c}第{i}条消息"
    return Post(
        id=f"{prefix}-{i:06d}",
        source="kafka-test",
        platform="weibo",
        native_id=str(i),
        text=text,
        text_norm=text,
        tokens=f"{a} {b} {c} 第 {i} 条 消息",
        segmenter="test",
        created_at=T0 + timedelta(seconds=i),
        fetched_at=T0,
    )


class Worker:
    """`tingfeng worker KIND` in its own process."""

    def __init__(self, settings: Settings, kind: str, cwd: Path, *args: str) -> None:
        self.log = cwd / f"worker-{kind}-{uuid.uuid4().hex[:6]}.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker", kind, *args],
            env=settings_env(settings),
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text("utf-8", "replace")


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(settings: Settings, kind: str, *args: str) -> Worker:
        worker = Worker(settings, kind, tmp_path, *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, workers: list[Worker] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(w.output()[-3000:] for w in workers or [])
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
        for w in workers or []:
            if w.proc.poll() not in (None, -9):
                pytest.fail(f"a worker exited with {w.proc.returncode}:\n{w.output()[-3000:]}")
        time.sleep(0.5)
