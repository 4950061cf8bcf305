"""The image proxy (Plex thumbnails, TMDB posters): the Plex token stays on the server (the
browser asks MediaNest, MediaNest asks Plex), and answers are cached on disk and in the browser.
Only signed-in members get them."""

from __future__ import annotations

import hashlib
import logging
import time
from functools import lru_cache

from starlette.requests import Request
from starlette.responses import Response

from .. import live
from ..config import get_settings
from ..db import session_scope
from ..errors import (
    IntegrationRejected,
    IntegrationUnavailable,
    InvalidToken,
    MediaNestError,
    NotAuthenticated,
    ValidationFailed,
)
from ..integrations.tmdb import TmdbImageClient, valid_image
from ..integrations.web_images import fetch_image
from ..services import auth, system
from ..services.downloads import thumbs
from ..services.images import ImageCache
from ..web import SESSION_COOKIE, cookie_value
from ..wiring import get_registry

logger = logging.getLogger(__name__)


THUMB_SIZES = {(150, 225), (300, 450), (600, 900), (400, 225)}
BROWSER_CACHE = "private, max-age=86400"


@lru_cache(maxsize=1)
def image_cache() -> ImageCache:
    return ImageCache(get_settings().data_dir / "cache" / "images")


SESSION_CHECK_TTL_S = 60.0
_checked: dict[str, tuple[float, str]] = {}


async def _signed_in(request: Request) -> bool:
    """A live session (checked in the database like every event handler does; a page of 30 posters
    checks it once, as a positive answer is remembered for a minute in this process). A remembered
    answer counts only while the revocation marker is unchanged: any sign-out or suspension moves it
    (in Redis, for every web process), so an ended session is refused on its very next request."""
    token = cookie_value(request.headers.get("cookie"), SESSION_COOKIE)
    if not token:
        return False
    key = hashlib.sha256(token.encode()).hexdigest()
    now = time.monotonic()
    marker = await live.revocation_marker(get_registry().redis())
    until, seen = _checked.get(key, (0.0, ""))
    if marker is not None and until > now and seen == marker:
        return True
    try:
        async with session_scope() as session:
            await auth.resolve_session(session, token=token, settings=get_settings())
    except (NotAuthenticated, InvalidToken):
        _checked.pop(key, None)
        return False
    if len(_checked) > 10_000:
        _checked.clear()
    if marker is not None:
        _checked[key] = (now + SESSION_CHECK_TTL_S, marker)
    return True


def _image(body: bytes, content_type: str, cached: bool) -> Response:
    return Response(body, media_type=content_type,
                    headers={"cache-control": BROWSER_CACHE, "x-cache": "hit" if cached else "miss"})


async def plex_image(request: Request) -> Response:
    """``GET /media/plex?path=/library/metadata/1/thumb/2&w=300&h=450``."""
    if not await _signed_in(request):
        return Response(status_code=401)
    path = request.query_params.get("path", "")
    try:
        size = (int(request.query_params.get("w", "300")), int(request.query_params.get("h", "450")))
    except ValueError:
        size = (0, 0)
    if not path.startswith("/library/") or ".." in path or size not in THUMB_SIZES:
        return Response("not an image MediaNest serves", status_code=400)
    async with session_scope() as session:
        plex = await get_registry().plex_server(session)
        server = await system.household_server(session)
    if plex is None:
        return Response(status_code=404)
    # Keyed by the server's identity: another server at the same address has other pictures.
    owner = server.machine_id if server else plex.base_url
    try:
        body, content_type, cached = await image_cache().get_or_fetch(
            f"plex:{owner}:{path}:{size[0]}x{size[1]}", lambda: plex.image(path, width=size[0], height=size[1]))
    except ValueError:
        return Response("not an image MediaNest serves", status_code=400)
    except IntegrationRejected as exc:
        return Response(status_code=404 if exc.status_code in (400, 404) else 502)
    except IntegrationUnavailable:
        return Response(status_code=503, headers={"retry-after": "30"})
    return _image(body, content_type, cached)


async def tmdb_image(request: Request) -> Response:
    """``GET /media/tmdb/w300/abc.jpg``: a TMDB poster through MediaNest."""
    if not await _signed_in(request):
        return Response(status_code=401)
    size, name = request.path_params["size"], request.path_params["file"]
    if not valid_image(size, name):
        return Response("not an image MediaNest serves", status_code=400)
    settings = get_settings()
    client = TmdbImageClient(settings.tmdb_image_url, timeout=settings.http_timeout_s)
    try:
        body, content_type, cached = await image_cache().get_or_fetch(
            f"tmdb:{settings.tmdb_image_url}:{size}:{name}", lambda: client.image(size, name))
    except IntegrationRejected as exc:
        return Response(status_code=404 if exc.status_code == 404 else 502)
    except IntegrationUnavailable:
        return Response(status_code=503, headers={"retry-after": "30"})
    return _image(body, content_type, cached)


async def video_thumb(request: Request) -> Response:
    """``GET /media/thumb?u=<url>``: a video thumbnail (YouTube's image hosts or an allowed host)."""
    if not await _signed_in(request):
        return Response(status_code=401)
    url = request.query_params.get("u", "")
    settings = get_registry().settings
    if len(url) > 2048 or not thumbs.may_fetch(url, settings):
        return Response("not an image MediaNest serves", status_code=400)
    try:
        body, content_type, cached = await image_cache().get_or_fetch(
            f"thumb:{url}", lambda: fetch_image(url, allow_private=settings.downloads_allow_private,
                                               timeout_s=settings.http_timeout_s))
    except (ValueError, ValidationFailed):  # not a link it fetches (scheme, private or unknown host)
        return Response("not an image MediaNest serves", status_code=400)
    except IntegrationRejected:
        return Response(status_code=404)
    except (IntegrationUnavailable, MediaNestError):  # the site or its name server did not answer
        return Response(status_code=503, headers={"retry-after": "30"})
    return _image(body, content_type, cached)
