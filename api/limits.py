"""Request limits: login throttling (per client and per account), a sliding-window rate
limiter, the client address behind trusted proxies, and a body-size cap.

The body cap is pure ASGI middleware: a declared `Content-Length` over the limit is refused
before the body is read; a streamed body is counted and refused once it passes the limit.
Both answer 413 in the API's one error shape.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response


class RateLimiter:
    """At most `limit` hits per key within `window` seconds (in memory, thread-safe)."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> int | None:
        """Count a hit; None if allowed, else the seconds until the next one is."""
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle clients
                for k in [k for k, v in self._hits.items() if not v]:
                    del self._hits[k]
            return None


class LoginThrottle:
    """Throttling of the auth endpoints, in memory, bounded and expiring.

    - per client address: at most `client_limit` attempts per `window` seconds (sliding);
    - per account: after `account_failures` failed logins in a row, each further attempt
      waits 1, 2, 4, ... seconds after the last failure, up to `backoff_max` (a success
      resets it), whichever addresses the attempts come from;
    - an entry is forgotten once idle past its window (client) or past `backoff_max` after
      its last failure (account), and at most `max_keys` entries are kept (least recently
      used dropped first), so a flood of addresses or usernames cannot grow memory.
    """

    def __init__(
        self,
        *,
        client_limit: int,
        window: float,
        account_failures: int,
        backoff_max: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_limit = client_limit
        self.window = window
        self.account_failures = account_failures
        self.backoff_max = backoff_max
        self.max_keys = max_keys
        self.clock = clock
        self._clients: OrderedDict[str, deque[float]] = OrderedDict()
        self._accounts: OrderedDict[str, tuple[int, float]] = OrderedDict()  # failures, last
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._clients) + len(self._accounts)

    def _expire(self, now: float) -> None:
        for key in [k for k, hits in self._clients.items() if hits[-1] <= now - self.window]:
            del self._clients[key]
        for key in [k for k, (_, last) in self._accounts.items() if last <= now - self.backoff_max]:
            del self._accounts[key]

    def _bound(self, table: OrderedDict[str, Any], now: float) -> None:
        if len(table) > self.max_keys:
            self._expire(now)
        while len(table) > self.max_keys:
            table.popitem(last=False)

    def hit_client(self, client: str) -> int | None:
        """Count an attempt from `client`; None if allowed, else seconds until it is."""
        now = self.clock()
        with self._lock:
            hits = self._clients.pop(client, None) or deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.client_limit:
                self._clients[client] = hits
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            self._clients[client] = hits
            self._bound(self._clients, now)
            return None

    def account_wait(self, account: str) -> int | None:
        """None if `account` may try now, else the seconds it must wait."""
        now = self.clock()
        with self._lock:
            entry = self._accounts.get(account)
            if entry is None:
                return None
            failures, last = entry
            if last <= now - self.backoff_max:
                del self._accounts[account]
                return None
            if failures < self.account_failures:
                return None
            delay = min(self.backoff_max, 2.0 ** (failures - self.account_failures))
            remaining = last + delay - now
            return max(1, math.ceil(remaining)) if remaining > 0 else None

    def account_failed(self, account: str) -> None:
        now = self.clock()
        with self._lock:
            failures, _ = self._accounts.pop(account, (0, now))
            self._accounts[account] = (failures + 1, now)
            self._bound(self._accounts, now)

    def account_succeeded(self, account: str) -> None:
        with self._lock:
            self._accounts.pop(account, None)


def _networks(spec: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for item in spec.split(","):
        if item.strip():
            nets.append(ipaddress.ip_network(item.strip(), strict=False))
    return nets


def _in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: list[str], trusted_proxies: str) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy; then the nearest
    X-Forwarded-For entry (walking from the right) that is not itself a trusted proxy.
    Entries left of it are whatever the client claimed and are never believed."""
    peer = peer or "unknown"
    networks = _networks(trusted_proxies)
    if not networks or not _in(peer, networks):
        return peer
    chain = [a.strip() for header in forwarded_for for a in header.split(",") if a.strip()]
    for address in reversed(chain):
        if not _in(address, networks):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return peer  # garbage from the proxy: fall back to the proxy itself
    return peer


class _TooLarge(HTTPException):
    """Raised while reading a streamed body; FastAPI passes HTTPExceptions through to the
    error handlers, so this becomes a 413 in the error shape wherever it surfaces."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body over {max_bytes} bytes (TINGFENG_API_MAX_BODY_BYTES)")


class BodySizeLimit:
    """ASGI middleware: requests with bodies over `max_bytes` get 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"request body over {self.max_bytes} bytes (TINGFENG_API_MAX_BODY_BYTES)",
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)


def install_body_limit(app: Any, max_bytes: int) -> None:
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes)
