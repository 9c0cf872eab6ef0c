"""Security headers on every response, as one pure-ASGI middleware other parts of the app
(the /desk pages) reuse:

    X-Content-Type-Options: nosniff
    Content-Security-Policy: default-src 'self'; ...; frame-ancestors 'none'
    X-Frame-Options: DENY            (frame-ancestors for old browsers)
    Referrer-Policy: no-referrer
    Cross-Origin-Opener-Policy: same-origin

The policy allows only the app's own scripts, styles, images and fonts (no inline script, no
other origin), so pages served from this app under `/static/...` work as they are. The
interactive API docs (FastAPI's Swagger UI / ReDoc pages load their script and style from a
CDN and start with an inline script) get `DOCS_CSP`, only on their own paths; production
turns them off (`TINGFENG_API_DOCS=false`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "font-src 'self' https://fonts.gstatic.com",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
DOCS_PATHS = ("/docs", "/redoc")

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response (errors included). A path
    starting with a key of `csp_overrides` gets that policy instead of `csp`."""

    def __init__(
        self,
        app: ASGIApp,
        csp: str = CSP,
        csp_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.csp = csp
        self.overrides = dict(csp_overrides or {})

    def policy_for(self, path: str) -> str:
        for prefix, policy in self.overrides.items():
            if path == prefix or path.startswith(prefix + "/"):
                return policy
        return self.csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policy_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: Any, *, docs: bool) -> None:
    overrides = dict.fromkeys(DOCS_PATHS, DOCS_CSP) if docs else {}
    app.add_middleware(SecurityHeaders, csp_overrides=overrides)
