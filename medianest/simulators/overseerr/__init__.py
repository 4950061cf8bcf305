"""Simulator of the Overseerr API v1 (1.34) and of Seerr (3.x), in memory.

It follows ``shared/docs/integrations.md`` §3 (§3.14 is what it must do, §3.15 the observed
quirks it copies). The flavour is switchable at run time:

==========================  ===========================  ===================================
                            ``overseerr`` (1.34.0)        ``seerr`` (3.1.0)
==========================  ===========================  ===================================
request statuses            1 pending 2 approved          + 5 completed (set when the media
                            3 declined 4 failed           becomes available)
duplicate movie request     first request not DECLINED    … and not COMPLETED
``GET /request`` filters    all approved available …      + completed, deleted; ``mediaType``,
                                                          ``sortDirection``, ``serviceErrors``,
                                                          ``canRemove``
``/request/count``          —                             + ``completed``
link to Plex in Media       ``plexUrl``, ``iOSPlexUrl``   ``plexUrl: null``; ``mediaUrl``,
                                                          ``iOSPlexUrl``
new request for a title     409 while its first request   201 once that request is COMPLETED
that is available           is APPROVED                   (an admin's is auto-approved)
``canRemove``               —                             in ``GET /request`` results only
                                                          (not in ``GET /request/{id}``)
==========================  ===========================  ===================================

No Radarr/Sonarr is configured, as on the observed servers (§3.13, §3.15): an approval answers
with the request APPROVED and its media still PENDING (2); an explicit approval moves the media
to PROCESSING (3) ``PROCESSING_DELAY_S`` later, an auto-approved request's media stays PENDING.
``arr_fail`` plays a Radarr/Sonarr that refuses: approved requests become FAILED at once.

Public API:
    ``OverseerrSim``: the state (users, catalogue, media, requests, faults) with a
        thread-safe Python API (``approve``, ``decline``, ``mark_available``,
        ``mark_media_available``, ``mark_failed``, ``configure``/``config``, ``set_flavour``,
        ``remove_user``, ``flush_webhooks``, ``state``, ``reset``, ``close``,
        ``set_faults``/``clear_faults``). Its ``plex`` attribute (constructor keyword, or set
        later) is the ``PlexSim`` the simulated Plex scans write to.
    ``create_overseerr_app(sim)``: the Starlette app (wrapped in ``FaultsMiddleware``).
    ``OverseerrStack``: the app bound to a socket, to serve in an event loop of one's own
        (``python -m medianest.simulators``).
    ``serve_overseerr_in_thread(host, port=0, **opts)``: uvicorn in a daemon thread; returns an
        ``OverseerrHandle`` with ``.sim``, ``.url`` and ``.stop()``.

Modules: ``model`` (status and permission numbers, settings, ``ApiError``, catalogue entry),
``state`` (``OverseerrState``: the data, JSON shapes, settings, auth, background threads),
``request_ops`` (search, titles, requests), ``availability`` (Plex scans, auto-progress),
``user_ops`` (users and their settings), ``sim`` (``OverseerrSim``), ``webhooks`` (payload and
sender), ``routes`` (HTTP handlers and ``create_overseerr_app``), ``serving``.

Fixtures (``fixtures.py``): API key ``fixtures.OVERSEERR_API_KEY`` (acts as user 1);
users 1 alice (plexId 1001, ADMIN), 2 bob (1002, REQUEST), 3 carol (1003, REQUEST, movie
quota 1 per 7 days). The Plex library titles are AVAILABLE (Breaking Bad, The Office and
Sherlock PARTIALLY_AVAILABLE) with the ratingKeys of the PMS simulator's fixtures; the extra
titles have no Media row. Every title has a deterministic TMDB-style ``posterPath``.

Auth: no ``X-Api-Key`` → 401 ``{"message":"cookie 'connect.sid' required"}`` (§3.15); a
wrong key or an unknown ``X-Api-User`` → 403 ``{"status":403,"error":…}``.

The request → Plex loop (§6): when media becomes available (``mark_available``,
``mark_media_available`` or the hooks below) and a ``PlexSim`` is attached, the title is put
into the PMS simulator the way a download plus a library scan would: a movie in section 1
(``PlexSim.add_movie``), a show in section 2 with the requested seasons, one episode each
(``PlexSim.add_show``), all carrying ``Guid`` ``tmdb://<id>`` (and ``imdb://``/``tvdb://``
when known); a title already there (same ``tmdb://`` guid) is reused. The media's
``ratingKey`` is that PMS item's, and the link (``plexUrl``; Seerr: ``mediaUrl``) points at the
PMS simulator's household ``machineIdentifier``. Without a ``PlexSim`` ratingKeys come from a counter (9001…).

Background work (both stopped by ``reset()``, which restores the constructor's settings, and
by ``close()``/``OverseerrHandle.stop()``):
    auto-progress: with ``auto_approve_after_s`` a PENDING request is approved (as user 1)
        that many seconds after it was created; with ``available_after_s`` an APPROVED
        request becomes available that many seconds after its approval. ``None`` = off.
    webhook agent: with ``webhook_url`` set, Overseerr's *default* webhook JSON (every value
        a string, as its template makes them) is POSTed for MEDIA_PENDING /
        MEDIA_AUTO_APPROVED (request created), MEDIA_APPROVED, MEDIA_DECLINED, MEDIA_FAILED
        and MEDIA_AVAILABLE, with ``webhook_authorization`` as the ``Authorization`` header
        when set. Deliveries run in order on one daemon thread, never under the state lock,
        with a short timeout; failures (transport errors, non-2xx) are logged and listed in
        ``state()["webhooks"]["errors"]``; every attempt is in ``…["sent"]``. Overseerr
        skips the approved/declined notification when the media is already AVAILABLE; so
        does the simulator.

TMDB image stand-in: ``GET /__sim__/tmdb/t/p/{size}/{file}`` answers a small deterministic
placeholder PNG (``size`` like ``w500``, ``w300_and_h450_face``, ``h632`` or ``original``),
so ``<sim url>/__sim__/tmdb/t/p`` can replace ``https://image.tmdb.org/t/p`` offline.

Users' settings (§3.15): ``GET|POST /api/v1/user/{id}/settings/main`` (own profile or
MANAGE_USERS; quota fields are changed only by a MANAGE_USERS user editing someone else; the
owner's settings only by the owner) and ``GET|POST /api/v1/user/{id}/settings/permissions``
(MANAGE_USERS; not the owner's, not one's own; only the owner grants ADMIN).

Test hooks (JSON; errors are ``{"error": …}``):
    ``POST /__sim__/requests/{id}/approve|decline|available|fail``. ``available`` plays the
    Plex scan for that request: media (and the requested seasons) AVAILABLE with a
    ``ratingKey``; in Seerr the request becomes COMPLETED.
    ``POST /__sim__/media/{movie|tv}/{tmdbId}/available``: the scan finds the title; every
    APPROVED request for it becomes available, or, without one, the media itself (every
    TMDB season of a show). Answers ``{"media": …, "requests": […]}``; 404 for an unknown title.
    ``POST /__sim__/flavour`` ``{"flavour": "overseerr"|"seerr"}``,
    ``POST /__sim__/config`` with any of ``{"arr_fail": bool, "auto_approve_after_s": s|null,
    "available_after_s": s|null, "webhook_url": url|null, "webhook_authorization": str|null}``
    (answers the whole configuration),
    ``GET /__sim__/state``, ``POST /__sim__/reset``, ``GET|POST|DELETE /__sim__/faults``.

Choices where the docs are silent (UNVERIFIED): the clock is simulated (starts at
``FIXTURE_EPOCH`` and moves one second per change); an unknown TV id answers
``"Unable to retrieve series."``; search pages hold 20 results, no people or collections;
``userId`` of an unknown user answers 404 ``"User not found."``; the webhook ``image`` uses
the stand-in above when the simulator knows its own URL (TMDB's otherwise); the stand-in
serves PNG whatever the file name says and 404 for sizes TMDB would not know.
"""

from medianest.simulators.overseerr.model import (
    ADMIN,
    APPROVED,
    AUTO_APPROVE,
    AUTO_APPROVE_4K,
    AUTO_APPROVE_4K_MOVIE,
    AUTO_APPROVE_4K_TV,
    AUTO_APPROVE_MOVIE,
    AUTO_APPROVE_TV,
    AUTO_PROGRESS_TICK_S,
    COMPLETED,
    CONFIG_KEYS,
    DECLINED,
    FAILED,
    FLAVOURS,
    M_AVAILABLE,
    M_PARTIAL,
    M_PENDING,
    M_PROCESSING,
    M_UNKNOWN,
    MANAGE_REQUESTS,
    MANAGE_USERS,
    MEDIA_STATUS_NAMES,
    NO_PERMISSION,
    PENDING,
    PROCESSING_DELAY_S,
    REQUEST,
    REQUEST_4K,
    REQUEST_4K_MOVIE,
    REQUEST_4K_TV,
    REQUEST_MOVIE,
    REQUEST_TV,
    REQUEST_VIEW,
    RESERVED,
    SEARCH_PAGE_SIZE,
    TMDB_IMAGE_PATH,
    TMDB_IMAGE_URL,
    WEBHOOK_IMAGE_SIZE,
    WEBHOOK_TIMEOUT_S,
    ApiError,
)
from medianest.simulators.overseerr.routes import create_overseerr_app
from medianest.simulators.overseerr.serving import OverseerrHandle, OverseerrStack, serve_overseerr_in_thread
from medianest.simulators.overseerr.sim import OverseerrSim

__all__ = [
    "ADMIN", "APPROVED", "AUTO_APPROVE", "AUTO_APPROVE_4K", "AUTO_APPROVE_4K_MOVIE", "AUTO_APPROVE_4K_TV",
    "AUTO_APPROVE_MOVIE", "AUTO_APPROVE_TV", "AUTO_PROGRESS_TICK_S", "COMPLETED", "CONFIG_KEYS", "DECLINED", "FAILED",
    "FLAVOURS", "M_AVAILABLE", "M_PARTIAL", "M_PENDING", "M_PROCESSING", "M_UNKNOWN", "MANAGE_REQUESTS",
    "MANAGE_USERS", "MEDIA_STATUS_NAMES", "NO_PERMISSION", "PENDING", "PROCESSING_DELAY_S", "REQUEST", "REQUEST_4K",
    "REQUEST_4K_MOVIE", "REQUEST_4K_TV", "REQUEST_MOVIE", "REQUEST_TV", "REQUEST_VIEW", "RESERVED",
    "SEARCH_PAGE_SIZE", "TMDB_IMAGE_PATH", "TMDB_IMAGE_URL", "WEBHOOK_IMAGE_SIZE", "WEBHOOK_TIMEOUT_S", "ApiError",
    "OverseerrHandle", "OverseerrSim", "OverseerrStack", "create_overseerr_app", "serve_overseerr_in_thread",
]
