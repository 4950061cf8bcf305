"""The configuration version: one value that moves whenever an admin saves a service's settings.

Every process (web workers, task workers) keeps the version it applied and compares it with this
one; when they differ it reloads the stored values and rebuilds its clients (``wiring.py``).

Production: the version is a Redis key, and each move is also announced on a Redis pub/sub
channel so that the processes listening learn of it at once (the key is the truth: a message
missed during a reconnect is caught by the next read). Embedded mode (no Redis, one process):
the version lives in this process, and saving calls the local listeners directly.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .config import get_settings

logger = logging.getLogger(__name__)

Listener = Callable[[], Awaitable[None]]

# Embedded mode's version; in production it only stands in until Redis answers.
_local_version = "initial"
_listeners: list[Listener] = []


def version_key() -> str:
    return f"{get_settings().redis_prefix}config-version"


def channel() -> str:
    return f"{get_settings().redis_prefix}config-changed"


def add_listener(listener: Listener) -> None:
    """Call ``listener`` in this process right after every :func:`bump` made here (the process
    that saved applies the change without waiting for Redis to tell it)."""
    if listener not in _listeners:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _client() -> aioredis.Redis | None:
    url = get_settings().redis_url
    return aioredis.from_url(url, socket_timeout=5, socket_connect_timeout=5) if url else None


async def current(client: aioredis.Redis | None = None) -> str | None:
    """The version now in force; None when Redis cannot be read (keep what you have)."""
    own = client is None
    client = client or _client()
    if client is None:
        return _local_version
    try:
        value = await client.get(version_key())
    except (RedisError, OSError) as exc:
        logger.warning("configuration version unreadable (Redis unavailable): %s", exc)
        return None
    finally:
        if own:
            await client.aclose()
    if value is None:
        return "initial"  # nothing saved since Redis started: the stored values are still read
    return value.decode() if isinstance(value, bytes) else str(value)


async def bump() -> str:
    """Move the version after a committed change; every process reloads. Never raises: the
    database already holds the change, and the processes also re-read the key every second."""
    global _local_version
    # Random, not a counter: a Redis restart must not bring an old value back.
    version = uuid.uuid4().hex
    client = _client()
    if client is None:
        _local_version = version
    else:
        try:
            await client.set(version_key(), version)
            await client.publish(channel(), version)
        except (RedisError, OSError) as exc:
            logger.warning("configuration version not announced (Redis unavailable): %s", exc)
        finally:
            await client.aclose()
    for listener in list(_listeners):
        try:
            await listener()
        except Exception:  # the change is saved; a listener's failure must not undo the answer
            logger.exception("applying the new configuration in this process failed")
    return version
