"""TMDB's image CDN (posters of search results). Images are fetched by MediaNest and served from
its own origin, so members' browsers never talk to TMDB and the CSP stays ``'self'``."""

from __future__ import annotations

import re

from .base import BaseClient

POSTER_SIZES = frozenset({"w92", "w154", "w185", "w300", "w342", "w500"})
_FILE = re.compile(r"^[A-Za-z0-9_-]{1,64}\.(jpg|jpeg|png|webp)$")


def valid_image(size: str, file_name: str) -> bool:
    """Only TMDB's poster sizes and plain file names (nothing that could walk elsewhere)."""
    return size in POSTER_SIZES and bool(_FILE.match(file_name))


class TmdbImageClient(BaseClient):
    service = "TMDB images"

    async def image(self, size: str, file_name: str) -> tuple[bytes, str]:
        """``(bytes, content type)`` of one poster; ``ValueError`` for a size or name not allowed."""
        if not valid_image(size, file_name):
            raise ValueError("not a TMDB poster path")
        response = await self._request("GET", f"/{size}/{file_name}", headers={"Accept": "image/*"})
        return response.content, response.headers.get("content-type", "image/jpeg").split(";")[0]
