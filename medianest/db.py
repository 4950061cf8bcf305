"""Database engines and sessions. Engines are built lazily from settings, once per process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import overload

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from .config import get_settings

_engines: dict[str, AsyncEngine] = {}

#: What scheduled tasks are handed to open their own units of work (``session_scope``).
SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def _engine_for(url: str) -> AsyncEngine:
    if url in _engines:
        return _engines[url]
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            # WAL lets the web process and a worker read while one writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        # Every event handler checks the session in the database: keep enough connections open for a
        # burst of members (two web workers, a task worker) without opening overflow ones each time.
        engine = create_async_engine(url, pool_pre_ping=True, pool_size=15, max_overflow=15)
    _engines[url] = engine
    return engine


def get_engine() -> AsyncEngine:
    return _engine_for(get_settings().async_database_url)


@contextlib.asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on error."""
    async with AsyncSession(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def dispose_engines() -> None:
    """Close every pool (tests switch databases; shutdown releases connections)."""
    while _engines:
        _, engine = _engines.popitem()
        await engine.dispose()


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; treat them as the UTC they were written as."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
