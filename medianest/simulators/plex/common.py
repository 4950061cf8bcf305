"""Constants, the simulator error and small helpers shared by every part of the Plex simulators
(and, through ``medianest.simulators.plex``, by the Overseerr and Uptime Kuma simulators)."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

PLEX_TV_APP = "plex_tv"
PMS_APP = "pms"

#: Search type numbers (python-plexapi ``SEARCHTYPES``).
TYPE_NUMBERS = {"movie": 1, "show": 2, "season": 3, "episode": 4, "collection": 18}
TYPE_BY_NUMBER = {v: k for k, v in TYPE_NUMBERS.items()}
VIDEO_EXTENSIONS = frozenset({
    ".mkv", ".mp4", ".m4v", ".avi", ".mov", ".ts", ".webm", ".wmv", ".mpg", ".mpeg", ".flv",
})
#: An "Other Videos" library: Plex's Personal Media agent and its file-name scanner.
VIDEO_FILES_AGENT = "tv.plex.agents.none"
VIDEO_FILES_SCANNER = "Plex Video Files Scanner"
#: Images a scan takes as an item's thumb when they sit beside its file with the same stem.
THUMB_EXTENSIONS = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
COLLECTION_URI = re.compile(
    r"^server://(?P<machine>[^/]+)/com\.plexapp\.plugins\.library/library/metadata/(?P<ids>[0-9,]+)$"
)


class SimError(Exception):
    """A simulator-level error with the HTTP status a hook should answer."""

    def __init__(self, status: int, message: str) -> None:
        """Create the error.

        Args:
            status: HTTP status for hook routes.
            message: Human-readable explanation.
        """
        super().__init__(message)
        self.status = status
        self.message = message


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hex_id(*parts: object, length: int = 24) -> str:
    return hashlib.sha1(":".join(str(p) for p in parts).encode()).hexdigest()[:length]


def title_sort(title: str) -> str:
    # Plex files "The Matrix" under M; clients sort on titleSort.
    for article in ("The ", "A ", "An "):
        if title.startswith(article) and len(title) > len(article):
            return title[len(article):]
    return title


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def plex_param(request: Request, name: str) -> str | None:
    """Read an ``X-Plex-*`` value from the headers or, as Plex allows, the query."""
    value = request.headers.get(name)
    if value is None:
        value = request.query_params.get(name)
    return value or None


def wants_json(request: Request) -> bool:
    """Whether the client asks for JSON (Plex answers XML otherwise)."""
    return "application/json" in request.headers.get("accept", "").lower()


async def json_body(request: Request, error: Callable[[str], Exception] | None = None) -> dict[str, Any]:
    """The request's JSON object ({} when empty); anything else raises ``error(message)``
    (default: ``SimError(400, message)``). Shared by every simulator."""
    raw = await request.body()
    if not raw.strip():
        return {}
    fail = error or (lambda message: SimError(400, message))
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise fail(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise fail("body must be a JSON object")
    return data


def xml_value(value: Any) -> str:
    """An attribute value as Plex writes it in XML (booleans as 1/0)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


@lru_cache(maxsize=256)
def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """Build a solid-colour RGB PNG; big sizes compress to a few hundred bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))


def colour(seed: str) -> tuple[int, int, int]:
    digest = hashlib.sha1(seed.encode()).digest()
    # Keep posters mid-dark so white placeholder text elsewhere stays readable.
    return (40 + digest[0] % 150, 40 + digest[1] % 150, 40 + digest[2] % 150)


def png_response(width: int, height: int, seed: str) -> Response:
    width = max(1, min(width, 1000))
    height = max(1, min(height, 1000))
    return Response(png(width, height, colour(seed)), media_type="image/png",
                    headers={"Cache-Control": "max-age=3600"})


class StripTrailingSlash:
    """Treat ``/library/sections/`` like ``/library/sections`` (python-plexapi uses both)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


Handler = Callable[[Request], Awaitable[Response]]


def sim_errors(handler: Handler, render: Callable[[Request, SimError], Response]) -> Handler:
    """``handler``, answering a ``SimError`` it raises with ``render`` (each app renders errors its own way)."""
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except SimError as exc:
            return render(request, exc)

    wrapped.__name__ = handler.__name__
    return wrapped


def hook_error(_: Request, exc: SimError) -> Response:
    """How the ``/__sim__`` hooks answer a ``SimError``: ``{"error": message}``."""
    return JSONResponse({"error": exc.message}, status_code=exc.status)
