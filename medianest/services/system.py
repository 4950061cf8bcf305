"""Install-wide values kept in the database: the Plex client identifier and the household server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from ..models import SystemSetting, utcnow

PLEX_CLIENT_ID_KEY = "plex_client_id"
HOUSEHOLD_SERVER_KEY = "household_server"


@dataclass(frozen=True)
class HouseholdServer:
    machine_id: str
    name: str
    url: str | None
    owner_plex_id: int | None


async def get_value(session: AsyncSession, key: str) -> dict[str, Any] | None:
    row = await session.get(SystemSetting, key)
    return dict(row.value) if row is not None else None


async def put_value(session: AsyncSession, key: str, value: dict[str, Any]) -> None:
    row = await session.get(SystemSetting, key)
    if row is None:
        session.add(SystemSetting(key=key, value=value))
    else:
        row.value = value
        row.updated_at = utcnow()
        session.add(row)
    await session.flush()


async def insert_once(session: AsyncSession, key: str, value: dict[str, Any]) -> bool:
    """Insert ``key`` unless it exists; True when this call created it (a portable race guard)."""
    try:
        async with session.begin_nested():
            session.add(SystemSetting(key=key, value=value))
        return True
    except IntegrityError:
        return False


async def plex_client_id(session: AsyncSession, configured: str | None) -> str:
    """``PLEX_CLIENT_ID`` when set, otherwise one generated on first use and kept forever."""
    if configured:
        return configured
    existing = await get_value(session, PLEX_CLIENT_ID_KEY)
    if existing and existing.get("id"):
        return str(existing["id"])
    candidate = f"medianest-{uuid.uuid4()}"
    await insert_once(session, PLEX_CLIENT_ID_KEY, {"id": candidate})
    stored = await get_value(session, PLEX_CLIENT_ID_KEY)
    if stored is None:  # inserted just now, by this call or by the one that won the race
        raise RuntimeError(f"system setting {PLEX_CLIENT_ID_KEY!r} vanished right after its insert")
    return str(stored["id"])  # another process may have won the race: use its value


async def household_server(session: AsyncSession) -> HouseholdServer | None:
    value = await get_value(session, HOUSEHOLD_SERVER_KEY)
    if not value or not value.get("machine_id"):
        return None
    return HouseholdServer(machine_id=value["machine_id"], name=value.get("name") or "Plex",
                           url=value.get("url"), owner_plex_id=value.get("owner_plex_id"))


async def set_household_server(session: AsyncSession, server: HouseholdServer) -> None:
    await put_value(session, HOUSEHOLD_SERVER_KEY, {
        "machine_id": server.machine_id, "name": server.name, "url": server.url,
        "owner_plex_id": server.owner_plex_id})
