"""Exceptions that are the user's to fix: the CLI prints their message and exits non-zero."""

from __future__ import annotations

from cli.context import SettingsError
from store.errors import StoreError

USER_ERRORS: tuple[type[BaseException], ...] = (SettingsError, StoreError, FileNotFoundError)
