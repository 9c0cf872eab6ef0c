"""Building settings and the store at the CLI edge, with errors a person can act on."""

from __future__ import annotations

from pydantic import ValidationError

from analysis.text import use_cache_dir
from store import Settings, Store, open_store


class SettingsError(Exception):
    """Settings are missing or invalid; the message names each variable."""


def load_settings() -> Settings:
    try:
        settings = Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "TINGFENG_" + "_".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid settings (see .env.example): " + "; ".join(problems)) from None
    use_cache_dir(settings.data_dir / "cache")  # jieba's cache: not in the shared /tmp
    return settings


def store_from(settings: Settings) -> Store:
    store = open_store(settings)
    store.init()
    return store
