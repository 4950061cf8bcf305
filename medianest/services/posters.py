"""Poster URLs as the browser loads them: through MediaNest's image proxy, never from TMDB or Plex."""

from __future__ import annotations

from ..integrations.tmdb import valid_image


def tmdb_poster(path: str | None, size: str = "w300") -> str:
    """MediaNest's proxy URL of a TMDB poster path ("" when there is none or it is not an image path)."""
    name = (path or "").lstrip("/")
    return f"/media/tmdb/{size}/{name}" if name and valid_image(size, name) else ""
