"""Logging set-up: stdlib logging, JSON lines in production, a correlation id on every line."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import re
import secrets
import sys
import threading
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime

_correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")


def new_correlation_id(value: str | None = None) -> str:
    """Start a new correlation id for the current request or event and return it."""
    cid = value if value and _valid(value) else secrets.token_hex(6)
    _correlation_id.set(cid)
    return cid


def current_correlation_id() -> str:
    return _correlation_id.get()


def _valid(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


class _CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _correlation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the fields a log shipper needs."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", "-"),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# ---- secret scrubbing ----------------------------------------------------------------
# Libraries log whole objects: Reflex logs an event it cannot route together with its router
# data (every request header, the session cookie included), httpx logs URLs, tracebacks carry
# exception messages. So every record of every logger is scrubbed where it is created (a
# record factory, not a handler filter: Reflex, granian and uvicorn attach handlers of their
# own, some after ours), and so is whatever reaches stdout/stderr around logging.

REDACTED = "[redacted]"
_MIN_KNOWN_SECRET = 6
_MAX_KNOWN_SECRETS = 4096
_HEADER_NAMES = r"(?:cookie|set-cookie|authorization|proxy-authorization|x-plex-token|x-api-key|x-api-user-token)"
_SECRET_KEYS = (r"[\w.-]{0,40}(?:token|secret|password|passwd|api[_-]?key|apikey|authorization|cookie)s?"
                r"|mn_session|mn_pin")
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Header lines and header dicts: "Cookie: a=b; c=d", {'cookie': 'a=b'}, ('authorization', 'Bearer x').
    (re.compile(r"(?i)(\b" + _HEADER_NAMES
                + r"""\b(?:['"]?\s*:|['"]\s*,)\s*(?:b(?=['"]))?['"]?)(?![\s'"]|\[redacted\])[^'"\r\n]+"""),
     r"\1" + REDACTED),
    # A quoted value of a credential key, spaces and all: "password": "correct horse battery".
    (re.compile(r"(?i)(\b(?:" + _SECRET_KEYS
                + r""")\b['"]?\s*[:=]\s*(?:b(?=['"]))?)(['"])(?!\[redacted\])(?:\\.|(?!\2).)+\2"""),
     r"\1\2" + REDACTED + r"\2"),
    # The password-change form's fields, logged as a dict ({'current': …, 'new': …, 'confirm': …}).
    (re.compile(r"""(?i)(['"](?:current|new|confirm)['"]\s*:\s*)(['"])(?!\[redacted\])(?:\\.|(?!\2).)+\2"""),
     r"\1\2" + REDACTED + r"\2"),
    # key=value and "key": "value" for anything that names a credential (query strings, reprs, JSON).
    (re.compile(r"(?i)(\b(?:" + _SECRET_KEYS
                + r""")\b['"]?\s*[:=]\s*(?:b(?=['"]))?['"]?)(?![\s'"]|\[redacted\])([^'"&;,\s)}\]]+)"""),
     r"\1" + REDACTED),
    # "Bearer <token>" / "Basic <credentials>" wherever they appear.
    (re.compile(r"(?i)\b(bearer|basic)\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    # JWTs (sessions, PIN cookies, tickets): three base64url parts, the first a JSON header.
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
    # user:password@ in URLs (database and Redis URLs).
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]*:)[^/\s@'\"]+@"), r"\1" + REDACTED + "@"),
)
# Settings secrets stay for the life of the process; tokens seen in upstream calls are bounded
# (oldest forgotten first), so a long-running worker cannot grow without limit.
_permanent_secrets: set[str] = set()
_known_secrets: dict[str, None] = {}
_known_lock = threading.Lock()
_known_regex: re.Pattern[str] | None = None


def register_secrets(values: Iterable[str | None], *, permanent: bool = False) -> None:
    """Values that must never appear in a log line, whatever their context (keys, tokens)."""
    global _known_regex
    fresh = [v for v in values if v and len(v) >= _MIN_KNOWN_SECRET
             and v not in _known_secrets and v not in _permanent_secrets]
    if not fresh:
        return
    with _known_lock:
        for value in fresh:
            if permanent:
                _permanent_secrets.add(value)
                continue
            if len(_known_secrets) >= _MAX_KNOWN_SECRETS:
                _known_secrets.pop(next(iter(_known_secrets)))
            _known_secrets[value] = None
        ordered = sorted({*_permanent_secrets, *_known_secrets}, key=len, reverse=True)
        _known_regex = re.compile("|".join(map(re.escape, ordered))) if ordered else None


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``[redacted]``."""
    if not text:
        return text
    known = _known_regex
    if known is not None:
        text = known.sub(REDACTED, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render the message (and any traceback) once, scrubbed, so no handler sees the raw values."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep what there is, scrubbed
        message = f"{record.msg} {record.args!r}"
    if record.exc_info and record.exc_info[0] is not None:
        # Handlers render exc_info themselves (Reflex's rich console ignores exc_text), so the
        # traceback travels in the message, scrubbed, and exc_info is dropped.
        message = f"{message}\n{''.join(traceback.format_exception(*record.exc_info)).rstrip()}"
        record.exc_info = None
    elif record.exc_text:
        message = f"{message}\n{record.exc_text}"
    record.exc_text = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record.msg, record.args = redact(message), None
    return record


_base_factory = logging.getLogRecordFactory()


def _scrubbing_factory(*args, **kwargs) -> logging.LogRecord:
    return _scrub_record(_base_factory(*args, **kwargs))


_scrubbing_factory._medianest = True  # type: ignore[attr-defined]


class _RedactingStream(io.TextIOBase):
    """stdout/stderr for text written around logging (rich consoles, print, warnings)."""

    # Rich and print() may write one line in several pieces: scrub whole lines, so that a token
    # split across two writes is still recognised (a line longer than this goes out as it is cut).
    _MAX_PENDING = 65536

    def __init__(self, stream) -> None:
        self._stream = stream
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                done, _, self._pending = self._pending.rpartition("\n")
                self._stream.write(redact(done + "\n"))
            if len(self._pending) > self._MAX_PENDING:
                self._stream.write(redact(self._pending))
                self._pending = ""
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._stream.write(redact(self._pending))
                self._pending = ""
        self._stream.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def install_scrubbing(secrets_to_hide: Iterable[str | None] = ()) -> None:
    """Scrub every log record and everything written to stdout/stderr in this process (idempotent)."""
    register_secrets(secrets_to_hide, permanent=True)
    if not getattr(logging.getLogRecordFactory(), "_medianest", False):
        global _base_factory
        _base_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_scrubbing_factory)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _RedactingStream):
            setattr(sys, name, _RedactingStream(stream))


_configured = False


def configure_logging(*, level: str = "INFO", json_lines: bool = False,
                      secrets_to_hide: Iterable[str | None] = ()) -> None:
    """Install one handler on the ``medianest`` logger tree, and scrubbing everywhere (idempotent)."""
    global _configured
    install_scrubbing(secrets_to_hide)
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_CorrelationFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"))
    root = logging.getLogger("medianest")
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    _configured = True
