"""`tingfeng bench latency`: a replayed stream of post clusters written to a scratch store while
the enrichment and triage jobs run on their `tingfeng run` intervals; for each cluster, the
time from its posts being stored to an incident holding them, and to the robot webhook (a local
server) receiving the notification."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.api import scratch_store
from ingest.posts import RawPost, build_post
from store import Settings
from store.records import Incident, Post

PLACES = [
    ("江岸区", "二七街道"),
    ("武昌区", "中南路街道"),
    ("洪山区", "关山街道"),
    ("江汉区", "花楼街"),
    ("硚口区", "宝丰街道"),
    ("汉阳区", "四新街道"),
    ("青山区", "红卫路街道"),
]
NEEDS = [
    "透析病人出不了小区，明天必须去医院透析",
    "糖尿病老人胰岛素用完了，附近药店都关门",
    "孕妇预产期到了叫不到车去医院",
    "独居老人家里断粮两天了，急需米面",
    "孩子高烧三十九度，120一直占线",
]
PHRASES = [
    "求助！{d}{s}小区封控，{n}，谁能帮帮我们",
    "{d}{s}有没有人能帮忙？{n}，求助！",
    "求助求助，{d}{s}{n}，急",
    "转发求助：{d}{s}{n}，社区电话打不通",
    "{d}{s}的朋友看过来，{n}，求助",
]
NOISE = ["今天天气不错，出去走走", "晚饭做了红烧肉，味道很好", "这部电视剧真好看，推荐大家"]


def cluster_posts(settings: Settings, k: int, nonce: str) -> list[Post]:
    district, street = PLACES[k % len(PLACES)]
    need = NEEDS[k % len(NEEDS)]  # neighbours differ in place and need
    now = datetime.now(UTC)
    texts = [p.format(d=district, s=street, n=need) for p in PHRASES]
    texts += [NOISE[k % len(NOISE)]]
    return [
        build_post(
            RawPost(
                source="bench-replay",
                platform="weibo",
                native_id=f"{nonce}-{k}-{i}",
                text=text,
                created_at=now,
                region_raw="发布于 湖北",
            ),
            settings,
        )
        for i, text in enumerate(texts)
    ]


class _Receiver:
    """A local robot webhook that notes when each incident's first message arrives."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                text = body.get("markdown", {}).get("text", "")
                for line in text.splitlines():
                    if "incident:" in line:
                        receiver.first.setdefault(line.split(":", 1)[1].strip(), time.time())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode": 0}')

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/robot/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class LatencyBench:
    backend: str
    clusters: int
    enrich_interval: float
    triage_interval: float
    to_incident_s: list[float]
    to_notified_s: list[float]


def run_bench_latency(
    settings: Settings,
    *,
    clusters: int = 20,
    gap: float = 2.0,
    timeout: float = 60.0,
    on_cluster: Callable[[int], None] | None = None,
) -> LatencyBench:
    from apscheduler.schedulers.background import BackgroundScheduler

    from nlp.enrich import EnrichJob
    from triage.job import TriageJob
    from triage.notify import Notifier

    receiver = _Receiver()
    with scratch_store(settings) as (scratch, store):
        enrich = EnrichJob.from_settings(scratch, store)
        triage = TriageJob(
            store,
            playbook_path=scratch.playbook_file,
            notifier=Notifier(default_webhook=receiver.url, cooldown=timedelta(0), tz=scratch.tz),
        )
        scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        first_run = datetime.now(UTC)
        scheduler.add_job(
            enrich, "interval", seconds=scratch.enrich_interval_seconds, next_run_time=first_run
        )
        scheduler.add_job(
            triage, "interval", seconds=scratch.triage_interval_seconds, next_run_time=first_run
        )
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        scheduler.start()
        stored: dict[int, float] = {}
        post_cluster: dict[str, int] = {}
        found: dict[int, tuple[float, str]] = {}
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                with contextlib.suppress(Exception):
                    for incident in store.find("incidents", Incident, size=1000):
                        for post_id in incident.evidence_post_ids:
                            k = post_cluster.get(post_id)
                            if k is not None and k not in found:
                                found[k] = (time.time(), incident.id)
                stop.wait(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        nonce = uuid.uuid4().hex[:6]
        try:
            for k in range(clusters):
                posts = cluster_posts(scratch, k, nonce)
                for post in posts[:-1]:  # the noise post opens nothing
                    post_cluster[post.id] = k
                store.write_posts(posts)
                stored[k] = time.time()
                if on_cluster:
                    on_cluster(k)
                time.sleep(gap)
            deadline = time.time() + timeout
            while time.time() < deadline:
                done = [k for k in stored if k in found and found[k][1] in receiver.first]
                if len(done) == len(stored):
                    break
                time.sleep(0.5)
        finally:
            stop.set()
            watcher.join(timeout=5)
            scheduler.shutdown(wait=True)
            receiver.close()
    return LatencyBench(
        backend="elasticsearch" if settings.es_url else "sqlite",
        clusters=clusters,
        enrich_interval=scratch.enrich_interval_seconds,
        triage_interval=scratch.triage_interval_seconds,
        to_incident_s=[found[k][0] - stored[k] for k in stored if k in found],
        to_notified_s=_notified(stored, found, receiver.first),
    )


def _notified(
    stored: dict[int, float], found: dict[int, tuple[float, str]], first: dict[str, float]
) -> list[float]:
    """Stored -> notified, for the cluster that opened each incident (a later cluster that
    joined an open incident is not notified again: the team already owns it)."""
    opener: dict[str, int] = {}
    for k in sorted(found, key=lambda k: stored[k]):
        opener.setdefault(found[k][1], k)
    return [first[i] - stored[k] for i, k in opener.items() if i in first]
