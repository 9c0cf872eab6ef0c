"""Files the app creates are owner-only whatever the umask: the SQLite database, spooled and
rejected batches, the development `.env` (secret keys) and jieba's dictionary cache, which
lives in the data directory instead of the shared /tmp."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store.spool import Spool
from store.sqlite import SqliteStore
from tests.conftest import TEST_KEYS, make_settings
from tests.triage.factories import rumor_wave

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # what most shells have: new files world-readable
    yield
    os.umask(old)


def test_sqlite_database_is_owner_only(tmp_path: Path, loose_umask: None) -> None:
    settings = make_settings(tmp_path)
    store = SqliteStore(settings.sqlite_path)
    store.init()
    store.write_posts(rumor_wave(settings, datetime.now(UTC)))
    store.close()
    assert mode(settings.sqlite_path) == 0o600
    assert mode(settings.data_dir) == 0o700
    for extra in settings.data_dir.glob("tingfeng.sqlite3-*"):  # WAL/SHM, if any
        assert mode(extra) & 0o077 == 0, extra


def test_spool_batches_are_owner_only(tmp_path: Path, loose_umask: None) -> None:
    settings = make_settings(tmp_path)
    spool = Spool(tmp_path / "spool")
    posts = rumor_wave(settings, datetime.now(UTC))
    spool.append("posts", posts)
    [batch] = (tmp_path / "spool").glob("*.jsonl")
    assert mode(batch) == 0o600 and mode(tmp_path / "spool") == 0o700

    def refuse_one(kind: str, records: object) -> object:
        from store.base import BulkResult

        return BulkResult(written=len(posts) - 1, failed=[(posts[0].id, "mapping conflict")])

    spool.replay(refuse_one)  # type: ignore[arg-type]
    [rejected] = spool.rejected_dir.glob("*.jsonl")
    assert mode(rejected) == 0o600


def test_make_env_writes_an_owner_only_file(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "dev-env", tmp_path / "scripts" / "dev-env")
    proc = subprocess.run(
        ["bash", "-c", "umask 022 && make -s .env"], cwd=tmp_path, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert mode(tmp_path / ".env") == 0o600
    assert "TINGFENG_SECRET_KEY=" in (tmp_path / ".env").read_text()


def test_jieba_cache_lives_in_the_data_directory(tmp_path: Path) -> None:
    script = (
        "from store.context import load_settings\n"
        "load_settings()\n"
        "from analysis.text import tokenizer\n"
        "print(tokenizer().tmp_dir)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINGFENG_")} | {
        "TINGFENG_PSEUDONYM_KEY": TEST_KEYS["pseudonym_key"],
        "TINGFENG_SECRET_KEY": TEST_KEYS["secret_key"],
        "TINGFENG_DATA_DIR": str(tmp_path / "data"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cache_dir = tmp_path / "data" / "cache"
    assert proc.stdout.strip() == str(cache_dir)
    [cache] = cache_dir.glob("jieba*.cache")
    assert mode(cache) == 0o600 and mode(cache_dir) == 0o700
