"""Where a source's requests may go, and what they may carry (the SSRF guard).

Every request of a source, the first hop and each redirect, passes `HostGuardMiddleware` before
robots.txt is asked for or anything is downloaded:

- the scheme is http or https;
- the host is one of the source's hosts: the hosts of its entry URLs plus its `extra_hosts`,
  each with its subdomains (`offsite` otherwise);
- the host resolves only to public addresses: loopback, private, link-local (cloud metadata
  such as 169.254.169.254), shared (100.64/10, Alibaba Cloud's metadata), multicast, reserved
  and unspecified addresses are refused (`internal_address`), unless the host (or host:port) is
  named in `TINGFENG_CRAWLER_INTERNAL_HOSTS` (an office's own systems). The check resolves
  through the crawl's DNS cache, which the connection then uses, so a name cannot answer with
  a public address for the check and a private one for the fetch.

A refused request raises `HostRefused`: nothing is fetched, the refusal is logged with its
reason and counted in the run's `refused` stats.

`CredentialScopeMiddleware` runs after the cookies middleware, just before the download: a
request to a host its source's credential does not name leaves without the credential's
headers and cookies and without any `Authorization` header (the spider attaches credentials
only to those hosts; this also covers redirects and cookies kept by the cookie jar).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future

from crawlers.hosts import address_problem, clean_host, host_matches, internal_allowed

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Request

    from crawlers.context import CrawlContext

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


class HostRefused(IgnoreRequest):
    """A request the guard refused (kind: scheme, offsite or internal_address)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _context(crawler: Crawler) -> CrawlContext | None:
    return getattr(crawler.spider, "ctx", None)


class HostGuardMiddleware:
    """Refuses other schemes, other hosts and internal addresses (see the module docstring)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        ctx = _context(self.crawler)
        if ctx is None:
            return
        parts = urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise HostRefused("scheme", f"scheme {scheme!r} is not http or https")
        host = clean_host(parts.hostname or "")
        if not host_matches(host, ctx.allowed_hosts):
            raise HostRefused(
                "offsite",
                f"host {host!r} is not one of the source's hosts {ctx.allowed_hosts} "
                "(add it to the source's extra_hosts if the source really lives there)",
            )
        port = parts.port or _DEFAULT_PORTS[scheme]
        if internal_allowed(host, port, ctx.internal_hosts):
            return
        if _is_ip(host):
            address = host
        else:
            from twisted.internet import reactor

            # the reactor's resolver is Scrapy's caching resolver: the connection reuses
            # this very answer
            address = await maybe_deferred_to_future(reactor.resolve(host))  # type: ignore[arg-type]
        problem = address_problem(address)
        if problem is not None:
            raise HostRefused(
                "internal_address",
                f"{host} resolves to a {problem} (name it in TINGFENG_CRAWLER_INTERNAL_HOSTS "
                "if it is one of the office's own systems)",
            )


class CredentialScopeMiddleware:
    """Strips credentials from requests to hosts the credential does not name."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        ctx = _context(self.crawler)
        if ctx is None:
            return
        host = urlsplit(request.url).hostname or ""
        if ctx.credential is not None and host_matches(host, ctx.credential_hosts):
            return
        request.headers.pop(b"Authorization", None)
        if ctx.credential is None:
            return
        for name in ctx.credential.headers:
            request.headers.pop(name.encode("latin-1"), None)
        secret = set(ctx.credential.cookies)
        cookie = request.headers.get(b"Cookie")
        if cookie and secret:
            kept = [
                part.strip()
                for part in cookie.decode("latin-1").split(";")
                if part.strip() and part.split("=", 1)[0].strip() not in secret
            ]
            if kept:
                request.headers[b"Cookie"] = "; ".join(kept).encode("latin-1")
            else:
                request.headers.pop(b"Cookie", None)
