"""Every operation documents every error it can answer with, derived from the operation:

    400  it takes a JSON body (the body does not parse)
    401  it needs a token (none, invalid, expired or revoked)
    403  it needs a permission (the token lacks it)
    404  its path names a record (no such record)
    409  its body carries a `version` (stale version), or the route declares it (an existing
         record, the workflow state)
    413  it takes a body (over TINGFENG_API_MAX_BODY_BYTES)
    422  always (input the schema or a stated rule refuses)
    429  the route declares it (auth endpoints: throttled; Retry-After)
    503  always (the store is unreachable; Retry-After)

A route's own `responses` (a more specific description or model) win. The schema FastAPI
generates is completed once, on first use (`install_openapi`), so a new route is documented
the same way without anyone remembering to. `allowed_methods` answers a 405's `Allow` from
the same schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.routing import compile_path

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
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def _error(code: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorResponse, "description": DESCRIPTIONS[code]}}


CONFLICT = _error(409)
THROTTLED = _error(429)


def _body_schema(schema: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    body = content.get("application/json", {}).get("schema", {})
    ref = body.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        found: dict[str, Any] = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return found
    return body  # type: ignore[no-any-return]


def operation_error_codes(schema: dict[str, Any], operation: dict[str, Any]) -> set[int]:
    codes = {422, 503}
    if "requestBody" in operation:
        codes |= {400, 413}
        if "version" in _body_schema(schema, operation).get("properties", {}):
            codes.add(409)
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        codes.add(404)
    if operation.get("security"):
        codes |= {401, 403}
    return codes


def complete_schema(schema: dict[str, Any]) -> dict[str, Any]:
    for path_item in schema.get("paths", {}).values():
        for method in METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code in sorted(operation_error_codes(schema, operation)):
                responses.setdefault(
                    str(code),
                    {
                        "description": DESCRIPTIONS[code],
                        "content": {"application/json": {"schema": ERROR_REF}},
                    },
                )
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete_schema(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def allowed_methods(request: Request) -> list[str]:
    """Every method the schema documents at this request's path (a 405's `Allow`)."""
    methods: set[str] = set()
    for template, path_item in request.app.openapi().get("paths", {}).items():
        regex, _, _ = compile_path(template)
        if regex.match(request.url.path):
            methods |= {m.upper() for m in path_item if m in METHODS}
    return sorted(methods)
