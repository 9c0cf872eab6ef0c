"""What spiders yield: raw post fields (normalized by the pipelines) and checkpoint markers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from store.records import Post


@dataclass
class PostItem:
    """A post as found on the page. `text` is HTML when `text_is_html`; `created` and the
    counts are raw (strings such as "3分钟前" or "1.2万"); the NormalizePipeline reads them."""

    source: str
    platform: str
    fetched_at: datetime
    text: str
    native_id: str | None = None
    url: str | None = None
    author_id: str | None = field(default=None, repr=False)  # clear id: never in a repr or log
    title: str | None = None
    text_is_html: bool = False
    created: Any = None
    reposts: Any = None
    comments: Any = None
    likes: Any = None
    region_raw: str | None = None
    post: Post | None = field(default=None, repr=False)


@dataclass
class CheckpointItem:
    """Yielded after a page's posts: the spider's incremental state once they are stored."""

    state: dict[str, Any]
    etag: str | None = None
    last_modified: str | None = None
