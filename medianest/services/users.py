"""Admin operations on users: list, suspend/reactivate, change role. Each ends the
target's sessions at once and leaves an audit row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db import as_utc
from ..errors import Forbidden, NotFound, ValidationFailed
from ..models import Role, User, UserStatus, id_of
from . import audit
from .auth import CurrentUser, revoke_user_sessions


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    email: str | None
    avatar_url: str | None
    role: str
    status: str
    is_local: bool
    created_at: datetime
    last_login_at: datetime | None


async def list_users(session: AsyncSession, *, actor: CurrentUser) -> list[UserRow]:
    _require_admin(actor)
    rows = (await session.exec(select(User).order_by(col(User.created_at), col(User.id)))).all()
    return [UserRow(id=id_of(u), username=u.username, email=u.email, avatar_url=u.avatar_url, role=u.role,
                    status=u.status, is_local=u.is_local, created_at=as_utc(u.created_at),
                    last_login_at=as_utc(u.last_login_at)) for u in rows]


async def set_status(session: AsyncSession, *, actor: CurrentUser, user_id: int, status: str,
                     client_ip: str | None = None) -> User:
    _require_admin(actor)
    if status not in {s.value for s in UserStatus}:
        raise ValidationFailed("Unknown status.")
    user = await _target(session, actor, user_id, "suspend")
    if status == UserStatus.SUSPENDED.value and user.role == Role.ADMIN.value:
        await _keep_one_admin(session, user)
    user.status = status
    session.add(user)
    if status == UserStatus.SUSPENDED.value:
        await revoke_user_sessions(session, user_id=id_of(user), reason="suspended")
    await audit.record(session, f"user.{'suspend' if status == 'suspended' else 'reactivate'}",
                       actor_user_id=actor.id, target=f"user:{user.id}", client_ip=client_ip)
    return user


async def set_role(session: AsyncSession, *, actor: CurrentUser, user_id: int, role: str,
                   client_ip: str | None = None) -> User:
    _require_admin(actor)
    if role not in {r.value for r in Role}:
        raise ValidationFailed("Unknown role.")
    user = await _target(session, actor, user_id, "change the role of")
    if user.role == role:
        return user
    if user.role == Role.ADMIN.value:
        await _keep_one_admin(session, user)
    user.role = role
    session.add(user)
    await revoke_user_sessions(session, user_id=id_of(user), reason="role_changed")
    await audit.record(session, "user.role", actor_user_id=actor.id, target=f"user:{user.id}",
                       client_ip=client_ip, role=role)
    return user


def status_sentence(user: User, status: str) -> str:
    """What the admin is told after suspending or reactivating ``user``."""
    return f"{user.username} is {'suspended' if status == UserStatus.SUSPENDED.value else 'active again'}."


def role_sentence(user: User) -> str:
    """What the admin is told after changing ``user``'s role."""
    return f"{user.username} is now {'an admin' if user.role == Role.ADMIN.value else 'a member'}."


def _require_admin(actor: CurrentUser) -> None:
    if not actor.is_admin:
        raise Forbidden("Only admins can manage users.")


async def _target(session: AsyncSession, actor: CurrentUser, user_id: int, verb: str) -> User:
    user = await session.get(User, int(user_id))
    if user is None:
        raise NotFound("That user no longer exists.")
    if user.id == actor.id:
        raise ValidationFailed(f"You cannot {verb} your own account.")
    return user


async def _keep_one_admin(session: AsyncSession, user: User) -> None:
    admins = (await session.exec(select(func.count()).select_from(User).where(
        User.role == Role.ADMIN.value, User.status == UserStatus.ACTIVE.value, User.id != user.id))).one()
    if admins == 0:
        raise ValidationFailed("MediaNest needs at least one active admin.")
