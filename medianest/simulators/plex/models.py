"""The records the Plex simulators keep: plex.tv accounts, servers and pins, PMS sections,
items and collections."""

from __future__ import annotations

from dataclasses import dataclass, field

from medianest.simulators import fixtures


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
    #: ``xn`` ("no language") for agent-less sections such as "Other Videos".
    language: str = "en-US"


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
    #: An image beside the file (``<stem>.jpg`` …) a scan found; served as the item's thumb.
    thumb_file: str | None = None
    #: Imported by a scan from a file on disk, so a later scan removes it once the file is gone.
    #: Fixture items and items added through the Python API have no file on disk and stay.
    scanned: bool = False


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
