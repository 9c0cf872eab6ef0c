"""Scrapy's log formatter without item contents: dropped, scraped and failed items are named
by source, native id and URL only, so a clear author id (which must never be stored, and a
log is stored) cannot reach the log through an item's repr. `PostItem`'s own repr leaves the
author id out as well."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.logformatter import LogFormatter

from crawlers.items import CheckpointItem, PostItem

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.http import Response
    from scrapy.logformatter import LogFormatterResult
    from twisted.python.failure import Failure


def describe(item: Any) -> str:
    """What a log line may say about an item."""
    if isinstance(item, PostItem):
        return f"PostItem(source={item.source!r}, native_id={item.native_id!r}, url={item.url!r})"
    if isinstance(item, CheckpointItem):
        return "CheckpointItem"
    return type(item).__name__


def _without_contents(result: LogFormatterResult, item: Any) -> LogFormatterResult:
    args = result["args"]
    if isinstance(args, dict):
        result["args"] = {**args, "item": describe(item)}
    return result


class PrivateLogFormatter(LogFormatter):
    def scraped(
        self, item: Any, response: Response | Failure | None, spider: Spider
    ) -> LogFormatterResult:
        result = super().scraped(item, response, spider)
        return _without_contents(result, item)

    def dropped(
        self,
        item: Any,
        exception: BaseException,
        response: Response | Failure | None,
        spider: Spider,
    ) -> LogFormatterResult:
        result = super().dropped(item, exception, response, spider)
        return _without_contents(result, item)

    def item_error(
        self,
        item: Any,
        exception: BaseException,
        response: Response | Failure | None,
        spider: Spider,
    ) -> LogFormatterResult:
        result = super().item_error(item, exception, response, spider)
        return _without_contents(result, item)
