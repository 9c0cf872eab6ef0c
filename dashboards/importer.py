"""Import data views and saved objects into Kibana with its documented HTTP APIs.

    POST /api/data_views/data_view                   {"data_view": {...}, "override": true}
    POST /api/saved_objects/_import?overwrite=true    multipart field `file` (NDJSON)

Every request carries `kbn-xsrf: true` and the basic-auth credentials of the client it is
given. While Kibana is starting it refuses connections or answers 503 ("Kibana server is not
ready yet"): requests are retried until `wait_seconds` have passed, then KibanaUnavailable.
Results are reported per object; `ImportReport.ok` is False if any object failed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from dashboards.errors import KibanaUnavailable

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({502, 503, 504})


@dataclass(frozen=True)
class ObjectResult:
    type: str
    id: str
    title: str
    ok: bool
    reason: str = ""
    source: str = ""


@dataclass
class ImportReport:
    results: list[ObjectResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list[ObjectResult]:
        return [r for r in self.results if not r.ok]


def make_client(
    url: str,
    username: str | None = None,
    password: str | None = None,
    *,
    space: str | None = None,
    timeout: float = 60.0,
) -> httpx.Client:
    """An httpx client for Kibana: base URL (with `/s/<space>` if given), auth, `kbn-xsrf`."""
    base = url.rstrip("/") + (f"/s/{space}" if space else "")
    auth = httpx.BasicAuth(username, password or "") if username else None
    return httpx.Client(base_url=base, auth=auth, headers={"kbn-xsrf": "true"}, timeout=timeout)


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body
        return f"HTTP {response.status_code}: {message}"
    return f"HTTP {response.status_code}"


class KibanaImporter:
    """Creates/updates data views and imports NDJSON files, retrying while Kibana starts."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        wait_seconds: float = 300.0,
        retry_interval: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.wait_seconds = wait_seconds
        self.retry_interval = retry_interval
        self.sleep = sleep

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + self.wait_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.client.request(method, path, **kwargs)
                if response.status_code not in RETRY_STATUS:
                    return response
                problem = _reason(response)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() + self.retry_interval > deadline:
                raise KibanaUnavailable(
                    f"Kibana at {self.client.base_url} not ready after {attempt} attempts "
                    f"({self.wait_seconds:.0f} s): {problem}"
                )
            log.info("Kibana not ready (%s); retrying in %.0f s", problem, self.retry_interval)
            self.sleep(self.retry_interval)

    def put_data_view(self, obj: dict[str, Any]) -> ObjectResult:
        """Create or replace one data view (`override: true`) with the id from `obj`."""
        attrs = obj["attributes"]
        body = {
            "data_view": {
                "id": obj["id"],
                "title": attrs["title"],
                "name": attrs.get("name", attrs["title"]),
            }
            | ({"timeFieldName": attrs["timeFieldName"]} if attrs.get("timeFieldName") else {}),
            "override": True,
        }
        response = self._request("POST", "/api/data_views/data_view", json=body)
        ok = response.status_code == 200
        return ObjectResult(
            "index-pattern",
            obj["id"],
            attrs.get("name", attrs["title"]),
            ok,
            "" if ok else _reason(response),
            source="data views API",
        )

    def import_ndjson(self, path: Path) -> list[ObjectResult]:
        """Import one NDJSON file with overwrite; one result per object in the file."""
        payload = path.read_bytes()
        objects = [
            json.loads(line) for line in payload.decode("utf-8").splitlines() if line.strip()
        ]
        titles = {(o["type"], o["id"]): o.get("attributes", {}).get("title", "") for o in objects}
        response = self._request(
            "POST",
            "/api/saved_objects/_import",
            params={"overwrite": "true"},
            files={"file": (path.name, payload, "application/ndjson")},
        )
        if response.status_code != 200:
            reason = _reason(response)
            return [
                ObjectResult(t, i, title, False, reason, path.name)
                for (t, i), title in titles.items()
            ]
        body = response.json()
        results: dict[tuple[str, str], ObjectResult] = {}
        for item in body.get("successResults") or []:
            key = (item["type"], item["id"])
            results[key] = ObjectResult(*key, titles.get(key, ""), True, source=path.name)
        for item in body.get("errors") or []:
            key = (item["type"], item["id"])
            error = item.get("error") or {}
            reason = error.get("type", "error")
            if error.get("references"):
                missing = ", ".join(f"{r['type']}:{r['id']}" for r in error["references"])
                reason += f" ({missing})"
            elif error.get("message"):
                reason += f": {error['message']}"
            results[key] = ObjectResult(
                *key, item.get("title") or titles.get(key, ""), False, reason, path.name
            )
        for key, title in titles.items():
            if key not in results:
                # `success: true` without per-object results (older Kibana): all imported
                ok = bool(body.get("success"))
                results[key] = ObjectResult(
                    *key, title, ok, "" if ok else "not reported by Kibana", path.name
                )
        return [results[key] for key in titles]

    def run(self, data_views: Iterable[dict[str, Any]], files: Iterable[Path]) -> ImportReport:
        """Data views first (the visualizations reference them), then every NDJSON file."""
        report = ImportReport()
        for view in data_views:
            report.results.append(self.put_data_view(view))
        for path in files:
            report.results.extend(self.import_ndjson(path))
        log.info("kibana import: %d objects, %d failed", len(report.results), len(report.failures))
        return report
