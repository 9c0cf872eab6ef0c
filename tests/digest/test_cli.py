"""`tingfeng digest` and `tingfeng report incident` from the command line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from digest.errors import DigestNotFound
from tests.conftest import TEST_KEYS


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "TINGFENG_PSEUDONYM_KEY": TEST_KEYS["pseudonym_key"],
        "TINGFENG_SECRET_KEY": TEST_KEYS["secret_key"],
        "TINGFENG_DATA_DIR": str(tmp_path),
        "TINGFENG_ES_URL": "",
    }


def test_digest_command_saves_the_digest(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["digest", "--date", "2026-11-18", "--no-send"], env=_env(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert "本期无活动" in result.output
    assert (tmp_path / "digests" / "daily" / "2026-11-18" / "digest.pdf").is_file()


def test_digest_command_rejects_a_bad_date(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["digest", "--date", "18/11/2026"], env=_env(tmp_path))
    assert result.exit_code == 2
    assert "is not a date like 2024-05-01" in result.output


def test_report_of_an_unknown_incident_is_a_user_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "incident", "nope"], env=_env(tmp_path))
    assert result.exit_code != 0
    assert isinstance(result.exception, DigestNotFound)
