"""How MediaNest itself is doing, for ``/health`` and the admin's System page: the health checks
(database, Redis, this process's circuit breakers) as data and in words, versions of MediaNest and
of everything it talks to, sizes (database, Redis, the downloads disk) and the signed-in sessions."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import platform
import shutil
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import func, text
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..config import Settings
from ..db import SessionFactory
from ..integrations.base import breaker_states
from ..integrations.overseerr import OverseerrClient
from ..integrations.plex import PlexServerClient
from ..integrations.uptime_kuma import UptimeKumaClient
from ..models import MediaRequest, RequestStatus, UserSession, utcnow
from ..version import VERSION
from . import audit, auth
from .auth import CurrentUser
from .downloads import runner

logger = logging.getLogger(__name__)

VERSION_TIMEOUT_S = 3.0
PREFIX_SCAN_LIMIT = 20_000


@dataclass(frozen=True)
class HealthCheck:
    """One check of ``/health``: ``status`` is up, down or degraded; ``critical`` ones decide 200/503."""

    key: str
    status: str
    critical: bool
    latency_ms: float | None = None
    state: str | None = None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def health_checks(sessions: SessionFactory, redis: aioredis.Redis | None) -> list[HealthCheck]:
    """The database and Redis (critical; Redis only when configured), and this process's breakers
    (not critical: an open breaker means that service is failing, not MediaNest)."""
    checks = []
    started = time.perf_counter()
    try:
        async with sessions() as session:
            await (await session.connection()).execute(text("SELECT 1"))
        checks.append(HealthCheck("database", "up", True, latency_ms=_ms(started)))
    except Exception as exc:  # any failure means "down"; the detail goes to the log only
        logger.warning("health: database down: %s", exc)
        checks.append(HealthCheck("database", "down", True))
    if redis is not None:
        started = time.perf_counter()
        try:
            await redis.execute_command("PING")
            checks.append(HealthCheck("redis", "up", True, latency_ms=_ms(started)))
        except Exception as exc:
            logger.warning("health: redis down: %s", exc)
            checks.append(HealthCheck("redis", "down", True))
    for name, state in breaker_states().items():
        checks.append(HealthCheck(f"breaker:{name}", "up" if state == "closed" else "degraded", False, state=state))
    return checks


def healthy(checks: list[HealthCheck]) -> bool:
    return all(c.status == "up" for c in checks if c.critical)


def check_json(check: HealthCheck) -> dict[str, Any]:
    """A check as ``/health`` shows it to those allowed to see the detail."""
    body: dict[str, Any] = {"status": check.status, "critical": check.critical}
    if check.latency_ms is not None:
        body["latency_ms"] = check.latency_ms
    if check.state is not None:
        body["state"] = check.state
    return body


# ---- the System page ----------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    """One line of the page: a title, what it says, and ``tone`` ok | warn | bad | none."""

    key: str
    title: str
    text: str
    tone: str


@dataclass(frozen=True)
class SessionCount:
    sessions: int
    people: int
    text: str


@dataclass(frozen=True)
class SystemView:
    healthy: bool
    headline: str
    checks: list[Line]
    versions: list[Line]
    storage: list[Line]
    paused: list[Line]
    sessions: SessionCount


def _check_line(check: HealthCheck) -> Line:
    if check.key == "database":
        if check.status == "up":
            return Line("database", "Database", f"Answers ({check.latency_ms} ms).", "ok")
        return Line("database", "Database", "Does not answer: nothing can be signed in to, requested or saved "
                                            "until it does.", "bad")
    if check.key == "redis":
        if check.status == "up":
            return Line("redis", "Redis", f"Answers ({check.latency_ms} ms).", "ok")
        return Line("redis", "Redis", "Does not answer: live updates, background tasks and rate limits stop "
                                      "until it does.", "bad")
    raise ValueError(check.key)


def check_lines(checks: list[HealthCheck], *, redis_configured: bool) -> tuple[str, list[Line]]:
    """The headline and one line per check, as ``/health`` sees this process."""
    lines = [_check_line(c) for c in checks if not c.key.startswith("breaker:")]
    if not redis_configured:
        lines.append(Line("redis", "Redis", "Not used: embedded mode (one web process runs the background tasks "
                                            "and the live updates itself).", "none"))
    opened = sorted(c.key.removeprefix("breaker:") for c in checks if c.key.startswith("breaker:") and c.status != "up")
    if opened:
        lines.append(Line("breakers", "Circuit breakers", "Not closed in this web process: " + ", ".join(opened)
                          + ". Calls to them are refused for a while after repeated failures (not critical: "
                            "that service is failing, not MediaNest).", "warn"))
    else:
        lines.append(Line("breakers", "Circuit breakers", "Every breaker of this web process is closed.", "ok"))
    down = [line.title.lower() for line in lines if line.tone == "bad"]
    if not down:
        return "Healthy: /health answers 200.", lines
    return f"Not healthy: /health answers 503 ({' and '.join(down)} not answering).", lines


async def _attempt(label: str, call: Awaitable[str | None]) -> str:
    try:
        found = await asyncio.wait_for(call, timeout=VERSION_TIMEOUT_S)
    except Exception as exc:  # a service that does not answer is a fact to show, not an error
        logger.info("system page: %s version unavailable: %r", label, exc)
        return "not answering"
    return found or "does not say"


async def _overseerr_version(client: OverseerrClient) -> str | None:
    return (await client.status()).version


async def _database_facts(session: AsyncSession, database_url: str) -> tuple[str, str]:
    """(version, size) of the database."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        version = (await connection.execute(text("SHOW server_version"))).scalar_one()
        size = (await connection.execute(text("SELECT pg_database_size(current_database())"))).scalar_one()
        return f"PostgreSQL {version}", human_bytes(int(size))
    version = (await connection.execute(text("SELECT sqlite_version()"))).scalar_one()
    path = Path(make_url(database_url).database or "")
    files = [p for p in (path, Path(f"{path}-wal")) if p.is_file()]
    return f"SQLite {version}", human_bytes(sum(p.stat().st_size for p in files)) + f" ({path})"


async def _redis_facts(client: aioredis.Redis, prefix: str) -> tuple[str, str]:
    """(version, what it holds): memory used, keys in its database and how many are MediaNest's own
    (counted up to ``PREFIX_SCAN_LIMIT`` keys scanned; Reflex's page state has no prefix)."""
    server = await client.info("server")
    memory = await client.info("memory")
    keys = await client.dbsize()
    ours, scanned, complete = 0, 0, True
    async for key in client.scan_iter(count=1000):
        scanned += 1
        ours += (key.decode(errors="replace") if isinstance(key, bytes) else str(key)).startswith(prefix)
        if scanned >= PREFIX_SCAN_LIMIT:
            complete = False
            break
    mine = f"{ours} with MediaNest's prefix {prefix!r}" if complete else \
        f"at least {ours} with MediaNest's prefix {prefix!r} (first {PREFIX_SCAN_LIMIT} keys counted)"
    return (f"Redis {server.get('redis_version', '?')}",
            f"{human_bytes(int(memory.get('used_memory', 0)))} of memory, {keys} keys ({mine}).")


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def disk_line(path: Path, min_free_mb: int) -> Line:
    """Free space on the disk that holds the downloads (the nearest existing folder, if it is not made yet)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError as exc:
        return Line("disk", "Downloads disk", f"Cannot be read at {path}: {exc.strerror}.", "bad")
    share = usage.free / usage.total * 100 if usage.total else 0
    text_ = f"{human_bytes(usage.free)} free of {human_bytes(usage.total)} ({share:.0f}%) at {path}."
    if usage.free < min_free_mb * 1024 * 1024:
        return Line("disk", "Downloads disk", text_ + f" Below {min_free_mb} MB: new videos wait until there is room.",
                    "warn")
    return Line("disk", "Downloads disk", text_, "ok")


async def session_count(session: AsyncSession) -> SessionCount:
    """Signed-in sessions that are still valid, and how many people they belong to."""
    valid = (col(UserSession.revoked_at).is_(None), col(UserSession.activated_at).is_not(None),
             col(UserSession.expires_at) > utcnow())
    count = (await session.exec(select(func.count()).select_from(UserSession).where(*valid))).one()
    people = (await session.exec(select(func.count(func.distinct(UserSession.user_id))).where(*valid))).one()
    sessions_word = "session" if count == 1 else "sessions"
    people_word = "person" if people == 1 else "people"
    return SessionCount(count, people, f"{count} signed-in {sessions_word} ({people} {people_word}).")


async def system_view(sessions: SessionFactory, *, settings: Settings, redis: aioredis.Redis | None,
                      plex: PlexServerClient | None, overseerr: OverseerrClient | None,
                      kuma: UptimeKumaClient | None) -> SystemView:
    """Everything the System page shows but the breakers (each part says what it could not read)."""
    checks = await health_checks(sessions, redis)
    headline, lines = check_lines(checks, redis_configured=redis is not None)
    versions = [Line("medianest", "MediaNest", VERSION, "none"),
                Line("python", "Python", platform.python_version(), "none"),
                Line("reflex", "Reflex", importlib.metadata.version("reflex"), "none")]
    storage: list[Line] = []
    try:
        async with sessions() as session:
            db_version, db_size = await _database_facts(session, settings.sync_database_url)
            count = await session_count(session)
            paused = await paused_work(session)
        versions.append(Line("database", "Database", db_version, "none"))
        storage.append(Line("database", "Database", db_size, "none"))
    except Exception as exc:
        logger.warning("system page: database facts unavailable: %r", exc)
        storage.append(Line("database", "Database", "Not answering.", "bad"))
        count = SessionCount(0, 0, "Unknown: the database does not answer.")
        paused = [Line("paused", "Paused work", "Unknown: the database does not answer.", "bad")]
    if redis is not None:
        try:
            redis_version, held = await _redis_facts(redis, settings.redis_prefix)
            versions.append(Line("redis", "Redis", redis_version, "none"))
            storage.append(Line("redis", "Redis", held, "none"))
        except Exception as exc:
            logger.warning("system page: Redis facts unavailable: %r", exc)
            storage.append(Line("redis", "Redis", "Not answering.", "bad"))
    storage.append(disk_line(settings.downloads_dir, settings.downloads_min_free_mb))
    services: list[tuple[str, str, Awaitable[str | None] | None]] = [
        ("plex", "Plex Media Server", plex.version() if plex else None),
        ("overseerr", "Overseerr", _overseerr_version(overseerr) if overseerr else None),
        ("uptime-kuma", "Uptime Kuma", kuma.server_version() if kuma else None)]
    found = await asyncio.gather(*(_attempt(title, call) for _, title, call in services if call is not None))
    answers = iter(found)
    for key, title, call in services:
        value = next(answers) if call is not None else "not set up"
        versions.append(Line(key, title, value, "warn" if value == "not answering" else "none"))
    return SystemView(healthy=healthy(checks), headline=headline, checks=lines, versions=versions, storage=storage,
                      paused=paused, sessions=count)


async def paused_work(session: AsyncSession) -> list[Line]:
    """What waits for a service or for room, and why: paused downloads (Plex down, disk nearly
    full) and requests queued until Overseerr answers."""
    lines = [Line("downloads-paused", "Downloads", f"{n} video{'s' if n != 1 else ''} waiting. {reason}.", "warn")
             for reason, n in sorted((await runner.paused_reasons(session)).items())]
    queued = int((await session.exec(select(func.count()).select_from(MediaRequest).where(
        MediaRequest.status == RequestStatus.QUEUED.value))).one())
    if queued:
        lines.append(Line("requests-queued", "Requests", f"{queued} request{'s' if queued != 1 else ''} waiting "
                          "for Overseerr; they are sent by themselves when it answers.", "warn"))
    return lines or [Line("paused-none", "Paused work", "Nothing is waiting: downloads and requests run normally.",
                          "ok")]


async def sign_everyone_out(session: AsyncSession, *, actor: CurrentUser, client_ip: str | None) -> int:
    """End every session but the admin's own (this browser stays signed in to see the result; their
    other devices are signed out too). Every open tab of the others is sent to sign-in once the
    caller commits. Returns how many sessions ended."""
    ended = await auth.revoke_all_sessions(session, reason="signed_everyone_out", keep_session_id=actor.session_id)
    await audit.record(session, "sessions.revoke_all", actor_user_id=actor.id, target="sessions",
                       client_ip=client_ip, sessions=ended)
    return ended


def signed_out_sentence(ended: int) -> str:
    if ended == 0:
        return "Nobody else was signed in."
    return f"Signed out {ended} {'session' if ended == 1 else 'sessions'}; your own stays signed in."

