"""Live updates: small JSON events from workers and the scheduler reach every open browser.

Producers call :func:`publish`. With Redis the event goes into a stream; every web process runs
:func:`bridge`, and one consumer group makes each event applied exactly once across them. The
event is applied by writing the shared ``StatusBoard`` state, which Reflex fans out to every
linked browser in every worker. Without Redis (embedded mode) the same events go through an
in-process queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from .config import get_settings

logger = logging.getLogger(__name__)

GROUP = "medianest-web"
#: How often a web process looks for events a dead one took and never acknowledged (they are
#: handed over after 30 s of idleness anyway).
RECLAIM_EVERY_S = 5.0
_local: asyncio.Queue | None = None
# One publishing client per event loop (and Redis URL): a download's progress publishes several
# events a second, and a connection per event cost more than the event.
# Keyed by the loop's id, holding the loop weakly: entries of loops that closed are dropped.
_publishers: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], str, aioredis.Redis]] = {}
# Embedded mode has one web process: its revocation marker lives here.
_local_marker = ""


def stream_key() -> str:
    return f"{get_settings().redis_prefix}events"


def _local_queue() -> asyncio.Queue:
    global _local
    if _local is None:
        _local = asyncio.Queue(maxsize=1000)
    return _local


async def publish(event: dict[str, Any]) -> bool:
    """Send one event to every web process (never raises: live updates are best effort,
    the database already holds the truth). False when it could not be sent."""
    settings = get_settings()
    if not settings.redis_url:
        try:
            _local_queue().put_nowait(event)
        except asyncio.QueueFull:
            logger.warning("live event dropped: in-process queue full")
            return False
        return True
    client = _publisher(settings.redis_url)
    try:
        await client.xadd(stream_key(), {"data": json.dumps(event)}, maxlen=1000, approximate=True)
    except (RedisError, OSError) as exc:
        logger.warning("live event not published (Redis unavailable): %s", exc)
        return False
    return True


#: How long a "someone watches this feed" mark lasts; every open tab renews its mark with its
#: 15-second keepalive (hidden tabs whose timers the browser slows to once a minute included).
WATCH_TTL_S = 180
_local_watch: dict[str, float] = {}
#: How long a web process trusts a "watched" answer without asking Redis again.
SEEN_WATCHED_S = 1.0
_seen_watched: dict[str, float] = {}


def _watch_key(token: str) -> str:
    return f"{get_settings().redis_prefix}watch:{token}"


async def mark_watched(token: str) -> bool:
    """A tab shows the shared state ``token`` (call before linking to it and reading it). Returns
    True when nobody was marked as watching it: the live bridge has skipped its events, so the
    caller must read it afresh. When Redis does not answer: True (read it)."""
    settings = get_settings()
    if not settings.redis_url:
        now = time.monotonic()
        was = _local_watch.get(token, 0.0) > now
        _local_watch[token] = now + WATCH_TTL_S
        return not was
    client = _publisher(settings.redis_url)
    try:
        previous = await client.set(_watch_key(token), "1", ex=WATCH_TTL_S, get=True)
    except (RedisError, OSError) as exc:
        logger.warning("watch mark not set (Redis unavailable): %s", exc)
        return True
    return previous is None


async def is_watched(token: str) -> bool:
    """Whether any tab marked ``token`` within :data:`WATCH_TTL_S`: the live bridge skips the
    events of shared states nobody shows (a tab that comes reads them afresh, see
    :func:`mark_watched`). When Redis does not answer: True."""
    settings = get_settings()
    now = time.monotonic()
    if not settings.redis_url:
        return _local_watch.get(token, 0.0) > now
    if _seen_watched.get(token, 0.0) > now:  # a "yes" is kept a second (a "no" never: see above)
        return True
    try:
        watched = bool(await _publisher(settings.redis_url).exists(_watch_key(token)))
    except (RedisError, OSError) as exc:
        logger.warning("watch mark unreadable (Redis unavailable): %s", exc)
        return True
    if watched:
        if len(_seen_watched) > 10_000:
            _seen_watched.clear()
        _seen_watched[token] = now + SEEN_WATCHED_S
    return watched


def _publisher(url: str) -> aioredis.Redis:
    """This loop's publishing client (its pool reconnects by itself after Redis restarts)."""
    loop = asyncio.get_running_loop()
    known = _publishers.get(id(loop))
    if known is not None and known[0]() is loop and known[1] == url:
        return known[2]
    for key, (ref, _url, _client) in list(_publishers.items()):
        gone = ref()
        if gone is None or gone.is_closed():  # its connections went with the loop
            del _publishers[key]
    client = aioredis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    _publishers[id(loop)] = (weakref.ref(loop), url, client)
    return client


def revocations_key() -> str:
    return f"{get_settings().redis_prefix}revocations"


async def announce_revoked(user_id: int, session_ids: list[str]) -> None:
    """Sessions ended (sign-out, suspension, role or password change): move the revocation marker
    that every web process's session caches compare against, then tell the process holding the
    member's feed to cut the tabs of those sessions. Call after the commit; never raises."""
    global _local_marker
    marker = uuid.uuid4().hex  # random, not a counter: a Redis restart must not bring an old value back
    settings = get_settings()
    if not settings.redis_url:
        _local_marker = marker
    else:
        client = aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        try:
            await client.set(revocations_key(), marker)
        except RedisError as exc:
            logger.warning("revocation marker not moved (Redis unavailable): %s", exc)
        finally:
            await client.aclose()
    await publish({"type": "revoke", "user_id": int(user_id), "session_ids": sorted(session_ids)})


async def revocation_marker(client: aioredis.Redis | None) -> str | None:
    """The current revocation marker; None when it cannot be read (then trust no cached answer)."""
    if client is None:
        return _local_marker
    try:
        value = await client.get(revocations_key())
    except RedisError as exc:
        logger.warning("revocation marker unreadable: %s", exc)
        return None
    return value.decode() if isinstance(value, bytes) else (value or "")


_local_claims: dict[str, float] = {}


async def first_to_claim(name: str, ttl_s: int) -> bool:
    """True for exactly one caller across the web processes within ``ttl_s`` (e.g. one of them
    publishes that an announcement ended, not each). When Redis does not answer, every caller is."""
    settings = get_settings()
    if not settings.redis_url:
        now = time.monotonic()
        if _local_claims.get(name, 0.0) > now:
            return False
        _local_claims[name] = now + ttl_s
        return True
    client = aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        return bool(await client.set(f"{settings.redis_prefix}claim:{name}", "1", nx=True, ex=ttl_s))
    except RedisError as exc:
        logger.warning("claim %s: Redis unavailable (%s)", name, exc)
        return True
    finally:
        await client.aclose()


Apply = Callable[[dict[str, Any]], Awaitable[None]]


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when it is time to stop."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def bridge(apply: Apply, stop: asyncio.Event) -> None:
    """Consume events until ``stop`` is set, surviving Redis restarts."""
    settings = get_settings()
    if not settings.redis_url:
        queue = _local_queue()
        while not stop.is_set():
            try:
                event = await asyncio.wait_for(queue.get(), timeout=1)
            except TimeoutError:
                continue
            await _safely(apply, event)
        return
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    delay = 0.5
    done: list[Any] = []  # applied, not yet acknowledged (kept across reconnects)
    while not stop.is_set():
        client = aioredis.from_url(settings.redis_url, socket_connect_timeout=5)
        try:
            await _ensure_group(client)
            delay = 0.5
            reclaimed = 0.0
            while not stop.is_set():
                batches = []
                if time.monotonic() - reclaimed >= RECLAIM_EVERY_S:
                    # Messages a dead consumer took but never acknowledged are picked up again.
                    reclaimed = time.monotonic()
                    _, claimed, *_ = await client.xautoclaim(stream_key(), GROUP, consumer, min_idle_time=30_000,
                                                             start_id="0-0", count=50)
                    # Taken over from a process that died (or lost Redis) while applying them: they
                    # may have been applied already, and late; receivers treat them as such.
                    batches = [(stream_key(), claimed, True)] if claimed else []
                # One at a time: events that arrive together are shared among the web processes.
                # The last event's acknowledgement travels with the next read (one round trip).
                pipe = client.pipeline(transaction=False)
                if done:
                    pipe.xack(stream_key(), GROUP, *done)
                pipe.xreadgroup(GROUP, consumer, {stream_key(): ">"}, count=1, block=1000)
                read = (await pipe.execute())[-1]
                done = []
                batches += [(key, messages, False) for key, messages in read or []]
                for _, messages, redelivered in batches:
                    for message_id, fields in messages:
                        raw = fields.get(b"data") or fields.get("data")
                        if raw:
                            event = json.loads(raw)
                            if redelivered and isinstance(event, dict):
                                event["redelivered"] = True
                            await _safely(apply, event)
                        done.append(message_id)
            if done:
                await client.xack(stream_key(), GROUP, *done)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                logger.warning("live bridge: %s", exc)
        except (RedisError, OSError) as exc:
            logger.warning("live bridge lost Redis (%s); retrying in %.1fs", exc, delay)
            await wait_or_stop(stop, delay)
            delay = min(delay * 2, 5.0)
        finally:
            await client.aclose()


async def _ensure_group(client: aioredis.Redis) -> None:
    try:
        # "$": only events published from now on; a restarted web process does not replay history.
        await client.xgroup_create(stream_key(), GROUP, id="$", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def _safely(apply: Apply, event: dict[str, Any]) -> None:
    try:
        await apply(event)
    except Exception:  # one bad event must not stop the bridge
        logger.exception("live event could not be applied: %s", str(event)[:200])
