"""Builds every external client from settings and the database. The web app, the
routes and (later) the workers get their clients here and nowhere else."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging

import redis.asyncio as aioredis
from sqlmodel.ext.asyncio.session import AsyncSession

from ..config import Settings, get_settings
from ..errors import IntegrationRejected, IntegrationUnavailable
from ..security import Encryptor
from ..services import system
from ..services.ratelimit import Limit, RateLimiter
from ..services.search import SearchCache
from .base import configure_breakers
from .overseerr import OverseerrClient
from .plex import PlexServerClient, PlexTvClient
from .uptime_kuma import UptimeKumaClient

logger = logging.getLogger(__name__)


class Registry:
    """Per-process holder of clients; Redis connections are kept per event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.encryptor = Encryptor(settings.secret_value("encryption_key"))
        self._redis: dict[int, aioredis.Redis] = {}
        self._limiters: dict[int, RateLimiter] = {}
        self._search_caches: dict[int, SearchCache] = {}
        self.auth_limit = Limit("auth", settings.auth_rate_limit, settings.auth_rate_window_s)
        configure_breakers(fail_max=settings.breaker_fail_max, reset_timeout=settings.breaker_reset_s)

    def redis(self) -> aioredis.Redis | None:
        if not self.settings.redis_url:
            return None
        loop_id = id(asyncio.get_running_loop())
        client = self._redis.get(loop_id)
        if client is None:
            client = aioredis.from_url(self.settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
            self._redis[loop_id] = client
        return client

    def rate_limiter(self) -> RateLimiter:
        loop_id = id(asyncio.get_running_loop())
        limiter = self._limiters.get(loop_id)
        if limiter is None:
            limiter = RateLimiter(self.redis(), prefix=self.settings.redis_prefix)
            self._limiters[loop_id] = limiter
        return limiter

    def search_cache(self) -> SearchCache:
        """Overseerr search results: Redis when configured (shared), else this process's memory."""
        loop_id = id(asyncio.get_running_loop())
        cache = self._search_caches.get(loop_id)
        if cache is None:
            cache = SearchCache(self.redis(), prefix=self.settings.redis_prefix)
            self._search_caches[loop_id] = cache
        return cache

    async def plex_tv(self, session: AsyncSession) -> PlexTvClient:
        client_id = await system.plex_client_id(session, self.settings.plex_client_id)
        return PlexTvClient(self.settings.plex_tv_url, client_id=client_id, timeout=self.settings.http_timeout_s)

    async def plex_server(self, session: AsyncSession) -> PlexServerClient | None:
        """The household server, from setup (or PLEX_URL / PLEX_TOKEN as a fallback)."""
        server = await system.household_server(session)
        url = (server.url if server else None) or self.settings.plex_url
        if not url:
            return None
        stored = await system.get_value(session, "household_server_token")
        token = self.encryptor.decrypt(stored["token"]) if stored and stored.get("token") else \
            self.settings.secret_value("plex_token") or None
        client_id = await system.plex_client_id(session, self.settings.plex_client_id)
        return PlexServerClient(url, token=token, client_id=client_id, timeout=self.settings.http_timeout_s)


    def overseerr(self) -> OverseerrClient | None:
        if not self.settings.overseerr_url:
            return None
        return OverseerrClient(self.settings.overseerr_url, api_key=self.settings.secret_value("overseerr_api_key") or None,
                               timeout=self.settings.http_timeout_s)

    async def status_checks(self, session: AsyncSession) -> list:
        """The checks the status task runs: Uptime Kuma's monitors when configured, plus
        MediaNest's own reachability checks of Plex and Overseerr (so status works without Kuma)."""
        from ..services.service_status import timed_check

        checks = []
        plex = await self.plex_server(session)
        if plex is not None:
            checks.append(lambda: timed_check("plex", "Plex", plex.identity, url=plex.base_url))
        overseerr = self.overseerr()
        if overseerr is not None:
            checks.append(lambda: timed_check("overseerr", "Overseerr", overseerr.status, url=overseerr.base_url))
        kuma = self.uptime_kuma()
        if kuma is not None:
            checks.append(lambda: kuma_check(kuma, status_page=self.settings.uptime_kuma_status_page))
        return checks

    def uptime_kuma(self) -> UptimeKumaClient | None:
        if not self.settings.uptime_kuma_url:
            return None
        return UptimeKumaClient(self.settings.uptime_kuma_url,
                                api_key=self.settings.secret_value("uptime_kuma_api_key") or None,
                                username=self.settings.uptime_kuma_username,
                                password=self.settings.secret_value("uptime_kuma_password") or None,
                                timeout=self.settings.http_timeout_s)


async def kuma_check(kuma: UptimeKumaClient, *, status_page: str | None = None) -> list:
    """Every Kuma monitor via ``/metrics``; Kuma itself unreachable is one "down" card.

    With ``UPTIME_KUMA_STATUS_PAGE`` the public status page adds Kuma's own 24-hour uptime where
    ``/metrics`` has none (Kuma 1.23); a failing status page never hides the monitors."""
    from ..services.service_status import KUMA_ITSELF, CheckResult, from_kuma

    try:
        monitors = await kuma.fetch_metrics()
    except (IntegrationUnavailable, IntegrationRejected) as exc:
        return [CheckResult(key=KUMA_ITSELF, name="Uptime Kuma", status="down", url=kuma.base_url,
                            message=exc.user_message)]
    if status_page:
        try:
            histories = await kuma.fetch_status_page(status_page)
        except (IntegrationUnavailable, IntegrationRejected) as exc:
            logger.warning("Uptime Kuma status page %r unavailable: %s", status_page, exc)
            histories = []
        # By id where /metrics has one (names are not unique in Kuma); 1.23 has names only.
        published = {h.monitor_id: h for h in histories} | {h.name: h for h in histories}
        refs = [m.monitor_id if m.monitor_id is not None else m.name for m in monitors]
        monitors = [dataclasses.replace(m, uptime_24h=published[ref].uptime_24h)
                    if m.uptime_24h is None and ref in published else m for m, ref in zip(monitors, refs, strict=True)]
    return [from_kuma(m) for m in monitors]


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    return Registry(get_settings())
