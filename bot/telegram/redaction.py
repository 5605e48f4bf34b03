"""Keep secrets (the bot token) out of every log line, whoever logs it."""

from __future__ import annotations

import logging
import threading
import traceback
import urllib.parse
from collections.abc import Callable
from typing import Any

REPLACEMENT = "<redacted>"
_secrets: set[str] = set()
_lock = threading.Lock()
_installed: Callable[..., logging.LogRecord] | None = None


def redact(text: str) -> str:
    """Replace every known secret in text."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, REPLACEMENT)
    return text


def _variants(secret: str) -> set[str]:
    """Return the forms a secret takes in logs: as is and URL-quoted."""
    out = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret)}
    # A bot token is `<bot id>:<secret>`; the part after the colon is what matters.
    _, _, tail = secret.partition(":")
    if len(tail) >= 16:
        out.add(tail)
    return {s for s in out if s}


def _scrub(record: logging.LogRecord) -> logging.LogRecord:
    """Format the record's message and traceback now, with secrets removed."""
    if not _secrets:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: leave it to the handler to report
        return record
    record.msg = redact(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install(*secrets: str) -> None:
    """Redact these secrets from every log record created from now on, by any logger.

    A record factory, not a filter: filters on a logger do not see records that
    propagate from its children, and handlers (pytest's caplog too) come and go.
    """
    global _installed
    with _lock:
        for secret in secrets:
            if secret:
                _secrets.update(_variants(secret))
        if _installed is None:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                return _scrub(previous(*args, **kwargs))

            logging.setLogRecordFactory(factory)
            _installed = previous
