"""Video thumbnails through MediaNest's image route (like posters): the member's browser never
asks a third party, and the route only fetches from YouTube's image hosts or the hosts the admin
allows downloads from."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from ...config import Settings
from ...integrations.ytdlp.links import host_matches

#: Where YouTube serves thumbnails and channel pictures.
THUMB_HOSTS = ("ytimg.com", "ggpht.com", "googleusercontent.com")


def proxied(url: str | None) -> str:
    return f"/media/thumb?u={quote(url, safe='')}" if url and url.startswith(("http://", "https://")) else ""


def may_fetch(url: str, settings: Settings) -> bool:
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return bool(host) and host_matches(host, (*THUMB_HOSTS, *settings.downloads_hosts))
