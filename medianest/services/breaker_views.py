"""Circuit breakers on the admin's System page: each service's breaker in every process (from the
reports ``breaker_sync`` collects in Redis) in words, and Reset, which reaches every process."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from .. import breaker_sync
from ..breaker_sync import BreakerReport, ProcessReport, ResetOutcome
from ..errors import IntegrationUnavailable, ValidationFailed
from ..integrations.overseerr import OverseerrClient
from ..integrations.plex import PlexServerClient, PlexTvClient
from ..integrations.tmdb import TmdbImageClient
from ..integrations.uptime_kuma import UptimeKumaClient
from ..models import utcnow
from . import audit
from .auth import CurrentUser

#: Every external system MediaNest keeps a breaker for (a process makes one on its first call).
KNOWN_SERVICES = (PlexServerClient.service, PlexTvClient.service, OverseerrClient.service, UptimeKumaClient.service,
                  TmdbImageClient.service)

_LABELS = {"closed": "Closed", "open": "Open", "half-open": "Half-open", "unused": "Not used yet"}
_TONES = {"closed": "ok", "open": "bad", "half-open": "warn", "unused": "none"}


@dataclass(frozen=True)
class BreakerRow:
    service: str
    key: str        # for element ids: "overseerr", "plex-tv", "uptime-kuma"
    state: str      # closed | open | half-open | unused (the worst over every process)
    label: str
    text: str       # which processes, since when, failures counted
    tone: str


def service_key(service: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", service.lower()).strip("-")


def _ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return ""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _others(count: int, state: str) -> str:
    return f"{state} in {count} other {'process' if count == 1 else 'processes'}"


def _row(service: str, found: list[tuple[str, BreakerReport]], processes: int, now: datetime) -> BreakerRow:
    key = service_key(service)
    if not found:
        return BreakerRow(service, key, "unused", _LABELS["unused"],
                          "No process has called it since it started.", _TONES["unused"])
    opened = [(p, b) for p, b in found if b.state == "open"]
    half = [(p, b) for p, b in found if b.state == "half-open"]
    state = "open" if opened else "half-open" if half else "closed"
    parts = []
    for process, breaker in opened:
        parts.append(f"open in {process} (opened {_ago(breaker.opened_at, now)} after {breaker.fail_max} failures)")
    for process, _ in half:
        parts.append(f"half-open in {process} (trying one call)")
    closed = [(p, b) for p, b in found if b.state == "closed"]
    counting = [f"{b.failures} of {b.fail_max} failures counted in {p}" for p, b in closed if b.failures]
    if parts:
        if closed:
            parts.append(_others(len(closed), "closed"))
    else:
        parts.append(f"closed in every process that used it ({len(closed)} of {processes})")
    text = "; ".join([*parts, *counting])
    return BreakerRow(service, key, state, _LABELS[state], text[0].upper() + text[1:] + ".", _TONES[state])


def breaker_rows(reports: list[ProcessReport], *, now: datetime | None = None) -> list[BreakerRow]:
    """One row per known service (and any other a process reports), over every live process."""
    now = now or utcnow()
    services = list(KNOWN_SERVICES) + sorted({b.service for r in reports for b in r.breakers} - set(KNOWN_SERVICES))
    return [_row(service, [(r.process, b) for r in reports for b in r.breakers if b.service == service],
                 len(reports), now) for service in services]


async def read_breakers(redis: aioredis.Redis | None) -> tuple[list[BreakerRow], str]:
    """The rows, and a sentence on which processes reported (or why none could be read)."""
    try:
        reports = await breaker_sync.reports(redis)
    except (RedisError, OSError):
        return breaker_rows([breaker_sync.local_report()]), \
            "Redis does not answer: only this web process's breakers are shown."
    names = ", ".join(r.process for r in reports)
    if not reports:
        return breaker_rows([]), "No process has reported its breakers yet."
    return breaker_rows(reports), f"{len(reports)} {'process' if len(reports) == 1 else 'processes'}: {names}."


async def reset(session: AsyncSession, *, actor: CurrentUser, service: str, redis: aioredis.Redis | None,
                client_ip: str | None) -> ResetOutcome:
    """Reset ``service``'s breaker in every web and task worker process (recorded in the audit log).

    Raises:
        ValidationFailed: a service MediaNest keeps no breaker for.
        IntegrationUnavailable: Redis did not take the reset (nothing was reset).
    """
    try:
        reported = {b.service for r in await breaker_sync.reports(redis) for b in r.breakers}
        if service not in set(KNOWN_SERVICES) | reported:
            raise ValidationFailed("MediaNest keeps no circuit breaker by that name.")
        outcome = await breaker_sync.request_reset(redis, service)
    except (RedisError, OSError) as exc:
        raise IntegrationUnavailable("Redis", f"breaker reset: {exc!r}") from exc
    await audit.record(session, "breaker.reset", actor_user_id=actor.id, target=f"breaker:{service}",
                       client_ip=client_ip, confirmed=len(outcome.confirmed), waiting=list(outcome.waiting))
    return outcome


def reset_sentence(outcome: ResetOutcome) -> str:
    done = len(outcome.confirmed)
    text = f"{outcome.service}'s circuit breaker was reset in {done} {'process' if done == 1 else 'processes'}."
    if outcome.waiting:
        text += f" Not confirmed yet by {', '.join(outcome.waiting)} (it resets as soon as it hears of it)."
    return text
