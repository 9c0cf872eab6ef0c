"""Exceptions that are the user's to fix: the CLI prints their message and exits non-zero."""

from __future__ import annotations

from crawlers.errors import CrawlerError
from dashboards.errors import DashboardError
from digest.errors import DigestError
from nlp.errors import NlpError
from nlp.kb_import import KbError
from store.context import SettingsError
from store.errors import StoreError
from triage.errors import TriageError

USER_ERRORS: tuple[type[BaseException], ...] = (
    SettingsError,
    StoreError,
    FileNotFoundError,
    DashboardError,
    DigestError,
    TriageError,
    CrawlerError,
    KbError,
    NlpError,
)
