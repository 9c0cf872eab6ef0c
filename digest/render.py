"""Digest -> HTML (email-safe inline styles), Markdown, plain text and PDF (WeasyPrint)."""

from __future__ import annotations

import base64
import logging
import warnings
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from digest.fonts import CjkFont
from digest.model import Digest

log = logging.getLogger(__name__)

GOOD_WHEN_UP = frozenset({"matched", "answered", "closed"})
NEUTRAL = frozenset({"posts", "topics", "help_incidents", "opened"})
FALLBACK_FONTS = "'Noto Sans CJK SC','Microsoft YaHei','PingFang SC','Hiragino Sans GB',sans-serif"


def font_stack(font: CjkFont | None) -> str:
    return (f"'{font.family}'," if font else "") + FALLBACK_FONTS


def fmt_number(value: float | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}".rstrip("0").rstrip(".")


def fmt_delta(value: float | None, other: float | None) -> str:
    if value is None or other is None:
        return ""
    diff = value - other
    if diff == 0:
        return "持平"
    arrow = "↑" if diff > 0 else "↓"
    text = f"{arrow}{fmt_number(abs(diff))}"
    if other:
        text += f"（{diff / other * 100:+.0f}%）"
    return text


def delta_style(value: float | None, other: float | None, key: str) -> str:
    if value is None or other is None or value == other or key in NEUTRAL:
        return "color:#888;"
    good = (value > other) == (key in GOOD_WHEN_UP)
    return "color:#1e8449;" if good else "color:#c0392b;"


@lru_cache(maxsize=8)
def environment(tz: str) -> jinja2.Environment:
    zone = ZoneInfo(tz)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("digest", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )

    def dt(value: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        return "—" if value is None else value.astimezone(zone).strftime(pattern)

    env.filters.update(num=fmt_number, delta=fmt_delta, delta_style=delta_style, dt=dt)
    return env


@dataclass
class Rendered:
    html: str  # for the saved file and the API: images as charts/<name>.png
    email_html: str  # images as cid:<name>
    markdown: str
    text: str
    pdf: bytes | None  # None: PDF off, `pdf_off` says why
    images: dict[str, bytes]
    pdf_off: str | None = None


def render_template(name: str, tz: str, **context: Any) -> str:
    return environment(tz).get_template(name).render(**context)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


PDF_PACKAGES = "fonts-wqy-microhei libpango-1.0-0 libpangoft2-1.0-0"


def pdf_unavailable(font: CjkFont | None) -> str | None:
    """Why no PDF can be made here (a missing system package), or None if it can. The HTML,
    Markdown and text formats need neither."""
    if font is None:
        return f"no CJK font installed (as root: apt-get install {PDF_PACKAGES})"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            import weasyprint  # noqa: F401  (loads pango through cffi)
    except (ImportError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"WeasyPrint cannot load pango: {first} (as root: apt-get install {PDF_PACKAGES})"
    return None


def pdf_from_html(html: str, font: CjkFont | None) -> bytes:
    """Render HTML to PDF with the CJK font embedded (A4, 14 mm margins)."""
    with warnings.catch_warnings():
        # Without libharfbuzz-subset0 (scripts/system-deps installs it) WeasyPrint subsets the
        # fonts with fontTools instead: slower, same PDF. Not a reason to fail a digest.
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        from weasyprint import CSS, HTML
        from weasyprint.text.fonts import FontConfiguration

    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)  # one line per step
    fonts = FontConfiguration()
    face = ""
    if font is not None:
        face = f"@font-face {{ font-family: '{font.family}'; src: url('{font.path.as_uri()}'); }}\n"
    css = CSS(
        string=face + "@page { size: A4; margin: 14mm; "
        "@bottom-right { content: counter(page) ' / ' counter(pages); font-size: 9pt; color: #888; } }\n"
        f"body {{ font-family: {font_stack(font)}; }}\n"
        "table table table tr { page-break-inside: avoid; }\n",
        font_config=fonts,
    )
    return HTML(string=html).write_pdf(
        stylesheets=[css], font_config=fonts, presentational_hints=True
    )  # type: ignore[no-any-return]


def render_digest(digest: Digest, images: dict[str, bytes], font: CjkFont | None) -> Rendered:
    tz = digest.timezone
    pdf_off = pdf_unavailable(font)
    stack = font_stack(font)
    files = {name: f"charts/{name}.png" for name in images}
    cids = {name: f"cid:{name}" for name in images}
    inline = {name: data_uri(png) for name, png in images.items()}
    common = {"d": digest, "font_stack": stack}
    html = render_template("digest.html.j2", tz, images=files, print=False, **common)
    email_html = render_template("digest.html.j2", tz, images=cids, print=False, **common)
    print_html = render_template("digest.html.j2", tz, images=inline, print=True, **common)
    return Rendered(
        html=html,
        email_html=email_html,
        markdown=render_template("digest.md.j2", tz, images=files, **common),
        text=render_template("digest.txt.j2", tz, **common),
        pdf=None if pdf_off else pdf_from_html(print_html, font),
        images=images,
        pdf_off=pdf_off,
    )
