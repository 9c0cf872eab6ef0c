"""Host names and addresses for the SSRF guard (`crawlers.hostguard`): matching a host against
a source's hosts, the internal-hosts setting, and which IP addresses a crawl may not reach.
Plain functions, no Scrapy."""

from __future__ import annotations

import ipaddress


def clean_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


def host_matches(host: str, domains: list[str] | tuple[str, ...]) -> bool:
    """`host` is one of `domains` or a subdomain of one."""
    host = clean_host(host)
    return any(host == d or host.endswith("." + d) for d in domains)


def parse_internal_hosts(text: str) -> frozenset[str]:
    """`TINGFENG_CRAWLER_INTERNAL_HOSTS` ("a.local, b.local:8080") -> entries."""
    return frozenset(clean_host(part) for part in text.split(",") if part.strip())


def internal_allowed(host: str, port: int, allowed: frozenset[str]) -> bool:
    """An exact name (no subdomains) or `name:port` from the internal-hosts setting."""
    host = clean_host(host)
    return host in allowed or f"{host}:{port}" in allowed


def address_problem(address: str) -> str | None:
    """Why a fetch may not go to this IP address, or None for a public address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return f"loopback address {ip}"
    if ip.is_link_local:
        return f"link-local/metadata address {ip}"
    if ip.is_private:
        return f"private address {ip}"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return f"non-public address {ip}"
    return None
