"""Health: a minimal public liveness check, and the store's details behind authentication.

`GET /health` (no token) answers only `{"status": "ok" | "degraded"}` (503 when the store is
unreachable): a load balancer needs no more, and nobody else should learn the data path or
how many users and tokens exist. `GET /health/details` (the `audit` permission) adds the
backend, its detail, the counts per index and the spool depth.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.auth import AUTH_RESPONSES, Require
from api.deps import StoreDep
from store import Store

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]


class StoreHealth(BaseModel):
    backend: str | None = None
    reachable: bool
    detail: str
    counts: dict[str, int] = {}


class HealthDetails(Health):
    store: StoreHealth
    spool_depth: int


def _details(store: Store) -> tuple[dict[str, Any], int]:
    try:
        status = store.status()
    except Exception as exc:  # an unreachable store is a status, not a crash
        spool = store.spool.depth() if store.spool else 0
        degraded = {
            "status": "degraded",
            "store": {"reachable": False, "detail": str(exc)},
            "spool_depth": spool,
        }
        return degraded, 503
    body: dict[str, Any] = {
        "status": "ok" if status.reachable else "degraded",
        "store": {
            "backend": status.backend,
            "reachable": status.reachable,
            "detail": status.detail,
            "counts": status.counts,
        },
        "spool_depth": status.spool_depth,
    }
    return body, 200 if status.reachable else 503


@router.get(
    "/health",
    summary="Liveness: ok, or degraded when the store is unreachable (no token needed)",
    response_model=Health,
    responses={503: {"model": Health, "description": "the store is unreachable"}},
)
def health(store: StoreDep) -> JSONResponse:
    body, status = _details(store)
    return JSONResponse({"status": body["status"]}, status_code=status)


@router.get(
    "/health/details",
    summary="Store status, counts per index and spool depth",
    response_model=HealthDetails,
    dependencies=[Depends(Require("audit"))],
    responses={
        **AUTH_RESPONSES,
        503: {"model": HealthDetails, "description": "the store is unreachable"},
    },
)
def health_details(store: StoreDep) -> JSONResponse:
    body, status = _details(store)
    return JSONResponse(body, status_code=status)
