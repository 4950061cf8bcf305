"""Choosing the household Plex server (the admin's setup step)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from ..errors import Forbidden, ValidationFailed
from ..integrations.plex import PlexTvClient
from ..models import User
from ..security import Encryptor
from . import audit, system
from .auth import CurrentUser


@dataclass(frozen=True)
class ServerChoice:
    machine_id: str
    name: str
    version: str | None
    url: str | None


async def owned_servers(session: AsyncSession, *, actor: CurrentUser, plex_tv: PlexTvClient,
                        encryptor: Encryptor) -> list[ServerChoice]:
    """The Plex servers the signed-in admin owns."""
    _, token = await _plex_account(session, actor, encryptor)
    servers = await plex_tv.get_servers(token)
    return [ServerChoice(machine_id=s.client_identifier, name=s.name, version=s.product_version, url=s.best_uri())
            for s in servers if s.owned]


async def choose_server(session: AsyncSession, *, actor: CurrentUser, machine_id: str, plex_tv: PlexTvClient,
                        encryptor: Encryptor, client_ip: str | None = None) -> ServerChoice:
    user, token = await _plex_account(session, actor, encryptor)
    servers = await plex_tv.get_servers(token)
    match = next((s for s in servers if s.owned and s.client_identifier == machine_id), None)
    if match is None:
        raise ValidationFailed("That server is not one of yours any more. Reload the list and pick again.")
    await system.set_household_server(session, system.HouseholdServer(
        machine_id=match.client_identifier, name=match.name, url=match.best_uri(), owner_plex_id=user.plex_id))
    # The server's own access token lets MediaNest browse it later without a member's token.
    await system.put_value(session, "household_server_token",
                           {"token": encryptor.encrypt(match.access_token or token)})
    await audit.record(session, "setup.household_server", actor_user_id=actor.id, target=match.client_identifier,
                       client_ip=client_ip, name=match.name)
    return ServerChoice(machine_id=match.client_identifier, name=match.name, version=match.product_version,
                        url=match.best_uri())


async def _plex_account(session: AsyncSession, actor: CurrentUser, encryptor: Encryptor) -> tuple[User, str]:
    """The signed-in admin's user row and their Plex token."""
    if not actor.is_admin:
        raise Forbidden("Only admins can choose the household server.")
    user = await session.get(User, actor.id)
    if user is None or not user.plex_token_encrypted:
        raise ValidationFailed("Sign in with your Plex account (not the local admin) to choose the household server.")
    return user, encryptor.decrypt(user.plex_token_encrypted)
