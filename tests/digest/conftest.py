"""Fixtures for digest tests: a rendered fixture digest (built once per session, it is the slow
part), and real local servers: SMTP (aiosmtpd) and a robot webhook (HTTP on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from digest.jobs import make_digest
from digest.model import Digest
from digest.render import Rendered
from store import Settings
from store.sqlite import SqliteStore
from tests.conftest import make_settings
from tests.digest import fixture_day as fx

PUBLIC = "https://tingfeng.example.gov.cn"


@dataclass
class Built:
    settings: Settings
    store: SqliteStore
    digest: Digest
    rendered: Rendered


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    settings = make_settings(tmp_path_factory.mktemp("digest"), public_url=PUBLIC)
    store = SqliteStore(settings.sqlite_path)
    store.init()
    fx.load(store, settings)
    digest, rendered = make_digest(
        store, kind="daily", day=fx.DAY, tz=settings.timezone, public_url=PUBLIC
    )
    yield Built(settings, store, digest, rendered)
    store.close()


@pytest.fixture(scope="session")
def built_empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    settings = make_settings(tmp_path_factory.mktemp("empty"), public_url=PUBLIC)
    store = SqliteStore(settings.sqlite_path)
    store.init()
    digest, rendered = make_digest(
        store, kind="daily", day=fx.DAY, tz=settings.timezone, public_url=PUBLIC
    )
    yield Built(settings, store, digest, rendered)
    store.close()


def pdf_text(pdf: bytes) -> list[str]:
    import io

    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def pdf_fonts(pdf: bytes) -> set[str]:
    import io

    from pypdf import PdfReader

    names: set[str] = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        fonts = page.get("/Resources", {}).get("/Font", {})
        for ref in fonts.values():
            names.add(str(ref.get_object().get("/BaseFont")))
    return names
