"""Serving a ``MediaBlob``: single byte ranges (206), throttling, and dropping the connection
mid-file.

``MediaResponse`` streams in chunks and watches for the client going away (uvicorn silently
drops what is sent after a disconnect, so a cancelled slow download would otherwise keep its
task busy until the end of the file). A drop simply stops sending: the app returns with the
response incomplete and uvicorn closes the connection (it logs "ASGI callable returned without
completing response." at ERROR level: expected for this fault).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from typing import Any

from starlette.responses import Response

from medianest.simulators.video_site.media import MediaBlob

logger = logging.getLogger(__name__)

#: Chunk size at full speed.
CHUNK = 1024 * 1024
#: Throttled streams send about this many chunks per second.
_TICKS_PER_SECOND = 20
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    """The ``Range`` header asks for bytes the file does not have (answer 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a ``Range`` header asks for.

    Only one range is honoured; a header with several ranges, another unit or bad syntax is
    ignored (``None``: serve the whole file with 200, as RFC 9110 allows).

    Args:
        header: The ``Range`` header, if any.
        size: The file size.

    Returns:
        ``(first, last)`` or ``None``.

    Raises:
        RangeNotSatisfiable: The range starts past the end, or asks for the last 0 bytes.
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # "bytes=-N": the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    return start, min(end, size - 1)


class MediaResponse(Response):
    """A (partial) ``MediaBlob`` sent in chunks, optionally throttled or cut short."""

    def __init__(self, blob: MediaBlob, *, byte_range: tuple[int, int] | None, headers: dict[str, str],
                 head: bool = False, rate: int | None = None, drop_after: int | None = None,
                 stopping: threading.Event | None = None) -> None:
        """Prepare the response.

        Args:
            blob: The bytes to serve.
            byte_range: Inclusive ``(first, last)`` for a 206, ``None`` for the whole blob (200).
            headers: Extra headers (``Last-Modified`` …).
            head: Send the headers only.
            rate: Bytes per second; ``None`` = as fast as possible.
            drop_after: Close the connection after this many body bytes.
            stopping: When set, the stream ends at once (the server is stopping).
        """
        self.blob = blob
        first, last = byte_range if byte_range is not None else (0, blob.size - 1)
        self.first = first
        self.length = max(0, last - first + 1)
        self.head = head
        self.rate = rate
        self.drop_after = drop_after
        self.stopping = stopping or threading.Event()
        all_headers = {"Accept-Ranges": "bytes", "Content-Length": str(self.length), **headers}
        if byte_range is not None:
            all_headers["Content-Range"] = f"bytes {first}-{last}/{blob.size}"
        super().__init__(status_code=206 if byte_range is not None else 200, headers=all_headers,
                         media_type="video/mp4")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Send the headers, then the body chunk by chunk."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if self.head or self.length == 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            if await self._stream(send, gone):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()

    async def _stream(self, send: Any, gone: asyncio.Future[None]) -> bool:
        """Send the body; ``False`` if it ended early (drop, disconnect, server stopping)."""
        chunk = CHUNK if not self.rate else max(1024, min(CHUNK, self.rate // _TICKS_PER_SECOND))
        limit = self.length if self.drop_after is None else min(self.length, self.drop_after)
        sent = 0
        began = time.monotonic()
        while sent < limit:
            if gone.done() or self.stopping.is_set():
                return False
            size = min(chunk, limit - sent)
            await send({"type": "http.response.body", "body": self.blob.read(self.first + sent, size),
                        "more_body": True})
            sent += size
            if self.rate:
                delay = began + sent / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        if sent < self.length:
            logger.info("video site: dropping the connection after %d of %d bytes (media fault)", sent, self.length)
            return False
        return True


async def _disconnected(receive: Any) -> None:
    """Return once the client has gone away."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
