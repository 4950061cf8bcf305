"""Test set-up: a throw-away PostgreSQL database created (and dropped) by this run, a private
Redis key prefix, fixed secrets, and the schema applied with Alembic exactly as in production."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import tempfile
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlmodel import SQLModel

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_RUN_ID = secrets.token_hex(4)
TEST_DB_NAME = f"medianest_test_{os.getpid()}_{_RUN_ID}"
REDIS_PREFIX = f"mntest:{_RUN_ID}:"


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


def create_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _pg_url(name)


def drop_database(name: str) -> None:
    # Only ever drops databases this run created (their names carry this run's id).
    assert name.startswith("medianest_test_") and _RUN_ID in name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_configure(config: pytest.Config) -> None:
    """Point every setting at this run's resources before any test module imports the app."""
    if hasattr(config, "workerinput"):
        return
    url = create_database(TEST_DB_NAME)
    data_dir = Path(tempfile.mkdtemp(prefix="medianest-test-data-"))
    os.environ.update({
        "MEDIANEST_ENV": "test",
        "DATABASE_URL": url,
        "REDIS_URL": TEST_REDIS_URL,
        "REDIS_KEY_PREFIX": REDIS_PREFIX,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "MEDIANEST_DATA_DIR": str(data_dir),
        "LOG_LEVEL": "INFO",
    })
    for name in ("ADMIN_USERNAME", "ADMIN_PASSWORD", "PLEX_TV_URL", "PLEX_CLIENT_ID", "PLEX_URL"):
        os.environ.pop(name, None)
    config._medianest_db = TEST_DB_NAME  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop busy in this thread for
    as long as the browser lives, which async tests that come after would trip over."""
    items.sort(key=lambda item: "/e2e/" in str(item.path))


def pytest_unconfigure(config: pytest.Config) -> None:
    name = getattr(config, "_medianest_db", None)
    if not name:
        return
    try:
        from medianest.db import dispose_engines
        asyncio.run(dispose_engines())
    except Exception:
        pass
    drop_database(name)
    try:
        import redis
        client = redis.Redis.from_url(TEST_REDIS_URL)
        keys = list(client.scan_iter(match=f"{REDIS_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
    except Exception:
        pass


def run_migrations(url: str) -> None:
    from alembic.config import Config

    from alembic import command

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, "head")


@pytest.fixture(scope="session")
def database_url() -> str:
    from medianest.config import get_settings, reset_settings_cache

    reset_settings_cache()
    url = get_settings().sync_database_url
    run_migrations(url)
    return url


@pytest_asyncio.fixture
async def db(database_url: str):
    """An async session on the test database; every table is emptied after the test."""
    from sqlmodel.ext.asyncio.session import AsyncSession

    from medianest import models  # noqa: F401
    from medianest.db import get_engine

    engine = get_engine()
    async with AsyncSession(engine, expire_on_commit=False) as session:
        yield session
    await truncate_all()


async def truncate_all() -> None:
    from medianest import models  # noqa: F401
    from medianest.db import get_engine

    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    async with get_engine().begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def plex_sims():
    """The plex.tv and PMS simulators, served on free ports for the whole run."""
    from medianest.simulators.plex import serve_in_thread

    handle = serve_in_thread(scan_delay=0.2)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def kuma_server():
    """The Uptime Kuma simulator for the simulator and client tests (1.23's unknown-slug hang
    shortened to 5 s so timeouts are testable); each test resets it."""
    from medianest.simulators.uptime_kuma import serve_kuma_in_thread

    handle = serve_kuma_in_thread(unknown_slug_hang_seconds=5)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def overseerr_server():
    """The Overseerr simulator for the simulator and client tests; each test resets it."""
    from medianest.simulators.overseerr import serve_overseerr_in_thread

    handle = serve_overseerr_in_thread("127.0.0.1", 0)
    yield handle
    handle.stop()


@pytest.fixture
def plex(plex_sims):
    """The simulators, reset to their fixtures before the test."""
    plex_sims.sim.reset()
    plex_sims.sim.clear_faults()
    return plex_sims
