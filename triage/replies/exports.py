"""Exports: the approved text in the formats people paste from. Citation markers never reach
the public: `plain` and `weibo` drop them, `markdown` and `html` keep only authorities with a
link (knowledge-base debunks, statements officers added) as footnotes; posts of members of
the public are never linked."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from store.records import Draft
from triage.replies.errors import DraftInputError
from triage.replies.grounding import split_sentences, strip_markers

Format = Literal["plain", "weibo", "markdown", "html"]
FORMATS: tuple[Format, ...] = ("plain", "weibo", "markdown", "html")
HTML_MARKER = '<sup><a href="#source-{n}">[{n}]</a></sup>'


@dataclass
class Export:
    format: Format
    text: str
    chars: int
    truncated: bool = False


def _public_refs(draft: Draft) -> dict[int, int]:
    """Sources that may be linked in published text (authorities with a URL; never posts of
    members of the public), renumbered 1..n in order of first citation."""
    public = {s.ref for s in draft.sources if s.url and s.kind in ("claim", "officer")}
    order: dict[int, int] = {}
    for sentence in split_sentences(draft.text):
        for ref in sentence.refs:
            if ref in public and ref not in order:
                order[ref] = len(order) + 1
    return order


def export(draft: Draft, fmt: Format, *, weibo_max_chars: int = 140) -> Export:
    """The draft as people paste it: `plain` (no markers), `weibo` (【title】 + whole sentences
    that fit), `markdown` / `html` (authority sources as footnotes with links)."""
    if fmt not in FORMATS:
        raise DraftInputError(
            f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}", field="format"
        )
    lines = [strip_markers(line).strip() for line in draft.text.splitlines() if line.strip()]
    if fmt == "plain":
        text = "\n".join([draft.title, "", *lines])
        return Export(fmt, text, len(text))
    if fmt == "weibo":
        return _weibo(draft, weibo_max_chars)
    refs = _public_refs(draft)
    by_ref = {s.ref: s for s in draft.sources}
    if fmt == "markdown":
        body = [
            _markers(line, refs, "[^{n}]", escape=md_escape)
            for line in draft.text.splitlines()
            if line.strip()
        ]
        notes = [
            f"[^{n}]: {md_escape(by_ref[ref].name)}：{by_ref[ref].url}" for ref, n in refs.items()
        ]
        title = md_escape(" ".join(draft.title.split()))
        text = "\n\n".join([f"# {title}", *body] + (["\n".join(notes)] if notes else []))
        return Export(fmt, text, len(text))
    paragraphs = [
        f"<p>{_markers(html.escape(line), refs, HTML_MARKER)}</p>"
        for line in draft.text.splitlines()
        if line.strip()
    ]
    items = [
        f'<li id="source-{n}"><a href="{html.escape(by_ref[ref].url or "")}">'
        f"{html.escape(by_ref[ref].name)}</a></li>"
        for ref, n in refs.items()
    ]
    parts = [f"<h1>{html.escape(draft.title)}</h1>", *paragraphs]
    if items:
        parts.append("<ol>" + "".join(items) + "</ol>")
    text = "\n".join(parts)
    return Export(fmt, text, len(text))


# ASCII punctuation CommonMark may read as syntax gets a backslash (list markers only at the
# start of a line), and URLs lose their link form, so quoted post text (links, images,
# emphasis, raw HTML, headings) stays text in whatever renders the export.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|<>~&])")
_LIST_START = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-+])")


def md_escape(text: str) -> str:
    """Text made literal in Markdown (CommonMark backslash escapes; bare URLs not linked)."""
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _LIST_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], text)
    text = re.sub(r"(?i)\b(https?|ftp):(?=//)", r"\1\\:", text)
    return re.sub(r"(?i)\bwww\.", "www\\.", text)


_MARKER_IN_LINE = re.compile(r"(?<![ \t])[ \t]*\[(\d{1,3})\]")


def _markers(
    line: str, refs: dict[int, int], pattern: str, *, escape: Callable[[str], str] | None = None
) -> str:
    """The line with [n] markers replaced by `pattern` (or dropped for non-public sources);
    `escape` applies to the text between markers."""
    out, at = [], 0
    for m in _MARKER_IN_LINE.finditer(line):
        out.append(escape(line[at : m.start()]) if escape else line[at : m.start()])
        n = refs.get(int(m.group(1)))
        out.append(pattern.format(n=n) if n else "")
        at = m.end()
    out.append(escape(line[at:]) if escape else line[at:])
    return "".join(out).strip()


def _weibo(draft: Draft, limit: int) -> Export:
    head = f"【{draft.title}】"
    sentences = [s.plain for s in split_sentences(draft.text)]
    text, truncated = head, False
    for sentence in sentences:
        if len(text) + len(sentence) > limit:
            truncated = True
            break
        text += sentence
    if len(head) >= limit:
        text, truncated = head[: limit - 1] + "…", True
    elif text == head and sentences:  # not even one sentence fits: cut the first one
        text, truncated = head + sentences[0][: limit - len(head) - 1] + "…", True
    return Export("weibo", text, len(text), truncated)
