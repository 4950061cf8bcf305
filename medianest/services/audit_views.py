"""The audit log as the admin reads it: filters (action, user, dates), 50 rows a page newest first,
and the same rows as CSV.

Time zones: rows are stored in UTC. The admin's page sends the browser's IANA time zone
(``Intl.DateTimeFormat().resolvedOptions().timeZone``); a date range is inclusive in that zone
(from 00:00 on the first day to the end of the last day, daylight saving included) and times are
shown in it. An unknown or missing zone means UTC. The CSV gives each time in UTC (ISO 8601) and
in the admin's zone.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import zoneinfo
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db import SessionFactory, as_utc
from ..errors import ValidationFailed
from ..models import AuditLog, User
from .audit import safe_details

PAGE_SIZE = 50
EXPORT_BATCH = 500

#: What each known action means, in words (anything else is shown as its name).
ACTION_LABELS = {
    "login.plex": "Signed in with Plex",
    "login.local": "Signed in (local admin)",
    "login.refused": "Sign-in refused",
    "login.local_failed": "Local sign-in failed",
    "login.pin_replayed": "Used sign-in link refused",
    "password.changed": "Password changed",
    "user.suspend": "Member suspended",
    "user.reactivate": "Member reactivated",
    "user.role": "Role changed",
    "overseerr.import_user": "Added to Overseerr",
    "setup.household_server": "Household server chosen",
    "request.approve": "Request approved",
    "request.decline": "Request declined",
    "download.created": "Download started",
    "download.cancelled": "Download cancelled",
    "download.removed": "Download removed",
    "breaker.reset": "Circuit breaker reset",
    "sessions.revoke_all": "Everyone signed out",
    "audit.exported": "Audit log exported",
}


def label_of(action: str) -> str:
    return ACTION_LABELS.get(action) or action


@dataclass(frozen=True)
class ActionGroup:
    """A family of actions offered as one filter: exact names, names ending in a suffix, and every
    action whose name starts with ``<prefix>.``."""

    key: str
    label: str
    exact: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()


ACTION_GROUPS = (
    ActionGroup("signins", "Sign-ins", exact=("login.plex", "login.local")),
    ActionGroup("refusals", "Refusals", exact=("login.refused", "login.local_failed", "login.pin_replayed"),
                suffixes=(".refused", ".denied", "_failed")),
    ActionGroup("accounts", "Role and suspension changes", exact=("password.changed", "overseerr.import_user"),
                prefixes=("user",)),
    ActionGroup("config", "Configuration changes",
                prefixes=("setup", "config", "settings", "service", "services", "service_config", "breaker",
                          "sessions")),
    ActionGroup("requests", "Request decisions", prefixes=("request",)),
    ActionGroup("downloads", "Downloads", prefixes=("download",)),
)
_GROUPS = {g.key: g for g in ACTION_GROUPS}
_ACTION_NAME = re.compile(r"[a-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class AuditFilter:
    """Which rows: ``action`` is ``all``, ``group:<key>`` or one action; dates are inclusive days in
    ``time_zone``."""

    action: str = "all"
    user_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    time_zone: str = "UTC"


@dataclass(frozen=True)
class AuditRowView:
    id: int
    when: str           # in the admin's zone, "2025-03-30 14:05:09"
    when_utc: str       # ISO 8601, "2025-03-30T12:05:09Z"
    action: str
    label: str
    actor: str
    target: str
    details: str
    client_ip: str


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRowView]
    total: int
    page: int
    pages: int
    time_zone: str


@dataclass(frozen=True)
class ActionChoice:
    """An entry of the action filter (``value`` is what the filter takes)."""

    value: str
    label: str


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def known_time_zone(name: str | None) -> str:
    """``name`` when it is an IANA time zone this server knows, else ``UTC``."""
    value = (name or "").strip()
    return value if value in _zone_names() else "UTC"


def _zone(name: str) -> tzinfo:
    return zoneinfo.ZoneInfo(name) if name in _zone_names() else UTC


def _day(value: str | None, which: str) -> date | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(f"The {which} date is not a date (YYYY-MM-DD).") from exc


def parse_filter(*, action: str | None = None, user: str | None = None, date_from: str | None = None,
                 date_to: str | None = None, time_zone: str | None = None) -> AuditFilter:
    """The filter from what the page or the CSV link sends (the same texts for both).

    Raises:
        ValidationFailed: an unknown action or group, a bad user id or date, or dates in the wrong order.
    """
    chosen = (action or "all").strip() or "all"
    if chosen != "all":
        key = chosen.removeprefix("group:")
        if (chosen.startswith("group:") and key not in _GROUPS) or \
                (not chosen.startswith("group:") and not _ACTION_NAME.fullmatch(chosen)):
            raise ValidationFailed("That action filter is not one MediaNest knows.")
    user_id = None
    who = (user or "all").strip() or "all"
    if who != "all":
        if not who.isascii() or not who.isdigit() or not 0 < int(who) < 2**31:
            raise ValidationFailed("That user is not one MediaNest knows.")
        user_id = int(who)
    start, end = _day(date_from, "first"), _day(date_to, "last")
    if start is not None and end is not None and start > end:
        raise ValidationFailed("The first date is after the last date.")
    return AuditFilter(action=chosen, user_id=user_id, date_from=start, date_to=end,
                       time_zone=known_time_zone(time_zone))


def day_bounds(day: date, zone_name: str) -> tuple[datetime, datetime]:
    """The instants (UTC) a calendar day of ``zone_name`` starts and ends (23, 24 or 25 hours)."""
    zone = _zone(zone_name)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _action_clause(action: str) -> ColumnElement[bool] | None:
    if action == "all":
        return None
    if not action.startswith("group:"):
        return col(AuditLog.action) == action
    group = _GROUPS[action.removeprefix("group:")]
    parts: list[ColumnElement[bool]] = []
    if group.exact:
        parts.append(col(AuditLog.action).in_(group.exact))
    parts += [col(AuditLog.action).startswith(f"{p}.", autoescape=True) for p in group.prefixes]
    parts += [col(AuditLog.action).endswith(s, autoescape=True) for s in group.suffixes]
    return or_(*parts) if parts else false()


def _conditions(chosen: AuditFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    action = _action_clause(chosen.action)
    if action is not None:
        found.append(action)
    if chosen.user_id is not None:
        # The user did it, or it was done to them (a refusal, a suspension, a role change).
        found.append(or_(col(AuditLog.actor_user_id) == chosen.user_id,
                         col(AuditLog.target) == f"user:{chosen.user_id}",
                         and_(col(AuditLog.action) == "overseerr.import_user",
                              col(AuditLog.target) == str(chosen.user_id))))
    if chosen.date_from is not None:
        found.append(col(AuditLog.created_at) >= day_bounds(chosen.date_from, chosen.time_zone)[0])
    if chosen.date_to is not None:
        found.append(col(AuditLog.created_at) < day_bounds(chosen.date_to, chosen.time_zone)[1])
    return found


def _details_text(details: dict[str, Any]) -> str:
    parts = []
    for key, value in safe_details(details or {}).items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        parts.append(f"{key}: {shown[:200]}")
    return " · ".join(parts)


async def _names(session: AsyncSession, rows: list[AuditLog]) -> dict[int, str]:
    """Usernames of every actor and every ``user:<id>`` target among ``rows``."""
    ids = {r.actor_user_id for r in rows if r.actor_user_id is not None}
    ids |= {int(r.target[5:]) for r in rows if r.target and r.target.startswith("user:") and r.target[5:].isdigit()}
    if not ids:
        return {}
    found = await session.exec(select(User.id, User.username).where(col(User.id).in_(ids)))
    return {int(i): name for i, name in found.all() if i is not None}


def _target_text(target: str | None, names: dict[int, str]) -> str:
    if not target:
        return ""
    if target.startswith("user:") and target[5:].isdigit() and int(target[5:]) in names:
        return names[int(target[5:])]
    return target


def _view(row: AuditLog, names: dict[int, str], zone_name: str) -> AuditRowView:
    at = as_utc(row.created_at)
    actor = names.get(row.actor_user_id, f"user {row.actor_user_id}") if row.actor_user_id is not None else ""
    return AuditRowView(id=row.id or 0, when=at.astimezone(_zone(zone_name)).strftime("%Y-%m-%d %H:%M:%S"),
                        when_utc=at.strftime("%Y-%m-%dT%H:%M:%SZ"), action=row.action,
                        label=label_of(row.action), actor=actor,
                        target=_target_text(row.target, names), details=_details_text(row.details),
                        client_ip=row.client_ip or "")


def _newest_first() -> tuple[Any, Any]:
    return col(AuditLog.created_at).desc(), col(AuditLog.id).desc()


async def audit_page(session: AsyncSession, chosen: AuditFilter, page: int = 1) -> AuditPage:
    """One page of matching rows, newest first; a page past the end gives the last one."""
    conditions = _conditions(chosen)
    total = (await session.exec(select(func.count()).select_from(AuditLog).where(*conditions))).one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, int(page)), pages)
    rows = list((await session.exec(select(AuditLog).where(*conditions).order_by(*_newest_first())
                                    .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))).all())
    names = await _names(session, rows)
    return AuditPage(rows=[_view(r, names, chosen.time_zone) for r in rows], total=total, page=page, pages=pages,
                     time_zone=chosen.time_zone)


async def action_choices(session: AsyncSession) -> list[ActionChoice]:
    """Every group, then every action the log holds (and every known one), by label."""
    present: set[str] = {str(a) for a in (await session.exec(select(AuditLog.action).distinct())).all()}
    actions = sorted(present | set(ACTION_LABELS), key=lambda a: label_of(a).lower())
    return [ActionChoice("all", "Every action"),
            *[ActionChoice(f"group:{g.key}", f"{g.label} (all)") for g in ACTION_GROUPS],
            *[ActionChoice(a, label_of(a)) for a in actions]]


# ---- CSV --------------------------------------------------------------------------------

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading ``'``."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def csv_header(zone_name: str) -> list[str]:
    return ["Time (UTC)", f"Time ({zone_name})", "Action", "What", "By", "Target", "Details", "IP address",
            "Correlation id"]


def csv_row(row: AuditLog, names: dict[int, str], zone_name: str) -> list[str]:
    view = _view(row, names, zone_name)
    details = json.dumps(safe_details(row.details or {}), ensure_ascii=False, sort_keys=True, default=str)
    return [safe_cell(cell) for cell in (
        view.when_utc, view.when, view.action, view.label, view.actor, view.target,
        "" if details == "{}" else details, view.client_ip, row.correlation_id or "")]


def _lines(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


async def csv_chunks(sessions: SessionFactory, chosen: AuditFilter) -> AsyncIterator[str]:
    """The CSV of every matching row, newest first, a batch at a time (each batch in its own short
    session, so a slow download holds no connection)."""
    yield _lines([csv_header(chosen.time_zone)])
    conditions = _conditions(chosen)
    after: tuple[datetime, int] | None = None
    while True:
        async with sessions() as session:
            query = select(AuditLog).where(*conditions)
            if after is not None:
                query = query.where(tuple_(col(AuditLog.created_at), col(AuditLog.id)) < after)
            rows = list((await session.exec(query.order_by(*_newest_first()).limit(EXPORT_BATCH))).all())
            names = await _names(session, rows)
        if not rows:
            return
        yield _lines([csv_row(r, names, chosen.time_zone) for r in rows])
        last = rows[-1]
        after = (last.created_at, last.id or 0)
        if len(rows) < EXPORT_BATCH:
            return


def csv_filename(now: datetime) -> str:
    return f"medianest-audit-{now.astimezone(UTC):%Y%m%d-%H%M%S}.csv"
