"""Cookies and headers for authenticated sources, from settings; never logged.

`TINGFENG_CRAWLER_CREDENTIALS` (JSON) or the file `TINGFENG_CRAWLER_CREDENTIALS_FILE` holds a
map of entry name -> `{"hosts": [...], "cookies": {...}, "headers": {...}}`; a source names its
entry with `credentials: NAME`. Values only ever leave this module inside outgoing requests,
and only to the hosts the entry names (each with its subdomains); an entry without `hosts`
goes only to the hosts of its source's entry URLs, never to `extra_hosts`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from crawlers.errors import CredentialsError
from store.settings import Settings


@dataclass(frozen=True)
class Credential:
    cookies: dict[str, str] = field(default_factory=dict, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    hosts: tuple[str, ...] = ()

    def __repr__(self) -> str:  # names only, never values
        return (
            f"Credential(hosts={list(self.hosts)}, cookies={sorted(self.cookies)}, "
            f"headers={sorted(self.headers)})"
        )


def _parse(text: str, origin: str) -> dict[str, Credential]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CredentialsError(f"{origin} is not valid JSON (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise CredentialsError(f"{origin} must be a JSON object of name -> credential")
    out: dict[str, Credential] = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or set(entry) - {"cookies", "headers", "hosts"}:
            raise CredentialsError(
                f"{origin}: entry '{name}' must be an object with 'cookies' and/or 'headers' "
                "(and optionally 'hosts')"
            )
        hosts = entry.get("hosts") or []
        if not isinstance(hosts, list) or not all(
            isinstance(h, str) and h.strip() and "/" not in h for h in hosts
        ):
            raise CredentialsError(
                f"{origin}: entry '{name}' field 'hosts' must be a list of host names "
                '(e.g. ["m.weibo.cn"], no scheme or path)'
            )
        parts: dict[str, dict[str, str]] = {}
        for key in ("cookies", "headers"):
            value = entry.get(key) or {}
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise CredentialsError(
                    f"{origin}: entry '{name}' field '{key}' must map to strings"
                )
            parts[key] = {str(k): v for k, v in value.items()}
        out[str(name)] = Credential(
            **parts, hosts=tuple(h.strip().lower().rstrip(".") for h in hosts)
        )
    return out


def load_credentials(settings: Settings) -> dict[str, Credential]:
    """All configured credential entries (empty when none are configured)."""
    found: dict[str, Credential] = {}
    if settings.crawler_credentials_file is not None:
        path = settings.crawler_credentials_file
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise CredentialsError(
                f"cannot read TINGFENG_CRAWLER_CREDENTIALS_FILE {path}: {exc.strerror}"
            ) from None
        found.update(_parse(text, "TINGFENG_CRAWLER_CREDENTIALS_FILE"))
    if settings.crawler_credentials is not None:
        found.update(
            _parse(settings.crawler_credentials.get_secret_value(), "TINGFENG_CRAWLER_CREDENTIALS")
        )
    return found


def credential_for(settings: Settings, name: str | None) -> Credential | None:
    if name is None:
        return None
    entries = load_credentials(settings)
    if name not in entries:
        raise CredentialsError(
            f"source needs credentials '{name}', which is not configured "
            "(TINGFENG_CRAWLER_CREDENTIALS or TINGFENG_CRAWLER_CREDENTIALS_FILE)"
        )
    return entries[name]
