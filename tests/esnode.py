"""A second Elasticsearch node of a test's own (own port and data directory, started and
stopped with `scripts/elasticsearch`), for outage tests: the shared development/CI node is
never disturbed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "elasticsearch"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EsNode:
    """A node of our own, driven through the project's script."""

    def __init__(self, port: int, node_dir: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if k != "TINGFENG_ES_URL"}
        self.env.update(TINGFENG_ES_PORT=str(port), TINGFENG_ES_NODE_DIR=str(node_dir))

    def run(self, action: str) -> str:
        proc = subprocess.run(
            [str(SCRIPT), action], env=self.env, capture_output=True, text=True, timeout=300
        )
        if proc.returncode != 0:
            pytest.fail(f"scripts/elasticsearch {action} failed:\n{proc.stderr[-3000:]}")
        return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


@contextmanager
def started_node() -> Iterator[tuple[EsNode, str]]:
    """A started node and its URL; stopped and removed afterwards."""
    # Not under pytest's tmp_path: the node may run as an unprivileged user, who must be able
    # to reach its directory.
    node_dir = Path(tempfile.mkdtemp(prefix="tingfeng-outage-"))
    node_dir.chmod(0o755)
    node = EsNode(free_port(), node_dir)
    try:
        yield node, node.run("start")
    finally:
        node.run("stop")
        shutil.rmtree(node_dir, ignore_errors=True)
