"""The video site's HTTP side: pages, media and thumbnails, the ``/__sim__`` control endpoints,
assembled by ``create_video_site_app``.

Handlers are module-level functions; the site they serve is ``request.app.state.sim``.
"""

from __future__ import annotations

import dataclasses
import functools
from email.utils import format_datetime

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from medianest.simulators.faults import FaultsMiddleware
from medianest.simulators.plex.common import Handler, SimError, hook_error, json_body
from medianest.simulators.video_site.catalogue import PLAYLIST, VIDEO, Entry
from medianest.simulators.video_site.pages import about_html, index_html, not_found_html, page_html
from medianest.simulators.video_site.state import VideoSite, entry_payload, page_payload, site_of
from medianest.simulators.video_site.streaming import MediaResponse, RangeNotSatisfiable, parse_range

_NO_STORE = {"Cache-Control": "no-store"}


async def index(request: Request) -> Response:
    site = site_of(request)
    return HTMLResponse(index_html(site.pages(), str(request.base_url).rstrip("/")), headers=_NO_STORE)


async def about(_: Request) -> Response:
    return HTMLResponse(about_html())


async def playlist_page(request: Request) -> Response:
    return await _page(request, PLAYLIST)


async def video_page(request: Request) -> Response:
    return await _page(request, VIDEO)


async def _page(request: Request, kind: str) -> Response:
    site = site_of(request)
    page = site.page(request.path_params["name"], kind)
    if page is None:
        return _not_found(request)
    await _prepare(site, page.entries)
    return HTMLResponse(page_html(page), headers=_NO_STORE)


async def _prepare(site: VideoSite, entries: tuple[Entry, ...]) -> None:
    """Make clips not made at start (the ``big`` playlist's) in a worker thread, not on the event loop."""
    if not site.ready(entries):
        await run_in_threadpool(site.prepare, entries)


async def media(request: Request) -> Response:
    site = site_of(request)
    entry = site.entry(request.path_params["entry_id"])
    if entry is None or entry.missing:
        return _not_found(request)
    await _prepare(site, (entry,))
    blob = site.blob(entry)
    headers = {"Last-Modified": format_datetime(entry.uploaded, usegmt=True)}
    try:
        byte_range = parse_range(request.headers.get("range"), blob.size)
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{blob.size}", "Accept-Ranges": "bytes"})
    # HEAD requests do not use up a counted fault: they carry no body to drop or slow down.
    head = request.method == "HEAD"
    fault = None if head else site.claim_media_fault(request.url.path)
    rate = fault.rate_bytes_per_s if fault is not None and fault.rate_bytes_per_s else entry.rate
    return MediaResponse(blob, byte_range=byte_range, headers=headers, head=head, rate=rate,
                         drop_after=fault.drop_after_bytes if fault is not None else None, stopping=site.stopping)


async def thumbnail(request: Request) -> Response:
    site = site_of(request)
    entry = site.entry(request.path_params["entry_id"])
    if entry is None:
        return _not_found(request)
    await _prepare(site, (entry,))
    return Response(site.thumbnail(entry), media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


def _not_found(request: Request) -> Response:
    return HTMLResponse(not_found_html(request.url.path), status_code=404)


async def not_found(request: Request, _: Exception) -> Response:
    """Every unknown path (``/missing``) gets the HTML 404 page."""
    return _not_found(request)


# Control endpoints ---------------------------------------------------------------------------

async def hook_state(request: Request) -> Response:
    return JSONResponse(site_of(request).state())


async def hook_reset(request: Request) -> Response:
    site = site_of(request)
    site.reset()
    return JSONResponse({"reset": True, "state": site.state()})


async def hook_add_entry(request: Request) -> Response:
    body = await json_body(request)
    unknown = set(body) - {"title", "missing"}
    if unknown:
        raise SimError(400, f"unknown keys: {sorted(unknown)}")
    site = site_of(request)
    # ffmpeg runs in a worker thread, not on the event loop.
    added = await run_in_threadpool(site.add_entry, request.path_params["name"], body.get("title"),
                                    missing=bool(body.get("missing") or False))
    page = site.page(added.page)
    return JSONResponse({"entry": entry_payload(added, site.base_url),
                         "playlist": page_payload(page, site.base_url) if page else None}, status_code=201)


async def hook_media_faults(request: Request) -> Response:
    site = site_of(request)
    if request.method == "DELETE":
        site.clear_media_faults(request.query_params.get("path"))
    elif request.method == "POST":
        body = await json_body(request)
        unknown = set(body) - {"path", "drop_after_bytes", "rate_bytes_per_s", "times"}
        if unknown:
            raise SimError(400, f"unknown keys: {sorted(unknown)}")
        if not isinstance(body.get("path"), str):
            raise SimError(400, "path is required (e.g. /media/demo-2.mp4)")
        site.set_media_fault(body["path"], drop_after_bytes=body.get("drop_after_bytes"),
                             rate_bytes_per_s=body.get("rate_bytes_per_s"), times=body.get("times"))
    return JSONResponse({"media_faults": [dataclasses.asdict(f) for f in site.media_faults()]})


def _hook(handler: Handler) -> Handler:
    """A control endpoint: a ``SimError`` becomes ``{"error": …}`` with its status."""
    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except SimError as exc:
            return hook_error(request, exc)

    return wrapped


ROUTES = [
    Route("/", index, methods=["GET"]),
    Route("/about", about, methods=["GET"]),
    Route("/playlists/{name}", playlist_page, methods=["GET"]),
    Route("/videos/{name}", video_page, methods=["GET"]),
    Route("/media/{entry_id}.mp4", media, methods=["GET"]),
    Route("/thumbs/{entry_id}.jpg", thumbnail, methods=["GET"]),
    Route("/__sim__/state", _hook(hook_state), methods=["GET"]),
    Route("/__sim__/reset", _hook(hook_reset), methods=["POST"]),
    Route("/__sim__/playlists/{name}/entries", _hook(hook_add_entry), methods=["POST"]),
    Route("/__sim__/media-faults", _hook(hook_media_faults), methods=["GET", "POST", "DELETE"]),
]


def create_video_site_app(site: VideoSite) -> Starlette:
    """Build the site's Starlette app (wrapped in ``FaultsMiddleware``).

    Args:
        site: The state to serve.

    Returns:
        The app; ``app.state.sim`` is ``site``.
    """
    app = Starlette(routes=ROUTES, middleware=[Middleware(FaultsMiddleware, injector=site.faults)],
                    exception_handlers={404: not_found})
    app.state.sim = site
    return app

