"""The audit log: every change as an event (who, when, what, before/after).

Events are append-only records of kind `audit`. Their ids are deterministic (an incident
change is keyed by the incident's new version), so a retried write never duplicates an event.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from store.base import Store
from store.records import AuditEvent, make_id

AUDIT = "audit"


def _json(values: dict[str, Any]) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True, default=str)


def record_change(
    store: Store,
    *,
    entity_type: str,
    entity_id: str,
    action: str,
    actor: str,
    at: datetime,
    before: dict[str, Any],
    after: dict[str, Any],
    reason: str | None = None,
    key: str | None = None,
) -> AuditEvent:
    """Write one audit event. `key` identifies the change (e.g. the new version) for the id."""
    ident = key if key is not None else f"{action}@{at.isoformat()}#{_json(after)}"
    event = AuditEvent(
        id=make_id("audit", entity_type, entity_id, ident),
        at=at,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=_json(before) if before else None,
        after=_json(after) if after else None,
        reason=reason,
    )
    store.put(AUDIT, event)
    return event


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that changed, before and after."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
