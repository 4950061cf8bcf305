"""Clients for plex.tv (PIN sign-in, account, resources) and a Plex Media Server.

``PlexServerClient`` also browses the PMS library (``shared/docs/integrations.md`` §2):
``sections()``, ``section_items()`` (paged with ``X-Plex-Container-Start/Size``),
``recently_added()``, ``search()`` (``/hubs/search``) and ``image()`` (resized posters via
``/photo/:/transcode``, for MediaNest's image proxy so the token never reaches a browser).
``watch_url()`` builds the app.plex.tv link Overseerr also uses as ``plexUrl``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Unpack
from urllib.parse import quote, urlencode

from ..errors import IntegrationRejected, IntegrationUnavailable
from .base import BaseClient, ClientOptions, int_or_none

PRODUCT = "MediaNest"
VERSION = "0.1.0"


@dataclass(frozen=True)
class PlexPin:
    id: int
    code: str
    auth_token: str | None
    expires_at: str | None


@dataclass(frozen=True)
class PlexAccount:
    id: int
    uuid: str
    username: str
    email: str | None
    thumb: str | None
    title: str


@dataclass(frozen=True)
class PlexConnection:
    uri: str
    local: bool
    relay: bool


@dataclass(frozen=True)
class PlexResource:
    name: str
    client_identifier: str
    owned: bool
    access_token: str | None
    source_title: str | None
    product_version: str | None
    connections: list[PlexConnection] = field(default_factory=list)

    def best_uri(self) -> str | None:
        """Prefer a direct local connection, then any direct one, then a relay."""
        ranked = sorted(self.connections, key=lambda c: (c.relay, not c.local))
        return ranked[0].uri if ranked else None


@dataclass(frozen=True)
class LibrarySection:
    """A movie or show section of the PMS library."""

    key: str
    title: str
    type: str  # "movie" | "show"


@dataclass(frozen=True)
class LibraryItem:
    """A movie, show, season or episode.

    ``thumb`` is a PMS path for ``PlexServerClient.image`` (an episode carries its show's
    poster); ``subtitle`` is ``"2 seasons"`` for a show, ``"Show · S01E02"`` for an episode,
    the show's title for a season and ``""`` for a movie.
    """

    rating_key: str
    type: str
    title: str
    year: int | None
    summary: str
    thumb: str | None
    added_at: int | None
    section_key: str | None
    subtitle: str


@dataclass(frozen=True)
class LibraryPage:
    """One page of a section: ``total`` items in all, this page starting at ``offset``."""

    total: int
    offset: int
    items: tuple[LibraryItem, ...]


#: Section types MediaNest shows, and the agent Overseerr also skips (§2.3).
LIBRARY_SECTION_TYPES = frozenset({"movie", "show"})
NO_AGENT = "com.plexapp.agents.none"
#: ``/hubs/search`` hubs MediaNest lists.
SEARCH_HUB_TYPES = ("movie", "show", "episode")
_SORT = re.compile(r"[A-Za-z][A-Za-z.]*(?::(?:asc|desc))?(?:,[A-Za-z][A-Za-z.]*(?::(?:asc|desc))?)*")
_THUMB = re.compile(r"/library/[A-Za-z0-9_\-./]+")
MAX_IMAGE_SIDE = 2000


def watch_url(machine_id: str, rating_key: str) -> str:
    """The app.plex.tv page of an item (what Overseerr calls ``plexUrl``)."""
    key = quote(f"/library/metadata/{rating_key}", safe="")
    return f"https://app.plex.tv/desktop#!/server/{quote(machine_id, safe='')}/details?key={key}"


def plex_headers(client_id: str, token: str | None = None) -> dict[str, str]:
    headers = {
        "X-Plex-Client-Identifier": client_id,
        "X-Plex-Product": PRODUCT,
        "X-Plex-Version": VERSION,
        "X-Plex-Platform": "Web",
        "X-Plex-Device": "MediaNest",
        "X-Plex-Device-Name": "MediaNest",
    }
    if token:
        headers["X-Plex-Token"] = token
    return headers


class PlexTvClient(BaseClient):
    """plex.tv: PINs, the signed-in account, and the account's servers."""

    service = "plex.tv"

    def __init__(self, base_url: str, *, client_id: str, **kwargs: Unpack[ClientOptions]) -> None:
        super().__init__(base_url, headers=plex_headers(client_id), **kwargs)
        self.client_id = client_id

    async def create_pin(self) -> PlexPin:
        response = await self._request("POST", "/api/v2/pins", params={"strong": "true"}, expected=(200, 201))
        return _pin(self._json(response, self.service))

    async def get_pin(self, pin_id: int) -> PlexPin | None:
        """The PIN, or None when plex.tv no longer knows it (expired)."""
        try:
            response = await self._request("GET", f"/api/v2/pins/{int(pin_id)}")
        except IntegrationRejected as exc:
            if exc.status_code == 404:
                return None
            raise
        return _pin(self._json(response, self.service))

    async def get_account(self, token: str) -> PlexAccount:
        response = await self._request("GET", "/api/v2/user", headers={"X-Plex-Token": token})
        data = self._json(response, self.service)
        try:
            return PlexAccount(id=int(data["id"]), uuid=str(data.get("uuid") or ""),
                               username=str(data.get("username") or data.get("title") or ""),
                               email=data.get("email"), thumb=data.get("thumb"),
                               title=str(data.get("title") or data.get("username") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrationUnavailable(self.service, "unexpected account shape") from exc

    async def get_servers(self, token: str) -> list[PlexResource]:
        """Servers this account can reach: owned and shared. Players are filtered out."""
        response = await self._request("GET", "/api/v2/resources",
                                       params={"includeHttps": 1, "includeRelay": 1},
                                       headers={"X-Plex-Token": token})
        data = self._json(response, self.service)
        if not isinstance(data, list):
            raise IntegrationUnavailable(self.service, "resources is not a list")
        servers = []
        for item in data:
            if not isinstance(item, dict) or "server" not in str(item.get("provides", "")).split(","):
                continue
            connections = [PlexConnection(uri=str(c.get("uri")), local=bool(c.get("local")), relay=bool(c.get("relay")))
                           for c in item.get("connections") or [] if isinstance(c, dict) and c.get("uri")]
            servers.append(PlexResource(name=str(item.get("name") or "Plex"),
                                        client_identifier=str(item.get("clientIdentifier") or ""),
                                        owned=bool(item.get("owned")), access_token=item.get("accessToken"),
                                        source_title=item.get("sourceTitle"),
                                        product_version=item.get("productVersion"), connections=connections))
        return servers

    def auth_app_url(self, auth_base: str, code: str, forward_url: str | None) -> str:
        """The app.plex.tv page that asks the member to approve this PIN."""
        params = {"clientID": self.client_id, "code": code, "context[device][product]": PRODUCT,
                  "context[device][platform]": "Web", "context[device][device]": "MediaNest"}
        if forward_url:
            params["forwardUrl"] = forward_url
        return f"{auth_base.rstrip('/')}#?{urlencode(params)}"


class PlexServerClient(BaseClient):
    """A Plex Media Server, spoken to with a server access token."""

    service = "Plex"

    def __init__(self, base_url: str, *, token: str | None, client_id: str, **kwargs: Unpack[ClientOptions]) -> None:
        super().__init__(base_url, headers=plex_headers(client_id, token), **kwargs)

    async def identity(self) -> str:
        """The server's machineIdentifier (no token needed)."""
        response = await self._request("GET", "/identity")
        container = self._json(response, self.service).get("MediaContainer") or {}
        machine_id = container.get("machineIdentifier")
        if not machine_id:
            raise IntegrationUnavailable(self.service, "identity without machineIdentifier")
        return str(machine_id)

    # ---- library -------------------------------------------------------------------

    async def _container(self, path: str, *, headers: dict[str, str] | None = None,
                         params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``MediaContainer`` of a JSON answer.

        Raises:
            IntegrationRejected: 401 for a bad token, 404 …
            IntegrationUnavailable: transport errors, 5xx, a body that is not a MediaContainer.
        """
        response = await self._request("GET", path, headers=headers, params=params)
        data = self._json(response, self.service)
        container = data.get("MediaContainer") if isinstance(data, dict) else None
        if not isinstance(container, dict):
            raise IntegrationUnavailable(self.service, f"{path} without MediaContainer")
        return container

    async def sections(self) -> tuple[LibrarySection, ...]:
        """The movie and show sections (``/library/sections``), skipping agent-less ones."""
        container = await self._container("/library/sections")
        return tuple(
            LibrarySection(key=str(d["key"]), title=str(d.get("title") or ""), type=str(d["type"]))
            for d in _dicts(container.get("Directory"))
            if d.get("type") in LIBRARY_SECTION_TYPES and d.get("agent") != NO_AGENT and d.get("key") is not None)

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
        items = _items(container.get("Metadata"), container)
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
        return _items(container.get("Metadata"), container)[:size]

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
        hubs = {str(h.get("type") or h.get("hubIdentifier")): h for h in _dicts(container.get("Hub"))}
        for hub_type in SEARCH_HUB_TYPES:
            hub = hubs.get(hub_type)
            if hub is not None:
                found.extend(i for i in _items(hub.get("Metadata"), container) if i.type == hub_type)
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


_int = int_or_none


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _subtitle(data: Mapping[str, Any]) -> str:
    kind = data.get("type")
    if kind == "show":
        seasons, episodes = _int(data.get("childCount")), _int(data.get("leafCount"))
        if seasons is not None:
            return _plural(seasons, "season")
        return _plural(episodes, "episode") if episodes is not None else ""
    if kind == "season":
        return str(data.get("parentTitle") or "")
    if kind == "episode":
        show = str(data.get("grandparentTitle") or "")
        season, episode = _int(data.get("parentIndex")), _int(data.get("index"))
        if season is None or episode is None:
            return show
        code = f"S{season:02d}E{episode:02d}"
        return f"{show} · {code}" if show else code
    return ""


def parse_library_item(data: Mapping[str, Any], container: Mapping[str, Any] | None = None) -> LibraryItem | None:
    """A ``Metadata`` entry as a ``LibraryItem`` (``None`` without ratingKey or type)."""
    rating_key, kind = data.get("ratingKey"), data.get("type")
    if rating_key in (None, "") or not kind:
        return None
    if kind == "episode":
        thumb = data.get("grandparentThumb") or data.get("thumb")
    elif kind == "season":
        thumb = data.get("thumb") or data.get("parentThumb")
    else:
        thumb = data.get("thumb")
    section = data.get("librarySectionID", (container or {}).get("librarySectionID"))
    return LibraryItem(rating_key=str(rating_key), type=str(kind), title=str(data.get("title") or ""),
                       year=_int(data.get("year")), summary=str(data.get("summary") or ""),
                       thumb=str(thumb) if thumb else None, added_at=_int(data.get("addedAt")),
                       section_key=str(section) if section is not None else None, subtitle=_subtitle(data))


def _items(value: Any, container: Mapping[str, Any] | None = None) -> tuple[LibraryItem, ...]:
    return tuple(i for i in (parse_library_item(d, container) for d in _dicts(value)) if i is not None)


def _pin(data: dict) -> PlexPin:
    try:
        return PlexPin(id=int(data["id"]), code=str(data["code"]), auth_token=data.get("authToken") or None,
                       expires_at=data.get("expiresAt"))
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrationUnavailable("plex.tv", "unexpected PIN shape") from exc

