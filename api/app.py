"""The FastAPI application. Clients are built in `lifespan`, never at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth import bootstrap_admin
from api.desk import install_desk
from api.errors import ErrorResponse, install_error_handlers
from api.headers import install_security_headers
from api.limits import install_body_limit
from api.openapi import install_openapi
from api.routes import audit, feeds, health, incidents, playbook, posts
from api.routes import auth as auth_routes
from api.routes import digests as digest_routes
from api.routes import drafts as draft_routes
from api.routes import effect as effect_routes
from api.routes import kb as kb_routes
from api.routes import sources as source_routes
from api.routes import topics as topic_routes
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
        bootstrap_admin(app.state.store, settings)
        try:
            yield
        finally:
            if owned:
                app.state.store.close()

    docs = settings.api_docs
    app = FastAPI(
        title="Tingfeng 听风 API",
        version="1",
        lifespan=lifespan,
        responses={422: {"model": ErrorResponse}},
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    install_error_handlers(app)
    install_body_limit(app, settings.api_max_body_bytes)
    install_security_headers(app, docs=docs)  # outermost: every response, errors included
    app.include_router(health.router)
    app.include_router(posts.router)
    app.include_router(topic_routes.router)
    app.include_router(kb_routes.router)
    app.include_router(auth_routes.router)
    app.include_router(incidents.router)
    app.include_router(audit.router)
    app.include_router(playbook.router)
    app.include_router(feeds.router)
    app.include_router(draft_routes.router)
    app.include_router(effect_routes.router)
    app.include_router(digest_routes.router)
    app.include_router(source_routes.router)
    install_desk(app)  # the web desk at /desk (not in the OpenAPI schema)
    install_openapi(app)  # every operation's error statuses in the schema
    return app
