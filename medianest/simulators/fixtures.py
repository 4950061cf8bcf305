"""Deterministic fixture data for the plex.tv and Plex Media Server simulators.

Everything here is plain data: ``medianest.simulators.plex.PlexSim`` copies it into
its mutable state on construction and on ``reset()``. Ids, tokens and the machine
identifier are fixed so that tests (ours and the rest of MediaNest's) can rely on them.

Accounts (plex.tv):

============  =====  ================  ==========================  ==============================
username      id     uuid              authToken                   household access
============  =====  ================  ==========================  ==============================
``alice``     1001   1454e41e93c2571c  ``sim-alice-token``         owner (also owns "Alice's Laptop")
``bob``       1002   4f34a9075062ff15  ``sim-bob-token``           shared, server token ``sim-bob-household-token``
``carol``     1003   e6bb5be1c073ae34  ``sim-carol-token``         shared, server token ``sim-carol-household-token``
``mallory``   1004   db7f261255766d09  ``sim-mallory-token``       none, owns nothing
============  =====  ================  ==========================  ==============================

Household server: name ``Household``, machineIdentifier
``517aed8117af122796b91655a5bcb730f27164dd``.

Library: section ``1`` "Movies" (12 movies, ratingKeys 101-112) and section ``2``
"TV Shows" (4 shows, ratingKeys 201-204; seasons from 301, episodes from 401).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Epoch seconds used as the base of every fixture timestamp. A fixed value keeps
#: ``addedAt`` ordering stable between runs; anything imported by a scan is newer.
FIXTURE_EPOCH = 1_735_689_600  # 2025-01-01T00:00:00Z

HOUSEHOLD_MACHINE_ID = "517aed8117af122796b91655a5bcb730f27164dd"
HOUSEHOLD_NAME = "Household"
LAPTOP_MACHINE_ID = "6518b4f39abc237a9696ad5cd12881b31128ad24"
LAPTOP_NAME = "Alice's Laptop"
PLAYER_CLIENT_ID = "2f11bc4411e11176a3d28809489366e181f5d008"
PLAYER_NAME = "Alice's iPhone"
PMS_VERSION = "1.41.3.9314-a0bfb8370"

#: The first id handed to accounts created at run time (``POST /__sim__/accounts``).
FIRST_DYNAMIC_ACCOUNT_ID = 2001
#: The first ratingKey handed to items imported by a scan and to new collections.
FIRST_DYNAMIC_RATING_KEY = 1001


@dataclass(frozen=True)
class AccountFixture:
    """One plex.tv account."""

    id: int
    username: str
    title: str
    email: str
    uuid: str
    token: str
    joined_at: int


@dataclass(frozen=True)
class MovieFixture:
    """One movie of the Movies section."""

    title: str
    year: int
    imdb: str
    tmdb: int
    summary: str
    genres: tuple[str, ...]
    content_rating: str
    studio: str
    duration_min: int


@dataclass(frozen=True)
class ShowFixture:
    """One show of the TV Shows section, with its seasons' episode titles."""

    title: str
    year: int
    imdb: str
    tmdb: int
    tvdb: int
    summary: str
    studio: str
    content_rating: str
    seasons: tuple[tuple[str, ...], ...] = field(default_factory=tuple)


ACCOUNTS: tuple[AccountFixture, ...] = (
    AccountFixture(1001, "alice", "Alice", "alice@example.com", "1454e41e93c2571c",
                   "sim-alice-token", FIXTURE_EPOCH - 400 * 86400),
    AccountFixture(1002, "bob", "Bob", "bob@example.com", "4f34a9075062ff15",
                   "sim-bob-token", FIXTURE_EPOCH - 300 * 86400),
    AccountFixture(1003, "carol", "Carol", "carol@example.com", "e6bb5be1c073ae34",
                   "sim-carol-token", FIXTURE_EPOCH - 200 * 86400),
    AccountFixture(1004, "mallory", "Mallory", "mallory@example.com", "db7f261255766d09",
                   "sim-mallory-token", FIXTURE_EPOCH - 100 * 86400),
)

OWNER_USERNAME = "alice"

#: Users the household server is shared with, and the server-specific token each gets.
SHARES: dict[str, str] = {
    "bob": "sim-bob-household-token",
    "carol": "sim-carol-household-token",
}

#: Default folders of the sections on the "PMS host"; ``PlexSim(library_root=...)``
#: replaces them with ``<root>/Movies`` and ``<root>/TV Shows``.
DEFAULT_MOVIES_PATH = "/data/movies"
DEFAULT_TV_PATH = "/data/tv"

MOVIES: tuple[MovieFixture, ...] = (
    MovieFixture("Heat", 1995, "tt0113277", 949,
                 "A seasoned detective and a disciplined crew boss circle each other across Los Angeles.",
                 ("Crime", "Thriller"), "R", "Warner Bros.", 170),
    MovieFixture("The Matrix", 1999, "tt0133093", 603,
                 "A hacker learns that the world he knows is a simulation and joins the resistance.",
                 ("Action", "Science Fiction"), "R", "Warner Bros.", 136),
    MovieFixture("Inception", 2010, "tt1375666", 27205,
                 "A thief who steals secrets from dreams is asked to plant an idea instead.",
                 ("Action", "Science Fiction"), "PG-13", "Legendary Pictures", 148),
    MovieFixture("Spirited Away", 2001, "tt0245429", 129,
                 "A girl wanders into a world of spirits and works in a bathhouse to free her parents.",
                 ("Animation", "Fantasy"), "PG", "Studio Ghibli", 125),
    MovieFixture("Alien", 1979, "tt0078748", 348,
                 "The crew of a cargo ship answers a distress call and brings something back aboard.",
                 ("Horror", "Science Fiction"), "R", "20th Century Fox", 117),
    MovieFixture("Blade Runner", 1982, "tt0083658", 78,
                 "A retired hunter of artificial humans is pulled back for one more job.",
                 ("Science Fiction", "Drama"), "R", "Warner Bros.", 117),
    MovieFixture("The Godfather", 1972, "tt0068646", 238,
                 "The ageing head of a crime family hands his empire to a reluctant son.",
                 ("Crime", "Drama"), "R", "Paramount", 175),
    MovieFixture("Pulp Fiction", 1994, "tt0110912", 680,
                 "Several stories of small-time criminals in Los Angeles cross in unexpected ways.",
                 ("Crime", "Thriller"), "R", "Miramax", 154),
    MovieFixture("Interstellar", 2014, "tt0816692", 157336,
                 "Explorers travel through a wormhole to look for a new home for humanity.",
                 ("Adventure", "Science Fiction"), "PG-13", "Paramount", 169),
    MovieFixture("Parasite", 2019, "tt6751668", 496243,
                 "A poor family finds work, one member at a time, in a wealthy household.",
                 ("Comedy", "Thriller"), "R", "CJ Entertainment", 132),
    MovieFixture("Arrival", 2016, "tt2543164", 329865,
                 "A linguist is asked to talk with visitors whose language changes how she sees time.",
                 ("Drama", "Science Fiction"), "PG-13", "Paramount", 116),
    MovieFixture("Mad Max: Fury Road", 2015, "tt1392190", 76341,
                 "A drifter and a rebel commander flee across the desert with a warlord in pursuit.",
                 ("Action", "Adventure"), "R", "Warner Bros.", 120),
)

SHOWS: tuple[ShowFixture, ...] = (
    ShowFixture("Breaking Bad", 2008, "tt0903747", 1396, 81189,
                "A chemistry teacher with a grim diagnosis starts cooking methamphetamine.",
                "AMC", "TV-MA",
                (("Pilot", "Cat's in the Bag...", "...And the Bag's in the River"),
                 ("Seven Thirty-Seven", "Grilled"))),
    ShowFixture("The Office", 2005, "tt0386676", 2316, 73244,
                "A documentary crew follows the staff of a paper company's regional branch.",
                "NBC", "TV-14",
                (("Pilot", "Diversity Day", "Health Care"),)),
    ShowFixture("Sherlock", 2010, "tt1475582", 19885, 176941,
                "A consulting detective and an army doctor solve crimes in modern London.",
                "BBC", "TV-14",
                (("A Study in Pink", "The Blind Banker", "The Great Game"),)),
    ShowFixture("Dark", 2017, "tt5753856", 70523, 334824,
                "A missing child exposes the secrets of four families in a small German town.",
                "Netflix", "TV-MA",
                (("Secrets", "Lies"), ("Beginnings and Endings", "Dark Matter"))),
)

MOVIE_RATING_KEY_START = 101
SHOW_RATING_KEY_START = 201
SEASON_RATING_KEY_START = 301
EPISODE_RATING_KEY_START = 401


# ======================================================================================
# Uptime Kuma (``medianest.simulators.uptime_kuma.KumaSim``)
# ======================================================================================
#
# Monitors (id, name, type, target); Home Assistant is paused and Downloader (a push
# monitor) has never beaten, so neither appears in ``/metrics``:
#
# ==  ==============  ======  ==========================================  ======================
# id  name            type    target                                      notes
# ==  ==============  ======  ==========================================  ======================
# 1   Plex            http    http://plex.lan:32400/identity              tag ``media``
# 2   Overseerr       http    https://requests.example.org/api/v1/status  tags ``media``, ``public``
# 3   NAS             ping    nas.lan                                     tag ``infra``
# 4   VPN             port    vpn.example.org:443                         tag ``infra``
# 5   Home Assistant  http    http://homeassistant.lan:8123               paused
# 6   Downloader      push    push token ``medianest-downloader``         never beat
# ==  ==============  ======  ==========================================  ======================
#
# User ``admin`` / ``kuma-sim-password``. API key ``KUMA_API_KEY`` (id 1, active) and an
# inactive key ``KUMA_INACTIVE_API_KEY`` (id 2). Status page ``household``.


@dataclass(frozen=True)
class KumaMonitorFixture:
    """One Uptime Kuma monitor and the shape of its seeded history."""

    id: int
    name: str
    type: str
    url: str | None
    hostname: str | None
    port: int | None
    active: bool
    interval: int
    tags: tuple[tuple[str, str], ...]
    #: Typical response time of the seeded beats, ms (``None``: no beats are seeded).
    base_ping_ms: float | None
    push_token: str | None = None
    cert_days_remaining: int | None = None
    #: Seeded beats (counted back from the newest, 0 = newest) that are DOWN / PENDING.
    down_beats: tuple[int, ...] = ()
    pending_beats: tuple[int, ...] = ()


KUMA_USERNAME = "admin"
KUMA_PASSWORD = "kuma-sim-password"
#: Secret the simulator signs its login JWT with (the token is therefore deterministic).
KUMA_JWT_SECRET = "medianest-kuma-simulator-jwt-secret"
KUMA_API_KEY_ID = 1
KUMA_API_KEY = "uk1_MediaNestSimulatorKey0123456789abcdefghi"
KUMA_INACTIVE_API_KEY_ID = 2
KUMA_INACTIVE_API_KEY = "uk2_InactiveSimulatorKey0123456789abcdefghij"
KUMA_STATUS_PAGE_SLUG = "household"
KUMA_STATUS_PAGE_TITLE = "Household services"
KUMA_PUSH_TOKEN = "medianest-downloader"
#: Beats seeded per monitor at start and on reset, so charts have history.
KUMA_HISTORY_BEATS = 100
KUMA_VERSIONS = {"1.23": "1.23.16", "2.x": "2.5.3"}
KUMA_TAG_COLORS = {"media": "#7C3AED", "public": "#059669", "infra": "#2563EB", "home": "#D97706"}

KUMA_MONITORS: tuple[KumaMonitorFixture, ...] = (
    KumaMonitorFixture(1, "Plex", "http", "http://plex.lan:32400/identity", None, None, True, 60,
                       (("media", ""),), 24.0),
    KumaMonitorFixture(2, "Overseerr", "http", "https://requests.example.org/api/v1/status", None, None, True, 60,
                       (("media", ""), ("public", "yes")), 140.0, cert_days_remaining=42,
                       down_beats=(40, 41, 42, 43)),
    KumaMonitorFixture(3, "NAS", "ping", None, "nas.lan", None, True, 60, (("infra", ""),), 1.5,
                       pending_beats=(70,)),
    KumaMonitorFixture(4, "VPN", "port", None, "vpn.example.org", 443, True, 60, (("infra", ""),), 35.0),
    KumaMonitorFixture(5, "Home Assistant", "http", "http://homeassistant.lan:8123", None, None, False, 60,
                       (("home", ""),), 12.0),
    KumaMonitorFixture(6, "Downloader", "push", None, None, None, True, 60, (), None,
                       push_token=KUMA_PUSH_TOKEN),
)

#: The pinned incident of the status page (``incident`` in 1.23, ``incidents[0]`` in 2.x).
KUMA_INCIDENT = {
    "id": 1,
    "style": "warning",
    "title": "Overseerr was slow this morning",
    "content": "Requests took a while to load; it is fine again.",
    "pin": True,
}

#: One scheduled maintenance window (not active yet), for ``maintenanceList``.
KUMA_MAINTENANCE = {
    "id": 1,
    "title": "NAS disk replacement",
    "description": "The NAS is swapped to a new disk; media may be unavailable.",
    "strategy": "single",
    "active": True,
    "status": "scheduled",
}


# ======================================================================================
# Overseerr / Seerr (``medianest.simulators.overseerr.OverseerrSim``)
# ======================================================================================
#
# Users (Overseerr id, Plex account, permissions, quota). The owner is always id 1:
#
# ==  =======  ======  ======================  ==================================
# id  user     plexId  permissions             notes
# ==  =======  ======  ======================  ==================================
# 1   alice    1001    ADMIN (2)               owner; what the API key acts as
# 2   bob      1002    REQUEST (32)            no auto-approve, no quota
# 3   carol    1003    REQUEST (32)            movie quota 1 per 7 days
# ==  =======  ======  ======================  ==================================
#
# mallory (1004) has no access to the household server, so import-from-plex never
# creates her. Catalogue: every Plex fixture movie/show (AVAILABLE, or PARTIALLY_AVAILABLE
# when TMDB knows more seasons than the library holds) plus the extra titles below,
# which Overseerr has no Media row for.

OVERSEERR_API_KEY = "MTczNTY4OTYwMDAwMGMzYjZlZmQtNGQ3ZC00ZmFkLWE1ZTEtbWVkaWFuZXN0c2lt"
OVERSEERR_VERSIONS = {"overseerr": "1.34.0", "seerr": "3.1.0"}
OVERSEERR_COMMIT_TAGS = {"overseerr": "46a9b244", "seerr": "f74306ed"}
#: ``machineIdentifier`` used in ``plexUrl``; the household PMS.
OVERSEERR_PLEX_MACHINE_ID = HOUSEHOLD_MACHINE_ID


@dataclass(frozen=True)
class OverseerrUserFixture:
    """One Overseerr user linked to a Plex account (``plexId``)."""

    id: int
    plex_username: str
    permissions: int
    movie_quota_limit: int | None = None
    movie_quota_days: int | None = None
    tv_quota_limit: int | None = None
    tv_quota_days: int | None = None


@dataclass(frozen=True)
class OverseerrTitleFixture:
    """A TMDB title the simulator knows that is not in the Plex library."""

    media_type: str  # "movie" | "tv"
    tmdb: int
    title: str
    year: int
    overview: str
    seasons: int = 0  # TV only: number of regular seasons
    tvdb: int | None = None


OVERSEERR_USERS: tuple[OverseerrUserFixture, ...] = (
    OverseerrUserFixture(1, "alice", 2),
    OverseerrUserFixture(2, "bob", 32),
    OverseerrUserFixture(3, "carol", 32, movie_quota_limit=1, movie_quota_days=7),
)

#: Number of regular seasons TMDB knows for the Plex fixture shows (by TMDB id).
OVERSEERR_TMDB_SEASONS: dict[int, int] = {1396: 5, 2316: 9, 19885: 4, 70523: 2}

OVERSEERR_EXTRA_TITLES: tuple[OverseerrTitleFixture, ...] = (
    OverseerrTitleFixture("movie", 438631, "Dune", 2021,
                          "A noble family's heir is sent to the most dangerous planet in the universe."),
    OverseerrTitleFixture("movie", 872585, "Oppenheimer", 2023,
                          "The story of the physicist who led the project that built the atomic bomb."),
    OverseerrTitleFixture("movie", 136795, "The Heat", 2013,
                          "An uptight FBI agent is paired with a foul-mouthed Boston detective."),
    OverseerrTitleFixture("movie", 424, "Schindler's List", 1993,
                          "A businessman saves the lives of more than a thousand refugees."),
    OverseerrTitleFixture("movie", 335984, "Blade Runner 2049", 2017,
                          "A young blade runner discovers a secret that could plunge society into chaos."),
    OverseerrTitleFixture("tv", 95396, "Severance", 2022,
                          "Office workers have their work and private memories surgically divided.",
                          seasons=2, tvdb=371980),
    OverseerrTitleFixture("tv", 100088, "The Last of Us", 2023,
                          "A smuggler escorts a teenage girl across a ruined America.",
                          seasons=2, tvdb=392256),
)
