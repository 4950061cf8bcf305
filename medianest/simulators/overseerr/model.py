"""The Overseerr simulator's vocabulary: status and permission numbers, settings, the catalogue
entry, the API error and the small helpers every part of the simulator shares."""

from __future__ import annotations

import hashlib
import math
import re
import string
from dataclasses import dataclass
from typing import Any

FLAVOURS = ("overseerr", "seerr")

# Request statuses (MediaRequestStatus) and media statuses (MediaStatus), §3.3.
PENDING, APPROVED, DECLINED, FAILED, COMPLETED = 1, 2, 3, 4, 5
M_UNKNOWN, M_PENDING, M_PROCESSING, M_PARTIAL, M_AVAILABLE = 1, 2, 3, 4, 5
#: ``MediaStatus[n]`` as Overseerr's webhook template writes it.
MEDIA_STATUS_NAMES = {M_UNKNOWN: "UNKNOWN", M_PENDING: "PENDING", M_PROCESSING: "PROCESSING",
                      M_PARTIAL: "PARTIALLY_AVAILABLE", M_AVAILABLE: "AVAILABLE"}

# Permission bits, §3.3.
ADMIN, MANAGE_USERS, MANAGE_REQUESTS, REQUEST = 2, 8, 16, 32
AUTO_APPROVE, AUTO_APPROVE_MOVIE, AUTO_APPROVE_TV = 128, 256, 512
REQUEST_4K, REQUEST_VIEW, REQUEST_4K_MOVIE, REQUEST_4K_TV = 1024, 16384, 2048, 4096
AUTO_APPROVE_4K, AUTO_APPROVE_4K_MOVIE, AUTO_APPROVE_4K_TV = 32768, 65536, 131072
REQUEST_MOVIE, REQUEST_TV = 262144, 524288

#: Characters the OpenAPI validator refuses in a raw ``query`` value (§3.2).
RESERVED = frozenset(":/?#[]@!$'()*+,;=")
SEARCH_PAGE_SIZE = 20
NO_PERMISSION = {"status": 403, "error": "You do not have permission to access this endpoint"}

#: Settings ``POST /__sim__/config`` and ``configure()`` accept.
CONFIG_KEYS = ("arr_fail", "auto_approve_after_s", "available_after_s", "webhook_url", "webhook_authorization")
#: Where the TMDB image stand-in lives on the simulator (append ``/{size}{posterPath}``).
TMDB_IMAGE_PATH = "/__sim__/tmdb/t/p"
TMDB_IMAGE_URL = "https://image.tmdb.org/t/p"
#: Poster size Overseerr puts in notification images.
WEBHOOK_IMAGE_SIZE = "w600_and_h900_bestv2"
#: Seconds one webhook POST may take before it counts as failed.
WEBHOOK_TIMEOUT_S = 5.0
#: How often the auto-progress thread looks for due requests.
AUTO_PROGRESS_TICK_S = 0.1
#: Seconds after an approval until the media moves from PENDING to PROCESSING (§3.15: "a moment later").
PROCESSING_DELAY_S = 0.3
#: Seconds ``close()`` waits for each background thread.
_JOIN_TIMEOUT_S = 2.0

_BASE62 = string.digits + string.ascii_letters
_IMAGE_FILE = re.compile(r"[A-Za-z0-9_-]{1,64}\.(?:jpe?g|png|webp|svg)")


def _has(perms: int, *bits: int) -> bool:
    """Overseerr's ``hasPermission(..., {type: 'or'})``: ADMIN passes every check."""
    return bool(perms & ADMIN) or any(perms & b for b in bits)


def _tmdb_image_path(*parts: object) -> str:
    """A deterministic TMDB-style image path (``/`` + 27 base-62 characters + ``.jpg``)."""
    number = int.from_bytes(hashlib.sha1(":".join(str(p) for p in parts).encode()).digest(), "big")
    chars = []
    for _ in range(27):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "/" + "".join(chars) + ".jpg"


def _tmdb_size(size: str) -> tuple[int, int] | None:
    """Pixel size of a TMDB image size name (posters are 2:3), ``None`` if TMDB would not know it."""
    if size == "original":
        return 500, 750
    if match := re.fullmatch(r"w(\d{1,4})_and_h(\d{1,4})(?:_[a-z0-9]+)?", size):
        return int(match.group(1)), int(match.group(2))
    if match := re.fullmatch(r"w(\d{1,4})", size):
        return int(match.group(1)), round(int(match.group(1)) * 1.5)
    if match := re.fullmatch(r"h(\d{1,4})", size):
        return round(int(match.group(1)) / 1.5), int(match.group(1))
    return None


def _truncate(text: str, length: int = 500) -> str:
    """lodash ``truncate(text, {length, separator: /\\s/, omission: '…'})`` as Overseerr uses it."""
    if len(text) <= length:
        return text
    cut = text[: length - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
    return (cut[:space] if space > 0 else cut) + "…"


class ApiError(Exception):
    """An API answer other than 2xx: ``body`` is sent as is."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def _msg(status: int, message: str) -> ApiError:
    return ApiError(status, {"message": message})


def _validation(path: str, message: str) -> ApiError:
    return ApiError(400, {"message": f"request{path} {message}", "errors": [{"path": path, "message": message}]})


@dataclass
class _Title:
    media_type: str
    tmdb: int
    title: str
    year: int
    overview: str
    imdb: str | None
    tvdb: int | None
    seasons: int
    library_key: int | None  # Plex ratingKey when in the library
    library_seasons: int  # seasons present in Plex

    @property
    def poster_path(self) -> str:
        return _tmdb_image_path("poster", self.media_type, self.tmdb)

    @property
    def backdrop_path(self) -> str:
        return _tmdb_image_path("backdrop", self.media_type, self.tmdb)


def _check_config(key: str, value: Any) -> Any:
    """Validate one ``CONFIG_KEYS`` value; returns it normalised.

    Raises:
        ValueError: Unknown key or unusable value.
    """
    if key == "arr_fail":
        if not isinstance(value, bool):
            raise ValueError("arr_fail must be true or false")
        return value
    if key in ("auto_approve_after_s", "available_after_s"):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{key} must be a number of seconds >= 0, or null")
        return float(value)
    if key == "webhook_url":
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not re.match(r"https?://[^/\s]+", value):
            raise ValueError("webhook_url must be an http(s) URL, or null")
        return value
    if key == "webhook_authorization":
        if value is None or value == "":
            return None
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise ValueError("webhook_authorization must be a one-line string, or null")
        return value
    raise ValueError(f"unknown config key {key!r}; known: {', '.join(CONFIG_KEYS)}")
