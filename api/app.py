"""The FastAPI application. Clients are built in `lifespan`, never at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import ErrorResponse, install_error_handlers
from api.routes import health, posts
from store import Settings, Store, open_store


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """Build the app. Pass `store` to share one (tests, `tingfeng run`); else one is opened."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.settings = settings
        app.state.store = store or open_store(settings)
        if owned:
            app.state.store.init()
        try:
            yield
        finally:
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="Tingfeng 听风 API",
        version="1",
        lifespan=lifespan,
        responses={422: {"model": ErrorResponse}},
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(posts.router)
    return app
