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
        done = run_crawl(settings, ["guard-html", "guard-extra"], site, tmp, variables=variables)
        store = open_backend("sqlite", settings, None)
        try:
            yield GuardCrawl(done.runs, done.stderr, store, site, internal)
        finally:
            store.close()


def test_nothing_reaches_the_internal_service(guarded: GuardCrawl) -> None:
    assert guarded.internal.log == []  # not a page, not even robots.txt
    assert not [t for t, _ in guarded.site.log if "meta-data" in t]


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
    redirects = [t for t, _ in guarded.site.log if t.startswith("/guard/redirect")]
    assert len(redirects) == 2  # the redirect itself was fetched; its target was refused


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
def self_signed(tmp: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def test_tls_certificates_are_verified_unless_the_source_opts_out(
    site: FixtureSite, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, sources_file=TEST_SOURCES, crawler_internal_hosts=LOCAL_HOSTS
    )
    with FixtureSite(tls=self_signed(tmp_path)) as secure:
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
