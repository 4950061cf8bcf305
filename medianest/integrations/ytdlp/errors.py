"""Typed errors of the yt-dlp seam.

Every error carries a plain sentence (``user_message``) that is safe to show to a member, and
keeps yt-dlp's own text in ``raw`` for the log only: yt-dlp messages hold URLs, file paths and
hints about command-line flags that mean nothing to a member.
"""

from __future__ import annotations

from ...errors import MediaNestError, ValidationFailed

#: Sentences for link refusals (kept as constants so the UI and tests can compare).
ONLY_ALLOWED_HOSTS = "Only links to youtube.com and the hosts your admin allows can be downloaded."
NOT_DOWNLOADABLE = "That link is not a video or playlist MediaNest can download."
NOT_A_WEB_LINK = "Only web links (starting with http:// or https://) can be downloaded."
NO_CREDENTIALS = "Links with a user name or password in them cannot be downloaded."
PRIVATE_ADDRESS = "That link points to a private network address, which MediaNest does not download from."
UNKNOWN_SITE = "MediaNest could not find that site. Check the link and try again."


class LinkRefused(ValidationFailed):
    """A link MediaNest will not fetch. ``reason`` is a short code for logs and tests:
    ``scheme``, ``malformed``, ``credentials``, ``host``, ``port``, ``address``, ``private``,
    ``shape``, ``unresolvable``."""

    def __init__(self, user_message: str, *, reason: str, detail: str = "") -> None:
        super().__init__(user_message, detail=f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class DownloadFailed(MediaNestError):
    """A preview or a download that did not produce a file.

    Attributes:
        kind: a short code (``"unsupported"``, ``"private"``, ``"unavailable"``, ``"geo_blocked"``,
            ``"sign_in"``, ``"network"``, ``"http"``, ``"disk_full"``, ``"postprocessing"``,
            ``"too_large"``, ``"cancelled"``, ``"failed"``).
        raw: yt-dlp's message (or our own detail) for the log; never shown to a member.
        retryable: whether the same download may work later without anyone changing anything.
    """

    kind = "failed"
    retryable = True
    user_message = "The download failed."

    def __init__(self, user_message: str | None = None, *, raw: str = "") -> None:
        super().__init__(user_message, detail=f"{self.kind}: {raw}" if raw else self.kind)
        self.raw = raw


class UnsupportedLink(DownloadFailed):
    kind = "unsupported"
    retryable = False
    user_message = "MediaNest cannot download anything from that link."


class PrivateVideo(DownloadFailed):
    kind = "private"
    retryable = False
    user_message = "This video is private, so it cannot be downloaded."


class VideoUnavailable(DownloadFailed):
    kind = "unavailable"
    retryable = False
    user_message = "This video has been removed or is no longer available."


class GeoBlocked(DownloadFailed):
    kind = "geo_blocked"
    retryable = False
    user_message = "This video is not available in the country the server is in."


class SignInRequired(DownloadFailed):
    kind = "sign_in"
    retryable = False
    user_message = ("This video can only be watched when signed in (for example because it is age-restricted), "
                    "so MediaNest cannot download it.")


class NetworkError(DownloadFailed):
    kind = "network"
    user_message = "The connection to the video site failed. Please try again later."


class HttpError(DownloadFailed):
    """The site answered with an HTTP error status (``status``)."""

    kind = "http"

    def __init__(self, status: int | None = None, *, raw: str = "") -> None:
        self.status = status
        shown = f" (HTTP {status})" if status else ""
        super().__init__(f"The video site answered with an error{shown}.", raw=raw)
        # 404/410 stay gone; 403 is how YouTube refuses throttled or expired links, worth a retry.
        self.retryable = status is None or status not in (400, 401, 404, 410, 451)


class DiskFull(DownloadFailed):
    kind = "disk_full"
    user_message = "The server's disk is full, so the download stopped. Ask your admin to free some space."


class PostProcessingFailed(DownloadFailed):
    kind = "postprocessing"
    retryable = False
    user_message = "The video was downloaded but could not be converted (ffmpeg failed)."


class TooLarge(DownloadFailed):
    """Bigger than ``limit`` bytes (the admin's per-item size limit)."""

    kind = "too_large"
    retryable = False

    def __init__(self, limit: int | None = None, *, raw: str = "") -> None:
        self.limit = limit
        shown = f"the {human_size(limit)} limit" if limit else "the size limit"
        super().__init__(f"This video is larger than {shown} your admin has set, so it was not downloaded.",
                         raw=raw)


class Cancelled(DownloadFailed):
    kind = "cancelled"
    retryable = False
    user_message = "The download was cancelled."


_BY_KIND: dict[str, type[DownloadFailed]] = {cls.kind: cls for cls in (
    DownloadFailed, UnsupportedLink, PrivateVideo, VideoUnavailable, GeoBlocked, SignInRequired, NetworkError,
    DiskFull, PostProcessingFailed, Cancelled)}


def error_from_kind(kind: str, *, raw: str = "", status: int | None = None, limit: int | None = None,
                    user_message: str | None = None) -> DownloadFailed:
    """Rebuild an error from its parts (the child process sends them as JSON)."""
    if kind == HttpError.kind:
        return HttpError(status, raw=raw)
    if kind == TooLarge.kind:
        return TooLarge(limit, raw=raw)
    cls = _BY_KIND.get(kind, DownloadFailed)
    return cls(user_message, raw=raw) if cls is UnsupportedLink and user_message else cls(raw=raw)


def error_parts(error: DownloadFailed) -> dict[str, object]:
    """The JSON-safe parts :func:`error_from_kind` takes back."""
    parts: dict[str, object] = {"kind": error.kind, "raw": error.raw}
    if isinstance(error, HttpError):
        parts["status"] = error.status
    if isinstance(error, TooLarge):
        parts["limit"] = error.limit
    if isinstance(error, UnsupportedLink):
        parts["user_message"] = error.user_message
    return parts


def human_size(size: int) -> str:
    """``524288000`` → ``"500 MB"`` (binary multiples, the way file managers show them)."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            break
        value /= 1024
    if unit == "bytes":
        return f"{int(value)} bytes"
    return f"{value:.1f} {unit}".replace(".0 ", " ")
