"""The SSRF guard, in real crawls: a source stays on its hosts, internal addresses are refused
after DNS resolution and on every redirect, credentials go only to the hosts they name, and
TLS certificates are verified unless a source opts out (logged at every run).

The fixture site runs on 127.0.0.1 (named in TINGFENG_CRAWLER_INTERNAL_HOSTS); a second local
server, reached as `localhost:PORT`, stands in for an office's internal service that is not
named there."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crawlers.fixtures.server import FixtureSite
from store import Store
from store.base import PostQuery
from store.records import SourceRun
from tests.conftest import make_settings, open_backend
from tests.crawlers.conftest import LOCAL_HOSTS, TEST_SOURCES, run_crawl

SECRET_COOKIE = "office-session-7f3a9c-never-elsewhere"
SECRET_TOKEN = "Bearer office-token-51e2d8-never-elsewhere"
CREDENTIALS = json.dumps(
    {
        "office": {
            "hosts": ["127.0.0.1"],
            "cookies": {"SESSION": SECRET_COOKIE},
            "headers": {"Authorization": SECRET_TOKEN, "X-Office-Key": f"k-{SECRET_COOKIE}"},
        }
    }
)


@dataclass
class GuardCrawl:
    runs: dict[str, SourceRun]
    log: str
    store: Store
    site: FixtureSite
    internal: FixtureSite
    redirects: int  # requests of the fixture site's redirect during this crawl

    def detail(self, source: str) -> dict[str, object]:
        return json.loads(self.runs[source].detail or "{}")  # type: ignore[no-any-return]

    def stored(self, source: str) -> list[str]:
        page = self.store.search_posts(PostQuery(terms={"source": [source]}), size=50)
        return sorted(p.url or "" for p in page.posts)


@pytest.fixture(scope="module")
def guarded(site: FixtureSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuardCrawl]:
    tmp = tmp_path_factory.mktemp("guard")
    settings = make_settings(
        tmp,
        sources_file=TEST_SOURCES,
        crawler_credentials=CREDENTIALS,
        crawler_internal_hosts=LOCAL_HOSTS,
    )
    with FixtureSite() as internal:
        port = internal.server.server_address[1]
        variables = {"internal": f"localhost:{port}"}
        before = len(site.requests_for("/guard/redirect"))
        done = run_crawl(settings, ["guard-html", "guard-extra"], site, tmp, variables=variables)
        redirects = len(site.requests_for("/guard/redirect")) - before
        store = open_backend("sqlite", settings, None)
        try:
            yield GuardCrawl(done.runs, done.stderr, store, site, internal, redirects)
        finally:
            store.close()


def test_nothing_reaches_the_internal_service(guarded: GuardCrawl) -> None:
    assert guarded.internal.log == []  # not a page, not even robots.txt


def test_only_the_sources_own_page_is_stored(guarded: GuardCrawl) -> None:
    assert guarded.stored("guard-html") == [f"{guarded.site.url}/guard/notice.html"]
    assert guarded.stored("guard-extra") == [f"{guarded.site.url}/guard/notice2.html"]
    for source in ("guard-html", "guard-extra"):
        assert guarded.runs[source].status == "ok"
        assert guarded.runs[source].new == 1


def test_refusals_are_counted_per_reason(guarded: GuardCrawl) -> None:
    # off the source's hosts: the link, the redirect's target and the metadata address
    assert guarded.detail("guard-html")["refused"] == {"offsite": 3}
    # declared as the source's hosts, but they resolve to loopback / are link-local
    assert guarded.detail("guard-extra")["refused"] == {"internal_address": 3}
    assert "resolves to a loopback address 127.0.0.1" in guarded.log
    assert "resolves to a link-local/metadata address 169.254.169.254" in guarded.log
    assert guarded.redirects == 2  # the redirect itself was fetched; its target was refused


def test_credentials_go_only_to_the_hosts_they_name(guarded: GuardCrawl) -> None:
    for page in ("/guard/notice.html", "/guard/notice2.html"):
        sent = guarded.site.headers[page]
        assert sent.get("Authorization") == SECRET_TOKEN
        assert f"SESSION={SECRET_COOKIE}" in (sent.get("Cookie") or "")
    assert SECRET_COOKIE not in guarded.log and "office-token" not in guarded.log


def test_credentials_stay_home_when_an_extra_host_is_fetched(
    site: FixtureSite, tmp_path: Path
) -> None:
    """The internal service named as an allowed internal host and as the source's extra host:
    it is fetched, but without the credential, which names only the fixture site."""
    with FixtureSite() as internal:
        port = internal.server.server_address[1]
        settings = make_settings(
            tmp_path,
            sources_file=TEST_SOURCES,
            crawler_credentials=CREDENTIALS,
            crawler_internal_hosts=f"{LOCAL_HOSTS}, localhost:{port}",
        )
        variables = {"internal": f"localhost:{port}"}
        done = run_crawl(settings, ["guard-extra"], site, tmp_path, variables=variables)
        runs, log = done.runs, done.stderr
        reached = dict(internal.headers)
    assert set(reached) >= {"/internal/admin.html", "/internal/redirected.html"}
    for headers in reached.values():
        names = {k.lower() for k in headers}
        assert not names & {"authorization", "cookie", "x-office-key"}, headers
        assert SECRET_COOKIE not in str(headers)
    assert runs["guard-extra"].status == "ok"
    assert "link-local/metadata address 169.254.169.254" in log


# -- TLS ---------------------------------------------------------------------------------------
def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_certificate(tmp: Path, *, ca: bool) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 and the PEM file a client would trust: the certificate
    itself (self-signed), or, with `ca`, a fresh CA that signed it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    key = ec.generate_private_key(ec.SECP256R1())
    issuer_key, issuer = key, name("127.0.0.1")
    builder = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    )
    trusted = tmp / "trusted.pem"
    if ca:
        issuer_key, issuer = ec.generate_private_key(ec.SECP256R1()), name("Tingfeng Test CA")
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(issuer)
            .issuer_name(issuer)
            .public_key(issuer_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(issuer_key, hashes.SHA256())
        )
        trusted.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert = builder.issuer_name(issuer).sign(issuer_key, hashes.SHA256())
    if not ca:
        trusted.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(_key_pem(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, trusted


def test_tls_certificates_are_verified_unless_the_source_opts_out(
    site: FixtureSite, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, sources_file=TEST_SOURCES, crawler_internal_hosts=LOCAL_HOSTS
    )
    context, _ = make_certificate(tmp_path, ca=False)
    with FixtureSite(tls=context) as secure:
        assert secure.url.startswith("https://")
        done = run_crawl(
            settings, ["tls-feed", "tls-feed-optout"], site, tmp_path, variables={"tls": secure.url}
        )
        runs, log = done.runs, done.stderr
    store = open_backend("sqlite", settings, None)
    try:
        refused = store.count_posts(PostQuery(terms={"source": ["tls-feed"]}))
        accepted = store.count_posts(PostQuery(terms={"source": ["tls-feed-optout"]}))
    finally:
        store.close()
    assert runs["tls-feed"].status == "failed"
    assert json.loads(runs["tls-feed"].detail or "{}")["errors"] == {"tls": 1}
    assert refused == 0
    assert runs["tls-feed-optout"].status == "ok"
    assert accepted == runs["tls-feed-optout"].new > 0
    warning = "source tls-feed-optout: TLS certificate verification is OFF"
    assert warning in log
    assert "source tls-feed: TLS certificate verification is OFF" not in log


def test_a_certificate_from_a_trusted_ca_is_accepted(site: FixtureSite, tmp_path: Path) -> None:
    """Verification is real, not a blanket refusal: trust the test CA (as an office would add
    its own CA to the system store) and the same source reads the feed, without any warning."""
    settings = make_settings(
        tmp_path, sources_file=TEST_SOURCES, crawler_internal_hosts=LOCAL_HOSTS
    )
    context, ca = make_certificate(tmp_path, ca=True)
    with FixtureSite(tls=context) as secure:
        done = run_crawl(
            settings,
            ["tls-feed"],
            site,
            tmp_path,
            variables={"tls": secure.url},
            env={"SSL_CERT_FILE": str(ca)},
        )
    run = done.runs["tls-feed"]
    assert run.status == "ok", done.detail("tls-feed")
    assert run.new > 0
    assert "TLS certificate verification is OFF" not in done.stderr


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local/metadata"),  # AWS, GCP, Azure, Tencent metadata
        ("fe80::1", "link-local/metadata"),
        ("100.100.100.200", "non-public"),  # Alibaba Cloud metadata (shared space)
        ("0.0.0.0", "private"),
        ("224.0.0.1", "non-public"),
        ("240.0.0.1", "private"),
        ("202.108.22.5", None),
        ("2400:da00::6666", None),
    ],
)
def test_which_addresses_are_refused(address: str, problem: str | None) -> None:
    from crawlers.hosts import address_problem

    found = address_problem(address)
    assert (found.split(" address")[0] if found else None) == problem


def test_host_matching() -> None:
    from crawlers.hosts import host_matches, internal_allowed, parse_internal_hosts

    assert host_matches("News.Example.cn.", ["example.cn"])
    assert not host_matches("badexample.cn", ["example.cn"])
    allowed = parse_internal_hosts(" intranet.office.local , 10.1.2.3:8080,")
    assert allowed == {"intranet.office.local", "10.1.2.3:8080"}
    assert internal_allowed("intranet.office.local", 443, allowed)
    assert not internal_allowed("x.intranet.office.local", 443, allowed)  # exact names only
    assert internal_allowed("10.1.2.3", 8080, allowed)
    assert not internal_allowed("10.1.2.3", 80, allowed)
