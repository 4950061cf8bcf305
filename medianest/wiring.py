"""The wiring: builds every external client (and the Redis-backed helpers) from settings and
the database. The states, the HTTP routes and the tasks get them here and nowhere else; it sits
above ``services`` and ``integrations``, so nothing in those imports it."""

from __future__ import annotations

import asyncio
import functools

import redis.asyncio as aioredis
from sqlmodel.ext.asyncio.session import AsyncSession

from .config import Settings, get_settings
from .integrations.base import configure_breakers
from .integrations.overseerr import OverseerrClient
from .integrations.plex import PlexServerClient, PlexTvClient
from .integrations.uptime_kuma import UptimeKumaClient
from .security import Encryptor
from .services import system
from .services.ratelimit import Limit, RateLimiter
from .services.search import SearchCache


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
        return OverseerrClient(self.settings.overseerr_url,
                               api_key=self.settings.secret_value("overseerr_api_key") or None,
                               timeout=self.settings.http_timeout_s)

    def uptime_kuma(self) -> UptimeKumaClient | None:
        if not self.settings.uptime_kuma_url:
            return None
        return UptimeKumaClient(self.settings.uptime_kuma_url,
                                api_key=self.settings.secret_value("uptime_kuma_api_key") or None,
                                username=self.settings.uptime_kuma_username,
                                password=self.settings.secret_value("uptime_kuma_password") or None,
                                timeout=self.settings.http_timeout_s)


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    return Registry(get_settings())
