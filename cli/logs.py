"""Logging of the CLI and the service: what a person or a log shipper reads.

- Our loggers at INFO; warnings and errors of every library always shown.
- Library chatter (fontTools / WeasyPrint font subsetting, APScheduler job runs, HTTP client
  request lines, Elasticsearch transport) only with `-v` (INFO) or `-vv` (DEBUG).
- `text` (one line per record) or `json` (one JSON object per line: time, level, logger,
  message, and exc when there is a traceback) for log shippers: TINGFENG_LOG_FORMAT.
- Secrets never reach a log line: query values such as access_token / sign / timestamp in a
  URL are replaced by `***` (robot webhook URLs carry their token in the query).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# loggers that talk about their own work at INFO; shown with -v
NOISY = (
    "fontTools",
    "weasyprint",
    "apscheduler",
    "httpx",
    "httpcore",
    "elastic_transport",
    "urllib3",
    "jieba",
    "uvicorn.access",
    "scrapy",
)
_SECRET_QUERY = re.compile(r"(?i)\b(access_token|token|sign|secret|key|password)=([^&\s\"'<>]+)")


def redact(text: str) -> str:
    """`...?access_token=abc&sign=xyz` -> `...?access_token=***&sign=***`."""
    return _SECRET_QUERY.sub(r"\1=***", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets in URL queries replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO), level, logger, message[, exc]."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


class ErrorCounter(logging.Handler):
    """Counts WARNING and ERROR records (the service's periodic summary reports them)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self._lock_count = threading.Lock()
        self.warnings = 0
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_count:
            if record.levelno >= logging.ERROR:
                self.errors += 1
            else:
                self.warnings += 1

    def take(self) -> tuple[int, int]:
        """(warnings, errors) since the last call."""
        with self._lock_count:
            counts = (self.warnings, self.errors)
            self.warnings = self.errors = 0
            return counts


_HANDLER_NAME = "tingfeng"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of the record, not the stream that was
    current when logging was configured (a replaced stderr, e.g. a test runner's capture, may
    be closed by then)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(verbose: int = 0, fmt: LogFormat = "text") -> None:
    """(Re)configure the root logger: one stderr handler in `fmt`, library chatter by
    `verbose` (0: warnings only, 1: INFO, 2+: DEBUG everywhere). Safe to call again."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None:
        handler = _StderrHandler()
        handler.set_name(_HANDLER_NAME)
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    library_level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    for name in NOISY:
        logging.getLogger(name).setLevel(library_level)
