"""Reading RSS 2.0, Atom and RSS 1.0 (RDF) feeds with lxml, tolerant of broken markup.

Elements are matched by local name, so namespaced variants (`dc:date`, `content:encoded`,
`atom:link`) work without a namespace table. Dates are left raw: the pipeline parses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


class FeedError(ValueError):
    """The document is not a feed we can read."""


@dataclass
class FeedEntry:
    id: str | None
    link: str | None
    title: str | None
    content: str | None
    published: str | None
    author: str | None


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].split(":")[-1].lower()


def _child(el: Any, *names: str) -> Any:
    for name in names:
        for child in el:
            if _local(child.tag) == name:
                return child
    return None


def _text(el: object | None) -> str | None:
    if el is None:
        return None
    text = "".join(el.itertext()).strip()  # type: ignore[attr-defined]
    return text or None


def _atom_link(entry: object) -> str | None:
    fallback = None
    for child in entry:  # type: ignore[attr-defined]
        if _local(child.tag) != "link":
            continue
        href = child.get("href") or (child.text or "").strip()
        rel = child.get("rel", "alternate")
        if rel == "alternate" and href:
            return str(href)
        fallback = fallback or href
    return fallback or None


def parse_feed(text: str) -> list[FeedEntry]:
    """Entries of an RSS/Atom/RDF document (already decoded); FeedError if it is none."""
    from lxml import etree

    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(_XML_DECL.sub("", text, count=1).encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"not XML: {exc}") from None
    if root is None:
        raise FeedError("empty or not XML")
    kind = _local(root.tag)
    if kind == "feed":  # Atom
        items = [el for el in root if _local(el.tag) == "entry"]
    elif kind == "rss":
        channel = _child(root, "channel")
        parent = channel if channel is not None else root
        items = [el for el in parent if _local(el.tag) == "item"]
    elif kind == "rdf":
        items = [el for el in root if _local(el.tag) == "item"]
    else:
        raise FeedError(f"root element <{kind}> is not rss, feed or RDF")
    entries = []
    for item in items:
        if kind == "feed":
            author = _child(item, "author")
            entries.append(
                FeedEntry(
                    id=_text(_child(item, "id")),
                    link=_atom_link(item),
                    title=_text(_child(item, "title")),
                    content=_text(_child(item, "content", "summary")),
                    published=_text(_child(item, "published", "updated", "issued")),
                    author=_text(_child(author, "name")) if author is not None else None,
                )
            )
        else:
            about = None
            for key, value in item.attrib.items():
                if _local(key) == "about":
                    about = value
            entries.append(
                FeedEntry(
                    id=_text(_child(item, "guid")) or about,
                    link=_text(_child(item, "link")) or about,
                    title=_text(_child(item, "title")),
                    content=_text(_child(item, "encoded", "description")),
                    published=_text(_child(item, "pubdate", "date", "published", "updated")),
                    author=_text(_child(item, "creator", "author")),
                )
            )
    return entries
