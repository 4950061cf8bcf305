"""Fetching a thumbnail from the web for the image proxy (video thumbnails of previews and
downloads): http(s) only, no redirects, public addresses only unless allowed, at most 5 MB, and
only answers that are images."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from ..errors import IntegrationRejected, IntegrationUnavailable
from .ytdlp.links import address_is_private, resolve_host

MAX_BYTES = 5_000_000


async def fetch_image(url: str, *, allow_private: bool, timeout_s: float) -> tuple[bytes, str]:
    """``(bytes, content type)`` of the image at ``url``.

    Raises:
        ValueError: not a link this proxy fetches (scheme, credentials, private address).
        IntegrationRejected: the site answered something other than an image.
        IntegrationUnavailable: the site did not answer.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise ValueError("not an image link")
    addresses = await resolve_host(parts.hostname)
    if not allow_private and any(address_is_private(ip) for ip in addresses):
        raise ValueError("private address")
    try:
        async with httpx.AsyncClient(follow_redirects=False, timeout=timeout_s) as client:
            async with client.stream("GET", url, headers={"Accept": "image/*"}) as response:
                kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if response.status_code != 200 or not kind.startswith("image/"):
                    raise IntegrationRejected("Thumbnail site", response.status_code, "not an image")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_BYTES:
                        raise IntegrationRejected("Thumbnail site", 413, "image too large")
    except httpx.HTTPError as exc:
        raise IntegrationUnavailable("Thumbnail site", str(exc)) from exc
    return bytes(body), kind
