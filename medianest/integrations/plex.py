"""Clients for plex.tv (PIN sign-in, account, resources) and a Plex Media Server.

This module holds the plex.tv client and is the one import path for every Plex name:
``PlexServerClient`` lives in ``plex_server.py`` (library browsing, scans, collections), the
library's records and parsers in ``plex_library.py``, and the ``X-Plex-*`` headers and
``watch_url()`` (the app.plex.tv link Overseerr also uses as ``plexUrl``) in ``plex_common.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Unpack
from urllib.parse import urlencode

from ..errors import IntegrationRejected, IntegrationUnavailable
from .base import BaseClient, ClientOptions
from .plex_common import PRODUCT, VERSION, plex_headers, watch_url
from .plex_library import (
    LIBRARY_SECTION_TYPES,
    NO_AGENT,
    SEARCH_HUB_TYPES,
    SEARCH_TYPES,
    LibraryCollection,
    LibraryItem,
    LibraryPage,
    LibrarySection,
    parse_collection,
    parse_library_item,
    parse_section,
)
from .plex_server import MAX_IMAGE_SIDE, PlexServerClient

__all__ = [
    "LIBRARY_SECTION_TYPES", "MAX_IMAGE_SIDE", "NO_AGENT", "PRODUCT", "SEARCH_HUB_TYPES", "SEARCH_TYPES", "VERSION",
    "LibraryCollection", "LibraryItem", "LibraryPage", "LibrarySection", "PlexAccount", "PlexConnection", "PlexPin",
    "PlexResource", "PlexServerClient", "PlexTvClient", "parse_collection", "parse_library_item", "parse_section",
    "plex_headers", "watch_url",
]


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


def _pin(data: dict) -> PlexPin:
    try:
        return PlexPin(id=int(data["id"]), code=str(data["code"]), auth_token=data.get("authToken") or None,
                       expires_at=data.get("expiresAt"))
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrationUnavailable("plex.tv", "unexpected PIN shape") from exc

