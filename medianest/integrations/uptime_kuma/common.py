"""What the metrics parser, the HTTP client and the live socket share: the typed results and
the normalisation of Kuma's values (statuses, times, pings, "null" labels) across versions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SERVICE = "Uptime Kuma"
STATUS_NAMES = {0: "down", 1: "up", 2: "pending", 3: "maintenance"}
UNKNOWN = "unknown"

_NULLISH = frozenset({"", "null", "undefined", "none"})
#: Kuma's form keeps "https://" in ``url`` for monitors that are not http.
_EMPTY_URLS = frozenset({"http://", "https://"})


@dataclass(frozen=True)
class MonitorState:
    """One monitor's current state.

    ``key`` is the monitor id (as a string) when Kuma reports it (2.x, sockets), else the
    monitor name (1.23 ``/metrics``). ``status`` is ``"up"``, ``"down"``, ``"pending"``,
    ``"maintenance"`` or ``"unknown"``.
    """

    key: str
    monitor_id: int | None
    name: str
    type: str
    url: str | None
    status: str
    response_time_ms: float | None
    uptime_24h: float | None
    uptime_30d: float | None
    hostname: str | None = None
    port: int | None = None
    active: bool = True
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Beat:
    """One heartbeat: ``time`` is UTC-aware; ``ping_ms`` is None when there was no answer."""

    time: datetime
    status: str
    ping_ms: float | None
    msg: str = ""
    important: bool = False


@dataclass(frozen=True)
class MonitorHistory:
    """A published monitor with its recent beats (oldest first) and 24 h uptime (0..1)."""

    monitor_id: int
    name: str
    beats: list[Beat]
    uptime_24h: float | None
    type: str | None = None


def status_name(value: Any) -> str:
    """Kuma's status number (0-3, int, float or string) as a name; anything else is ``unknown``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return UNKNOWN
    if math.isnan(number) or not number.is_integer():
        return UNKNOWN
    return STATUS_NAMES.get(int(number), UNKNOWN)


def parse_kuma_time(value: Any) -> datetime | None:
    """Parse Kuma's ``YYYY-MM-DD HH:mm:ss.SSS`` (UTC, no zone) or an ISO string, as UTC-aware."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _finite(value: Any) -> float | None:
    """A finite number from Kuma's JSON or text, or None (booleans, NaN and infinities included)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def _ping_ms(value: Any) -> float | None:
    number = _finite(value)
    return None if number is None or number < 0 else number


def _fraction(value: Any) -> float | None:
    number = _ping_ms(value)
    return None if number is None else min(number, 1.0)


def _int_or_none(value: Any) -> int | None:
    number = _finite(value)
    return int(number) if number is not None and number.is_integer() else None


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return None if text.strip().lower() in _NULLISH else text


def _url_or_none(value: Any) -> str | None:
    text = _text_or_none(value)
    return None if text is None or text.strip().lower() in _EMPTY_URLS else text


def _beat_from(row: Any) -> tuple[int | None, Beat] | None:
    """A beat from a raw row (snake_case), a live event or an important row (camelCase)."""
    if not isinstance(row, dict):
        return None
    moment = parse_kuma_time(row.get("time"))
    if moment is None:
        return None
    monitor_id = _int_or_none(row.get("monitorID", row.get("monitor_id")))
    return monitor_id, Beat(time=moment, status=status_name(row.get("status")), ping_ms=_ping_ms(row.get("ping")),
                            msg=str(row.get("msg") or ""), important=bool(row.get("important")))
