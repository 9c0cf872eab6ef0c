"""The one place that reads environment variables.

Every field is documented in `.env.example` (a test keeps the two in step). Required secrets
have no default, and a value that is a known placeholder is refused at start, so a deployment
cannot run with `changeme` as its pseudonymization key.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "password", "xxx", "todo", "placeholder", "example"}
)
MIN_SECRET_LENGTH = 16


class Settings(BaseSettings):
    """Tingfeng settings. Environment prefix `TINGFENG_`; `.env` is read when present."""

    model_config = SettingsConfigDict(
        env_prefix="TINGFENG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- secrets (required, no default) ---
    pseudonym_key: SecretStr = Field(
        description="Key for the keyed hash that pseudonymizes author ids at ingest (>=16 chars)."
    )
    secret_key: SecretStr = Field(
        description="Key that signs API tokens and sessions (>=16 chars)."
    )

    # --- storage ---
    data_dir: Path = Field(Path("data"), description="Embedded store, spool, models cache, digests.")
    es_url: str | None = Field(
        None, description="Elasticsearch URL; unset means the embedded SQLite store is used."
    )
    es_username: str | None = Field(None, description="Elasticsearch user (production).")
    es_password: SecretStr | None = Field(None, description="Elasticsearch password (production).")
    index_prefix: str = Field(
        "tingfeng", description="Prefix of every index, alias and template name."
    )
    es_replicas: int = Field(0, description="Replica count for new indices (0 on one node).")
    timezone: str = Field("Asia/Shanghai", description="Zone for naive times and day buckets.")
    max_text_chars: int = Field(20000, description="Longest post text accepted at ingest.")
    retention_days: int = Field(
        180, description="Posts older than this are deleted by the retention job."
    )

    # --- crawling ---
    sources_file: Path = Field(
        Path("crawlers/sources.yaml"), description="Source list (YAML) for the crawlers."
    )
    crawler_contact: str = Field(
        "tingfeng-monitor (+https://example.gov.cn/tingfeng; ops@example.gov.cn)",
        description="Operator named in the crawler User-Agent.",
    )

    # --- API ---
    api_host: str = Field("127.0.0.1", description="Address the API binds to.")
    api_port: int = Field(8000, description="Port the API listens on.")

    # --- Kibana ---
    kibana_url: str | None = Field(None, description="Kibana URL for `dashboards import`.")
    kibana_username: str | None = Field(None, description="Kibana user.")
    kibana_password: SecretStr | None = Field(None, description="Kibana password.")

    @field_validator("pseudonym_key", "secret_key")
    @classmethod
    def _refuse_placeholders(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if raw.lower() in PLACEHOLDER_SECRETS or len(raw) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"is a placeholder or shorter than {MIN_SECRET_LENGTH} characters; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "tingfeng.sqlite3"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"
