"""Service status: run the checks, keep the current state and its history, say what changed,
and build the dashboard's view (with stale data marked as such)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db import as_utc
from ..errors import IntegrationRejected, IntegrationUnavailable
from ..integrations.overseerr import OverseerrClient
from ..integrations.plex import PlexServerClient
from ..integrations.uptime_kuma import MonitorState, UptimeKumaClient
from ..models import ServiceStatus, ServiceStatusHistory, utcnow

logger = logging.getLogger(__name__)

STATUSES = ("up", "down", "pending", "maintenance", "unknown")
#: The card that says Uptime Kuma itself is not answering (it goes once Kuma answers again).
KUMA_ITSELF = "uptime-kuma"
STALE_AFTER_INTERVALS = 3
SPARKLINE_POINTS = 30


@dataclass(frozen=True)
class CheckResult:
    """One service's state as a check saw it."""

    key: str                 # stable id: "plex", "overseerr", "kuma:3"
    name: str                # what members read: "Plex"
    status: str              # one of STATUSES
    response_time_ms: int | None = None
    message: str | None = None
    source: str = "builtin"  # builtin | kuma
    url: str | None = None
    uptime_24h: float | None = None
    uptime_30d: float | None = None


#: One status check: runs a probe and answers with one or more results.
Check = Callable[[], Awaitable["list[CheckResult] | CheckResult"]]


@dataclass(frozen=True)
class StatusChange:
    key: str
    name: str
    old: str | None
    new: str
    since: datetime


@dataclass(frozen=True)
class ServiceCard:
    key: str
    name: str
    status: str
    stale: bool
    response_time_ms: int | None
    uptime_24h: float | None
    uptime_30d: float | None
    last_check_at: datetime | None
    status_since: datetime | None
    url: str | None
    message: str | None
    source: str
    history_ms: list[int] = field(default_factory=list)


async def timed_check(key: str, name: str, probe: Callable[[], Awaitable[object]], *,
                      url: str | None = None) -> CheckResult:
    """Run one reachability probe; an unavailable service is "down" with a plain reason."""
    started = time.perf_counter()
    try:
        await probe()
    except IntegrationUnavailable as exc:
        reason = "timed out" if "timeout" in str(exc) else "not answering"
        return CheckResult(key=key, name=name, status="down", message=f"{name} is {reason}.", url=url)
    except IntegrationRejected as exc:
        return CheckResult(key=key, name=name, status="down", url=url,
                           message=f"{name} answered with HTTP {exc.status_code}.")
    elapsed = int((time.perf_counter() - started) * 1000)
    return CheckResult(key=key, name=name, status="up", response_time_ms=elapsed, url=url)


def kuma_key(monitor_id: int | None, name: str) -> str:
    """The card of a Kuma monitor: by id, as Kuma allows two monitors with one name; by name only
    where Kuma gives no id (1.23's ``/metrics``, and so the 1.23 socket too, to match it)."""
    return f"kuma:{monitor_id}" if monitor_id is not None else f"kuma:{name}"[:64]


def from_kuma(monitor: MonitorState) -> CheckResult:
    """A Kuma monitor as one of our check results (Kuma's own uptime figures are kept)."""
    ms = monitor.response_time_ms
    return CheckResult(key=kuma_key(monitor.monitor_id, monitor.name), name=monitor.name, status=monitor.status,
                       response_time_ms=int(ms) if ms is not None else None, source="kuma",
                       url=monitor.url, uptime_24h=monitor.uptime_24h, uptime_30d=monitor.uptime_30d)


def without_duplicates(results: list[CheckResult]) -> list[CheckResult]:
    """When Uptime Kuma watches Plex or Overseerr itself, its monitor wins over our own check."""
    kuma_names = {r.name.casefold() for r in results if r.source == "kuma"}
    return [r for r in results if r.source != "builtin" or r.name.casefold() not in kuma_names]


async def run_checks(checks: list[Check]) -> list[CheckResult]:
    """Run every check concurrently; one failing check never hides the others."""
    return without_duplicates(await run_every_check(checks))


async def run_every_check(checks: list[Callable[[], Awaitable[list[CheckResult] | CheckResult]]]
                          ) -> list[CheckResult]:
    """Like ``run_checks``, but MediaNest's own checks are kept even where a Kuma monitor of the
    same name stands for them on the board (what the request queue needs to know)."""
    results: list[CheckResult] = []
    for outcome in await asyncio.gather(*(check() for check in checks), return_exceptions=True):
        if isinstance(outcome, BaseException):
            logger.warning("a status check failed unexpectedly: %r", outcome)
            continue
        results.extend(outcome if isinstance(outcome, list) else [outcome])
    return results


def status_checks(*, plex: PlexServerClient | None, overseerr: OverseerrClient | None,
                  kuma: UptimeKumaClient | None, kuma_status_page: str | None = None) -> list[Check]:
    """The checks the status task runs: Uptime Kuma's monitors when configured, plus MediaNest's
    own reachability checks of Plex and Overseerr (so status works without Kuma)."""
    checks: list[Check] = []
    if plex is not None:
        checks.append(lambda: timed_check("plex", "Plex", plex.identity, url=plex.base_url))
    if overseerr is not None:
        checks.append(lambda: timed_check("overseerr", "Overseerr", overseerr.status, url=overseerr.base_url))
    if kuma is not None:
        checks.append(lambda: kuma_check(kuma, status_page=kuma_status_page))
    return checks


async def kuma_check(kuma: UptimeKumaClient, *, status_page: str | None = None) -> list[CheckResult]:
    """Every Kuma monitor via ``/metrics``; Kuma itself unreachable is one "down" card.

    With ``UPTIME_KUMA_STATUS_PAGE`` the public status page adds Kuma's own 24-hour uptime where
    ``/metrics`` has none (Kuma 1.23); a failing status page never hides the monitors."""
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


async def record(session: AsyncSession, results: list[CheckResult], *,
                 now: datetime | None = None) -> list[StatusChange]:
    """Store the results as the current status plus one history row each; return the changes.

    Uptime: Kuma is the authority for its monitors, so a Kuma result without a figure keeps
    Kuma's last one; only our own checks get uptime counted from our history."""
    now = now or utcnow()
    existing = {row.service_name: row for row in (await session.exec(select(ServiceStatus))).all()}
    changes: list[StatusChange] = []
    for result in results:
        status = result.status if result.status in STATUSES else "unknown"
        row = existing.get(result.key) or ServiceStatus(service_name=result.key)
        if row.status != status or row.status_since is None:
            if row.id is not None and row.status != status:
                changes.append(StatusChange(key=result.key, name=result.name, old=row.status, new=status, since=now))
            row.status_since = now
        row.display_name = result.name
        row.status = status
        row.response_time_ms = result.response_time_ms
        row.message = result.message
        row.source = result.source
        row.url = result.url
        row.last_check_at = now
        session.add(row)
        session.add(ServiceStatusHistory(service_name=result.key, status=status,
                                         response_time_ms=result.response_time_ms, checked_at=now))
        if row.id is None:
            changes.append(StatusChange(key=result.key, name=result.name, old=None, new=status, since=now))
    await session.flush()
    for result in results:
        row = existing.get(result.key) or (await session.exec(
            select(ServiceStatus).where(ServiceStatus.service_name == result.key))).one()
        if result.source == "kuma":
            # Our count of the beats we happened to see is not Kuma's uptime; mixing the two made
            # the figure jump on every live beat.
            row.uptime_24h = result.uptime_24h if result.uptime_24h is not None else row.uptime_24h
            row.uptime_30d = result.uptime_30d if result.uptime_30d is not None else row.uptime_30d
            session.add(row)
            continue
        row.uptime_24h = result.uptime_24h if result.uptime_24h is not None else \
            await _uptime(session, result.key, now - timedelta(hours=24))
        row.uptime_30d = result.uptime_30d if result.uptime_30d is not None else \
            await _uptime(session, result.key, now - timedelta(days=30))
        session.add(row)
    return changes


async def record_kuma_uptime(session: AsyncSession, key: str, *, uptime_24h: float | None,
                             uptime_30d: float | None) -> bool:
    """Kuma's own uptime figures for a monitor's card (from its socket ``uptime`` events).

    Returns:
        Whether the card changed (no card yet, or the same figures, is no change).
    """
    row = (await session.exec(select(ServiceStatus).where(ServiceStatus.service_name == key))).first()
    if row is None or row.source != "kuma":
        return False
    new_24h = round(uptime_24h, 4) if uptime_24h is not None else row.uptime_24h
    new_30d = round(uptime_30d, 4) if uptime_30d is not None else row.uptime_30d
    if (new_24h, new_30d) == (row.uptime_24h, row.uptime_30d):
        return False
    row.uptime_24h, row.uptime_30d = new_24h, new_30d
    session.add(row)
    return True


async def _uptime(session: AsyncSession, key: str, since: datetime) -> float | None:
    """Share of "up" among checks that gave an answer (pending and maintenance do not count)."""
    counted = col(ServiceStatusHistory.status).in_(("up", "down"))
    base = select(func.count()).select_from(ServiceStatusHistory).where(
        ServiceStatusHistory.service_name == key, ServiceStatusHistory.checked_at >= since, counted)
    total = (await session.exec(base)).one()
    if not total:
        return None
    ups = (await session.exec(base.where(ServiceStatusHistory.status == "up"))).one()
    return round(ups / total, 4)


async def prune_history(session: AsyncSession, *, keep_days: int, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    result = await session.exec(delete(ServiceStatusHistory).where(col(ServiceStatusHistory.checked_at) < cutoff))
    return result.rowcount or 0


async def forget(session: AsyncSession, keys: set[str]) -> None:
    """Drop the current rows of these keys (a card whose reason is gone)."""
    for row in (await session.exec(select(ServiceStatus).where(col(ServiceStatus.service_name).in_(keys)))).all():
        await session.delete(row)


async def forget_missing(session: AsyncSession, *, keep_keys: set[str], source: str) -> None:
    """Drop current rows of a source that no longer reports them (a monitor deleted in Kuma)."""
    rows = (await session.exec(select(ServiceStatus).where(ServiceStatus.source == source))).all()
    for row in rows:
        if row.service_name not in keep_keys:
            await session.delete(row)


async def board(session: AsyncSession, *, interval_s: int, now: datetime | None = None) -> list[ServiceCard]:
    """The dashboard: one card per service, stale ones marked, with recent response times."""
    now = now or utcnow()
    stale_after = timedelta(seconds=interval_s * STALE_AFTER_INTERVALS)
    rows = (await session.exec(select(ServiceStatus).order_by(ServiceStatus.display_name,
                                                              ServiceStatus.service_name))).all()
    cards = []
    for row in rows:
        history = (await session.exec(
            select(ServiceStatusHistory.response_time_ms)
            .where(ServiceStatusHistory.service_name == row.service_name)
            .order_by(col(ServiceStatusHistory.checked_at).desc()).limit(SPARKLINE_POINTS))).all()
        last = as_utc(row.last_check_at)
        cards.append(ServiceCard(
            key=row.service_name, name=row.display_name or row.service_name, status=row.status,
            stale=last is None or now - last > stale_after, response_time_ms=row.response_time_ms,
            uptime_24h=row.uptime_24h, uptime_30d=row.uptime_30d, last_check_at=last,
            status_since=as_utc(row.status_since), url=row.url, message=row.message, source=row.source,
            history_ms=[v for v in reversed(history) if v is not None]))
    return cards
