"""The one place that reads environment variables.

Every field is documented in `.env.example` (a test keeps the two in step). Required secrets
have no default, and a value that is a known placeholder is refused at start, so a deployment
cannot run with `changeme` as its pseudonymization key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator
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
    data_dir: Path = Field(
        Path("data"), description="Embedded store, spool, models cache, digests."
    )
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
    crawler_credentials: SecretStr | None = Field(
        None,
        description="Cookies/headers of authenticated sources: JSON {name: {cookies, headers}}.",
    )
    crawler_credentials_file: Path | None = Field(
        None, description="JSON file with the same map as TINGFENG_CRAWLER_CREDENTIALS."
    )
    crawl_timeout_s: int = Field(
        1800, description="Longest a scheduled crawl subprocess may run before it is stopped."
    )
    crawler_internal_hosts: str = Field(
        "",
        description="Comma-separated hosts (or host:port) the crawlers may fetch although they "
        "resolve to private or loopback addresses (an office's own systems).",
    )

    # --- API ---
    api_host: str = Field("127.0.0.1", description="Address the API binds to.")
    api_port: int = Field(8000, description="Port the API listens on.")

    # --- triage, auth and notifications ---
    playbook_file: Path | None = Field(
        None, description="Playbook YAML; unset means the bundled triage/playbooks/default.yaml."
    )
    triage_interval_seconds: float = Field(
        2.0, gt=0, description="How often `tingfeng run` runs the triage job (seconds)."
    )
    bootstrap_admin_username: str = Field(
        "admin", description="Admin user created at start when no admin exists."
    )
    bootstrap_admin_password: SecretStr | None = Field(
        None, description="Password of the bootstrap admin; unset means none is created."
    )
    session_ttl_hours: float = Field(12.0, gt=0, description="Lifetime of login tokens (hours).")
    auth_rate_limit: int = Field(
        10, ge=1, description="Attempts per client on auth endpoints per window."
    )
    auth_rate_window_seconds: int = Field(
        60, ge=1, description="Window of the auth rate limit (seconds)."
    )
    api_max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body the API accepts (bytes)."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL of the API, used in notification links."
    )
    notify_webhook_url: SecretStr | None = Field(
        None, description="Default robot webhook (DingTalk/WeCom) for teams without their own."
    )
    notify_webhook_format: Literal["dingtalk", "wecom"] = Field(
        "dingtalk", description="Message format of the robot webhooks: dingtalk or wecom."
    )
    notify_webhook_secret: SecretStr | None = Field(
        None, description="DingTalk signing secret (加签) of the webhooks, if enabled."
    )
    notify_team_webhooks: dict[str, str] = Field(
        default_factory=dict,
        description='Per-team webhook URLs as JSON, e.g. {"city-press": "https://..."}.',
    )
    smtp_host: str | None = Field(None, description="SMTP server for email notifications.")
    smtp_port: int = Field(25, description="SMTP port.")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        "none", description="SMTP transport security: none, starttls or ssl."
    )
    smtp_username: str | None = Field(None, description="SMTP user.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_from: str = Field("tingfeng@localhost", description="Sender address of notifications.")
    notify_cooldown_minutes: float = Field(
        30.0, ge=0, description="Minimum minutes between notifications of one incident to a team."
    )
    quiet_hours: str = Field(
        "",
        description="Local quiet hours such as 23:00-07:00 (severity 1 still notifies); empty: none.",
    )

    # --- replies: drafts, LLM rewriting, effect tracking ---
    reply_office_name: str = Field(
        "市政府新闻办公室",
        description="Who publishes the replies (source name of their knowledge-base entries).",
    )
    reply_weibo_max_chars: int = Field(
        140, ge=20, le=5000, description="Longest Weibo export (characters shown in the feed)."
    )
    llm_url: str | None = Field(
        None,
        description="OpenAI-compatible API base URL (…/v1) for rewriting drafts; unset: none.",
    )
    llm_model: str | None = Field(None, description="Model name sent to the LLM endpoint.")
    llm_api_key: SecretStr | None = Field(None, description="Bearer key of the LLM endpoint.")
    llm_timeout_seconds: float = Field(
        30.0, gt=0, description="Timeout of one LLM rewrite request (seconds)."
    )
    effect_window_hours: float = Field(
        24.0, gt=0, description="Hours before/after publishing compared by effect tracking."
    )
    effect_close_window_hours: float = Field(
        6.0, gt=0, description="Recent window whose post rate decides close / re-escalate."
    )
    effect_close_threshold_per_hour: float = Field(
        1.0, ge=0, description="Propose closing when the recent rate falls to this (posts/hour)."
    )
    effect_reescalate_ratio: float = Field(
        0.5,
        gt=0,
        description="Re-escalate when the recent rate reaches this share of the rate before "
        "publishing (and exceeds the close threshold).",
    )
    effect_interval_seconds: float = Field(
        300.0, gt=0, description="How often `tingfeng run` runs the effect-tracking job."
    )

    # --- digests (supervisors) ---
    digest_recipients: str = Field(
        "", description="Comma-separated emails of the supervisors who receive the digests."
    )
    digest_time: str = Field(
        "08:00", description="Local time (HH:MM) of the daily digest (and the weekly one)."
    )
    digest_weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        "mon", description="Day of the weekly digest (covers the previous Monday-Sunday)."
    )
    digest_webhook_url: SecretStr | None = Field(
        None, description="Robot webhook (DingTalk/WeCom format) that receives digest summaries."
    )
    digest_font: Path | None = Field(
        None, description="CJK font file for digest charts/PDF; unset: an installed one is found."
    )

    # --- NLP classifiers and enrichment ---
    nlp_models_dir: Path | None = Field(
        None, description="Folder of trained NLP models; unset: the models shipped in nlp/models."
    )
    nlp_base_model: Path | None = Field(
        None,
        description="Transformer checkpoint folder fine-tuned by `nlp train-transformer` "
        "(any Chinese BERT-style checkpoint); unset: the config's base_model.",
    )
    nlp_cascade: bool = Field(
        True,
        description="Send posts the linear rumor model is unsure about (P(rumor) in the band of "
        "nlp/models/rumor_transformer/meta.json) to the shipped fine-tuned transformer too "
        "(the default path, chosen on the cross-source table); false: the linear model alone.",
    )
    enrich_interval_seconds: float = Field(
        3,
        description="How often `tingfeng run` enriches posts lacking the current NLP version "
        "(3 s keeps post-to-incident latency p95 under 10 s with triage every 2 s).",
    )
    enrich_batch_size: int = Field(500, description="Posts per enrichment batch.")

    # --- Kibana ---
    kibana_url: str | None = Field(None, description="Kibana URL for `dashboards import`.")
    kibana_username: str | None = Field(None, description="Kibana user.")
    kibana_password: SecretStr | None = Field(None, description="Kibana password.")

    # --- Kafka (scale-out; unset bootstrap: the embedded in-process path) ---
    kafka_bootstrap: str | None = Field(
        None,
        description="Kafka bootstrap servers (host:port,...); set: crawls, ingest, enrichment "
        "and triage run through Kafka topics and `tingfeng worker` processes.",
    )
    kafka_topic_posts_raw: str = Field(
        "posts.raw", description="Topic of validated posts before enrichment (key: post id)."
    )
    kafka_topic_posts_enriched: str = Field(
        "posts.enriched", description="Topic of enrichment events (id, labels, topic)."
    )
    kafka_topic_crawl_requests: str = Field(
        "crawl.requests", description="Topic of crawl requests (key: source name)."
    )
    kafka_topic_dead_letter: str = Field(
        "posts.dead-letter",
        description="Topic of messages no consumer could use, with the reason in a header.",
    )
    kafka_partitions: int = Field(
        6, ge=1, description="Partitions of new topics: the most workers a group can use."
    )
    kafka_retention_hours: float = Field(
        168.0, gt=0, description="Retention of new topics (hours): how far back replay reaches."
    )
    kafka_group_prefix: str = Field(
        "tingfeng", description="Prefix of consumer group ids (<prefix>-enrich, -crawl, ...)."
    )

    es_manage_indices: bool = Field(
        True,
        description="Create/migrate index templates, indices and aliases at start; false: only "
        "check they exist (a role that may not manage indices; compose's store-init makes them).",
    )

    # --- logging ---
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text, or one JSON object per line for log shippers."
    )
    log_summary_minutes: float = Field(
        5,
        ge=0,
        description="How often `tingfeng run` logs its one-line summary (posts, incidents, "
        "lag, errors); 0 turns it off.",
    )

    # --- API security ---
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For "
        "is believed (login throttling, audit); empty: the peer address is the client.",
    )
    auth_account_failures: int = Field(
        5, ge=1, description="Failed logins per account before each further attempt waits."
    )
    auth_backoff_max_seconds: int = Field(
        900, ge=1, description="Longest wait of the per-account login backoff (seconds)."
    )
    auth_throttle_max_keys: int = Field(
        100_000, ge=100, description="Clients and accounts the login throttle remembers at most."
    )
    password_blocklist_file: Path | None = Field(
        None,
        description="Extra refused passwords: one a line, or SHA-1 hex (breached-password "
        "lists, HASH or HASH:count).",
    )
    api_token_ttl_days: int = Field(
        90, ge=1, le=3650, description="Lifetime of new API tokens unless given (days)."
    )
    api_docs: bool = Field(
        True, description="Serve /docs, /redoc and /openapi.json (turn off in production)."
    )

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

    @field_validator(
        "playbook_file",
        "bootstrap_admin_password",
        "notify_webhook_url",
        "notify_webhook_secret",
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "password_blocklist_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("nlp_models_dir", "nlp_base_model", mode="before")
    @classmethod
    def _empty_models_dir_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("kafka_bootstrap", mode="before")
    @classmethod
    def _empty_kafka_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("llm_url", "llm_model", "llm_api_key", mode="before")
    @classmethod
    def _empty_llm_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("digest_time")
    @classmethod
    def _digest_time(cls, value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"{value!r} is not HH:MM (e.g. 08:00)")
        return value

    @field_validator("digest_recipients")
    @classmethod
    def _digest_recipients(cls, value: str) -> str:
        bad = [a for a in (x.strip() for x in value.split(",")) if a and "@" not in a]
        if bad:
            raise ValueError(f"not email addresses: {', '.join(bad)}")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"{value!r} is not HH:MM-HH:MM (e.g. 23:00-07:00)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @model_validator(mode="after")
    def _smtp_login_needs_tls(self) -> Settings:
        if self.smtp_username and self.smtp_password and self.smtp_security == "none":
            raise ValueError(
                "TINGFENG_SMTP_USERNAME/PASSWORD are set but TINGFENG_SMTP_SECURITY is 'none': "
                "a password must not cross the network in clear text; set starttls or ssl"
            )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "tingfeng.sqlite3"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"
