"""Settings: one class, documented in .env.example, secrets required and not placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from store.settings import Settings
from tests.conftest import TEST_KEYS

ROOT = Path(__file__).resolve().parent.parent


def _example_vars() -> set[str]:
    text = (ROOT / ".env.example").read_text("utf-8")
    return set(re.findall(r"^(TINGFENG_[A-Z0-9_]+)=", text, flags=re.M))


def test_env_example_documents_every_field_and_nothing_else() -> None:
    fields = {f"TINGFENG_{name.upper()}" for name in Settings.model_fields}
    assert _example_vars() == fields


def test_every_field_has_a_description() -> None:
    missing = [n for n, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_secrets_are_required(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    missing = {e["loc"][0] for e in exc.value.errors() if e["type"] == "missing"}
    assert missing == {"pseudonym_key", "secret_key"}


@pytest.mark.parametrize("value", ["changeme", "secret", "short-key", "   placeholder  "])
def test_placeholder_secrets_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="placeholder or shorter"):
        Settings(_env_file=None, pseudonym_key=value, secret_key=TEST_KEYS["secret_key"])  # type: ignore[call-arg]


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Settings(_env_file=None, timezone="Mars/Olympus", **TEST_KEYS)  # type: ignore[arg-type]


def test_environment_is_read_with_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TINGFENG_PSEUDONYM_KEY", TEST_KEYS["pseudonym_key"])
    monkeypatch.setenv("TINGFENG_SECRET_KEY", TEST_KEYS["secret_key"])
    monkeypatch.setenv("TINGFENG_INDEX_PREFIX", "from-env")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.index_prefix == "from-env"
