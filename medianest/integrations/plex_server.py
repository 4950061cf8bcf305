"""``PlexServerClient``: a Plex Media Server (``shared/docs/integrations.md`` §2).

Browsing: ``sections()``, ``section_items()`` (paged with ``X-Plex-Container-Start/Size``),
``recently_added()``, ``search()`` (``/hubs/search``) and ``image()`` (resized posters via
``/photo/:/transcode``, for MediaNest's image proxy so the token never reaches a browser).
Downloads landing in Plex: ``section_for_path()``, ``scan()`` (``/refresh[?path=]``),
``items_under()`` and the collections (§2.9): ``collections()``, ``collection_items()``,
``create_collection()``, ``add_to_collection()``, ``remove_from_collection()``,
``delete_collection()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Unpack

from ..errors import IntegrationRejected, IntegrationUnavailable
from .base import BaseClient, ClientOptions, int_or_none
from .plex_common import plex_headers
from .plex_library import (
    LIBRARY_SECTION_TYPES,
    NO_AGENT,
    SEARCH_HUB_TYPES,
    SEARCH_TYPES,
    LibraryCollection,
    LibraryItem,
    LibraryPage,
    LibrarySection,
    dicts,
    is_under,
    parse_collection,
    parse_items,
    parse_library_item,
    parse_section,
)

_SORT = re.compile(r"[A-Za-z][A-Za-z.]*(?::(?:asc|desc))?(?:,[A-Za-z][A-Za-z.]*(?::(?:asc|desc))?)*")
_THUMB = re.compile(r"/library/[A-Za-z0-9_\-./]+")
_KEY = re.compile(r"[0-9]{1,12}")
MAX_IMAGE_SIDE = 2000
#: Items listed per request when a whole section or collection is read (the spec pages past 100).
LIST_PAGE = 100
#: Items named per ``server://…/library/metadata/1,2,3`` URI, to keep request lines short.
URI_CHUNK = 100
MAX_COLLECTION_TITLE = 200

_int = int_or_none


def _key(value: str, name: str) -> str:
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise ValueError(f"{name} must be a number")
    return value


def _keys(values: Iterable[str]) -> list[str]:
    keys = [_key(v, "rating keys") for v in values]
    return list(dict.fromkeys(keys))  # once each, in order


class PlexServerClient(BaseClient):
    """A Plex Media Server, spoken to with a server access token."""

    service = "Plex"

    def __init__(self, base_url: str, *, token: str | None, client_id: str,
                 **kwargs: Unpack[ClientOptions]) -> None:
        super().__init__(base_url, headers=plex_headers(client_id, token), **kwargs)
        self._machine_id: str | None = None

    async def identity(self) -> str:
        """The server's machineIdentifier (no token needed)."""
        response = await self._request("GET", "/identity")
        container = self._json(response, self.service).get("MediaContainer") or {}
        machine_id = container.get("machineIdentifier")
        if not machine_id:
            raise IntegrationUnavailable(self.service, "identity without machineIdentifier")
        return str(machine_id)

    async def version(self) -> str | None:
        """The server's version (``/identity``, no token needed); None when it does not say."""
        container = self._json(await self._request("GET", "/identity"), self.service).get("MediaContainer") or {}
        return str(container["version"]) if isinstance(container, dict) and container.get("version") else None

    # ---- library -------------------------------------------------------------------

    async def _container(self, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
                         params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``MediaContainer`` of a JSON answer.

        Raises:
            IntegrationRejected: 401 for a bad token, 404 …
            IntegrationUnavailable: transport errors, 5xx, a body that is not a MediaContainer.
        """
        response = await self._request(method, path, headers=headers, params=params)
        data = self._json(response, self.service)
        container = data.get("MediaContainer") if isinstance(data, dict) else None
        if not isinstance(container, dict):
            raise IntegrationUnavailable(self.service, f"{path} without MediaContainer")
        return container

    async def _all_sections(self) -> tuple[LibrarySection, ...]:
        container = await self._container("/library/sections")
        return tuple(s for s in (parse_section(d) for d in dicts(container.get("Directory"))) if s is not None)

    async def sections(self) -> tuple[LibrarySection, ...]:
        """The movie and show sections (``/library/sections``), skipping legacy agent-less ones.

        An "Other Videos" library with the Personal Media agent (``tv.plex.agents.none``), where
        downloads land, is a movie section and is listed.
        """
        return tuple(s for s in await self._all_sections() if s.type in LIBRARY_SECTION_TYPES and s.agent != NO_AGENT)

    async def section_for_path(self, path: str) -> LibrarySection | None:
        """The movie or show section one of whose folders holds ``path`` (the deepest folder wins).

        Any agent counts here, the legacy agent-less one included: a download can land in an
        old "Other Videos" library that ``sections()`` leaves out.
        """
        best: tuple[int, LibrarySection] | None = None
        for section in await self._all_sections():
            if section.type not in LIBRARY_SECTION_TYPES:
                continue
            for location in section.locations:
                if is_under(path, location) and (best is None or len(location) > best[0]):
                    best = (len(location), section)
        return best[1] if best else None

    async def section_items(self, section_key: str, *, start: int = 0, size: int = 30,
                            sort: str = "titleSort") -> LibraryPage:
        """One page of a section's movies or shows (``/library/sections/{key}/all``).

        Args:
            section_key: A ``LibrarySection.key`` (digits).
            start: Offset of the first item.
            size: Items per page (1-200).
            sort: Plex sort such as ``titleSort`` or ``addedAt:desc``.

        Raises:
            ValueError: A malformed key, paging value or sort.
        """
        if not re.fullmatch(r"[0-9]{1,9}", str(section_key)):
            raise ValueError("section_key must be a number")
        if start < 0 or not 1 <= size <= 200:
            raise ValueError("start must be >= 0 and size between 1 and 200")
        if not _SORT.fullmatch(sort):
            raise ValueError(f"unsupported sort {sort!r}")
        container = await self._container(
            f"/library/sections/{section_key}/all", params={"sort": sort},
            headers={"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": str(size)})
        items = parse_items(container.get("Metadata"), container)
        total = _int(container.get("totalSize"))
        offset = _int(container.get("offset"))
        return LibraryPage(total=total if total is not None else start + len(items),
                           offset=offset if offset is not None else start, items=items)

    async def recently_added(self, size: int = 24) -> tuple[LibraryItem, ...]:
        """The newest movies and episodes across sections (``/library/recentlyAdded``)."""
        if not 1 <= size <= 200:
            raise ValueError("size must be between 1 and 200")
        container = await self._container("/library/recentlyAdded", headers={
            "X-Plex-Container-Start": "0", "X-Plex-Container-Size": str(size)})
        return parse_items(container.get("Metadata"), container)[:size]

    async def search(self, query: str, *, limit: int = 20) -> tuple[LibraryItem, ...]:
        """Movies, shows and episodes whose title matches (``/hubs/search``), hub by hub.

        ``limit`` applies per hub, as in Plex. A blank query finds nothing without asking.
        """
        query = query.strip()
        if not query:
            return ()
        if not 1 <= limit <= 100:
            raise ValueError("limit must be between 1 and 100")
        try:
            container = await self._container("/hubs/search", params={"query": query, "limit": limit})
        except IntegrationRejected as exc:
            if exc.status_code == 404:  # "no possible items", e.g. no sections (§2.6)
                return ()
            raise
        found: list[LibraryItem] = []
        hubs = {str(h.get("type") or h.get("hubIdentifier")): h for h in dicts(container.get("Hub"))}
        for hub_type in SEARCH_HUB_TYPES:
            hub = hubs.get(hub_type)
            if hub is not None:
                found.extend(i for i in parse_items(hub.get("Metadata"), container) if i.type == hub_type)
        return tuple(found)

    async def image(self, thumb_path: str, *, width: int, height: int) -> tuple[bytes, str]:
        """A resized library image (``/photo/:/transcode``) and its content type.

        Args:
            thumb_path: A ``LibraryItem.thumb`` (must lie under ``/library/``).
            width: Target width in pixels (1-2000).
            height: Target height in pixels (1-2000).

        Raises:
            ValueError: A path outside ``/library/`` (or with ``..``/query parts) or a bad size,
                so a proxy built on this cannot fetch anything else with the server token.
            IntegrationRejected: 404 for an unknown item, 401 for a bad token.
            IntegrationUnavailable: transport errors, 5xx, an answer that is not an image.
        """
        if not isinstance(thumb_path, str) or not _THUMB.fullmatch(thumb_path) or ".." in thumb_path \
                or "//" in thumb_path:
            raise ValueError("only /library/ image paths can be fetched")
        if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
            raise ValueError(f"width and height must be between 1 and {MAX_IMAGE_SIDE}")
        response = await self._request("GET", "/photo/:/transcode", headers={"Accept": "image/*"}, params={
            "url": thumb_path, "width": width, "height": height, "minSize": 1, "upscale": 1})
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not content_type.startswith("image/"):
            raise IntegrationUnavailable(self.service, f"transcode answered {content_type or 'no content type'}")
        return response.content, content_type

    # ---- downloads landing in Plex ---------------------------------------------------

    async def scan(self, section_key: str, path: str | None = None) -> None:
        """Ask Plex to scan a section, or only the folder ``path`` in it (§2.7).

        The scan runs after this returns: poll ``items_under`` for the result. Plex ignores a
        ``path`` outside the section's folders. With its default settings it also empties the
        trash afterwards, so items whose files are gone disappear (and leave their collections).

        Raises:
            ValueError: A malformed key or an empty path.
        """
        _key(section_key, "section_key")
        if path is not None and not path.strip():
            raise ValueError("path must not be empty")
        await self._request("GET", f"/library/sections/{section_key}/refresh",
                            params={"path": path} if path is not None else None)

    async def _list_all(self, path: str, params: Mapping[str, Any] | None = None
                        ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every ``Metadata`` entry of a listing with its container, ``LIST_PAGE`` at a time."""
        entries: list[tuple[dict[str, Any], dict[str, Any]]] = []
        start = 0
        while True:
            container = await self._container(path, params=params, headers={
                "X-Plex-Container-Start": str(start), "X-Plex-Container-Size": str(LIST_PAGE)})
            page = dicts(container.get("Metadata"))
            entries.extend((entry, container) for entry in page)
            start += len(page)
            total = _int(container.get("totalSize"))
            if not page or (total is not None and start >= total) or (total is None and len(page) < LIST_PAGE):
                return entries

    async def items_under(self, section_key: str, folder: str) -> tuple[LibraryItem, ...]:
        """The items of a section whose media file lies in ``folder`` (a PMS host path), oldest first.

        A show section is listed by episode. ``folder`` is compared as the PMS host writes paths
        (a ``Location`` path or a folder below it), without resolving links or ``..``.

        Raises:
            ValueError: A malformed key or an empty folder.
        """
        _key(section_key, "section_key")
        if not folder.strip():
            raise ValueError("folder must not be empty")
        path = f"/library/sections/{section_key}/all"
        entries = await self._list_all(path, {"sort": "addedAt"})
        if any(entry.get("type") == "show" for entry, _ in entries):  # shows hold no files: list the episodes
            entries = await self._list_all(path, {"sort": "addedAt", "type": SEARCH_TYPES["episode"]})
        items = (parse_library_item(entry, container) for entry, container in entries)
        return tuple(i for i in items if i is not None and any(is_under(f, folder) for f in i.files))

    async def collections(self, section_key: str) -> tuple[LibraryCollection, ...]:
        """The collections of a section (``/library/sections/{id}/collections``), by title."""
        _key(section_key, "section_key")
        entries = await self._list_all(f"/library/sections/{section_key}/collections")
        found = (parse_collection(entry, container) for entry, container in entries)
        return tuple(c for c in found if c is not None)

    async def collection(self, collection_key: str) -> LibraryCollection:
        """One collection (``/library/metadata/{ratingKey}``).

        Raises:
            IntegrationRejected: 404 when there is no such collection.
        """
        _key(collection_key, "collection_key")
        container = await self._container(f"/library/metadata/{collection_key}")
        found = [c for c in (parse_collection(d, container) for d in dicts(container.get("Metadata"))) if c]
        if not found:
            raise IntegrationRejected(self.service, 404, f"{collection_key} is not a collection")
        return found[0]

    async def collection_items(self, collection_key: str) -> tuple[LibraryItem, ...]:
        """A collection's items in its order (``/library/collections/{id}/items``, paged)."""
        _key(collection_key, "collection_key")
        entries = await self._list_all(f"/library/collections/{collection_key}/items")
        items = (parse_library_item(entry, container) for entry, container in entries)
        return tuple(i for i in items if i is not None)

    async def _uri(self, rating_keys: list[str]) -> str:
        if self._machine_id is None:
            self._machine_id = await self.identity()
        return f"server://{self._machine_id}/com.plexapp.plugins.library/library/metadata/{','.join(rating_keys)}"

    async def create_collection(self, section_key: str, title: str, rating_keys: Iterable[str]) -> LibraryCollection:
        """Create a regular collection of a section holding ``rating_keys`` (§2.9).

        The items must exist, belong to the section and share one type (Plex answers 400
        otherwise). Long lists are sent ``URI_CHUNK`` items per request.

        Raises:
            ValueError: A malformed key, no items, or an empty or overlong title.
            IntegrationRejected: 400 for items Plex refuses, 404 for an unknown item.
        """
        _key(section_key, "section_key")
        keys = _keys(rating_keys)
        title = title.strip()
        if not keys:
            raise ValueError("a collection needs at least one item")  # as python-plexapi refuses too
        if not title or len(title) > MAX_COLLECTION_TITLE:
            raise ValueError(f"the title must hold 1 to {MAX_COLLECTION_TITLE} characters")
        first = await self._container(f"/library/metadata/{keys[0]}")
        kinds = [str(d.get("type") or "") for d in dicts(first.get("Metadata"))]
        if not kinds or kinds[0] not in SEARCH_TYPES:
            raise IntegrationUnavailable(self.service, f"item {keys[0]} has no collectable type")
        container = await self._container("/library/collections", method="POST", params={
            "type": SEARCH_TYPES[kinds[0]], "title": title, "smart": 0, "sectionId": section_key,
            "uri": await self._uri(keys[:URI_CHUNK])})
        created = [c for c in (parse_collection(d, container) for d in dicts(container.get("Metadata"))) if c]
        if not created:
            raise IntegrationUnavailable(self.service, "collection created without its metadata")
        if len(keys) <= URI_CHUNK:
            return created[0]
        await self.add_to_collection(created[0].rating_key, keys[URI_CHUNK:])
        return await self.collection(created[0].rating_key)

    async def add_to_collection(self, collection_key: str, rating_keys: Iterable[str]) -> None:
        """Add items to a regular collection (those already in it stay once).

        Raises:
            ValueError: Malformed keys.
            IntegrationRejected: 404 for an unknown collection, 400 for items Plex refuses.
        """
        _key(collection_key, "collection_key")
        keys = _keys(rating_keys)
        for start in range(0, len(keys), URI_CHUNK):
            await self._request("PUT", f"/library/collections/{collection_key}/items",
                                params={"uri": await self._uri(keys[start:start + URI_CHUNK])})

    async def remove_from_collection(self, collection_key: str, rating_key: str) -> None:
        """Take one item out of a collection (the item stays in the library).

        Raises:
            IntegrationRejected: 404 for an unknown collection or an item not in it.
        """
        _key(collection_key, "collection_key")
        _key(rating_key, "rating_key")
        await self._request("DELETE", f"/library/collections/{collection_key}/items/{rating_key}")

    async def delete_collection(self, collection_key: str) -> None:
        """Delete a collection (its items stay in the library).

        Sent to ``/library/collections/{id}`` as python-plexapi does: that path only ever names
        a collection, whereas ``DELETE /library/metadata/{id}`` of a movie by mistake would
        delete the movie's files on a server that allows media deletion.

        Raises:
            IntegrationRejected: 404 for an unknown collection.
        """
        _key(collection_key, "collection_key")
        await self._request("DELETE", f"/library/collections/{collection_key}")
