"""Every route documents every error it can answer with, derived from what the route is:

    400  it takes a JSON body (the body does not parse)
    401  it needs a token (none, invalid, expired or revoked)
    403  it needs a permission (the token lacks it)
    404  its path names a record (no such record)
    409  its body carries a `version` (stale version), or the route declares it (existing
         record, workflow state)
    413  it takes a body (over TINGFENG_API_MAX_BODY_BYTES)
    422  always (input the schema or a stated rule refuses)
    429  it is an auth endpoint (throttled; Retry-After)
    503  it reads or writes the store (unreachable; Retry-After)

A route's own `responses` (a more specific description or model) win over these. Applied
once in `create_app`, after every router is included, so a new route is documented the same
way without anyone remembering to.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.errors import ErrorResponse

DESCRIPTIONS = {
    400: "the body is not valid JSON",
    401: "missing, invalid, expired or revoked token",
    403: "the token lacks the permission",
    404: "no record with the id in the path",
    409: "conflict: a stale `version` (the current one is in `details`), an existing record, "
    "or the workflow state does not allow it",
    413: "request body over TINGFENG_API_MAX_BODY_BYTES",
    422: "invalid input; `details` names each field",
    429: "too many attempts (per address, or per account after failed logins); see Retry-After",
    503: "the store is unreachable; retry after Retry-After seconds",
}


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": DESCRIPTIONS[409]}
}


def _calls(dependant: Dependant) -> list[Any]:
    found = [dependant.call]
    for sub in dependant.dependencies:
        found.extend(_calls(sub))
    return found


def _has_version(route: APIRoute) -> bool:
    field = route.body_field
    if field is None:
        return False
    model = getattr(field.field_info, "annotation", None) or getattr(field, "type_", None)
    fields = getattr(model, "model_fields", {})
    return "version" in fields


def route_error_codes(route: APIRoute) -> set[int]:
    from api.auth import Require, auth_rate_limit

    codes = {422, 503}
    calls = _calls(route.dependant)
    if route.body_field is not None:
        codes |= {400, 413}
    if route.dependant.path_params:
        codes.add(404)
    if _has_version(route):
        codes.add(409)
    if any(isinstance(c, Require) for c in calls):
        codes |= {401, 403}
    if auth_rate_limit in calls:
        codes.add(429)
    return codes


def document_responses(app: FastAPI) -> None:
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        for code in sorted(route_error_codes(route)):
            if code not in route.responses and str(code) not in route.responses:
                route.responses[code] = {"model": ErrorResponse, "description": DESCRIPTIONS[code]}
