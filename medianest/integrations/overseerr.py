"""Overseerr / Seerr client. For now only what the built-in status check needs."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import IntegrationUnavailable
from .base import BaseClient


@dataclass(frozen=True)
class OverseerrStatus:
    version: str
    commit_tag: str | None


class OverseerrClient(BaseClient):
    service = "Overseerr"

    def __init__(self, base_url: str, *, api_key: str | None = None, **kwargs) -> None:  # noqa: ANN003
        super().__init__(base_url, headers={"X-Api-Key": api_key} if api_key else None, **kwargs)

    async def status(self) -> OverseerrStatus:
        """``GET /api/v1/status`` (no auth needed)."""
        data = self._json(await self._request("GET", "/api/v1/status"), self.service)
        if not isinstance(data, dict) or "version" not in data:
            raise IntegrationUnavailable(self.service, "status without version")
        return OverseerrStatus(version=str(data["version"]), commit_tag=data.get("commitTag"))
