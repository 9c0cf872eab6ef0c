"""Liveness and store status."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StoreDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Store status and spool depth")
def health(store: StoreDep) -> JSONResponse:
    try:
        status = store.status()
    except Exception as exc:  # an unreachable store is a status, not a crash
        spool = store.spool.depth() if store.spool else 0
        degraded = {
            "status": "degraded",
            "store": {"reachable": False, "detail": str(exc)},
            "spool_depth": spool,
        }
        return JSONResponse(degraded, status_code=503)
    body: dict[str, object] = {
        "status": "ok" if status.reachable else "degraded",
        "store": {
            "backend": status.backend,
            "reachable": status.reachable,
            "detail": status.detail,
            "counts": status.counts,
        },
        "spool_depth": status.spool_depth,
    }
    return JSONResponse(body, status_code=200 if status.reachable else 503)
