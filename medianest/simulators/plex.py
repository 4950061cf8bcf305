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

Scans import video files named the Plex way: ``Movies/Title (Year) {tmdb-123}/….mkv``
and ``TV Shows/Show (Year)/Season 01/Show - S01E02 - Title.mkv``; ``{imdb-…}``,
``{tmdb-…}`` and ``{tvdb-…}`` hints become ``Guid`` entries, otherwise the item is
unmatched (``local://`` guid). Hidden files and ``.part`` downloads are skipped.

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
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import logging
import os
import re
import secrets
import socket
import string
import struct
import threading
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from medianest.simulators import fixtures
from medianest.simulators.faults import FaultInjector, FaultsMiddleware
from medianest.simulators.threads import ServerThread, ThreadHandle

logger = logging.getLogger(__name__)

PLEX_TV_APP = "plex_tv"
PMS_APP = "pms"

#: Search type numbers (python-plexapi ``SEARCHTYPES``).
TYPE_NUMBERS = {"movie": 1, "show": 2, "season": 3, "episode": 4, "collection": 18}
TYPE_BY_NUMBER = {v: k for k, v in TYPE_NUMBERS.items()}
VIDEO_EXTENSIONS = frozenset({
    ".mkv", ".mp4", ".m4v", ".avi", ".mov", ".ts", ".webm", ".wmv", ".mpg", ".mpeg", ".flv",
})
_COLLECTION_URI = re.compile(
    r"^server://(?P<machine>[^/]+)/com\.plexapp\.plugins\.library/library/metadata/(?P<ids>[0-9,]+)$"
)


# --------------------------------------------------------------------------------------
# Errors and small helpers
# --------------------------------------------------------------------------------------


class SimError(Exception):
    """A simulator-level error with the HTTP status a hook should answer."""

    def __init__(self, status: int, message: str) -> None:
        """Create the error.

        Args:
            status: HTTP status for hook routes.
            message: Human-readable explanation.
        """
        super().__init__(message)
        self.status = status
        self.message = message


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex_id(*parts: object, length: int = 24) -> str:
    return hashlib.sha1(":".join(str(p) for p in parts).encode()).hexdigest()[:length]


def _sort_title(title: str) -> str:
    # Plex files "The Matrix" under M; clients sort on titleSort.
    for article in ("The ", "A ", "An "):
        if title.startswith(article) and len(title) > len(article):
            return title[len(article):]
    return title


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _plex_param(request: Request, name: str) -> str | None:
    """Read an ``X-Plex-*`` value from the headers or, as Plex allows, the query."""
    value = request.headers.get(name)
    if value is None:
        value = request.query_params.get(name)
    return value or None


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "").lower()


async def _json_body(request: Request, error: Callable[[str], Exception] | None = None) -> dict[str, Any]:
    """The request's JSON object ({} when empty); anything else raises ``error(message)``
    (default: ``SimError(400, message)``). Shared by every simulator."""
    raw = await request.body()
    if not raw.strip():
        return {}
    fail = error or (lambda message: SimError(400, message))
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise fail(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise fail("body must be a JSON object")
    return data


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


@lru_cache(maxsize=256)
def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """Build a solid-colour RGB PNG; big sizes compress to a few hundred bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))


def _colour(seed: str) -> tuple[int, int, int]:
    digest = hashlib.sha1(seed.encode()).digest()
    # Keep posters mid-dark so white placeholder text elsewhere stays readable.
    return (40 + digest[0] % 150, 40 + digest[1] % 150, 40 + digest[2] % 150)


def _png_response(width: int, height: int, seed: str) -> Response:
    width = max(1, min(width, 1000))
    height = max(1, min(height, 1000))
    return Response(_png(width, height, _colour(seed)), media_type="image/png",
                    headers={"Cache-Control": "max-age=3600"})


# --------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------


@dataclass
class Account:
    """A plex.tv account."""

    id: int
    uuid: str
    username: str
    title: str
    email: str
    token: str
    joined_at: int


@dataclass
class Server:
    """A Plex Media Server known to plex.tv."""

    name: str
    machine_id: str
    owner_id: int
    url: str
    created_at: int
    product_version: str = fixtures.PMS_VERSION


@dataclass
class Pin:
    """A plex.tv PIN (§1.2)."""

    id: int
    code: str
    client_id: str
    product: str | None
    created_at: float
    expires_at: float
    approved_by: str | None = None
    auto_user: str | None = None
    auto_at: float | None = None
    denied: bool = False


@dataclass
class Section:
    """A PMS library section."""

    key: int
    type: str
    title: str
    agent: str
    scanner: str
    uuid: str
    locations: list[str]
    created_at: int
    updated_at: int
    scanned_at: int
    running_scans: int = 0


@dataclass
class Item:
    """A PMS metadata item: movie, show, season or episode."""

    rating_key: int
    type: str
    section_key: int
    title: str
    added_at: int
    updated_at: int
    guid: str
    year: int | None = None
    summary: str = ""
    guids: list[str] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)
    file: str | None = None
    size: int = 0
    duration_ms: int | None = None
    parent_key: int | None = None
    index: int | None = None
    content_rating: str | None = None
    studio: str | None = None


@dataclass
class Collection:
    """A regular (non-smart) PMS collection."""

    rating_key: int
    section_key: int
    title: str
    subtype: str
    members: list[int]
    added_at: int
    updated_at: int
    guid: str


class PlexSim:
    """In-memory state shared by the plex.tv and PMS simulators, plus a Python API.

    All public methods are safe to call from another thread than the one running the
    apps' event loop (they take one re-entrant lock and never await while holding it).
    """

    def __init__(
        self,
        plex_tv_base_url: str = "http://127.0.0.1:32410",
        pms_base_url: str = "http://127.0.0.1:32400",
        *,
        library_root: str | os.PathLike[str] | None = None,
        strict: bool = False,
        strong_pin_lifetime: int = 1800,
        short_pin_lifetime: int = 900,
        scan_delay: float = 0.5,
        auto_approve: str | None = None,
        auto_approve_after: float = 0.0,
        other_server_url: str = "http://127.0.0.1:9",
    ) -> None:
        """Create the state from the fixtures.

        Args:
            plex_tv_base_url: Where the plex.tv app is served (used in avatar, QR and
                auth-page URLs).
            pms_base_url: Where the PMS app is served (used in resource connections).
            library_root: If set, the sections' folders become ``<root>/Movies`` and
                ``<root>/TV Shows`` (created if missing) so scans read real files.
            strict: Answer 406 on plex.tv JSON endpoints without a JSON ``Accept``.
            strong_pin_lifetime: Seconds a ``strong=true`` pin lives.
            short_pin_lifetime: Seconds a 4-character pin lives.
            scan_delay: Seconds between a refresh request and the import.
            auto_approve: Username that approves every new pin (demo mode).
            auto_approve_after: Seconds after creation the auto-approval happens.
            other_server_url: Connection URI of the owner's second server; the default
                refuses connections at once, like a laptop that is switched off.
        """
        self.plex_tv_base_url = plex_tv_base_url.rstrip("/")
        self.pms_base_url = pms_base_url.rstrip("/")
        self.library_root = Path(library_root) if library_root is not None else None
        self.strict = strict
        self.strong_pin_lifetime = strong_pin_lifetime
        self.short_pin_lifetime = short_pin_lifetime
        self.scan_delay = scan_delay
        self.other_server_url = other_server_url
        self._default_auto_approve = (auto_approve, auto_approve_after)
        self._lock = threading.RLock()
        self._clock_offset = 0.0
        self._tasks: dict[asyncio.Task[None], int] = {}  # pending scan -> section key
        self.faults: dict[str, FaultInjector] = {
            PLEX_TV_APP: FaultInjector("plex.tv"),
            PMS_APP: FaultInjector("pms"),
        }
        self.reset()

    # ---- lifecycle and clock ---------------------------------------------------------

    def reset(self) -> None:
        """Go back to the fixtures (keeps constructor options, clears faults)."""
        with self._lock:
            self.accounts: dict[str, Account] = {
                a.username: Account(a.id, a.uuid, a.username, a.title, a.email, a.token, a.joined_at)
                for a in fixtures.ACCOUNTS
            }
            self._next_account_id = fixtures.FIRST_DYNAMIC_ACCOUNT_ID
            owner = self.accounts[fixtures.OWNER_USERNAME]
            self.household = Server(fixtures.HOUSEHOLD_NAME, fixtures.HOUSEHOLD_MACHINE_ID, owner.id,
                                    self.pms_base_url, fixtures.FIXTURE_EPOCH - 365 * 86400)
            self.other_servers: list[Server] = [
                Server(fixtures.LAPTOP_NAME, fixtures.LAPTOP_MACHINE_ID, owner.id, self.other_server_url,
                       fixtures.FIXTURE_EPOCH - 30 * 86400),
            ]
            self.shares: dict[str, str] = dict(fixtures.SHARES)
            self.pins: dict[int, Pin] = {}
            self._next_pin_id = 308_000_001
            user, after = self._default_auto_approve
            self.auto_approve_user: str | None = user
            self.auto_approve_after = after
            self._load_library()
            self._clock_offset = 0.0
        for injector in self.faults.values():
            injector.clear()
        logger.info("simulator state reset to fixtures")

    def now(self) -> float:
        """Current simulator time, epoch seconds (wall clock plus ``advance_clock``)."""
        return time.time() + self._clock_offset

    def now_datetime(self) -> datetime:
        """Current simulator time as a UTC-aware datetime."""
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def advance_clock(self, seconds: float) -> None:
        """Move the simulator clock forward, e.g. to expire pins without sleeping."""
        with self._lock:
            self._clock_offset += seconds

    # ---- accounts and shares ---------------------------------------------------------

    def account(self, username: str) -> Account:
        """Return an account by username.

        Raises:
            SimError: 404 if there is no such account.
        """
        with self._lock:
            try:
                return self.accounts[username]
            except KeyError:
                raise SimError(404, f"unknown user {username!r}") from None

    def account_by_token(self, token: str | None) -> Account | None:
        """Return the account whose plex.tv token is ``token``, if any."""
        if not token:
            return None
        with self._lock:
            for account in self.accounts.values():
                if secrets.compare_digest(account.token, token):
                    return account
        return None

    def account_by_id(self, account_id: int) -> Account | None:
        """Return the account with plex.tv id ``account_id``, if any."""
        with self._lock:
            return next((a for a in self.accounts.values() if a.id == account_id), None)

    @property
    def owner(self) -> Account:
        """The household server's owner."""
        with self._lock:
            found = self.account_by_id(self.household.owner_id)
            assert found is not None  # the owner is never deleted
            return found

    def create_account(self, username: str, email: str | None = None, title: str | None = None) -> Account:
        """Create a plex.tv account with a random token.

        Raises:
            SimError: 400 for an empty username, 409 if it exists.
        """
        username = (username or "").strip()
        if not username:
            raise SimError(400, "username is required")
        with self._lock:
            if username in self.accounts:
                raise SimError(409, f"user {username!r} already exists")
            account = Account(
                id=self._next_account_id,
                uuid=secrets.token_hex(8),
                username=username,
                title=title or username,
                email=email or f"{username}@example.com",
                token=secrets.token_urlsafe(15)[:20],
                joined_at=int(self.now()),
            )
            self._next_account_id += 1
            self.accounts[username] = account
        logger.info("created account %s (id %s)", username, account.id)
        return account

    def add_share(self, username: str) -> str:
        """Share the household server with ``username``; return their server token."""
        with self._lock:
            account = self.account(username)
            if account.id == self.household.owner_id:
                raise SimError(400, "the owner cannot be shared with")
            if username not in self.shares:
                self.shares[username] = secrets.token_urlsafe(15)[:20]
            return self.shares[username]

    def remove_share(self, username: str) -> None:
        """Stop sharing the household server with ``username`` (their token dies)."""
        with self._lock:
            self.account(username)
            if self.shares.pop(username, None) is None:
                raise SimError(404, f"household server is not shared with {username!r}")

    def server_token(self, username: str) -> str | None:
        """The token ``username`` uses on the household PMS, or ``None`` without access."""
        with self._lock:
            account = self.account(username)
            if account.id == self.household.owner_id:
                return account.token
            return self.shares.get(username)

    def pms_token_valid(self, token: str | None) -> bool:
        """Whether ``token`` may use the household PMS."""
        if not token:
            return False
        with self._lock:
            valid = [self.owner.token, *self.shares.values()]
        return any(secrets.compare_digest(token, t) for t in valid)

    # ---- pins ------------------------------------------------------------------------

    def create_pin(self, client_id: str, *, strong: bool, product: str | None = None) -> Pin:
        """Create a pin the way ``POST /api/v2/pins`` does."""
        with self._lock:
            if strong:
                alphabet = string.ascii_lowercase + string.digits
                code = "".join(secrets.choice(alphabet) for _ in range(25))
                lifetime = self.strong_pin_lifetime
            else:
                alphabet = string.ascii_uppercase + string.digits
                code = "".join(secrets.choice(alphabet) for _ in range(4))
                lifetime = self.short_pin_lifetime
            now = self.now()
            pin = Pin(self._next_pin_id, code, client_id, product, now, now + lifetime)
            self._next_pin_id += 1
            if self.auto_approve_user:
                pin.auto_user = self.auto_approve_user
                pin.auto_at = now + self.auto_approve_after
            self.pins[pin.id] = pin
            return pin

    def _live_pin(self, pin: Pin | None) -> Pin | None:
        """Apply expiry and pending auto-approval; ``None`` if gone."""
        if pin is None:
            return None
        now = self.now()
        if now >= pin.expires_at:
            return None
        if (pin.approved_by is None and pin.auto_user and pin.auto_at is not None and now >= pin.auto_at
                and pin.auto_user in self.accounts):
            pin.approved_by = pin.auto_user
            logger.info("pin %s auto-approved as %s", pin.id, pin.auto_user)
        return pin

    def get_pin(self, pin_id: int) -> Pin | None:
        """Return a live pin by id (``None`` if unknown or expired)."""
        with self._lock:
            return self._live_pin(self.pins.get(pin_id))

    def get_pin_by_code(self, code: str) -> Pin | None:
        """Return a live pin by code (``None`` if unknown or expired)."""
        with self._lock:
            return self._live_pin(next((p for p in self.pins.values() if p.code == code), None))

    def approve_pin(self, pin_id: int, username: str) -> Pin:
        """Play the user approving pin ``pin_id`` in app.plex.tv.

        Raises:
            SimError: 404 for an unknown user or an unknown/expired pin.
        """
        with self._lock:
            self.account(username)
            pin = self.get_pin(pin_id)
            if pin is None:
                raise SimError(404, f"pin {pin_id} not found or expired")
            pin.approved_by = username
        logger.info("pin %s approved as %s", pin_id, username)
        return pin

    def approve_pin_by_code(self, code: str, username: str) -> Pin:
        """Like ``approve_pin`` but by the pin's code (what the auth page knows)."""
        with self._lock:
            pin = self.get_pin_by_code(code)
            if pin is None:
                self.account(username)
                raise SimError(404, "code not found or expired")
            return self.approve_pin(pin.id, username)

    def deny_pin_by_code(self, code: str) -> Pin:
        """Record that the user pressed Cancel; the pin simply stays unapproved."""
        with self._lock:
            pin = self.get_pin_by_code(code)
            if pin is None:
                raise SimError(404, "code not found or expired")
            pin.denied = True
            return pin

    def set_auto_approve(self, username: str | None, after_seconds: float = 0.0) -> None:
        """Approve every *new* pin as ``username`` after ``after_seconds``; ``None`` stops it."""
        with self._lock:
            if username is not None:
                self.account(username)
            if after_seconds < 0:
                raise SimError(400, "after_seconds must be >= 0")
            self.auto_approve_user = username
            self.auto_approve_after = float(after_seconds)

    # ---- faults ----------------------------------------------------------------------

    def set_faults(self, app: str, **config: Any) -> None:
        """Configure faults of ``app`` (``"plex_tv"`` or ``"pms"``); see ``FaultInjector.set``."""
        self.faults[app].set(**config)

    def clear_faults(self, app: str | None = None) -> None:
        """Clear the faults of one app, or of both."""
        for name, injector in self.faults.items():
            if app is None or app == name:
                injector.clear()

    # ---- library ---------------------------------------------------------------------

    def _load_library(self) -> None:
        base = fixtures.FIXTURE_EPOCH
        if self.library_root is not None:
            movies_path, tv_path = str(self.library_root / "Movies"), str(self.library_root / "TV Shows")
            for path in (movies_path, tv_path):
                os.makedirs(path, exist_ok=True)
        else:
            movies_path, tv_path = fixtures.DEFAULT_MOVIES_PATH, fixtures.DEFAULT_TV_PATH
        created = base - 365 * 86400
        self.sections: dict[int, Section] = {
            1: Section(1, "movie", "Movies", "tv.plex.agents.movie", "Plex Movie",
                       "e69655a2-ef48-4aba-bb19-d3cc3401e7d6", [movies_path], created, base, base),
            2: Section(2, "show", "TV Shows", "tv.plex.agents.series", "Plex TV Series",
                       "7b5d1a1c-6f1e-4a5e-9d0c-2b7f3f0f4c11", [tv_path], created, base, base),
        }
        self.items: dict[int, Item] = {}
        self.collections: dict[int, Collection] = {}
        self._next_rating_key = fixtures.FIRST_DYNAMIC_RATING_KEY
        for i, movie in enumerate(fixtures.MOVIES):
            rk = fixtures.MOVIE_RATING_KEY_START + i
            added = base + i * 2 * 86400
            name = f"{movie.title.replace(':', '')} ({movie.year})"
            self.items[rk] = Item(
                rk, "movie", 1, movie.title, added, added + 3600, f"plex://movie/{_hex_id('movie', movie.tmdb)}",
                year=movie.year, summary=movie.summary,
                guids=[f"imdb://{movie.imdb}", f"tmdb://{movie.tmdb}"], genres=list(movie.genres),
                file=f"{movies_path}/{name}/{name}.mkv", size=(4_000 + rk) * 1_000_000,
                duration_ms=movie.duration_min * 60_000, content_rating=movie.content_rating, studio=movie.studio,
            )
        season_rk, episode_rk = fixtures.SEASON_RATING_KEY_START, fixtures.EPISODE_RATING_KEY_START
        for j, show in enumerate(fixtures.SHOWS):
            show_rk = fixtures.SHOW_RATING_KEY_START + j
            added = base + (j * 2 + 1) * 86400
            self.items[show_rk] = Item(
                show_rk, "show", 2, show.title, added, added + 3600, f"plex://show/{_hex_id('show', show.tvdb)}",
                year=show.year, summary=show.summary,
                guids=[f"imdb://{show.imdb}", f"tmdb://{show.tmdb}", f"tvdb://{show.tvdb}"],
                content_rating=show.content_rating, studio=show.studio,
            )
            for s_index, episodes in enumerate(show.seasons, start=1):
                self.items[season_rk] = Item(
                    season_rk, "season", 2, f"Season {s_index}", added, added + 3600,
                    f"plex://season/{_hex_id('season', show.tvdb, s_index)}",
                    parent_key=show_rk, index=s_index,
                )
                for e_index, title in enumerate(episodes, start=1):
                    ep_added = added + (s_index * 10 + e_index) * 3600
                    self.items[episode_rk] = Item(
                        episode_rk, "episode", 2, title, ep_added, ep_added + 60,
                        f"plex://episode/{_hex_id('episode', show.tvdb, s_index, e_index)}",
                        year=show.year + s_index - 1, parent_key=season_rk, index=e_index,
                        summary=f"Season {s_index}, episode {e_index} of {show.title}.",
                        file=f"{tv_path}/{show.title}/Season {s_index:02d}/"
                             f"{show.title} - S{s_index:02d}E{e_index:02d}.mkv",
                        size=(1_000 + episode_rk) * 1_000_000, duration_ms=47 * 60_000,
                        content_rating=show.content_rating,
                    )
                    episode_rk += 1
                season_rk += 1

    def _new_rating_key(self) -> int:
        rk = self._next_rating_key
        self._next_rating_key += 1
        return rk

    def section(self, key: int) -> Section:
        """Return a section by key.

        Raises:
            SimError: 404 if unknown.
        """
        with self._lock:
            try:
                return self.sections[key]
            except KeyError:
                raise SimError(404, f"unknown library section {key}") from None

    def set_section_locations(self, section_key: int, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Point a section at other folders (e.g. a test's tmp dir)."""
        with self._lock:
            self.section(section_key).locations = [str(p) for p in paths]

    def children(self, rating_key: int) -> list[Item]:
        """Direct children of a show or season, in index order."""
        with self._lock:
            kids = [i for i in self.items.values() if i.parent_key == rating_key]
        return sorted(kids, key=lambda i: (i.index or 0, i.rating_key))

    def leaves(self, item: Item) -> list[Item]:
        """Episodes under a show or season."""
        if item.type == "season":
            return self.children(item.rating_key)
        if item.type == "show":
            return [e for s in self.children(item.rating_key) for e in self.children(s.rating_key)]
        return []

    def parent(self, item: Item) -> Item | None:
        """The parent item (season of an episode, show of a season)."""
        return self.items.get(item.parent_key) if item.parent_key is not None else None

    def add_movie(self, title: str, year: int | None = None, *, section_key: int = 1,
                  guids: Iterable[str] = (), file: str | None = None, summary: str = "",
                  duration_ms: int | None = None) -> Item:
        """Add a movie directly (no file needed on disk); returns the new item."""
        guids = list(guids)
        with self._lock:
            section = self.section(section_key)
            now = int(self.now())
            rk = self._new_rating_key()
            item = Item(rk, "movie", section.key, title, now, now,
                        f"plex://movie/{_hex_id('movie', title, year)}" if guids else f"local://{rk}",
                        year=year, summary=summary, guids=guids, file=file,
                        size=(4_000 + rk) * 1_000_000 if file else 0, duration_ms=duration_ms)
            self.items[rk] = item
        logger.info("added movie %r (ratingKey %s)", title, rk)
        return item

    def item_by_guid(self, guid: str, *, item_type: str | None = None) -> Item | None:
        """The item (lowest ratingKey first) whose ``Guid`` list holds ``guid``, e.g. ``tmdb://949``.

        Args:
            guid: An external id such as ``tmdb://949``, ``imdb://tt0113277`` or ``tvdb://81189``.
            item_type: Only consider items of this type (``"movie"``, ``"show"`` …).
        """
        with self._lock:
            return next((i for _, i in sorted(self.items.items())
                         if guid in i.guids and (item_type is None or i.type == item_type)), None)

    def add_show(self, title: str, year: int | None = None, *, seasons: Iterable[int], guids: Iterable[str] = (),
                 section_key: int = 2, episodes_per_season: int = 1, summary: str = "") -> Item:
        """Make sure a show holds ``seasons``, each with at least ``episodes_per_season`` episodes.

        The show is the one of ``section_key`` carrying one of ``guids`` (or, without a match,
        the one titled ``title``); it is created when there is none. Missing seasons are added
        with episodes ``Episode 1`` … whose files sit under the section's first folder (they
        need not exist on disk). This is what a finished download plus a scan would produce.

        Args:
            title: Show title.
            year: First-air year.
            seasons: Season numbers (>= 1) the show must hold.
            guids: External ids (``tmdb://…``, ``tvdb://…``, ``imdb://…``) of the show.
            section_key: A ``show`` section.
            episodes_per_season: Minimum episodes per added (or empty) season, >= 1.
            summary: Show summary, for a new show.

        Returns:
            The show item.

        Raises:
            SimError: 404 for an unknown section, 400 if it is not a show section or for bad
                season numbers / episode counts.
        """
        guids = list(guids)
        wanted = sorted({int(n) for n in seasons})
        if not wanted or wanted[0] < 1:
            raise SimError(400, "seasons must be numbers >= 1")
        if episodes_per_season < 1:
            raise SimError(400, "episodes_per_season must be >= 1")
        with self._lock:
            section = self.section(section_key)
            if section.type != "show":
                raise SimError(400, f"section {section_key} is not a show section")
            shows = [i for _, i in sorted(self.items.items()) if i.section_key == section.key and i.type == "show"]
            show = next((s for s in shows if set(guids) & set(s.guids)), None) \
                or next((s for s in shows if s.title.lower() == title.lower()), None)
            now = int(self.now())
            if show is None:
                rk = self._new_rating_key()
                show = Item(rk, "show", section.key, title, now, now,
                            f"plex://show/{_hex_id('show', *guids)}" if guids else f"local://{rk}",
                            year=year, summary=summary, guids=guids)
                self.items[rk] = show
            else:
                show.guids.extend(g for g in guids if g not in show.guids)
            folder = f"{section.locations[0] if section.locations else ''}/{show.title}"
            for number in wanted:
                season = next((s for s in self.children(show.rating_key) if s.index == number), None)
                if season is None:
                    rk = self._new_rating_key()
                    season = Item(rk, "season", section.key, f"Season {number}", now, now,
                                  f"plex://season/{_hex_id('season', show.guid, number)}",
                                  parent_key=show.rating_key, index=number)
                    self.items[rk] = season
                have = len(self.children(season.rating_key))
                for index in range(have + 1, episodes_per_season + 1):
                    rk = self._new_rating_key()
                    self.items[rk] = Item(
                        rk, "episode", section.key, f"Episode {index}", now, now,
                        f"plex://episode/{_hex_id('episode', show.guid, number, index)}",
                        year=show.year, parent_key=season.rating_key, index=index,
                        file=f"{folder}/Season {number:02d}/{show.title} - S{number:02d}E{index:02d}.mkv",
                        size=(1_000 + rk) * 1_000_000, duration_ms=47 * 60_000,
                    )
                season.updated_at = now
            show.updated_at = now
        logger.info("show %r (ratingKey %s) now holds seasons %s", show.title, show.rating_key, wanted)
        return show

    # ---- scanning --------------------------------------------------------------------

    def scan(self, section_key: int, path: str | None = None) -> list[Item]:
        """Import files under the section's folders (or ``path``) that are not items yet.

        This is the synchronous core of ``/library/sections/{id}/refresh``.

        Args:
            section_key: The section to scan.
            path: Optional folder to limit the scan to; must lie under a location.

        Returns:
            The newly created items (movies or episodes, plus new shows/seasons).
        """
        with self._lock:
            section = self.section(section_key)
            locations = list(section.locations)
            known = {i.file for i in self.items.values() if i.section_key == section_key and i.file}
        roots: list[tuple[str, str]] = []  # (location, folder to walk)
        if path:
            target = os.path.normpath(path)
            for location in locations:
                loc = os.path.normpath(location)
                if target == loc or target.startswith(loc.rstrip(os.sep) + os.sep):
                    roots.append((loc, target))
                    break
            else:
                logger.warning("refresh path %s is outside section %s locations %s; nothing imported",
                               path, section_key, locations)
        else:
            roots = [(os.path.normpath(loc), os.path.normpath(loc)) for loc in locations]
        found: list[tuple[str, str]] = []
        for location, folder in roots:
            for file_path in _walk_videos(folder):
                if file_path not in known:
                    found.append((location, file_path))
        created: list[Item] = []
        with self._lock:
            if self.sections.get(section.key) is not section:
                return []  # reset() happened meanwhile
            # Another scan may have imported some of these while we walked the disk.
            known = {i.file for i in self.items.values() if i.section_key == section_key and i.file}
            for location, file_path in sorted(found):
                if file_path in known:
                    continue
                if section.type == "movie":
                    created.append(self._import_movie(section, location, file_path))
                elif section.type == "show":
                    created.extend(self._import_episode(section, location, file_path))
            section.scanned_at = int(self.now())
            if created:
                section.updated_at = section.scanned_at
        for item in created:
            logger.info("scan imported %s %r (ratingKey %s)", item.type, item.title, item.rating_key)
        return created

    def _import_movie(self, section: Section, location: str, file_path: str) -> Item:
        rel = PurePosixPath(Path(file_path).relative_to(location).as_posix())
        source = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        title, year, guids = _parse_media_name(source)
        now = int(self.now())
        rk = self._new_rating_key()
        item = Item(
            rk, "movie", section.key, title, now, now,
            f"plex://movie/{_hex_id('movie', *guids)}" if guids else f"local://{rk}",
            year=year, guids=guids, file=file_path, size=_file_size(file_path),
        )
        self.items[rk] = item
        return item

    def _import_episode(self, section: Section, location: str, file_path: str) -> list[Item]:
        rel = PurePosixPath(Path(file_path).relative_to(location).as_posix())
        stem = rel.stem
        marker = re.search(r"[Ss](\d{1,3})[ ._-]?[Ee](\d{1,4})|(\d{1,2})x(\d{1,3})", stem)
        if len(rel.parts) > 1:
            show_source = rel.parts[0]
        elif marker:
            show_source = stem[: marker.start()].strip(" ._-") or stem
        else:
            show_source = stem
        show_title, show_year, show_guids = _parse_media_name(show_source)
        season_index = 1
        episode_index: int | None = None
        if marker:
            season_index = int(marker.group(1) or marker.group(3))
            episode_index = int(marker.group(2) or marker.group(4))
        else:
            season_dir = next((p for p in rel.parts[1:-1] if re.match(r"(?i)season\s*\d+", p)), None)
            if season_dir:
                season_index = int(re.search(r"\d+", season_dir).group())  # type: ignore[union-attr]
        now = int(self.now())
        created: list[Item] = []
        show = next((i for i in self.items.values() if i.section_key == section.key and i.type == "show"
                     and i.title.lower() == show_title.lower()), None)
        if show is None:
            rk = self._new_rating_key()
            show = Item(rk, "show", section.key, show_title, now, now,
                        f"plex://show/{_hex_id('show', *show_guids)}" if show_guids else f"local://{rk}",
                        year=show_year, guids=show_guids)
            self.items[rk] = show
            created.append(show)
        season = next((s for s in self.children(show.rating_key) if s.index == season_index), None)
        if season is None:
            rk = self._new_rating_key()
            season = Item(rk, "season", section.key, f"Season {season_index}", now, now, f"local://{rk}",
                          parent_key=show.rating_key, index=season_index)
            self.items[rk] = season
            created.append(season)
        if episode_index is None:
            episode_index = max((e.index or 0 for e in self.children(season.rating_key)), default=0) + 1
        title = stem[marker.end():].strip(" ._-") if marker else ""
        rk = self._new_rating_key()
        episode = Item(rk, "episode", section.key, title or f"Episode {episode_index}", now, now,
                       f"local://{rk}", year=show.year, parent_key=season.rating_key, index=episode_index,
                       file=file_path, size=_file_size(file_path))
        self.items[rk] = episode
        created.append(episode)
        show.updated_at = season.updated_at = now
        return created

    def start_refresh(self, section_key: int, path: str | None = None) -> None:
        """Mark the section as refreshing and import after ``scan_delay`` (needs a running loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            section = self.section(section_key)
            section.running_scans += 1

        async def run() -> None:
            try:
                await asyncio.sleep(self.scan_delay)
                await asyncio.to_thread(self.scan, section_key, path)
            except Exception:  # a failed scan must not leave the section "refreshing"
                logger.exception("scan of section %s failed", section_key)
            finally:
                with self._lock:
                    section.running_scans = max(0, section.running_scans - 1)

        task = loop.create_task(run())
        self._tasks[task] = section_key
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    def cancel_refresh(self, section_key: int | None = None) -> None:
        """Cancel pending scans (all sections when ``section_key`` is ``None``).

        Must be called from the event loop that runs the scans.
        """
        for task, key in list(self._tasks.items()):
            if section_key is None or key == section_key:
                task.cancel()
        with self._lock:
            for section in self.sections.values():
                if section_key is None or section.key == section_key:
                    section.running_scans = 0

    # ---- collections -----------------------------------------------------------------

    def _items_from_uri(self, uri: str | None) -> list[Item]:
        if not uri:
            raise SimError(400, "uri is required")
        match = _COLLECTION_URI.match(uri)
        if not match:
            raise SimError(400, f"malformed uri {uri!r}")
        if match.group("machine") != self.household.machine_id:
            raise SimError(400, "uri names another server")
        ids = [int(x) for x in match.group("ids").split(",") if x]
        if not ids:
            raise SimError(400, "uri lists no items")
        missing = [i for i in ids if i not in self.items]
        if missing:
            raise SimError(400, f"unknown items {missing}")
        return [self.items[i] for i in ids]

    def create_collection(self, *, section_key: int, title: str, uri: str | None,
                          type_number: int | None = None, smart: bool = False) -> Collection:
        """Create a regular collection from a ``server://…/library/metadata/ids`` URI.

        Raises:
            SimError: 400 for a bad section, title, type or URI, or a smart collection.
        """
        with self._lock:
            if smart:
                raise SimError(400, "smart collections are not simulated")
            if section_key not in self.sections:
                raise SimError(400, f"unknown library section {section_key}")
            if not title:
                raise SimError(400, "title is required")
            members = self._items_from_uri(uri)
            subtype = self._check_members(section_key, members)
            if type_number is not None and TYPE_BY_NUMBER.get(type_number) != subtype:
                raise SimError(400, f"type {type_number} does not match the items ({subtype})")
            now = int(self.now())
            rk = self._new_rating_key()
            collection = Collection(rk, section_key, title, subtype, [], now, now,
                                    f"collection://{uuidlib.uuid4()}")
            for item in members:
                if item.rating_key not in collection.members:
                    collection.members.append(item.rating_key)
            self.collections[rk] = collection
        logger.info("created collection %r (%s) with %s items", title, rk, len(collection.members))
        return collection

    def _check_members(self, section_key: int, members: list[Item]) -> str:
        types = {i.type for i in members}
        if len(types) != 1:
            raise SimError(400, "cannot mix item types in a collection")
        if any(i.section_key != section_key for i in members):
            raise SimError(400, "items belong to another section")
        return types.pop()

    def collection(self, rating_key: int) -> Collection:
        """Return a collection by ratingKey.

        Raises:
            SimError: 404 if unknown.
        """
        with self._lock:
            try:
                return self.collections[rating_key]
            except KeyError:
                raise SimError(404, f"unknown collection {rating_key}") from None

    def add_to_collection(self, rating_key: int, uri: str | None) -> Collection:
        """Add the items named by ``uri`` (duplicates are ignored)."""
        with self._lock:
            collection = self.collection(rating_key)
            members = self._items_from_uri(uri)
            if self._check_members(collection.section_key, members) != collection.subtype:
                raise SimError(400, "item type does not match the collection")
            for item in members:
                if item.rating_key not in collection.members:
                    collection.members.append(item.rating_key)
            collection.updated_at = int(self.now())
            return collection

    def remove_from_collection(self, rating_key: int, item_key: int) -> Collection:
        """Remove one item from a collection.

        Raises:
            SimError: 404 for an unknown collection or an item not in it.
        """
        with self._lock:
            collection = self.collection(rating_key)
            if item_key not in collection.members:
                raise SimError(404, f"item {item_key} is not in collection {rating_key}")
            collection.members.remove(item_key)
            collection.updated_at = int(self.now())
            return collection

    def delete_collection(self, rating_key: int) -> None:
        """Delete a collection (its items stay)."""
        with self._lock:
            self.collection(rating_key)
            del self.collections[rating_key]

    # ---- introspection ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything a test may want to check, as JSON-ready data."""
        with self._lock:
            return {
                "accounts": [
                    {"id": a.id, "uuid": a.uuid, "username": a.username, "title": a.title, "email": a.email,
                     "authToken": a.token, "serverToken": self.server_token(a.username)}
                    for a in self.accounts.values()
                ],
                "shares": [{"user": u, "accessToken": t} for u, t in self.shares.items()],
                "server": {"name": self.household.name, "machineIdentifier": self.household.machine_id,
                           "owner": self.owner.username, "url": self.household.url},
                "otherServers": [{"name": s.name, "machineIdentifier": s.machine_id,
                                  "owner": getattr(self.account_by_id(s.owner_id), "username", None),
                                  "url": s.url} for s in self.other_servers],
                "pins": [
                    {"id": p.id, "code": p.code, "clientIdentifier": p.client_id, "approvedBy": p.approved_by,
                     "denied": p.denied, "expired": self.now() >= p.expires_at}
                    for p in self.pins.values()
                ],
                "autoApprove": {"user": self.auto_approve_user, "after_seconds": self.auto_approve_after},
                "strict": self.strict,
                "sections": [
                    {"key": s.key, "title": s.title, "type": s.type, "locations": s.locations,
                     "refreshing": s.running_scans > 0,
                     "itemCount": sum(1 for i in self.items.values() if i.section_key == s.key
                                      and i.type in ("movie", "show"))}
                    for s in self.sections.values()
                ],
                "collections": [
                    {"ratingKey": c.rating_key, "title": c.title, "sectionKey": c.section_key,
                     "items": list(c.members)} for c in self.collections.values()
                ],
                "faults": {name: inj.snapshot() for name, inj in self.faults.items()},
            }


def _walk_videos(folder: str) -> list[str]:
    if os.path.isfile(folder):
        return [folder] if Path(folder).suffix.lower() in VIDEO_EXTENSIONS else []
    if not os.path.isdir(folder):
        return []
    result = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            # Skip hidden files and downloads in progress (yt-dlp's .part files).
            if name.startswith(".") or Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
                continue
            result.append(os.path.join(dirpath, name))
    return result


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _parse_media_name(name: str) -> tuple[str, int | None, list[str]]:
    """Parse "Title (Year) {tmdb-123}"-style names as Plex's naming guide allows.

    Returns:
        The title, the year if present, and Guid ids from ``{imdb-…}``/``{tmdb-…}``/
        ``{tvdb-…}`` hints.
    """
    guids = [f"{kind.lower()}://{value}" for kind, value in
             re.findall(r"\{(imdb|tmdb|tvdb)-([^}]+)\}", name, flags=re.IGNORECASE)]
    cleaned = re.sub(r"\{[^}]*\}", " ", name)
    cleaned = re.sub(r"\s*\[[^\]]*\]\s*$", "", cleaned)  # yt-dlp style "[id]" suffix
    if " " not in cleaned.strip():
        cleaned = re.sub(r"[._]+", " ", cleaned)
    year = None
    match = re.match(r"^(?P<title>.+?)[\s(\[]+(?P<year>(?:19|20)\d{2})(?:[)\]]|\s|$)", cleaned.strip())
    if match:
        cleaned, year = match.group("title"), int(match.group("year"))
    title = re.sub(r"\s+", " ", cleaned).strip(" -._") or name
    return title, year, guids


# --------------------------------------------------------------------------------------
# ASGI helpers shared by both apps
# --------------------------------------------------------------------------------------


class _StripTrailingSlash:
    """Treat ``/library/sections/`` like ``/library/sections`` (python-plexapi uses both)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


Handler = Callable[[Request], Awaitable[Response]]


def _sim_errors(handler: Handler, render: Callable[[Request, SimError], Response]) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except SimError as exc:
            return render(request, exc)

    wrapped.__name__ = handler.__name__
    return wrapped


def _hook_error(_: Request, exc: SimError) -> Response:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


def _common_hook_routes(sim: PlexSim) -> list[Route]:
    async def state(_: Request) -> Response:
        return JSONResponse(sim.state())

    async def reset(_: Request) -> Response:
        sim.reset()
        return JSONResponse({"reset": True, "state": sim.state()})

    return [
        Route("/__sim__/state", state, methods=["GET"]),
        Route("/__sim__/reset", reset, methods=["POST"]),
    ]


# --------------------------------------------------------------------------------------
# plex.tv
# --------------------------------------------------------------------------------------

_SINGULAR = {"connections": "connection", "resources": "resource", "features": "feature",
             "entitlements": "entitlement", "roles": "role", "services": "service", "errors": "error"}


def _tv_xml_element(name: str, data: Any) -> ET.Element:
    """Render plex.tv v2 JSON-shaped data as its XML form (scalars as attributes)."""
    element = ET.Element(name)
    if isinstance(data, list):
        element.set("size", str(len(data)))
        for entry in data:
            element.append(_tv_xml_element(_SINGULAR.get(name, name.rstrip("s")), entry))
        return element
    if not isinstance(data, dict):
        element.text = _xml_value(data)
        return element
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict):
            element.append(_tv_xml_element(key, value))
        elif isinstance(value, list):
            wrapper = ET.SubElement(element, key)
            for entry in value:
                child_name = _SINGULAR.get(key, key.rstrip("s"))
                if isinstance(entry, dict):
                    wrapper.append(_tv_xml_element(child_name, entry))
                else:
                    ET.SubElement(wrapper, child_name, {"id": _xml_value(entry)})
        else:
            element.set(key, _xml_value(value))
    return element


def _xml_response(element: ET.Element, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="utf-8")
    return Response(body, status_code=status, media_type="application/xml", headers=headers)


def _tv_response(request: Request, payload: Any, root: str, status: int = 200) -> Response:
    if _wants_json(request):
        return JSONResponse(payload, status_code=status)
    return _xml_response(_tv_xml_element(root, payload), status)


def _tv_error(request: Request, status: int, code: int, message: str) -> Response:
    errors = [{"code": code, "message": message, "status": status}]
    if _wants_json(request):
        return JSONResponse({"errors": errors}, status_code=status)
    return _xml_response(_tv_xml_element("errors", errors), status)


def _unauthorized(request: Request) -> Response:
    return _tv_error(request, 401, 1001, "User could not be authenticated")


def create_plex_tv_app(sim: PlexSim) -> Starlette:
    """Build the plex.tv simulator (§1.8) on ``sim``.

    Args:
        sim: The shared state.

    Returns:
        The Starlette app (fault injection, CORS and trailing-slash tolerance included).
    """

    def strict_reject(request: Request) -> Response | None:
        if sim.strict and not _wants_json(request):
            return JSONResponse({"errors": [{"code": 406, "status": 406,
                                             "message": "Simulator strict mode: send Accept: application/json"}]},
                                status_code=406)
        return None

    def pin_payload(pin: Pin) -> dict[str, Any]:
        approved = sim.accounts.get(pin.approved_by) if pin.approved_by else None
        return {
            "id": pin.id,
            "code": pin.code,
            "product": pin.product,
            "trusted": False,
            "qr": f"{sim.plex_tv_base_url}/api/v2/pins/qr/{pin.code}",
            "clientIdentifier": pin.client_id,
            "location": {"code": "XX", "european_union_member": False, "continent_code": "XX",
                         "country": "Simulated", "city": "Localhost", "time_zone": "UTC",
                         "postal_code": "00000", "in_privacy_restricted_country": False,
                         "subdivisions": "", "coordinates": "0.0, 0.0"},
            "expiresIn": max(0, int(pin.expires_at - sim.now())),
            "createdAt": _iso(pin.created_at),
            "expiresAt": _iso(pin.expires_at),
            "authToken": approved.token if approved else None,
            "newRegistration": None,
        }

    def account_payload(account: Account) -> dict[str, Any]:
        return {
            "id": account.id,
            "uuid": account.uuid,
            "username": account.username,
            "title": account.title,
            "email": account.email,
            "friendlyName": account.title,
            "locale": None,
            "confirmed": True,
            "joinedAt": account.joined_at,
            "emailOnlyAuth": False,
            "hasPassword": True,
            "protected": False,
            "thumb": f"{sim.plex_tv_base_url}/users/{account.uuid}/avatar?c={account.joined_at}",
            "authToken": account.token,
            "mailingListStatus": "unsubscribed",
            "mailingListActive": False,
            "scrobbleTypes": "",
            "country": "US",
            "subscription": {"active": False, "subscribedAt": None, "status": "Inactive",
                             "paymentService": None, "plan": None, "features": []},
            "subscriptionDescription": None,
            "restricted": False,
            "anonymous": None,
            "home": False,
            "guest": False,
            "homeSize": 1,
            "homeAdmin": False,
            "maxHomeSize": 15,
            "rememberExpiresAt": int(sim.now()) + 30 * 86400,
            "profile": {"autoSelectAudio": True, "defaultAudioLanguage": "en", "defaultSubtitleLanguage": "en",
                        "autoSelectSubtitle": 0, "defaultSubtitleAccessibility": 0, "defaultSubtitleForces": 0},
            "entitlements": [],
            "roles": [],
            "services": [],
            "adsConsent": None,
            "adsConsentSetAt": None,
            "adsConsentReminderAt": None,
            "experimentalFeatures": False,
            "twoFactorEnabled": False,
            "backupCodesCreated": False,
        }

    def connections_for(url: str) -> list[dict[str, Any]]:
        parts = urlsplit(url)
        address = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        base = {"protocol": parts.scheme or "http", "address": address, "port": port, "uri": url,
                "relay": False, "IPv6": ":" in address}
        return [{**base, "local": True}, {**base, "local": False}]

    def server_resource(server: Server, account: Account, access_token: str) -> dict[str, Any]:
        owned = server.owner_id == account.id
        owner = sim.account_by_id(server.owner_id)
        return {
            "name": server.name, "product": "Plex Media Server", "productVersion": server.product_version,
            "platform": "Linux", "platformVersion": "6.1.0", "device": "PC",
            "clientIdentifier": server.machine_id, "createdAt": _iso(server.created_at),
            "lastSeenAt": _iso(sim.now() - 60), "provides": "server",
            "ownerId": None if owned else server.owner_id,
            "sourceTitle": None if owned else getattr(owner, "username", None),
            "publicAddress": "203.0.113.5", "accessToken": access_token, "owned": owned,
            "home": False, "synced": False, "relay": True, "presence": True, "httpsRequired": False,
            "publicAddressMatches": True, "dnsRebindingProtection": False, "natLoopbackSupported": True,
            "connections": connections_for(server.url),
        }

    def resources_for(account: Account) -> list[dict[str, Any]]:
        with sim._lock:
            devices: list[dict[str, Any]] = []
            token = sim.server_token(account.username)
            if token is not None:
                devices.append(server_resource(sim.household, account, token))
            for server in sim.other_servers:
                if server.owner_id == account.id:
                    devices.append(server_resource(server, account, account.token))
            if account.id == sim.household.owner_id:
                devices.append({
                    "name": fixtures.PLAYER_NAME, "product": "Plex for iOS", "productVersion": "8.40",
                    "platform": "iOS", "platformVersion": "17.5", "device": "iPhone",
                    "clientIdentifier": fixtures.PLAYER_CLIENT_ID,
                    "createdAt": _iso(fixtures.FIXTURE_EPOCH - 90 * 86400), "lastSeenAt": _iso(sim.now() - 3600),
                    "provides": "client,player,pubsub-player", "ownerId": None, "sourceTitle": None,
                    "publicAddress": "203.0.113.5", "accessToken": account.token, "owned": True,
                    "home": False, "synced": False, "relay": False, "presence": False, "httpsRequired": False,
                    "publicAddressMatches": True, "dnsRebindingProtection": False,
                    "natLoopbackSupported": False,
                    "connections": [{"protocol": "http", "address": "192.168.1.23", "port": 32500,
                                     "uri": "http://192.168.1.23:32500", "local": True, "relay": False,
                                     "IPv6": False}],
                })
            return devices

    async def create_pin(request: Request) -> Response:
        if (rejected := strict_reject(request)) is not None:
            return rejected
        client_id = _plex_param(request, "X-Plex-Client-Identifier")
        if not client_id:
            return _tv_error(request, 400, 1000, "X-Plex-Client-Identifier is missing")
        pin = sim.create_pin(client_id, strong=_truthy(request.query_params.get("strong")),
                             product=_plex_param(request, "X-Plex-Product"))
        logger.info("pin %s created for client %s", pin.id, client_id)
        return _tv_response(request, pin_payload(pin), "pin", 201)

    async def get_pin(request: Request) -> Response:
        if (rejected := strict_reject(request)) is not None:
            return rejected
        client_id = _plex_param(request, "X-Plex-Client-Identifier")
        if not client_id:
            return _tv_error(request, 400, 1000, "X-Plex-Client-Identifier is missing")
        pin = sim.get_pin(request.path_params["pin_id"])
        # Another client's pin is reported as missing (our choice; UNVERIFIED).
        if pin is None or pin.client_id != client_id:
            return _tv_error(request, 404, 1020, "Code not found or expired")
        return _tv_response(request, pin_payload(pin), "pin")

    async def pin_qr(request: Request) -> Response:
        return _png_response(64, 64, request.path_params["code"])

    def authenticated(request: Request) -> Account | None:
        return sim.account_by_token(_plex_param(request, "X-Plex-Token"))

    async def user(request: Request) -> Response:
        if (rejected := strict_reject(request)) is not None:
            return rejected
        account = authenticated(request)
        if account is None:
            return _unauthorized(request)
        return _tv_response(request, account_payload(account), "user")

    async def account_json(request: Request) -> Response:
        account = authenticated(request)
        if account is None:
            return JSONResponse({"errors": [{"code": 1001, "message": "User could not be authenticated",
                                             "status": 401}]}, status_code=401)
        return JSONResponse({"user": {
            "id": account.id, "uuid": account.uuid, "email": account.email,
            "joined_at": _iso(account.joined_at).replace("T", " ").replace("Z", " UTC"),
            "username": account.username, "title": account.title,
            "thumb": f"{sim.plex_tv_base_url}/users/{account.uuid}/avatar?c={account.joined_at}",
            "hasPassword": True, "authToken": account.token, "authentication_token": account.token,
            "subscription": {"active": False, "status": "Inactive", "plan": None, "features": []},
            "roles": {"roles": []}, "entitlements": [], "confirmedAt": _iso(account.joined_at),
            "forumId": None, "rememberMe": False,
        }})

    async def ping(request: Request) -> Response:
        if (rejected := strict_reject(request)) is not None:
            return rejected
        if authenticated(request) is None:
            return _unauthorized(request)
        if _wants_json(request):
            return JSONResponse({"pong": True})
        return _xml_response(_tv_xml_element("pong", True))

    async def resources(request: Request) -> Response:
        if (rejected := strict_reject(request)) is not None:
            return rejected
        account = authenticated(request)
        if account is None:
            return _unauthorized(request)
        return _tv_response(request, resources_for(account), "resources")

    async def legacy_resources(request: Request) -> Response:
        account = authenticated(request)
        if account is None:
            return PlainTextResponse("401 Unauthorized", status_code=401)
        devices = resources_for(account)
        root = ET.Element("MediaContainer", {"size": str(len(devices))})
        for device in devices:
            attrs = {k: v for k, v in device.items() if k != "connections" and v is not None}
            attrs["createdAt"] = str(int(datetime.fromisoformat(device["createdAt"]).timestamp()))
            attrs["lastSeenAt"] = str(int(datetime.fromisoformat(device["lastSeenAt"]).timestamp()))
            element = ET.SubElement(root, "Device", {k: _xml_value(v) for k, v in attrs.items()})
            for conn in device["connections"]:
                ET.SubElement(element, "Connection", {k: _xml_value(v) for k, v in conn.items()})
        return _xml_response(root)

    async def users(request: Request) -> Response:
        account = authenticated(request)
        if account is None:
            return _xml_response(_tv_xml_element("errors", [{"code": 1001, "status": 401,
                                                             "message": "User could not be authenticated"}]), 401)
        root = ET.Element("MediaContainer", {"friendlyName": "myPlex", "identifier": "com.plexapp.plugins.myplex",
                                             "machineIdentifier": sim.household.machine_id})
        count = 0
        with sim._lock:
            if account.id == sim.household.owner_id:
                n_sections = len(sim.sections)
                for share_id, (username, _token) in enumerate(sim.shares.items(), start=1):
                    friend = sim.accounts.get(username)
                    if friend is None:
                        continue
                    count += 1
                    element = ET.SubElement(root, "User", {
                        "id": str(friend.id), "title": friend.title, "username": friend.username,
                        "email": friend.email, "recommendationsPlaylistId": "",
                        "thumb": f"{sim.plex_tv_base_url}/users/{friend.uuid}/avatar?c={friend.joined_at}",
                        "protected": "0", "home": "0", "allowTuners": "0", "allowSync": "1",
                        "allowCameraUpload": "0", "allowChannels": "0", "allowSubtitleAdmin": "0",
                        "filterAll": "", "filterMovies": "", "filterMusic": "", "filterPhotos": "",
                        "filterTelevision": "", "restricted": "0",
                    })
                    ET.SubElement(element, "Server", {
                        "id": str(9000 + share_id), "serverId": "7001",
                        "machineIdentifier": sim.household.machine_id, "name": sim.household.name,
                        "lastSeenAt": str(int(sim.now()) - 60), "numLibraries": str(n_sections),
                        "allLibraries": "1", "owned": "0", "pending": "0",
                    })
        root.set("totalSize", str(count))
        root.set("size", str(count))
        return _xml_response(root)

    async def avatar(request: Request) -> Response:
        uuid = request.path_params["uuid"]
        with sim._lock:
            account = next((a for a in sim.accounts.values() if a.uuid == uuid), None)
        if account is None:
            return PlainTextResponse("not found", status_code=404)
        initial = html.escape(account.title[:1].upper() or "?")
        r, g, b = _colour(account.username)
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
               f'<circle cx="48" cy="48" r="48" fill="rgb({r},{g},{b})"/>'
               f'<text x="48" y="62" font-family="sans-serif" font-size="44" fill="#fff" '
               f'text-anchor="middle">{initial}</text></svg>')
        return Response(svg, media_type="image/svg+xml")

    async def auth_page(_: Request) -> Response:
        with sim._lock:
            accounts = sorted(sim.accounts.values(), key=lambda a: a.id)
        buttons = "\n".join(
            f'      <button type="button" class="account" id="approve-{html.escape(a.username)}" '
            f'data-user="{html.escape(a.username)}">Continue as {html.escape(a.title)}</button>'
            for a in accounts
        )
        return HTMLResponse(_AUTH_PAGE.replace("{{BUTTONS}}", buttons))

    # ---- hooks ----

    async def hook_approve(request: Request) -> Response:
        body = await _json_body(request)
        pin = sim.approve_pin(request.path_params["pin_id"], str(body.get("user") or ""))
        return JSONResponse(pin_payload(pin))

    async def hook_pin_by_code(request: Request) -> Response:
        pin = sim.get_pin_by_code(request.path_params["code"])
        if pin is None:
            raise SimError(404, "code not found or expired")
        return JSONResponse(pin_payload(pin))

    async def hook_approve_by_code(request: Request) -> Response:
        body = await _json_body(request)
        pin = sim.approve_pin_by_code(request.path_params["code"], str(body.get("user") or ""))
        return JSONResponse(pin_payload(pin))

    async def hook_deny_by_code(request: Request) -> Response:
        pin = sim.deny_pin_by_code(request.path_params["code"])
        return JSONResponse({"id": pin.id, "denied": True})

    async def hook_accounts(request: Request) -> Response:
        body = await _json_body(request)
        account = sim.create_account(str(body.get("username") or ""), body.get("email"), body.get("title"))
        return JSONResponse(account_payload(account), status_code=201)

    async def hook_add_share(request: Request) -> Response:
        body = await _json_body(request)
        username = str(body.get("user") or "")
        token = sim.add_share(username)
        return JSONResponse({"user": username, "accessToken": token,
                             "machineIdentifier": sim.household.machine_id})

    async def hook_remove_share(request: Request) -> Response:
        sim.remove_share(request.path_params["username"])
        return JSONResponse({"user": request.path_params["username"], "removed": True})

    async def hook_auto_approve(request: Request) -> Response:
        body = await _json_body(request)
        user_name = body.get("user")
        try:
            after = float(body.get("after_seconds") or 0)
        except (TypeError, ValueError):
            raise SimError(400, "after_seconds must be a number") from None
        sim.set_auto_approve(str(user_name) if user_name is not None else None, after)
        return JSONResponse({"user": sim.auto_approve_user, "after_seconds": sim.auto_approve_after})

    def tv(handler: Handler) -> Handler:
        return _sim_errors(handler, lambda req, exc: _tv_error(req, exc.status, 1000, exc.message))

    def hook(handler: Handler) -> Handler:
        return _sim_errors(handler, _hook_error)

    routes = [
        Route("/api/v2/pins", tv(create_pin), methods=["POST"]),
        Route("/api/v2/pins/qr/{code}", tv(pin_qr), methods=["GET"]),
        Route("/api/v2/pins/{pin_id:int}", tv(get_pin), methods=["GET"]),
        Route("/api/v2/user", tv(user), methods=["GET"]),
        Route("/users/account.json", tv(account_json), methods=["GET"]),
        Route("/api/v2/ping", tv(ping), methods=["GET"]),
        Route("/api/v2/resources", tv(resources), methods=["GET"]),
        Route("/api/resources", tv(legacy_resources), methods=["GET"]),
        Route("/api/users", tv(users), methods=["GET"]),
        Route("/users/{uuid}/avatar", tv(avatar), methods=["GET"]),
        Route("/auth", auth_page, methods=["GET"]),
        Route("/__sim__/pins/{pin_id:int}/approve", hook(hook_approve), methods=["POST"]),
        Route("/__sim__/pins/by-code/{code}", hook(hook_pin_by_code), methods=["GET"]),
        Route("/__sim__/pins/by-code/{code}/approve", hook(hook_approve_by_code), methods=["POST"]),
        Route("/__sim__/pins/by-code/{code}/deny", hook(hook_deny_by_code), methods=["POST"]),
        Route("/__sim__/accounts", hook(hook_accounts), methods=["POST"]),
        Route("/__sim__/shares", hook(hook_add_share), methods=["POST"]),
        Route("/__sim__/shares/{username}", hook(hook_remove_share), methods=["DELETE"]),
        Route("/__sim__/auto-approve", hook(hook_auto_approve), methods=["POST"]),
        *_common_hook_routes(sim),
    ]
    # Real plex.tv answers browsers from other origins (Overseerr calls it from the
    # browser), so a web client under test must not trip over CORS here either.
    return Starlette(routes=routes, middleware=[
        Middleware(FaultsMiddleware, injector=sim.faults[PLEX_TV_APP]),
        Middleware(_StripTrailingSlash),
        Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"]),
    ])


_AUTH_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Plex (simulated sign-in)</title>
  <style>
    body { font-family: system-ui, sans-serif; background: #1f2326; color: #eee; display: flex;
           justify-content: center; padding-top: 10vh; margin: 0; }
    main { background: #2b3035; padding: 2rem; border-radius: 8px; width: min(24rem, 90vw); }
    h1 { font-size: 1.2rem; margin-top: 0; }
    button { display: block; width: 100%; margin: .5rem 0; padding: .7rem; font-size: 1rem;
             border: 0; border-radius: 4px; cursor: pointer; }
    button.account { background: #e5a00d; color: #1f2326; }
    button#deny { background: transparent; color: #eee; border: 1px solid #888; }
    .note { color: #aaa; font-size: .85rem; }
    #message { font-size: 1.05rem; }
  </style>
</head>
<body>
  <main>
    <h1 id="heading">Sign in to Plex to continue to <span id="product">an app</span></h1>
    <p id="message" role="status">Checking your sign-in code&hellip;</p>
    <div id="choices" hidden>
{{BUTTONS}}
      <button type="button" id="deny">Cancel</button>
    </div>
    <p class="note">This is the MediaNest Plex simulator, not the real plex.tv.</p>
  </main>
  <script>
  (function () {
    "use strict";
    // The parameters live in the fragment, so a new link opened in this tab would
    // not reload the page by itself.
    window.addEventListener("hashchange", function () { window.location.reload(); });
    var fragment = window.location.hash.replace(/^#!?/, "").replace(/^\\?/, "");
    var params = new URLSearchParams(fragment);
    var code = params.get("code");
    var product = params.get("context[device][product]");
    var forwardUrl = params.get("forwardUrl");
    var message = document.getElementById("message");
    var choices = document.getElementById("choices");
    if (product) { document.getElementById("product").textContent = product; }

    function finish(text) {
      choices.hidden = true;
      message.textContent = text;
    }
    function fail(text) {
      finish(text);
      message.setAttribute("data-state", "error");
    }
    function post(path, payload) {
      return fetch(path, {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify(payload || {})
      });
    }
    if (!code) {
      fail("This sign-in link has no code. Start the sign-in again from the app.");
      return;
    }
    var base = "/__sim__/pins/by-code/" + encodeURIComponent(code);
    fetch(base).then(function (response) {
      if (!response.ok) { throw new Error("unknown code"); }
      message.textContent = "Choose the Plex account to sign in with.";
      choices.hidden = false;
    }).catch(function () {
      fail("This sign-in code is unknown or has expired. Start the sign-in again from the app.");
    });
    Array.prototype.forEach.call(document.querySelectorAll("button[data-user]"), function (button) {
      button.addEventListener("click", function () {
        post(base + "/approve", {user: button.getAttribute("data-user")}).then(function (response) {
          if (!response.ok) { throw new Error("approve failed"); }
          // Only follow http(s) targets: forwardUrl comes from the link, not from us.
          if (forwardUrl && /^https?:\\/\\//i.test(forwardUrl)) {
            window.location.assign(forwardUrl);
          } else {
            finish("You can close this window now.");
          }
        }).catch(function () {
          fail("This sign-in code is unknown or has expired. Start the sign-in again from the app.");
        });
      });
    });
    document.getElementById("deny").addEventListener("click", function () {
      post(base + "/deny").finally(function () {
        finish("Sign-in cancelled. You can close this window now.");
      });
    });
  })();
  </script>
</body>
</html>
"""


# --------------------------------------------------------------------------------------
# Plex Media Server
# --------------------------------------------------------------------------------------


@dataclass
class Node:
    """One PMS element, rendered as XML (``tag``) or inside JSON (under ``json_key``)."""

    tag: str
    attrs: dict[str, Any]
    children: list[Node] = field(default_factory=list)
    json_key: str | None = None
    #: Render as one JSON object instead of a list entry (e.g. ``Children``).
    json_object: bool = False

    def to_xml(self) -> ET.Element:
        """This node as an ElementTree element."""
        element = ET.Element(self.tag, {k: _xml_value(v) for k, v in self.attrs.items() if v is not None})
        for child in self.children:
            element.append(child.to_xml())
        return element

    def to_json(self) -> dict[str, Any]:
        """This node as PMS-style JSON (attributes plus child arrays)."""
        data: dict[str, Any] = {k: v for k, v in self.attrs.items() if v is not None}
        for child in self.children:
            key = child.json_key or child.tag
            if child.json_object:
                data[key] = child.to_json()
            else:
                data.setdefault(key, []).append(child.to_json())
        return data


_RESERVED_PARAMS = {
    "type", "sort", "includeGuids", "includeCollections", "includeExternalMedia", "includeMeta",
    "includeAdvanced", "checkFiles", "includeChildren", "includeDetails", "limit", "asyncCheckFiles",
    "includeElements", "excludeElements", "includeExtras", "includeRelated", "includeReviews",
    "includeOnDeck", "includeChapters", "includePopularLeaves", "includeConcerts", "includePreferences",
    "includeBandwidths", "includeAccount", "includeFields", "excludeFields", "contentDirectoryID",
}


def create_pms_app(sim: PlexSim) -> Starlette:
    """Build the Plex Media Server simulator (§2.11) on ``sim``.

    Args:
        sim: The shared state.

    Returns:
        The Starlette app (fault injection, token checks and trailing-slash tolerance included).
    """

    def respond(request: Request, attrs: dict[str, Any], children: Iterable[Node] = (),
                headers: dict[str, str] | None = None, meta: Node | None = None) -> Response:
        children = list(children)
        attrs = {"size": len(children), **attrs}
        root = Node("MediaContainer", attrs, ([meta] if meta else []) + children)
        if _wants_json(request):
            return JSONResponse({"MediaContainer": root.to_json()}, headers=headers)
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root.to_xml(), encoding="utf-8")
        return Response(body, media_type="text/xml;charset=utf-8", headers=headers)

    def paged(request: Request, entries: list[Any], default_size: int | None = None
              ) -> tuple[list[Any], dict[str, Any], dict[str, str]]:
        def read(name: str) -> int | None:
            raw = _plex_param(request, name)
            if raw is None:
                return None
            try:
                return max(0, int(raw))
            except ValueError:
                raise SimError(400, f"{name} must be an integer") from None

        start = read("X-Plex-Container-Start") or 0
        size = read("X-Plex-Container-Size")
        if size is None:
            size = default_size if default_size is not None else len(entries)
        window = entries[start:start + size]
        attrs = {"offset": start, "totalSize": len(entries)}
        headers = {"X-Plex-Container-Start": str(start), "X-Plex-Container-Total-Size": str(len(entries))}
        return window, attrs, headers

    def section_attrs(section: Section) -> dict[str, Any]:
        return {"librarySectionID": section.key, "librarySectionTitle": section.title,
                "librarySectionUUID": section.uuid}

    def item_section_attrs(item: Item | Collection) -> dict[str, Any]:
        section = sim.sections.get(item.section_key)
        return {"librarySectionTitle": section.title if section else None,
                "librarySectionID": item.section_key,
                "librarySectionKey": f"/library/sections/{item.section_key}"}

    def media_nodes(item: Item) -> list[Node]:
        if not item.file:
            return []
        container = Path(item.file).suffix.lstrip(".").lower() or "mkv"
        part_key = f"/library/parts/{item.rating_key}/{item.added_at}/file.{container}"
        part = Node("Part", {"id": item.rating_key, "key": part_key,
                             "duration": item.duration_ms, "file": item.file, "size": item.size,
                             "container": container})
        return [Node("Media", {"id": item.rating_key, "duration": item.duration_ms, "bitrate": 8000,
                               "width": 1920, "height": 1080, "aspectRatio": 1.78, "audioChannels": 6,
                               "audioCodec": "eac3", "videoCodec": "h264", "videoResolution": "1080",
                               "container": container, "videoFrameRate": "24p"}, [part])]

    def item_attrs(item: Item) -> dict[str, Any]:
        thumb = f"/library/metadata/{item.rating_key}/thumb/{item.updated_at}"
        art = f"/library/metadata/{item.rating_key}/art/{item.updated_at}"
        base: dict[str, Any] = {"ratingKey": str(item.rating_key), "key": f"/library/metadata/{item.rating_key}",
                                "guid": item.guid, "type": item.type, "title": item.title}
        sort_title = _sort_title(item.title)
        if sort_title != item.title:
            base["titleSort"] = sort_title
        base.update(item_section_attrs(item))
        if item.type == "movie":
            base.update({"studio": item.studio, "contentRating": item.content_rating, "summary": item.summary,
                         "year": item.year, "thumb": thumb, "art": art, "duration": item.duration_ms})
        elif item.type == "show":
            leaves = sim.leaves(item)
            base.update({"key": f"/library/metadata/{item.rating_key}/children", "studio": item.studio,
                         "contentRating": item.content_rating, "summary": item.summary, "index": 1,
                         "year": item.year, "thumb": thumb, "art": art, "leafCount": len(leaves),
                         "viewedLeafCount": 0, "childCount": len(sim.children(item.rating_key))})
        elif item.type == "season":
            show = sim.parent(item)
            base.update({"key": f"/library/metadata/{item.rating_key}/children",
                         "parentRatingKey": str(item.parent_key), "parentGuid": show.guid if show else None,
                         "parentKey": f"/library/metadata/{item.parent_key}",
                         "parentTitle": show.title if show else None, "summary": "", "index": item.index,
                         "parentIndex": 1, "parentYear": show.year if show else None,
                         "thumb": f"/library/metadata/{item.parent_key}/thumb/{show.updated_at if show else 0}",
                         "art": f"/library/metadata/{item.parent_key}/art/{show.updated_at if show else 0}",
                         "parentThumb": f"/library/metadata/{item.parent_key}/thumb/{show.updated_at if show else 0}",
                         "leafCount": len(sim.children(item.rating_key)), "viewedLeafCount": 0})
        elif item.type == "episode":
            season = sim.parent(item)
            show = sim.parent(season) if season else None
            show_thumb = f"/library/metadata/{show.rating_key}/thumb/{show.updated_at}" if show else None
            base.update({"parentRatingKey": str(item.parent_key),
                         "grandparentRatingKey": str(show.rating_key) if show else None,
                         "parentGuid": season.guid if season else None,
                         "grandparentGuid": show.guid if show else None,
                         "grandparentKey": f"/library/metadata/{show.rating_key}" if show else None,
                         "parentKey": f"/library/metadata/{item.parent_key}",
                         "grandparentTitle": show.title if show else None,
                         "parentTitle": season.title if season else None,
                         "contentRating": item.content_rating, "summary": item.summary, "index": item.index,
                         "parentIndex": season.index if season else None, "year": item.year,
                         "thumb": thumb, "art": f"/library/metadata/{show.rating_key}/art/{show.updated_at}"
                         if show else art, "parentThumb": show_thumb, "grandparentThumb": show_thumb,
                         "duration": item.duration_ms})
        base.update({"addedAt": item.added_at, "updatedAt": item.updated_at})
        return base

    def item_node(item: Item, *, guids: bool, with_children: bool = False) -> Node:
        tag = "Video" if item.type in ("movie", "episode") else "Directory"
        children = media_nodes(item)
        children += [Node("Genre", {"tag": g}) for g in item.genres]
        if guids:
            children += [Node("Guid", {"id": g}) for g in item.guids]
        if with_children and item.type in ("show", "season"):
            kids = [item_node(k, guids=False) for k in sim.children(item.rating_key)]
            children.append(Node("Children", {"size": len(kids)}, kids, json_object=True))
        return Node(tag, item_attrs(item), children, json_key="Metadata")

    def collection_node(collection: Collection) -> Node:
        members = [sim.items[k] for k in collection.members if k in sim.items]
        years = [m.year for m in members if m.year]
        attrs = {
            "ratingKey": str(collection.rating_key),
            "key": f"/library/collections/{collection.rating_key}/children",
            "guid": collection.guid, "type": "collection", "title": collection.title,
            "titleSort": _sort_title(collection.title), **item_section_attrs(collection),
            "subtype": collection.subtype, "summary": "", "index": collection.rating_key,
            "thumb": f"/library/collections/{collection.rating_key}/composite/{collection.updated_at}",
            "smart": False, "collectionMode": -1, "collectionSort": 0,
            "childCount": len(members), "minYear": min(years) if years else None,
            "maxYear": max(years) if years else None,
            "addedAt": collection.added_at, "updatedAt": collection.updated_at,
        }
        return Node("Directory", attrs, json_key="Metadata")

    def section_node(section: Section) -> Node:
        attrs = {
            "allowSync": True, "art": f"/:/resources/{section.type}-fanart.jpg",
            "composite": f"/library/sections/{section.key}/composite/{section.updated_at}",
            "filters": True, "refreshing": section.running_scans > 0,
            "thumb": f"/:/resources/{section.type}.png", "key": str(section.key), "type": section.type,
            "title": section.title, "agent": section.agent, "scanner": section.scanner, "language": "en-US",
            "uuid": section.uuid, "updatedAt": section.updated_at, "createdAt": section.created_at,
            "scannedAt": section.scanned_at, "content": True, "directory": True,
            "contentChangedAt": section.updated_at, "hidden": 0,
        }
        locations = [Node("Location", {"id": section.key * 100 + i, "path": p})
                     for i, p in enumerate(section.locations)]
        return Node("Directory", attrs, locations)

    # ---- filtering and sorting ----

    def meta_node(section: Section, collections: bool) -> Node:
        """The ``Meta`` block (``includeMeta=1``) python-plexapi needs to validate sorts and filters."""
        if collections:
            libtypes = ["collection"]
        else:
            libtypes = ["movie"] if section.type == "movie" else ["show", "season", "episode"]
        types = []
        for libtype in libtypes:
            number = TYPE_NUMBERS[libtype]
            base = f"/library/sections/{section.key}"
            sorts = [Node("Sort", {"default": "asc" if key == "titleSort" else None, "defaultDirection": direction,
                                   "descKey": f"{key}:desc", "key": key, "title": title})
                     for key, title, direction in (("titleSort", "Title", "asc"), ("addedAt", "Date Added", "desc"),
                                                   ("updatedAt", "Date Updated", "desc"), ("year", "Year", "desc"))]
            fields = [Node("Field", {"key": f"{libtype}.{key}" if libtype != libtypes[0] else key,
                                     "title": title, "type": kind})
                      for key, title, kind in (("title", "Title", "string"), ("year", "Year", "integer"),
                                               ("addedAt", "Date Added", "date"),
                                               ("updatedAt", "Date Updated", "date"))]
            filters = [Node("Filter", {"filter": "year", "filterType": "integer",
                                       "key": f"{base}/year?type={number}", "title": "Year", "type": "filter"})]
            types.append(Node("Type", {"key": f"{base}/all?type={number}", "type": libtype,
                                       "title": libtype.title(), "active": libtype == libtypes[0]},
                              filters + sorts + fields))
        operators = {
            "string": (("=", "contains"), ("!=", "does not contain")),
            "integer": (("=", "is"), ("!=", "is not"), (">>=", "is greater than"), ("<<=", "is less than")),
            "date": ((">>=", "is after"), ("<<=", "is before")),
        }
        field_types = [Node("FieldType", {"type": kind}, [Node("Operator", {"key": k, "title": t}) for k, t in ops])
                       for kind, ops in operators.items()]
        return Node("Meta", {}, types + field_types, json_object=True)

    def apply_filters(request: Request, entries: list[tuple[dict[str, Any], Any]]
                      ) -> list[tuple[dict[str, Any], Any]]:
        for raw_key, value in parse_qsl(request.url.query, keep_blank_values=True):
            if raw_key in _RESERVED_PARAMS or raw_key.startswith("X-Plex-"):
                continue
            op = "="
            field_name = raw_key
            for suffix in (">>", "<<", "!"):
                if raw_key.endswith(suffix):
                    op, field_name = suffix, raw_key[: -len(suffix)]
                    break
            field_name = field_name.split(".")[-1]  # "movie.title" -> "title"
            if field_name not in {"title", "year", "addedAt", "updatedAt", "guid", "studio", "contentRating"}:
                logger.debug("ignoring unsupported filter %s", raw_key)
                continue
            value = _absolute_date(value, sim.now()) if field_name in ("addedAt", "updatedAt") else value
            entries = [e for e in entries if _filter_match(e[0], e[1], field_name, op, value)]
        return entries

    def apply_sort(request: Request, entries: list[tuple[dict[str, Any], Any]]
                   ) -> list[tuple[dict[str, Any], Any]]:
        spec = request.query_params.get("sort") or "titleSort"
        for part in reversed([p for p in spec.split(",") if p]):
            field_name, _, direction = part.partition(":")
            field_name = field_name.split(".")[-1]  # python-plexapi sends "movie.addedAt"
            descending = direction.lower() == "desc"

            def value(entry: tuple[dict[str, Any], Any], name: str = field_name) -> Any:
                attrs = entry[0]
                if name == "titleSort":
                    return (attrs.get("titleSort") or attrs.get("title") or "").lower()
                found = attrs.get(name)
                return found.lower() if isinstance(found, str) else found

            present = [e for e in entries if value(e) is not None]
            missing = [e for e in entries if value(e) is None]
            present.sort(key=value, reverse=descending)
            entries = present + missing
        return entries

    # ---- routes ----

    async def root(request: Request) -> Response:
        owner = sim.owner
        attrs = {
            "allowCameraUpload": False, "allowChannelAccess": True, "allowMediaDeletion": True,
            "allowSharing": True, "allowSync": True, "backgroundProcessing": True, "certificate": False,
            "companionProxy": True, "countryCode": "usa", "diagnostics": "", "eventStream": True,
            "friendlyName": sim.household.name, "hubSearch": True, "itemClusters": True,
            "machineIdentifier": sim.household.machine_id, "mediaProviders": True, "multiuser": True,
            "myPlex": True, "myPlexMappingState": "mapped", "myPlexSigninState": "ok",
            "myPlexSubscription": False, "myPlexUsername": owner.email, "ownerFeatures": "",
            "platform": "Linux", "platformVersion": "6.1.0", "pluginHost": True, "readOnlyLibraries": 0,
            "streamingBrainVersion": 2, "sync": True, "transcoderActiveVideoSessions": 0,
            "transcoderAudio": True, "transcoderLyrics": True, "transcoderPhoto": True,
            "transcoderSubtitles": True, "transcoderVideo": True,
            "transcoderVideoBitrates": "64,96,208,320,720,1500,2000,3000,4000,8000,10000,12000,20000",
            "transcoderVideoQualities": "0,1,2,3,4,5,6,7,8,9,10,11,12",
            "transcoderVideoResolutions": "128,128,160,240,320,480,768,720,720,1080,1080,1080,1080",
            "updatedAt": int(sim.now()), "updater": True, "version": sim.household.product_version,
            "voiceSearch": True,
        }
        dirs = [Node("Directory", {"count": 1, "key": k, "title": k}) for k in
                ("activities", "butler", "hubs", "library", "playlists", "search", "servers", "system")]
        return respond(request, attrs, dirs)

    async def identity(request: Request) -> Response:
        return respond(request, {"claimed": True, "machineIdentifier": sim.household.machine_id,
                                 "version": sim.household.product_version})

    async def library_root(request: Request) -> Response:
        dirs = [Node("Directory", {"key": k, "title": t}) for k, t in
                (("sections", "Library Sections"), ("recentlyAdded", "Recently Added Content"),
                 ("onDeck", "On Deck Content"))]
        return respond(request, {"allowSync": False, "art": "/:/resources/library-art.png",
                                 "content": "", "identifier": "com.plexapp.plugins.library",
                                 "mediaTagPrefix": "/system/bundle/media/flags/",
                                 "mediaTagVersion": int(sim.now()), "title1": "Plex Library", "title2": ""}, dirs)

    async def sections(request: Request) -> Response:
        with sim._lock:
            nodes = [section_node(s) for s in sorted(sim.sections.values(), key=lambda s: s.key)]
        return respond(request, {"allowSync": False, "title1": "Plex Library"}, nodes)

    async def section_detail(request: Request) -> Response:
        section = sim.section(request.path_params["key"])
        dirs = [Node("Directory", {"key": k, "title": t}) for k, t in
                (("all", f"All {section.title}"), ("recentlyAdded", "Recently Added"),
                 ("collections", "Collections"), ("folder", "By Folder"))]
        return respond(request, {"allowSync": False, "art": f"/:/resources/{section.type}-fanart.jpg",
                                 "content": "secondary", "identifier": "com.plexapp.plugins.library",
                                 **section_attrs(section), "title1": section.title,
                                 "viewGroup": "secondary"}, dirs)

    def section_entries(section: Section, type_number: int | None) -> list[tuple[dict[str, Any], Any]]:
        wanted = TYPE_BY_NUMBER.get(type_number) if type_number is not None else section.type
        if wanted is None:
            raise SimError(400, f"unsupported type {type_number}")
        if wanted == "collection":
            return [(collection_node(c).attrs, c) for c in sim.collections.values() if c.section_key == section.key]
        return [(item_attrs(i), i) for i in sim.items.values() if i.section_key == section.key and i.type == wanted]

    def render_entries(request: Request, entries: list[tuple[dict[str, Any], Any]], guids: bool) -> list[Node]:
        return [collection_node(obj) if isinstance(obj, Collection) else item_node(obj, guids=guids)
                for _, obj in entries]

    def type_param(request: Request) -> int | None:
        raw = request.query_params.get("type")
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise SimError(400, "type must be a number") from None

    async def section_all(request: Request) -> Response:
        with sim._lock:
            section = sim.section(request.path_params["key"])
            entries = section_entries(section, type_param(request))
            entries = apply_sort(request, apply_filters(request, entries))
            limit = request.query_params.get("limit")
            if limit and limit.isdigit():
                entries = entries[: int(limit)]
            window, page_attrs, headers = paged(request, entries)
            nodes = render_entries(request, window, _truthy(request.query_params.get("includeGuids")))
            meta = meta_node(section, False) if _truthy(request.query_params.get("includeMeta")) else None
        return respond(request, {"allowSync": True, "art": f"/:/resources/{section.type}-fanart.jpg",
                                 "identifier": "com.plexapp.plugins.library", **section_attrs(section),
                                 **page_attrs, "title1": section.title, "title2": "All",
                                 "viewGroup": section.type}, nodes, headers, meta)

    async def section_recently_added(request: Request) -> Response:
        with sim._lock:
            section = sim.section(request.path_params["key"])
            leaf = "movie" if section.type == "movie" else "episode"
            entries = [(item_attrs(i), i) for i in sim.items.values()
                       if i.section_key == section.key and i.type == leaf]
            entries.sort(key=lambda e: (e[1].added_at, e[1].rating_key), reverse=True)
            window, page_attrs, headers = paged(request, entries, default_size=50)
            nodes = render_entries(request, window, True)
        return respond(request, {**section_attrs(section), **page_attrs, "title1": section.title,
                                 "title2": "Recently Added"}, nodes, headers)

    async def recently_added(request: Request) -> Response:
        with sim._lock:
            entries = [(item_attrs(i), i) for i in sim.items.values() if i.type in ("movie", "episode")]
            entries.sort(key=lambda e: (e[1].added_at, e[1].rating_key), reverse=True)
            window, page_attrs, headers = paged(request, entries, default_size=50)
            nodes = render_entries(request, window, _truthy(request.query_params.get("includeGuids")))
        return respond(request, {"allowSync": False, "identifier": "com.plexapp.plugins.library",
                                 **page_attrs, "mixedParents": True, "title1": "Recently Added"}, nodes, headers)

    async def empty_list(request: Request) -> Response:
        return respond(request, {"offset": 0, "totalSize": 0}, [],
                       {"X-Plex-Container-Start": "0", "X-Plex-Container-Total-Size": "0"})

    async def refresh(request: Request) -> Response:
        key = request.path_params.get("key")
        targets = [key] if key is not None else list(sim.sections)
        for target in targets:
            sim.section(target)
        if request.method == "DELETE":
            for target in targets:
                sim.cancel_refresh(target)
            return Response(status_code=200)
        path = request.query_params.get("path")
        for target in targets:
            sim.start_refresh(target, path)
        logger.info("refresh requested for sections %s (path=%s)", targets, path)
        return Response(status_code=200)

    async def section_collections(request: Request) -> Response:
        with sim._lock:
            section = sim.section(request.path_params["key"])
            entries = [(collection_node(c).attrs, c) for c in sim.collections.values()
                       if c.section_key == section.key]
            entries = apply_sort(request, entries)
            window, page_attrs, headers = paged(request, entries)
            nodes = [collection_node(c) for _, c in window]
            meta = meta_node(section, True) if _truthy(request.query_params.get("includeMeta")) else None
        return respond(request, {**section_attrs(section), **page_attrs, "title1": section.title,
                                 "title2": "Collections"}, nodes, headers, meta)

    async def metadata(request: Request) -> Response:
        if request.method == "DELETE":
            keys = _parse_keys(request.path_params["keys"])
            if len(keys) != 1 or keys[0] not in sim.collections:
                raise SimError(400, "the simulator only deletes collections")
            sim.delete_collection(keys[0])
            return Response(status_code=200)
        with sim._lock:
            nodes = []
            with_children = _truthy(request.query_params.get("includeChildren"))
            for key in _parse_keys(request.path_params["keys"]):
                if key in sim.items:
                    nodes.append(item_node(sim.items[key], guids=True, with_children=with_children))
                elif key in sim.collections:
                    nodes.append(collection_node(sim.collections[key]))
            if not nodes:
                raise SimError(404, "no such item")
            first = nodes[0].attrs
        return respond(request, {"allowSync": True, "identifier": "com.plexapp.plugins.library",
                                 "librarySectionID": first.get("librarySectionID"),
                                 "librarySectionTitle": first.get("librarySectionTitle"),
                                 "mediaTagPrefix": "/system/bundle/media/flags/"}, nodes)

    async def metadata_children(request: Request) -> Response:
        key = request.path_params["key"]
        with sim._lock:
            if key in sim.collections:
                return await collection_items(request)
            if key not in sim.items:
                raise SimError(404, "no such item")
            item = sim.items[key]
            leaves_only = request.url.path.endswith("/allLeaves")
            kids = sim.leaves(item) if leaves_only else sim.children(key)
            entries = [(item_attrs(k), k) for k in kids]
            window, page_attrs, headers = paged(request, entries)
            nodes = render_entries(request, window, _truthy(request.query_params.get("includeGuids")))
            attrs: dict[str, Any] = {**item_section_attrs(item), **page_attrs, "key": str(item.rating_key),
                                     "title1": item.title, "title2": "", "parentTitle": item.title,
                                     "viewGroup": "season" if item.type == "show" else "episode"}
        return respond(request, attrs, nodes, headers)

    async def create_collection(request: Request) -> Response:
        params = request.query_params
        try:
            section_key = int(params.get("sectionId") or "")
            type_number = int(params["type"]) if params.get("type") else None
        except ValueError:
            raise SimError(400, "sectionId and type must be numbers") from None
        collection = sim.create_collection(section_key=section_key, title=params.get("title") or "",
                                           uri=params.get("uri"), type_number=type_number,
                                           smart=_truthy(params.get("smart")))
        with sim._lock:
            node = collection_node(collection)
        return respond(request, {"allowSync": False, **item_section_attrs(collection)}, [node])

    async def collection_detail(request: Request) -> Response:
        rk = request.path_params["key"]
        if request.method == "DELETE":
            sim.delete_collection(rk)
            return Response(status_code=200)
        with sim._lock:
            collection = sim.collection(rk)
            node = collection_node(collection)
        return respond(request, {**item_section_attrs(collection)}, [node])

    async def collection_items(request: Request) -> Response:
        rk = request.path_params["key"]
        if request.method == "PUT":
            collection = sim.add_to_collection(rk, request.query_params.get("uri"))
            with sim._lock:
                node = collection_node(collection)
            return respond(request, {**item_section_attrs(collection)}, [node])
        with sim._lock:
            collection = sim.collection(rk)
            members = [sim.items[k] for k in collection.members if k in sim.items]
            entries = [(item_attrs(m), m) for m in members]
            window, page_attrs, headers = paged(request, entries)
            nodes = render_entries(request, window, _truthy(request.query_params.get("includeGuids")))
        return respond(request, {**item_section_attrs(collection), **page_attrs, "key": str(rk),
                                 "title1": collection.title, "title2": "", "ratingKey": rk}, nodes, headers)

    async def collection_remove_item(request: Request) -> Response:
        collection = sim.remove_from_collection(request.path_params["key"], request.path_params["item"])
        with sim._lock:
            node = collection_node(collection)
        return respond(request, {**item_section_attrs(collection)}, [node])

    async def hubs_search(request: Request) -> Response:
        query = (request.query_params.get("query") or "").strip()
        if not query:
            raise SimError(400, "query is required")
        try:
            limit = int(request.query_params.get("limit") or 3)
            section_id = request.query_params.get("sectionId")
            section_key = int(section_id) if section_id else None
        except ValueError:
            raise SimError(400, "limit and sectionId must be numbers") from None
        needle = query.lower()
        hubs: list[Node] = []
        with sim._lock:
            if section_key is not None:
                sim.section(section_key)
            candidates: list[Item | Collection] = [
                i for i in sim.items.values() if i.type != "season"
            ] + list(sim.collections.values())
            for hub_type, hub_title in (("movie", "Movies"), ("show", "Shows"), ("episode", "Episodes"),
                                        ("collection", "Collections")):
                matches = [c for c in candidates
                           if (c.type if isinstance(c, Item) else "collection") == hub_type
                           and (section_key is None or c.section_key == section_key)
                           and needle in c.title.lower()]
                if not matches:
                    continue
                matches.sort(key=lambda c: (not c.title.lower().startswith(needle), _sort_title(c.title).lower()))
                shown = matches[:limit]
                more = len(matches) > len(shown)
                nodes = [collection_node(c) if isinstance(c, Collection) else item_node(c, guids=False)
                         for c in shown]
                all_keys = ",".join(str(c.rating_key) for c in matches)
                hubs.append(Node("Hub", {
                    "title": hub_title, "type": hub_type, "hubIdentifier": hub_type,
                    "context": f"hub.{hub_type}", "size": len(shown), "more": more, "style": "shelf",
                    "hubKey": f"/library/metadata/{all_keys}",
                    "key": f"/library/metadata/{all_keys}" if more else None,
                }, nodes, json_key="Hub"))
        return respond(request, {}, hubs)

    async def thumb(request: Request) -> Response:
        key = request.path_params["key"]
        if key not in sim.items and key not in sim.collections:
            raise SimError(404, "no such item")
        kind = request.path_params.get("kind", "thumb")
        if kind not in ("thumb", "art", "banner", "clearLogo"):
            raise SimError(404, f"no {kind} image")
        width, height = (320, 180) if kind == "art" else (200, 300)
        return _png_response(width, height, f"{key}")

    async def resource_image(request: Request) -> Response:
        return _png_response(64, 64, request.path_params["name"])

    async def transcode(request: Request) -> Response:
        url = request.query_params.get("url")
        if not url:
            raise SimError(400, "url is required")
        try:
            width = int(request.query_params.get("width") or 200)
            height = int(request.query_params.get("height") or 300)
        except ValueError:
            raise SimError(400, "width and height must be numbers") from None
        match = re.search(r"/library/(?:metadata|collections)/(\d+)/", urlsplit(url).path + "/")
        seed = match.group(1) if match else url
        if match and int(seed) not in sim.items and int(seed) not in sim.collections:
            raise SimError(404, "no such item")
        return _png_response(width, height, seed)

    def pms(handler: Handler) -> Handler:
        return _sim_errors(handler, lambda _req, exc: PlainTextResponse(exc.message, status_code=exc.status))

    routes = [
        Route("/", pms(root), methods=["GET"]),
        Route("/identity", pms(identity), methods=["GET"]),
        Route("/library", pms(library_root), methods=["GET"]),
        Route("/library/sections", pms(sections), methods=["GET"]),
        Route("/library/sections/all/refresh", pms(refresh), methods=["GET", "POST", "DELETE"]),
        Route("/library/sections/{key:int}", pms(section_detail), methods=["GET"]),
        Route("/library/sections/{key:int}/all", pms(section_all), methods=["GET"]),
        Route("/library/sections/{key:int}/recentlyAdded", pms(section_recently_added), methods=["GET"]),
        Route("/library/sections/{key:int}/refresh", pms(refresh), methods=["GET", "POST", "DELETE"]),
        Route("/library/sections/{key:int}/collections", pms(section_collections), methods=["GET"]),
        Route("/library/sections/{key:int}/composite/{ts}", pms(resource_image), methods=["GET"]),
        Route("/library/recentlyAdded", pms(recently_added), methods=["GET"]),
        Route("/library/onDeck", pms(empty_list), methods=["GET"]),
        Route("/status/sessions", pms(empty_list), methods=["GET"]),
        Route("/library/metadata/{key:int}/children", pms(metadata_children), methods=["GET"]),
        Route("/library/metadata/{key:int}/allLeaves", pms(metadata_children), methods=["GET"]),
        Route("/library/metadata/{key:int}/{kind:str}/{ts}", pms(thumb), methods=["GET"]),
        Route("/library/metadata/{keys}", pms(metadata), methods=["GET", "DELETE"]),
        Route("/library/collections", pms(create_collection), methods=["POST"]),
        Route("/library/collections/{key:int}", pms(collection_detail), methods=["GET", "DELETE"]),
        Route("/library/collections/{key:int}/children", pms(collection_items), methods=["GET"]),
        Route("/library/collections/{key:int}/items", pms(collection_items), methods=["GET", "PUT"]),
        Route("/library/collections/{key:int}/items/{item:int}", pms(collection_remove_item),
              methods=["DELETE", "PUT"]),
        Route("/library/collections/{key:int}/composite/{ts}", pms(thumb), methods=["GET"]),
        Route("/hubs/search", pms(hubs_search), methods=["GET"]),
        Route("/photo/:/transcode", pms(transcode), methods=["GET"]),
        Route("/:/resources/{name}", pms(resource_image), methods=["GET"]),
        *_common_hook_routes(sim),
    ]
    return Starlette(routes=routes, middleware=[
        Middleware(FaultsMiddleware, injector=sim.faults[PMS_APP]),
        Middleware(_StripTrailingSlash),
        Middleware(_PmsAuth, sim=sim),
    ])


_RELATIVE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mon": 30 * 86400, "y": 365 * 86400}


def _absolute_date(value: str, now: float) -> str:
    """Turn Plex's relative dates ("-30d", used by python-plexapi) into epoch seconds."""
    match = re.fullmatch(r"-?(\d+)(mon|[smhdwy])", value.strip())
    if not match:
        return value
    return str(int(now) - int(match.group(1)) * _RELATIVE_UNITS[match.group(2)])


def _parse_keys(raw: str) -> list[int]:
    try:
        return [int(k) for k in raw.split(",") if k]
    except ValueError:
        raise SimError(400, "ratingKeys must be numbers") from None


def _filter_match(attrs: dict[str, Any], obj: Any, field_name: str, op: str, value: str) -> bool:
    if field_name == "guid" and op in ("=", "!"):
        ids = {attrs.get("guid")} | set(getattr(obj, "guids", []))
        return (value in ids) == (op == "=")
    actual = attrs.get(field_name)
    if field_name == "title" and op in ("=", "!"):
        hit = value.lower() in str(actual or "").lower()
        return hit == (op == "=")
    if actual is None:
        return False
    if isinstance(actual, int):
        try:
            wanted: Any = int(value)
        except ValueError:
            raise SimError(400, f"{field_name} needs a number") from None
    else:
        actual, wanted = str(actual).lower(), value.lower()
    if op == ">>":
        return actual > wanted
    if op == "<<":
        return actual < wanted
    return (actual == wanted) == (op == "=")


class _PmsAuth:
    """Reject requests without a valid ``X-Plex-Token`` (except ``/identity``)."""

    def __init__(self, app: Any, sim: PlexSim) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            if path != "/identity" and not path.startswith("/__sim__"):
                request = Request(scope)
                if not self.sim.pms_token_valid(_plex_param(request, "X-Plex-Token")):
                    response = PlainTextResponse("401 Unauthorized", status_code=401)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


# --------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------


def _advertised_host(host: str) -> str:
    # A wildcard bind address is not something a client can connect to.
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets
    # whose proto says TCP, and without it every keep-alive response waits ~40 ms
    # for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to our runner.

    Two uvicorn servers in one loop would otherwise fight over SIGINT/SIGTERM.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _make_server(app: Any, log_level: str) -> _Server:
    config = uvicorn.Config(app, lifespan="off", log_level=log_level, timeout_graceful_shutdown=2,
                            access_log=log_level == "debug")
    return _Server(config)


class SingleAppStack:
    """One simulator app bound to a socket, ready to be served in an event loop (the Uptime Kuma
    and Overseerr simulators). Subclasses set ``sim_class`` and ``app_factory``; the simulator is
    built with ``base_url`` = the served URL plus the given options."""

    sim_class: Any
    app_factory: Callable[[Any], Any]

    def __init__(self, host: str, port: int, *, log_level: str = "warning", advertise_host: str | None = None,
                 **sim_options: Any) -> None:
        """Bind the port (0 picks a free one) and build the state and app."""
        self._sock = _bind(host, port)
        self.url = f"http://{advertise_host or _advertised_host(host)}:{self._sock.getsockname()[1]}"
        try:
            self.sim = self.sim_class(base_url=self.url, **sim_options)
        except Exception:
            self._sock.close()
            raise
        self._server = _make_server(type(self).app_factory(self.sim), log_level)

    @property
    def started(self) -> bool:
        """Whether the server accepts connections."""
        return bool(self._server.started)

    def _stop_server(self) -> None:
        """Ask uvicorn to stop; a second call forces it."""
        if self._server.should_exit:
            self._server.force_exit = True
        self._server.should_exit = True

    async def serve(self) -> None:
        """Serve until ``request_exit()``."""
        await self._server.serve(sockets=[self._sock])


class SimulatorStack:
    """Both simulator apps bound to sockets, ready to be served in one event loop."""

    def __init__(self, host: str = "127.0.0.1", plex_tv_port: int = 32410, pms_port: int = 32400, *,
                 log_level: str = "warning", advertise_host: str | None = None, **sim_options: Any) -> None:
        """Bind both ports (port 0 picks a free one) and build the state and apps.

        Args:
            host: Interface to bind.
            plex_tv_port: Port of the plex.tv simulator.
            pms_port: Port of the PMS simulator.
            log_level: uvicorn's log level.
            advertise_host: Host name to put in URLs (defaults to ``host``).
            **sim_options: Passed to ``PlexSim``.
        """
        self._plex_tv_sock = _bind(host, plex_tv_port)
        try:
            self._pms_sock = _bind(host, pms_port)
        except OSError:
            self._plex_tv_sock.close()
            raise
        public = advertise_host or _advertised_host(host)
        self.plex_tv_url = f"http://{public}:{self._plex_tv_sock.getsockname()[1]}"
        self.pms_url = f"http://{public}:{self._pms_sock.getsockname()[1]}"
        self.sim = PlexSim(self.plex_tv_url, self.pms_url, **sim_options)
        self._servers = [
            _make_server(create_plex_tv_app(self.sim), log_level),
            _make_server(create_pms_app(self.sim), log_level),
        ]

    @property
    def started(self) -> bool:
        """Whether both servers accept connections."""
        return all(s.started for s in self._servers)

    def request_exit(self) -> None:
        """Ask both servers to stop; a second call forces them."""
        # Held "outage" requests would otherwise keep the graceful shutdown waiting.
        self.sim.clear_faults()
        for server in self._servers:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True

    async def serve(self) -> None:
        """Serve both apps until ``request_exit()``."""
        await asyncio.gather(
            self._servers[0].serve(sockets=[self._plex_tv_sock]),
            self._servers[1].serve(sockets=[self._pms_sock]),
        )


@dataclass
class SimulatorHandle(ThreadHandle):
    """A running pair of simulators (see ``serve_in_thread``)."""

    sim: PlexSim
    plex_tv_url: str
    pms_url: str
    _runner: ServerThread


def serve_in_thread(host: str = "127.0.0.1", plex_tv_port: int = 0, pms_port: int = 0,
                    **opts: Any) -> SimulatorHandle:
    """Serve both simulators with uvicorn in a daemon thread.

    Args:
        host: Interface to bind.
        plex_tv_port: Port for plex.tv (0 picks a free port).
        pms_port: Port for the PMS (0 picks a free port).
        **opts: ``log_level``, ``advertise_host`` and any ``PlexSim`` keyword
            (``library_root``, ``scan_delay``, ``strict``, ``auto_approve`` …).

    Returns:
        A handle with ``.sim``, ``.plex_tv_url``, ``.pms_url`` and ``.stop()``.

    Raises:
        RuntimeError: If the servers do not start within 10 seconds.
    """
    stack = SimulatorStack(host, plex_tv_port, pms_port, **opts)
    runner = ServerThread("plex-simulators", stack.serve, started=lambda: stack.started,
                          request_exit=stack.request_exit)
    logger.info("plex.tv simulator on %s, PMS simulator on %s", stack.plex_tv_url, stack.pms_url)
    return SimulatorHandle(stack.sim, stack.plex_tv_url, stack.pms_url, runner)


__all__ = [
    "Account", "Collection", "Item", "Pin", "PlexSim", "Section", "Server", "SimError", "SimulatorHandle",
    "SimulatorStack", "create_plex_tv_app", "create_pms_app", "serve_in_thread",
]
