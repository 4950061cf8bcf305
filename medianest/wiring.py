"""The wiring: builds every external client (and the Redis-backed helpers) from the settings in
force and the database. The states, the HTTP routes and the tasks get them here and nowhere else;
it sits above ``services`` and ``integrations``, so nothing in those imports it.

The settings in force are the environment's with the values saved on the Services page over them
(``services.service_config``). Each process holds one :class:`Registry` built from them and keeps
it on the current configuration version (``config_version.py``): a version announced through
Redis (production) or in this process (embedded) makes it load the saved values again and build
a new registry; the breakers of the services whose values changed start closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pybreaker
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from . import config_version
from .config import Settings, get_settings
from .db import session_scope
from .integrations.base import configure_breakers, reset_breakers
from .integrations.overseerr import OverseerrClient
from .integrations.plex import PlexServerClient, PlexTvClient
from .integrations.uptime_kuma import KumaLiveConnection, LiveEvent, UptimeKumaClient
from .live import wait_or_stop
from .security import Encryptor
from .services import service_config, system
from .services.ratelimit import Limit, RateLimiter
from .services.search import SearchCache

logger = logging.getLogger(__name__)

#: At most this long between two reads of the version when no announcement arrives.
VERSION_POLL_S = 1.0
#: Each service's circuit breakers (by client ``service`` name).
_BREAKERS = {"plex": (PlexServerClient.service,), "overseerr": (OverseerrClient.service,),
             "uptime_kuma": (UptimeKumaClient.service,), "downloads": ()}


class Registry:
    """Per-process holder of clients; Redis connections are kept per event loop.

    ``settings`` are the ones in force; ``saved`` names the settings saved on the Services page
    (the rest are the environment's); ``version`` is the configuration version they belong to."""

    def __init__(self, settings: Settings, *, saved: frozenset[str] = frozenset(), version: str = "",
                 previous: Registry | None = None) -> None:
        self.settings = settings
        self.saved = saved
        self.version = version
        # Redis, the database, the key and the limits are the environment's only: a new version
        # keeps the previous registry's connections.
        self.encryptor = previous.encryptor if previous else Encryptor(settings.secret_value("encryption_key"))
        self._redis: dict[int, aioredis.Redis] = previous._redis if previous else {}
        self._limiters: dict[int, RateLimiter] = previous._limiters if previous else {}
        self._search_caches: dict[int, SearchCache] = previous._search_caches if previous else {}
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
        """The household server, from setup (or PLEX_URL / PLEX_TOKEN as a fallback); an address
        saved on the Services page wins over the one setup found."""
        server = await system.household_server(session)
        url = self.settings.plex_url if "plex_url" in self.saved else \
            (server.url if server else None) or self.settings.plex_url
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

    def probes(self) -> Probes:
        """Clients for "Test connection", built from a form's values."""
        return Probes(self.settings.http_timeout_s)


async def _ignore(_: LiveEvent) -> None:
    return None


class Probes:
    """``service_config.ProbeClients``: each client gets a breaker of its own, so that trying a
    wrong address never opens the breaker the service's real calls go through."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    @staticmethod
    def _breaker() -> pybreaker.CircuitBreaker:
        return pybreaker.CircuitBreaker(fail_max=1_000_000, reset_timeout=1)

    def overseerr(self, url: str, *, api_key: str | None) -> OverseerrClient:
        return OverseerrClient(url, api_key=api_key, timeout=self.timeout_s, breaker=self._breaker())

    def uptime_kuma(self, url: str, *, api_key: str | None, username: str | None,
                    password: str | None) -> UptimeKumaClient:
        return UptimeKumaClient(url, api_key=api_key, username=username, password=password, timeout=self.timeout_s,
                                breaker=self._breaker())

    def kuma_socket(self, url: str, *, username: str, password: str) -> KumaLiveConnection:
        return KumaLiveConnection(url, on_event=_ignore, username=username, password=password,
                                  timeout=self.timeout_s)

    def plex_server(self, url: str, *, token: str | None, client_id: str) -> PlexServerClient:
        return PlexServerClient(url, token=token, client_id=client_id, timeout=self.timeout_s,
                                breaker=self._breaker())


_current: list[Registry] = []


def get_registry() -> Registry:
    """This process's registry (the environment's settings until the saved values are loaded)."""
    if not _current:
        _current.append(Registry(get_settings()))
    return _current[-1]


def reset_registry() -> None:
    """Forget this process's registry (tests change the settings between cases)."""
    _current.clear()


def _changed(before: Settings, after: Settings, service: str) -> bool:
    return any(getattr(before, s.attr) != getattr(after, s.attr) for s in service_config.fields_of(service))


async def refresh_registry(*, force: bool = False) -> Registry:
    """Bring this process's registry to the current configuration version (one Redis read when
    nothing moved; otherwise the saved values are loaded and a new registry replaces it)."""
    registry = get_registry()
    version = await config_version.current(registry.redis())
    if version is None or (version == registry.version and not force):
        return registry
    async with session_scope() as session:
        stored = await service_config.load(session, registry.encryptor)
    settings = service_config.effective(get_settings(), stored)
    rebuilt = Registry(settings, saved=frozenset(stored.values), version=version, previous=registry)
    changed = [name for name in _BREAKERS if _changed(registry.settings, settings, name)
               or ("plex_url" in registry.saved) != ("plex_url" in rebuilt.saved)]
    for name in changed:
        reset_breakers(*_BREAKERS[name])
    if get_registry() is registry:
        _current[:] = [rebuilt]
        if registry.version:
            logger.info("configuration %s applied (changed: %s)", version[:8], ", ".join(changed) or "nothing")
    return get_registry()


async def _refresh_quietly() -> None:
    try:
        await refresh_registry()
    except Exception as exc:  # the database or Redis away: keep the registry in force
        logger.warning("could not load the saved configuration (%s); keeping the one in force", exc)


async def keep_current(stop: asyncio.Event) -> None:
    """Until ``stop``: follow the configuration version (Redis announcements, and a read at least
    every ``VERSION_POLL_S``). Saves made in this process apply at once through a listener."""
    config_version.add_listener(_refresh_quietly)
    try:
        url = get_settings().redis_url
        if not url:
            await stop.wait()  # embedded: only this process saves, and the listener applies it
            return
        delay = 0.5
        while not stop.is_set():
            client = aioredis.from_url(url, socket_connect_timeout=5)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(config_version.channel())
                    delay = 0.5
                    while not stop.is_set():
                        await _refresh_quietly()
                        await pubsub.get_message(ignore_subscribe_messages=True, timeout=VERSION_POLL_S)
            except (RedisError, OSError) as exc:
                logger.warning("configuration announcements lost Redis (%s); retrying in %.1fs", exc, delay)
                await wait_or_stop(stop, delay)
                delay = min(delay * 2, 5.0)
            finally:
                await client.aclose()
    finally:
        config_version.remove_listener(_refresh_quietly)


async def start_configuration(*, rotate: bool = False) -> None:
    """At a process's start: re-encrypt saved secrets an older key wrote (``rotate``, the web
    processes), then load the saved values. Never raises (the environment's values apply)."""
    try:
        if rotate:
            async with session_scope() as session:
                await service_config.rotate_secrets(session, get_registry().encryptor)
        await refresh_registry(force=True)
    except Exception as exc:
        logger.warning("the saved configuration could not be loaded at start (%s); using the environment's", exc)


@contextlib.asynccontextmanager
async def configuration_lifespan() -> AsyncIterator[None]:
    """The web processes' lifespan task: saved values loaded before the first event, then kept current."""
    await start_configuration(rotate=True)
    stop = asyncio.Event()
    task = asyncio.create_task(keep_current(stop), name="configuration")
    try:
        yield
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
