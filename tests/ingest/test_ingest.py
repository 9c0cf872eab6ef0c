"""Bad input at ingest: a clear error naming the line and field, and nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.posts import RawPost, build_post, canonical_url, read_jsonl
from store import Settings
from store.base import PostQuery
from store.errors import InvalidRecord
from store.records import AuditEvent
from store.sqlite import SqliteStore

GOOD = {
    "source": "partner",
    "platform": "weibo",
    "native_id": "1",
    "author_id": "someone",
    "text": "小区封控，老人急需买药",
    "created_at": "2026-03-01T10:00:00+08:00",
}


def _write(path: Path, rows: list[object]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("row", "line", "field", "message"),
    [
        ("{not json", 2, None, "not valid JSON"),
        ({k: v for k, v in GOOD.items() if k != "text"}, 2, "text", "Field required"),
        ({**GOOD, "created_at": "2026-03-01T10:00:00+25:00"}, 2, "created_at", ""),
        ({**GOOD, "created_at": "2999-01-01T00:00:00+08:00"}, 2, "created_at", "future"),
        ({**GOOD, "text": "长" * 20001}, 2, "text", "limit is 20000"),
        ({**GOOD, "engagement": {"likes": -1}}, 2, "engagement.likes", "greater than"),
        ({**GOOD, "native_id": None}, 2, "native_id", "native_id' or 'url"),
        ({**GOOD, "url": "javascript:alert(1)"}, 2, "url", "http(s) URL"),
        ({**GOOD, "unexpected": 1}, 2, "unexpected", "Extra inputs"),
    ],
)
def test_bad_line_is_named_and_nothing_is_written(
    tmp_path: Path, settings: Settings, row: object, line: int, field: str | None, message: str
) -> None:
    path = _write(tmp_path / "in.jsonl", [GOOD, row, {**GOOD, "native_id": "3"}])
    with pytest.raises(InvalidRecord) as exc:
        read_jsonl(path, settings)
    assert exc.value.line == line
    assert exc.value.field == field
    assert message in str(exc.value)
    assert f"line {line}" in str(exc.value)


def test_non_utf8_file_is_refused_with_the_line(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "gbk.jsonl"
    good = json.dumps(GOOD, ensure_ascii=False).encode("utf-8")
    bad = json.dumps({**GOOD, "native_id": "2"}, ensure_ascii=False).encode("gb18030")
    path.write_bytes(good + b"\n" + bad + b"\n")
    with pytest.raises(InvalidRecord, match="not UTF-8") as exc:
        read_jsonl(path, settings)
    assert exc.value.line == 2


def test_naive_time_is_read_in_the_configured_zone(settings: Settings) -> None:
    post = build_post(RawPost(**{**GOOD, "created_at": "2026-03-01T10:00:00"}), settings)
    assert post.created_at.isoformat() == "2026-03-01T10:00:00+08:00"


def test_author_is_pseudonymized_and_never_stored_clear(settings: Settings) -> None:
    post = build_post(RawPost(**GOOD), settings)
    assert post.author and "someone" not in post.model_dump_json()
    again = build_post(RawPost(**GOOD), settings)
    other_key = settings.model_copy(
        update={"pseudonym_key": type(settings.pseudonym_key)("another-key-0123456789")}
    )
    assert again.author == post.author
    assert build_post(RawPost(**GOOD), other_key).author != post.author


def test_ids_are_deterministic_and_urls_canonical(settings: Settings) -> None:
    a = build_post(
        RawPost(
            **{
                **GOOD,
                "native_id": None,
                "url": "HTTPS://News.Example.cn:443/a?utm_source=x&b=2&a=1#top",
            }
        ),
        settings,
    )
    b = build_post(
        RawPost(**{**GOOD, "native_id": None, "url": "https://news.example.cn/a?a=1&b=2"}), settings
    )
    assert a.id == b.id
    assert canonical_url("http://Example.cn:80") == "http://example.cn/"


def test_traditional_text_is_simplified_in_the_normalized_field(settings: Settings) -> None:
    post = build_post(RawPost(**{**GOOD, "text": "臺灣醫院發熱門診人滿為患"}), settings)
    assert post.text == "臺灣醫院發熱門診人滿為患"
    assert "发热门诊" in post.text_norm
    assert "发热门诊" in post.tokens.split()


def _cli(args: list[str], settings: Settings, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "TINGFENG_PSEUDONYM_KEY": settings.pseudonym_key.get_secret_value(),
        "TINGFENG_SECRET_KEY": settings.secret_key.get_secret_value(),
        "TINGFENG_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_cli_ingest_bad_file_exits_nonzero_with_one_line(
    tmp_path: Path, settings: Settings
) -> None:
    root = Path(__file__).resolve().parents[2]
    path = _write(tmp_path / "bad.jsonl", [GOOD, {**GOOD, "native_id": "2", "text": ""}])
    proc = _cli(["ingest", str(path)], settings, root)
    assert proc.returncode == 2
    assert "line 2" in proc.stderr and "text" in proc.stderr
    assert "Traceback" not in proc.stderr
    store = SqliteStore(settings.sqlite_path)
    store.init()
    assert store.count_posts(PostQuery()) == 0


def test_cli_ingest_twice_is_idempotent(tmp_path: Path, settings: Settings) -> None:
    root = Path(__file__).resolve().parents[2]
    rows = [{**GOOD, "native_id": str(i)} for i in range(25)]
    path = _write(tmp_path / "ok.jsonl", rows)
    for _ in range(2):
        proc = _cli(["ingest", str(path)], settings, root)
        assert proc.returncode == 0, proc.stderr
    store = SqliteStore(settings.sqlite_path)
    store.init()
    assert store.count_posts(PostQuery()) == 25
    # every run of the importer is audited: who (cli), which file, how many, which ids
    events = store.find("audit", AuditEvent, where={"action": "posts.ingest"})
    assert len(events) == 2 and {e.actor for e in events} == {"cli"}
    after = json.loads(events[0].after or "{}")
    assert (after["origin"], after["count"], len(after["ids"])) == (str(path), 25, 25)


def test_cli_refuses_missing_secrets(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "store", "status"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TINGFENG_DATA_DIR": str(tmp_path)},
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "TINGFENG_PSEUDONYM_KEY" in proc.stderr and "Traceback" not in proc.stderr
