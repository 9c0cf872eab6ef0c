"""Turning fetched bytes into clean fields: charsets, HTML -> text, dates, counts.

- `decode_body`: GBK/GB18030/Big5/UTF-8 pages whose declaration (header, meta or XML prolog) is
  wrong or missing are decoded by detection (charset-normalizer), not into mojibake.
- `html_to_text`: post/article HTML to plain text (emoticon images keep their alt text, e.g.
  `[泪]`); `extract_article` uses trafilatura for news pages without a text selector.
- `parse_datetime`: absolute and Chinese relative formats (Weibo "刚刚", "3分钟前",
  "昨天 12:30", "01月01日 18:46", "01-01", "Sat Jan 01 18:46:00 +0800 2022"), RSS/Atom dates,
  epoch seconds/milliseconds; the result is timezone-aware in the given zone, or None.
- `parse_count`: "1.2万", "100万+", "评论 12" -> int.
"""

from __future__ import annotations

import codecs
import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from html import unescape
from zoneinfo import ZoneInfo

# --------------------------------------------------------------------------------------------
# charsets
# --------------------------------------------------------------------------------------------

_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "gb_2312-80": "gb18030",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "utf8": "utf-8",
    "utf-8": "utf-8",
    # as browsers do (WHATWG Encoding): these labels mean Windows-1252 ("smart quotes" in 0x80-0x9F)
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
}
_CHINESE = ["utf_8", "gb18030", "big5hkscs"]
_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([\w.:-]+)["']""", re.IGNORECASE)
_CT_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def canonical_charset(name: str | None) -> str | None:
    """A Python codec name for a declared charset, or None if unknown."""
    if not name:
        return None
    name = name.strip().lower()
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def declared_charsets(content_type: str | None, body: bytes) -> list[str]:
    """Charsets the response claims, most authoritative first (header, XML prolog, meta)."""
    found: list[str | None] = []
    if content_type:
        match = _CT_CHARSET.search(content_type)
        if match:
            found.append(canonical_charset(match.group(1)))
    head = body[:4096]
    for pattern in (_XML_DECL, _META):
        declared = pattern.search(head)
        if declared:
            found.append(canonical_charset(declared.group(1).decode("ascii", "ignore")))
    out: list[str] = []
    for name in found:
        if name and name not in out:
            out.append(name)
    return out


def decode_body(body: bytes, declared: list[str] | None = None) -> tuple[str, str]:
    """Decode page bytes; returns (text, codec used).

    A strictly valid UTF-8 body is UTF-8 whatever it claims. Otherwise the declared charset is
    kept only if detection finds it as plausible as the best candidate (GBK and Big5 byte
    ranges overlap, so a strict decode alone proves nothing)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace"), name
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = [d for d in (declared or []) if d != "utf-8"]
    from charset_normalizer import from_bytes

    candidates = list(dict.fromkeys([*_CHINESE, *declared]))
    matches = from_bytes(body, cp_isolation=candidates, preemptive_behaviour=False)
    best = matches.best()
    if best is None:
        codec = declared[0] if declared else "gb18030"
        return body.decode(codec, errors="replace"), codec
    best_codec = canonical_charset(best.encoding) or best.encoding
    for name in declared:
        for match in matches:
            if canonical_charset(match.encoding) == name and match.chaos <= best.chaos + 0.02:
                return body.decode(name, errors="replace"), name
    return body.decode(best_codec, errors="replace"), best_codec


# --------------------------------------------------------------------------------------------
# HTML -> text
# --------------------------------------------------------------------------------------------

_BLOCK = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "tr",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "blockquote",
        "pre",
        "header",
        "footer",
        "dd",
        "dt",
        "dl",
        "figure",
        "figcaption",
    ]
)
_DROP = frozenset({"script", "style", "noscript", "template", "iframe", "svg"})
_INLINE_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")
_MANY_NEWLINES = re.compile(r"\n\s*\n+")
_TAG = re.compile(r"<[a-zA-Z!/?]")


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment or document; images keep their alt text."""
    if not html or not _TAG.search(html):
        return _tidy(unescape(html) if html and "&" in html else (html or ""))
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return _tidy(re.sub(r"<[^>]*>", " ", html))
    parts: list[str] = []

    def walk(el: etree._Element) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _DROP:
            if el.tail:
                parts.append(el.tail)
            return
        if tag == "img":
            alt = el.get("alt") or ""
            if alt:
                parts.append(alt)
        elif tag in _BLOCK:
            parts.append("\n")
        if el.text and tag:
            parts.append(el.text)
        for child in el:
            walk(child)
        if tag in _BLOCK:
            parts.append("\n")
        if el.tail:
            parts.append(el.tail)

    walk(root)
    return _tidy("".join(parts))


def _tidy(text: str) -> str:
    lines = [_INLINE_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n", "\n".join(line for line in lines if line)).strip()


def extract_article(html: str, url: str | None = None) -> str | None:
    """Main text of a news article page (trafilatura), or None if none was found."""
    import trafilatura

    text = trafilatura.extract(
        html, url=url, include_comments=False, include_tables=False, favor_precision=True
    )
    return _tidy(text) if text else None


# --------------------------------------------------------------------------------------------
# dates
# --------------------------------------------------------------------------------------------

_REL = re.compile(r"^(\d+)\s*(秒|分钟|分|小时|天|周)\s*前$")
_REL_UNITS = {"秒": 1, "分钟": 60, "分": 60, "小时": 3600, "天": 86400, "周": 7 * 86400}
_DAY_WORD = re.compile(r"^(今天|昨天|前天)\s*(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_DAY_OFFSET = {"今天": 0, "昨天": 1, "前天": 2}
_YMD_CN = re.compile(
    r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*(?:(\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)
_MD_CN = re.compile(r"^(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*(?:(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_MD = re.compile(r"^(\d{1,2})-(\d{1,2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_HM = re.compile(r"^(\d{1,2}):(\d{2})$")
_YMD = re.compile(
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T\s]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_EPOCH = re.compile(r"^\d{10}(\d{3})?$")
_WEIBO = "%a %b %d %H:%M:%S %z %Y"
MIN_YEAR = 1990


def _clock(groups: tuple[str | None, ...]) -> tuple[int, int, int]:
    h, m, s = (int(g) if g else 0 for g in groups)
    return h, m, s


def _without_year(now: datetime, month: int, day: int, hms: tuple[int, int, int]) -> datetime:
    """A month-day without a year: this year, or last year if that would be in the future."""
    value = now.replace(
        month=month, day=day, hour=hms[0], minute=hms[1], second=hms[2], microsecond=0
    )
    if value > now + timedelta(days=1):
        value = value.replace(year=now.year - 1)
    return value


def parse_datetime(value: object, *, now: datetime, tz: ZoneInfo) -> datetime | None:
    """An aware datetime in `tz` from many formats, or None if unreadable or implausible.

    `now` anchors relative forms ("3分钟前", "昨天 12:30") and year-less dates."""
    result = _parse(value, now.astimezone(tz), tz)
    if result is None:
        return None
    if result.tzinfo is None:
        result = result.replace(tzinfo=tz)
    result = result.astimezone(tz)
    if result.year < MIN_YEAR:
        return None
    return result


def _parse(value: object, now: datetime, tz: ZoneInfo) -> datetime | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return _epoch(float(value), tz)
    if not isinstance(value, str):
        return None
    text = " ".join(value.replace("\u3000", " ").split())
    text = re.sub(r"^(发布于|发表于|发布时间[:：]?|时间[:：])\s*", "", text)
    if not text:
        return None
    if text == "刚刚":
        return now
    if m := _REL.match(text):
        return now - timedelta(seconds=int(m.group(1)) * _REL_UNITS[m.group(2)])
    if m := _DAY_WORD.match(text):
        h, mi, s = _clock(m.groups()[1:])
        day = now - timedelta(days=_DAY_OFFSET[m.group(1)])
        return day.replace(hour=h, minute=mi, second=s, microsecond=0)
    if _EPOCH.match(text):
        return _epoch(float(text), tz)
    try:
        if m := _YMD_CN.match(text):
            y, mo, d = (int(g) for g in m.groups()[:3])
            return datetime(y, mo, d, *_clock(m.groups()[3:]), tzinfo=tz)
        if m := _MD_CN.match(text):
            return _without_year(now, int(m.group(1)), int(m.group(2)), _clock(m.groups()[2:]))
        if m := _MD.match(text):
            return _without_year(now, int(m.group(1)), int(m.group(2)), _clock(m.groups()[2:]))
        if m := _HM.match(text):
            h, mi = int(m.group(1)), int(m.group(2))
            today = now.replace(hour=h, minute=mi, second=0, microsecond=0)
            return today if today <= now + timedelta(minutes=5) else today - timedelta(days=1)
        if m := _YMD.match(text):
            return _iso(m, tz)
    except ValueError:  # out-of-range parts such as month 13
        return None
    try:
        return datetime.strptime(text, _WEIBO)
    except ValueError:
        pass
    try:
        parsed = parsedate_to_datetime(text)  # RFC 822 / 2822 (RSS pubDate)
    except (TypeError, ValueError, IndexError):
        parsed = None
    return parsed


def _epoch(value: float, tz: ZoneInfo) -> datetime | None:
    if value > 1e12:  # milliseconds
        value /= 1000.0
    try:
        return datetime.fromtimestamp(value, tz)
    except (OverflowError, OSError, ValueError):
        return None


def _iso(m: re.Match[str], tz: ZoneInfo) -> datetime:
    y, mo, d = (int(g) for g in m.groups()[:3])
    h, mi, s = _clock(m.groups()[3:6])
    zone = m.group(7)
    if zone is None:
        return datetime(y, mo, d, h, mi, s, tzinfo=tz)
    if zone == "Z":
        zone = "+00:00"
    return datetime.fromisoformat(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{zone}")


# --------------------------------------------------------------------------------------------
# counts
# --------------------------------------------------------------------------------------------

_COUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(万|w|亿|k)?", re.IGNORECASE)
_MULT = {"万": 10_000, "w": 10_000, "亿": 100_000_000, "k": 1_000}


def parse_count(value: object) -> int:
    """Engagement count from an int or text such as "1.2万", "100万+", "评论 12"; else 0."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int | float):
        return max(int(value), 0)
    if not isinstance(value, str):
        return 0
    match = _COUNT.search(value.replace(",", ""))
    if not match:
        return 0
    unit = (match.group(2) or "").lower()
    return int(float(match.group(1)) * _MULT.get(unit, 1))
