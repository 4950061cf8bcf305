"""Simulators of plex.tv and of a Plex Media Server (PMS), sharing one in-memory state.

They follow ``shared/docs/integrations.md`` §1.8 (plex.tv) and §2.11 (PMS) and are
faithful enough for python-plexapi to browse the PMS and read the plex.tv account.

Public API:
    ``PlexSim``: the shared state (accounts, pins, servers, shares, library, faults)
        and a Python API for in-process tests.
    ``create_plex_tv_app(sim)`` / ``create_pms_app(sim)``: the Starlette apps.
    ``serve_in_thread(host, plex_tv_port, pms_port, **opts)``: serves both apps with
        uvicorn in a background thread; returns a ``SimulatorHandle``.

Fixture accounts (see ``fixtures.py``; tokens are deterministic):
    ``alice`` id 1001, token ``sim-alice-token``: owns the household server
    "Household" (machineIdentifier ``517aed8117af122796b91655a5bcb730f27164dd``)
    and a second server "Alice's Laptop" (its connection is deliberately
    unreachable), plus a player device.
    ``bob`` 1002 ``sim-bob-token`` and ``carol`` 1003 ``sim-carol-token``: the
    household server is shared with them; their PMS tokens are
    ``sim-bob-household-token`` / ``sim-carol-household-token``.
    ``mallory`` 1004 ``sim-mallory-token``: no access, owns nothing.
    Accounts created at run time get ids from 2001 and random tokens.

Test hooks (plex.tv app; ``/__sim__/faults``, ``/__sim__/state`` and
``/__sim__/reset`` exist on both apps). Unknown users give 404 ``{"error": ...}``:
    ``POST /__sim__/pins/{id}/approve`` ``{"user": "alice"}``
    ``POST /__sim__/pins/by-code/{code}/approve`` ``{"user": "alice"}``
    ``GET /__sim__/pins/by-code/{code}``, ``POST /__sim__/pins/by-code/{code}/deny``
    ``POST /__sim__/accounts`` ``{"username": "dave", "email": optional}``
    ``POST /__sim__/shares`` ``{"user": "dave"}``, ``DELETE /__sim__/shares/{username}``
    ``POST /__sim__/auto-approve`` ``{"user": "alice", "after_seconds": 0}``
    ``GET /__sim__/state``, ``POST /__sim__/reset``
    ``GET|POST|DELETE /__sim__/faults`` (see ``faults.py``)

Python API (thread-safe): ``approve_pin``, ``approve_pin_by_code``, ``set_auto_approve``,
``create_account``, ``add_share``, ``remove_share``, ``server_token``,
``set_section_locations``, ``scan``, ``add_movie``, ``add_show`` (a show with given seasons,
used by the Overseerr simulator when a request becomes available), ``item_by_guid``,
``set_faults``/``clear_faults``, ``advance_clock`` (expire pins without sleeping), ``state``,
``reset``.

Sections: 1 "Movies", 2 "TV Shows" and 3 "YouTube", an "Other Videos" library (type
``movie``, agent ``tv.plex.agents.none``, scanner ``Plex Video Files Scanner``, language
``xn``) whose folder is ``<library_root>/YouTube``, or ``downloads_root`` when given
(``PlexSim``/``serve_in_thread`` keyword, runner flag ``--pms-downloads-root``).

Scans import video files named the Plex way: ``Movies/Title (Year) {tmdb-123}/….mkv``
and ``TV Shows/Show (Year)/Season 01/Show - S01E02 - Title.mkv``; ``{imdb-…}``,
``{tmdb-…}`` and ``{tvdb-…}`` hints become ``Guid`` entries, otherwise the item is
unmatched (``local://`` guid). In the YouTube section every video file is an item titled
after its name: ``NN - Title [id].mp4`` gives title ``Title`` and ``index`` NN. An image
beside a file (``<stem>.jpg``/``.jpeg``/``.png``/``.webp``) is its thumb. Hidden files and
files still being written (``.part``, ``.ytdl``, ``.temp``) are skipped. Every scan then
empties the trash, as Plex does by default: items imported by a scan whose file is gone from
the scanned folder are removed (with emptied seasons and shows), leave their collections, and
a collection left empty is deleted.

The fake ``/auth`` page's Cancel button leaves the pin unapproved and does not
follow ``forwardUrl`` (real users just close the window; the client never hears).

Choices made where reality is UNVERIFIED (integrations.md):
    - Polling a pin with another ``X-Plex-Client-Identifier`` than its creator's
      gives 404 (code 1020); polling without one gives 400 (code 1000).
    - Strong pins live 1800 s and 4-character pins 900 s (both configurable).
    - A shared user's *account* token is not accepted by the PMS; only the
      per-share ``accessToken`` from ``/api/v2/resources`` is.
    - ``strict=True`` answers 406 on plex.tv's JSON endpoints when the request
      does not send ``Accept: application/json`` (real plex.tv would answer XML).
    - The household resource lists a ``local`` and a non-local connection, both
      pointing at the PMS simulator, because python-plexapi ignores local
      connections of shared servers.
    - ``/hubs/search`` returns only non-empty hubs (movie, show, episode,
      collection); ``/library/recentlyAdded`` returns movies and episodes.
    - A refresh only imports files under one of the section's ``Location`` paths;
      a ``path=`` outside them imports nothing (and is logged).
    - Fixture items and items added through the Python API stand for files on another
      disk: scans never remove them. A location that does not exist is not emptied.
    - ``/photo/:/transcode`` of a thumb that came from a file returns the file unscaled
      (no image library here); generated placeholders are scaled.
    - Removing the last item of a collection through the API keeps the (empty)
      collection; only a scan's trash deletes the collections it empties.

Layout: ``state.py`` (``PlexSim``: accounts, pins, shares, faults) on ``library.py`` (sections,
items, collections) and ``scanning.py``; ``models.py`` (records); ``common.py`` (constants, errors,
helpers). plex.tv: ``tv_app.py`` (routes), ``tv_payloads.py``, ``auth_page.py``, ``hooks.py``
(``/__sim__`` hooks). PMS: ``pms_app.py`` (routes, token check), ``pms_library.py``,
``pms_collections.py``, ``pms_search.py`` (hub search, images), ``pms_query.py`` (filters, sorts),
``pms_render.py`` (XML/JSON nodes). ``serving.py``: sockets, uvicorn, ``serve_in_thread``. Route
handlers are module-level functions that find the state with ``state.sim_of(request)``.
"""

from __future__ import annotations

from medianest.simulators.plex.common import PLEX_TV_APP, PMS_APP, SimError, json_body, png_response
from medianest.simulators.plex.models import Account, Collection, Item, Pin, Section, Server
from medianest.simulators.plex.pms_app import create_pms_app
from medianest.simulators.plex.serving import (
    SimulatorHandle,
    SimulatorStack,
    SingleAppStack,
    _bind,
    _make_server,
    serve_in_thread,
)
from medianest.simulators.plex.state import PlexSim
from medianest.simulators.plex.tv_app import create_plex_tv_app

# The names the Overseerr and Uptime Kuma simulators import from here.
_json_body = json_body
_png_response = png_response

__all__ = [
    "PLEX_TV_APP", "PMS_APP", "Account", "Collection", "Item", "Pin", "PlexSim", "Section", "Server", "SimError",
    "SimulatorHandle", "SimulatorStack", "SingleAppStack", "create_plex_tv_app", "create_pms_app",
    "serve_in_thread",
    "json_body", "png_response",
    # What the other simulators and some tests import under the single module's private names.
    "_bind", "_json_body", "_make_server", "_png_response",
]
