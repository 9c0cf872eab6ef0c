"""`tingfeng bench api`: the API in its own uvicorn process on loopback, an open-loop load
generator here: incident list and detail vs a bare FastAPI endpoint on the same server, each
at a fixed request rate; latency is measured from each request's scheduled start (so queueing
in an overloaded server counts). `tingfeng bench latency` lives in `bench.latency`.

Both work on a scratch store (a fresh index prefix, or a temporary SQLite directory) that is
removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from ingest.posts import RawPost, build_post
from store import Settings, Store, open_store
from store.records import Engagement, Incident, IncidentState, Post, Role, SeverityComponent, User

log = logging.getLogger(__name__)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@contextlib.contextmanager
def scratch_store(settings: Settings) -> Iterator[tuple[Settings, Store]]:
    """Settings and an initialized store that exist only for the benchmark."""
    tmp = Path(tempfile.mkdtemp(prefix="tingfeng-bench-"))
    scratch = settings.model_copy(
        update={
            "data_dir": tmp,
            "index_prefix": f"{settings.index_prefix}-bench-{uuid.uuid4().hex[:8]}",
        }
    )
    store = open_store(scratch)
    store.init()
    try:
        yield scratch, store
    finally:
        with contextlib.suppress(Exception):
            if scratch.es_url:
                store.drop_all()  # type: ignore[attr-defined]
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------
# bench api
# --------------------------------------------------------------------------------------------


def bench_app() -> Any:
    """uvicorn factory for the server process: the real app plus a bare endpoint."""
    from api.app import create_app

    app = create_app(Settings())  # type: ignore[call-arg]

    @app.get("/bench/bare", include_in_schema=False)
    def bare() -> dict[str, bool]:
        return {"ok": True}

    gc.freeze()  # as `tingfeng serve` and `tingfeng run` do before serving
    return app


def seed_incidents(store: Store, settings: Settings, count: int, posts_each: int = 5) -> list[str]:
    now = datetime.now(UTC)
    rng = random.Random(7)
    categories = ["rumor", "help_request", "public_demand", "supplies_logistics", "other"]
    ids: list[str] = []
    posts: list[Post] = []
    incidents: list[Incident] = []
    for i in range(count):
        evidence = []
        for j in range(posts_each):
            raw = RawPost(
                source="bench",
                platform="weibo",
                native_id=f"bench-{i}-{j}",
                text=f"网传第{i}号消息：明天全市封城，超市物资紧张，请大家转发（{j}）",
                created_at=now - timedelta(minutes=rng.randint(5, 600)),
                engagement=Engagement(reposts=rng.randint(0, 500)),
            )
            post = build_post(raw, settings)
            posts.append(post)
            evidence.append(post.id)
        incident_id = f"bench-incident-{i}"
        ids.append(incident_id)
        incidents.append(
            Incident(
                id=incident_id,
                title=f"基准事件 {i}",
                category=rng.choice(categories),
                state=rng.choice([IncidentState.new, IncidentState.assigned]),
                severity=rng.randint(1, 4),
                severity_components=[
                    SeverityComponent(name="reach", value=0.5, weight=0.2, why="bench")
                ],
                team="press-office",
                evidence_post_ids=evidence,
                created_at=now - timedelta(minutes=i),
                updated_at=now - timedelta(minutes=i),
            )
        )
    store.write_posts(posts)
    store.put_many("incidents", incidents)
    store.refresh()
    return ids


@dataclass
class LoadResult:
    target: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


KEEP_ALIVE_S = 4.0  # below uvicorn's 5 s keep-alive timeout


class _Http:
    """A minimal keep-alive HTTP/1.1 GET client on asyncio streams. The load generator shares
    the machine with the server it measures, so it must cost far less per request than a full
    client library (httpx spends about a millisecond of CPU per request)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = f"Host: {host}:{port}\r\n{extra}\r\n"
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        now = time.monotonic()
        while self.idle:
            reader, writer, used = self.idle.pop()
            if now - used < KEEP_ALIVE_S:
                return reader, writer
            writer.close()  # the server may have closed it already
        return await asyncio.open_connection(self.host, self.port)

    async def get(self, path: str) -> int:
        reader, writer = await self._connection()
        try:
            writer.write(f"GET {path} HTTP/1.1\r\n{self.head}".encode())
            status = int((await reader.readline()).split()[1])
            length, chunked = 0, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
            if chunked:
                while (size := int((await reader.readline()).strip(), 16)) > 0:
                    await reader.readexactly(size + 2)
                await reader.readline()
            else:
                await reader.readexactly(length)
        except Exception:
            writer.close()
            raise
        self.idle.append((reader, writer, time.monotonic()))
        return status

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()
        self.idle = []


async def _load(
    client: _Http,
    target: str,
    next_url: Callable[[], str],
    *,
    rps: float,
    duration: float,
) -> LoadResult:
    """Open loop: request i is due at start + i/rps whether or not earlier ones finished."""
    result = LoadResult(target)
    loop = asyncio.get_running_loop()
    start = loop.time()
    total = int(rps * duration)

    async def one(scheduled: float, url: str) -> None:
        try:
            ok = await client.get(url) == 200
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            ok = False
        if ok:
            result.latencies_ms.append((loop.time() - scheduled) * 1000)
        else:
            result.errors += 1

    tasks = []
    for i in range(total):
        scheduled = start + i / rps
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, next_url())))
    await asyncio.gather(*tasks)
    result.elapsed_s = loop.time() - start
    return result


@dataclass
class ApiBench:
    backend: str
    rps: float
    duration: float
    incidents: int
    runs: dict[str, list[LoadResult]]  # endpoint -> one result per round

    def median(self, target: str, q: float) -> float:
        return statistics.median(r.p(q) for r in self.runs[target])

    def rps_of(self, target: str) -> float:
        return statistics.median(r.rps for r in self.runs[target])

    def errors(self, target: str) -> int:
        return sum(r.errors for r in self.runs[target])


def run_bench_api(
    settings: Settings,
    *,
    rps: float = 200.0,
    duration: float = 10.0,
    incidents: int = 500,
    warmup: float = 2.0,
    workers: int = 1,
    rounds: int = 3,
    on_phase: Callable[[str], None] | None = None,
) -> ApiBench:
    from triage.users import issue_session_token

    with scratch_store(settings) as (scratch, store):
        ids = seed_incidents(store, scratch, incidents)
        now = datetime.now(UTC)
        user = User(
            id="bench", username="bench", role=Role.supervisor, created_at=now, updated_at=now
        )
        store.put("users", user)
        token, _ = issue_session_token(
            user, scratch.secret_key.get_secret_value(), now=now, ttl=timedelta(hours=2)
        )
        port = _free_port()
        env = {
            **os.environ,
            "TINGFENG_DATA_DIR": str(scratch.data_dir),
            "TINGFENG_INDEX_PREFIX": scratch.index_prefix,
            "TINGFENG_ES_URL": scratch.es_url or "",
            "TINGFENG_PSEUDONYM_KEY": scratch.pseudonym_key.get_secret_value(),
            "TINGFENG_SECRET_KEY": scratch.secret_key.get_secret_value(),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.api:bench_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-access-log", "--workers", str(workers)],
            env=env,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, server)
            rng = random.Random(11)
            lists = [
                "/api/v1/incidents?size=20",
                "/api/v1/incidents?size=20&state=new",
                "/api/v1/incidents?size=20&sort=severity",
                "/api/v1/incidents?size=20&category=rumor",
            ]
            targets: dict[str, Callable[[], str]] = {
                "bare": lambda: "/bench/bare",
                "incident list": lambda: rng.choice(lists),
                "incident detail": lambda: f"/api/v1/incidents/{rng.choice(ids)}",
            }

            async def drive() -> dict[str, list[LoadResult]]:
                """Rounds over the endpoints in turn, so passing noise on a shared machine
                hits each endpoint alike; the medians over rounds are reported."""
                client = _Http("127.0.0.1", port, {"Authorization": f"Bearer {token}"})
                out: dict[str, list[LoadResult]] = {name: [] for name in targets}
                try:
                    for round_ in range(rounds):
                        for name, next_url in targets.items():
                            if on_phase:
                                on_phase(f"{name} (round {round_ + 1}/{rounds})")
                            if round_ == 0:
                                await _load(client, name, next_url, rps=rps, duration=warmup)
                            out[name].append(
                                await _load(client, name, next_url, rps=rps, duration=duration)
                            )
                finally:
                    client.close()
                return out

            results = asyncio.run(drive())
        finally:
            server.terminate()
            server.wait(timeout=10)
    return ApiBench(
        backend="elasticsearch" if settings.es_url else "sqlite",
        rps=rps,
        duration=duration,
        incidents=incidents,
        runs=results,
    )


def _wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"API server exited with {server.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("API server did not become ready")
