"""Browsing the household's Plex libraries: sections, recently added, search. Posters go through
MediaNest's image route (``/media/plex``) so the Plex token never reaches the browser."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from sqlmodel.ext.asyncio.session import AsyncSession

from ..errors import IntegrationRejected, IntegrationUnavailable, MediaNestError, ValidationFailed
from ..integrations.plex import LibraryItem, LibrarySection, PlexServerClient, watch_url
from . import system

PAGE_SIZE = 30
RECENT = "recent"
COLLECTIONS = "collections"


@dataclass(frozen=True)
class ItemView:
    """One title as the library page shows it (poster through MediaNest, link into Plex)."""

    key: str
    title: str
    year: str
    subtitle: str
    type: str
    poster: str
    watch: str


@dataclass(frozen=True)
class SectionView:
    key: str
    title: str


@dataclass(frozen=True)
class Shelf:
    items: list[ItemView]
    total: int
    offset: int


def thumb_url(thumb: str | None, width: int = 300, height: int = 450) -> str:
    return f"/media/plex?path={quote(thumb, safe='')}&w={width}&h={height}" if thumb else ""


def item_view(item: LibraryItem, machine_id: str | None) -> ItemView:
    return ItemView(key=item.rating_key, title=item.title, year=str(item.year or ""), subtitle=item.subtitle,
                    type=item.type, poster=thumb_url(item.thumb),
                    watch=watch_url(machine_id, item.rating_key) if machine_id else "")


def plain_error(exc: MediaNestError) -> str:
    """What the library page says when Plex did not give it what it asked for."""
    if isinstance(exc, IntegrationUnavailable):
        return "Plex is not answering right now. Try again in a moment."
    if isinstance(exc, IntegrationRejected):
        return "Plex refused MediaNest's request. An admin may need to choose the server again."
    return exc.user_message


async def household_machine_id(session: AsyncSession) -> str | None:
    server = await system.household_server(session)
    return server.machine_id if server else None


async def sections(plex: PlexServerClient) -> list[LibrarySection]:
    return list(await plex.sections())


async def shelves(plex: PlexServerClient) -> list[SectionView]:
    """What the library page offers to browse: recently added, then each section."""
    return ([SectionView(RECENT, "Recently added"), SectionView(COLLECTIONS, "Collections")]
            + [SectionView(s.key, s.title) for s in await sections(plex)])


async def shelf(plex: PlexServerClient, machine_id: str | None, section: str, *, start: int = 0) -> Shelf:
    """Recently added (``section == "recent"``) or one section, A–Z, a page at a time."""
    if section == RECENT:
        items = await plex.recently_added(size=PAGE_SIZE)
        return Shelf([item_view(i, machine_id) for i in items], len(items), 0)
    if section == COLLECTIONS:
        views = await collections(plex, machine_id)
        return Shelf(views, len(views), 0)
    if not section.isdigit():
        raise ValidationFailed("That library does not exist.")
    page = await plex.section_items(section, start=max(0, int(start)), size=PAGE_SIZE)
    return Shelf([item_view(i, machine_id) for i in page.items], page.total, page.offset)


async def collections(plex: PlexServerClient, machine_id: str | None) -> list[ItemView]:
    """Every collection of every library (a downloaded playlist is one), A–Z."""
    found = []
    for section in await sections(plex):
        for c in await plex.collections(section.key):
            count = c.child_count or 0
            found.append(ItemView(key=c.rating_key, title=c.title, year="",
                                  subtitle=f"{count} item{'s' if count != 1 else ''} · {section.title}",
                                  type="collection", poster=thumb_url(c.thumb),
                                  watch=watch_url(machine_id, c.rating_key) if machine_id else ""))
    return sorted(found, key=lambda v: v.title.casefold())


async def find(plex: PlexServerClient, machine_id: str | None, query: str) -> list[ItemView]:
    text = " ".join((query or "").split())
    if not text:
        return []
    if len(text) > 100:
        raise ValidationFailed("Search for at most 100 characters.")
    return [item_view(i, machine_id) for i in await plex.search(text, limit=30)]
