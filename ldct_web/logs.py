"""Log formatting that no client input can make unbounded."""

from __future__ import annotations

import logging

MAX_MESSAGE_CHARS = 4000
MAX_TRACEBACK_CHARS = 16000


class BoundedFormatter(logging.Formatter):
    """Cuts long messages and tracebacks, keeping the traceback's end (where it failed)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return _cut_middle(super().formatMessage(record), MAX_MESSAGE_CHARS)

    def formatException(self, ei) -> str:  # noqa: N802
        return _cut_middle(super().formatException(ei), MAX_TRACEBACK_CHARS)


def _cut_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head, tail = limit // 4, limit - limit // 4
    return f"{text[:head]}\n... [{len(text) - limit} characters left out] ...\n{text[-tail:]}"
