"""What both Plex clients share: the ``X-Plex-*`` headers MediaNest sends, and the app.plex.tv
link of a library item."""

from __future__ import annotations

from urllib.parse import quote

PRODUCT = "MediaNest"
VERSION = "0.1.0"


def watch_url(machine_id: str, rating_key: str) -> str:
    """The app.plex.tv page of an item (what Overseerr calls ``plexUrl``)."""
    key = quote(f"/library/metadata/{rating_key}", safe="")
    return f"https://app.plex.tv/desktop#!/server/{quote(machine_id, safe='')}/details?key={key}"


def plex_headers(client_id: str, token: str | None = None) -> dict[str, str]:
    headers = {
        "X-Plex-Client-Identifier": client_id,
        "X-Plex-Product": PRODUCT,
        "X-Plex-Version": VERSION,
        "X-Plex-Platform": "Web",
        "X-Plex-Device": "MediaNest",
        "X-Plex-Device-Name": "MediaNest",
    }
    if token:
        headers["X-Plex-Token"] = token
    return headers
