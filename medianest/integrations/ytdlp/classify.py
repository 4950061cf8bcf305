"""From a yt-dlp exception to one of our typed errors.

yt-dlp reports nearly everything as ``DownloadError("ERROR: …")`` whose ``exc_info`` holds the
exception that was being handled (``ExtractorError``, ``HTTPError``, ``PostProcessingError`` …),
and an ``ExtractorError`` keeps its own ``cause`` and ``exc_info``. The classifier walks that whole
chain (plus ``__cause__``/``__context__``) and decides by exception class first; only YouTube's
"private", "sign in" and "removed" refusals, which are all plain ``ExtractorError``s, need the
message text (``orig_msg``).
"""

from __future__ import annotations

import errno
import re
import urllib.error
from collections.abc import Iterator

from yt_dlp.networking.exceptions import HTTPError as YtHTTPError
from yt_dlp.networking.exceptions import TransportError
from yt_dlp.utils import (
    ContentTooShortError,
    DownloadCancelled,
    ExtractorError,
    GeoRestrictedError,
    PostProcessingError,
    UnsupportedError,
)

from .errors import (
    NOT_DOWNLOADABLE,
    ONLY_ALLOWED_HOSTS,
    PRIVATE_ADDRESS,
    Cancelled,
    DiskFull,
    DownloadFailed,
    GeoBlocked,
    HttpError,
    NetworkError,
    PostProcessingFailed,
    PrivateVideo,
    SignInRequired,
    TooLarge,
    UnsupportedLink,
    VideoUnavailable,
)

RAW_LIMIT = 2000
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_NETWORK_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                   errno.ENETUNREACH, errno.ENETDOWN, errno.EPIPE}

# Texts of YouTube's (and other sites') refusals, all raised as plain ExtractorError.
_PRIVATE = ("private video", "video is private", "this playlist is private", "playlist does not exist")
_SIGN_IN = ("confirm your age", "age-restricted", "age restricted", "inappropriate for some users", "sign in",
            "login required", "log in", "registered users", "members-only", "join this channel",
            "youtube premium", "requires payment", "--cookies")
_GEO = ("not available in your country", "geo restrict", "from your location", "in your country")
_GONE = ("video unavailable", "has been removed", "no longer available", "been terminated", "does not exist",
         "is not available", "this video has been deleted", "content isn't available", "copyright claim",
         "not found in playlist", "this live event will begin", "premieres in")


_HTTP_STATUS_TEXT = re.compile(r"HTTP Error (\d{3})")
_NETWORK_TEXT = ("[download] got error:", "giving up after", "timed out", "connection refused", "connection reset",
                 "remote end closed", "bytes read,", "[errno 111]", "[errno 104]", "[errno 110]")


class TooLargeSignal(DownloadCancelled):
    """Raised from our progress hook when a file without a Content-Length grows past the limit.
    A ``DownloadCancelled`` so that yt-dlp lets it through unchanged."""

    def __init__(self, limit: int, seen: int) -> None:
        super().__init__(f"downloaded {seen} bytes, more than max_filesize {limit}")
        self.limit = limit


class AddressRefused(OSError):
    """Raised by the child's resolver guard: the name resolves only to refused addresses."""


class EntryRefused(Exception):
    """A playlist entry whose media lives on a host the link rules refuse."""


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it carries, breadth first, each once."""
    queue: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while queue:
        current = queue.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        if isinstance(exc_info, tuple) and len(exc_info) > 1 and isinstance(exc_info[1], BaseException):
            queue.append(exc_info[1])
        for attribute in ("cause", "reason"):  # ExtractorError/RequestError.cause, URLError.reason
            carried = getattr(current, attribute, None)
            if isinstance(carried, BaseException):
                queue.append(carried)
        queue += [current.__cause__, current.__context__]


def classify(exc: BaseException, *, max_filesize: int | None = None) -> DownloadFailed:
    """The typed error for whatever yt-dlp (or our own hooks) raised. Never raises."""
    if isinstance(exc, DownloadFailed):
        return exc
    chain = list(exception_chain(exc))
    raw = _raw(exc)
    for found in chain:
        if isinstance(found, TooLargeSignal):
            return TooLarge(found.limit, raw=raw)
    for found in chain:
        if isinstance(found, AddressRefused):
            return UnsupportedLink(PRIVATE_ADDRESS, raw=raw)
        if isinstance(found, EntryRefused):
            return UnsupportedLink(ONLY_ALLOWED_HOSTS, raw=raw)
    if any(type(found) is DownloadCancelled for found in chain):
        return Cancelled(raw=raw)
    for found in chain:
        if isinstance(found, OSError) and found.errno in _DISK_ERRNOS:
            return DiskFull(raw=raw)
    if "no space left on device" in raw.lower() or "[errno 28]" in raw.lower():
        return DiskFull(raw=raw)
    for found in chain:
        if isinstance(found, PostProcessingError):
            return PostProcessingFailed(raw=raw)
        if isinstance(found, GeoRestrictedError):
            return GeoBlocked(raw=raw)
        if isinstance(found, UnsupportedError):
            return UnsupportedLink(NOT_DOWNLOADABLE, raw=raw)
    for found in chain:
        status = _http_status(found)
        if status is not None:
            return HttpError(status, raw=raw)
    by_text = _by_text(chain)
    if by_text is not None:
        return by_text(raw=raw)
    for found in chain:
        if _is_network(found):
            return NetworkError(raw=raw)
    # The downloader reports a transfer that failed after its retries as text only: its retry
    # manager calls report_error outside the except block, so no exception travels with it.
    status_text = _HTTP_STATUS_TEXT.search(raw)
    if status_text:
        return HttpError(int(status_text.group(1)), raw=raw)
    if any(marker in raw.lower() for marker in _NETWORK_TEXT):
        return NetworkError(raw=raw)
    if max_filesize is not None and "max-filesize" in raw:
        return TooLarge(max_filesize, raw=raw)
    return DownloadFailed(raw=raw)


def _raw(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "…"


def _http_status(exc: BaseException) -> int | None:
    if isinstance(exc, YtHTTPError):
        return int(exc.status)
    if isinstance(exc, urllib.error.HTTPError):
        return int(exc.code)
    return None


def _by_text(chain: list[BaseException]) -> type[DownloadFailed] | None:
    """YouTube's refusals: the message of the innermost ``ExtractorError`` (its ``orig_msg``)."""
    texts = [found.orig_msg.lower() for found in chain if isinstance(found, ExtractorError)]
    for text in texts:
        if any(marker in text for marker in _PRIVATE):
            return PrivateVideo
        if any(marker in text for marker in _GEO):
            return GeoBlocked
        if any(marker in text for marker in _SIGN_IN):
            return SignInRequired
        if any(marker in text for marker in _GONE):
            return VideoUnavailable
        if "unsupported url" in text:
            return UnsupportedLink
    return None


def _is_network(exc: BaseException) -> bool:
    if isinstance(exc, TransportError | ContentTooShortError | TimeoutError | ConnectionError):
        return True
    return isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS
