"""Sign-in with Plex, the local admin bootstrap, and server-side sessions.

Flow: :func:`start_plex_login` creates a PIN and a signed ``pin`` cookie value;
the member approves on plex.tv and comes back; :func:`check_plex_login` polls the
PIN, decides whether this account may use MediaNest, and creates a not-yet-active
session plus a one-time ``ticket``; an HTTP route calls :func:`activate_session`
to turn the ticket into the HttpOnly session cookie. Every request then goes
through :func:`resolve_session`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, func, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session as SyncSession
from sqlalchemy.util import await_only
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .. import live
from ..config import Settings
from ..db import as_utc
from ..errors import AccessDenied, InvalidToken, NotAuthenticated, ValidationFailed
from ..integrations.plex import PlexAccount, PlexTvClient
from ..models import Role, SystemSetting, User, UserSession, UserStatus, id_of, utcnow
from ..security import Encryptor, hash_password, issue_token, token_hash, verify_password, verify_token
from . import audit, system

logger = logging.getLogger(__name__)

PIN_TTL = timedelta(minutes=30)
TICKET_TTL = timedelta(minutes=2)
_LAST_USED_GRANULARITY = timedelta(minutes=1)
MIN_PASSWORD_LENGTH = 12
_PIN_MARKER = "plex_pin_used:"


@dataclass(frozen=True)
class CurrentUser:
    """Who is calling, as every handler and route sees it."""

    id: int
    username: str
    email: str | None
    avatar_url: str | None
    role: str
    is_local: bool
    must_change_password: bool
    session_id: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value


@dataclass(frozen=True)
class PlexLoginStart:
    auth_url: str
    pin_cookie: str
    pin_id: int


@dataclass(frozen=True)
class LoginOutcome:
    user_id: int
    username: str
    ticket: str
    next_path: str


_DOT = {".", "%2e"}
_DOT_DOT = {"..", ".%2e", "%2e.", "%2e%2e"}


def safe_next_path(value: str | None) -> str:
    """Only same-site absolute paths; anything else goes home (no open redirects).

    The path comes back normalised, with one leading slash: browsers resolve dot segments
    (``/.//evil.example`` becomes ``//evil.example``) and drop tabs and newlines, so neither may
    survive to a ``Location`` header.
    """
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    segments: list[str] = []
    for segment in parts.path.split("/"):
        if segment == "" or segment.lower() in _DOT:
            continue
        if segment.lower() in _DOT_DOT:
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    path = "/" + "/".join(segments)
    if segments and parts.path.endswith("/"):
        path += "/"
    if parts.query:
        path += f"?{parts.query}"
    if parts.fragment:
        path += f"#{parts.fragment}"
    return path[:512]


# ---- Plex PIN sign-in -----------------------------------------------------------------

async def start_plex_login(*, plex_tv: PlexTvClient, settings: Settings, next_path: str | None,
                           remember: bool) -> PlexLoginStart:
    """Create a strong PIN and the URL of the Plex page that approves it."""
    pin = await plex_tv.create_pin()
    cookie = issue_token("pin", str(pin.id), secret=settings.secret_value("jwt_secret"), ttl=PIN_TTL,
                         data={"remember": bool(remember), "next": safe_next_path(next_path)})
    forward = f"{settings.public_url.rstrip('/')}/auth/plex/callback"
    return PlexLoginStart(auth_url=plex_tv.auth_app_url(settings.plex_auth_url, pin.code, forward),
                          pin_cookie=cookie, pin_id=pin.id)


async def check_plex_login(session: AsyncSession, *, pin_cookie: str, plex_tv: PlexTvClient,
                           settings: Settings, encryptor: Encryptor, client_ip: str | None,
                           user_agent: str | None) -> LoginOutcome | None:
    """Poll the PIN once. None while the member has not approved yet.

    Raises:
        InvalidToken: the pin cookie is missing, forged or expired.
        AccessDenied: the PIN expired, or this account may not use MediaNest.
        IntegrationUnavailable: plex.tv is not answering.
    """
    claims = verify_token(pin_cookie, "pin", secret=settings.secret_value("jwt_secret"))
    pin = await plex_tv.get_pin(int(claims.subject))
    if pin is None:
        raise AccessDenied("This sign-in request has expired. Please start again.", reason="expired")
    if not pin.auth_token:
        return None
    if not await _claim_pin(session, pin_id=claims.subject):
        # plex.tv keeps answering an approved PIN for its whole life: without this, replaying the
        # callback with the same cookie mints one session after another.
        await audit.record(session, "login.pin_replayed", target=f"plex_pin:{claims.subject}", client_ip=client_ip)
        await session.commit()
        raise InvalidToken(detail="PIN already used")
    user = await sign_in_plex_account(session, plex_token=pin.auth_token, plex_tv=plex_tv,
                                      encryptor=encryptor, client_ip=client_ip)
    row = await create_session(session, user=user, remember=bool(claims.data.get("remember")),
                               settings=settings, client_ip=client_ip, user_agent=user_agent)
    ticket = issue_token("ticket", row.id, secret=settings.secret_value("jwt_secret"), ttl=TICKET_TTL,
                         data={"pin": claims.subject})
    next_path = safe_next_path(claims.data.get("next"))
    if user.role == Role.ADMIN.value and await system.household_server(session) is None:
        next_path = "/setup"
    return LoginOutcome(user_id=id_of(user), username=user.username, ticket=ticket, next_path=next_path)


async def _claim_pin(session: AsyncSession, *, pin_id: str) -> bool:
    """True for the first sign-in that uses this PIN. Markers older than a PIN cookie's life are
    dropped: past that the cookie itself is refused."""
    await session.exec(delete(SystemSetting).where(col(SystemSetting.key).like(f"{_PIN_MARKER}%"),
                                                   col(SystemSetting.updated_at) < utcnow() - PIN_TTL))
    return await system.insert_once(session, f"{_PIN_MARKER}{pin_id}", {"used_at": utcnow().isoformat()})


async def sign_in_plex_account(session: AsyncSession, *, plex_token: str, plex_tv: PlexTvClient,
                               encryptor: Encryptor, client_ip: str | None = None) -> User:
    """Decide whether this Plex account may use MediaNest and create or update its user.

    The first Plex account becomes admin. Everyone else needs access to the
    household server (owned or shared), checked with their own token.
    """
    account = await plex_tv.get_account(plex_token)
    existing = (await session.exec(select(User).where(User.plex_id == account.id))).first()
    if existing is not None and existing.status == UserStatus.SUSPENDED.value:
        await audit.record(session, "login.refused", target=f"user:{existing.id}", client_ip=client_ip,
                           reason="suspended")
        await session.commit()
        raise AccessDenied("Your MediaNest account is suspended. "
                           "Ask the household admin if you think this is a mistake.", reason="suspended")

    role = existing.role if existing is not None else Role.USER.value
    plex_users = (await session.exec(
        select(func.count()).select_from(User).where(col(User.plex_id).is_not(None)))).one()
    if (existing is None and plex_users == 0
            and await system.insert_once(session, "first_admin", {"plex_id": account.id})):
        role = Role.ADMIN.value
    else:
        household = await system.household_server(session)
        if household is None:
            if role != Role.ADMIN.value:
                await _refuse(session, account, client_ip, "not_set_up")
                raise AccessDenied("MediaNest is not set up yet: the household admin has not chosen the Plex server. "
                                   "Please try again later.", reason="not_set_up")
        else:
            servers = await plex_tv.get_servers(plex_token)
            if not any(s.client_identifier == household.machine_id for s in servers):
                await _refuse(session, account, client_ip, "no_access")
                raise AccessDenied(f"The Plex account “{account.username}” does not have access to the household "
                                   f"server “{household.name}”. Ask the server owner to share the server with you, "
                                   "then sign in again.", reason="no_access")

    user = existing or User(plex_id=account.id, username=account.username, role=role)
    _apply_account(user, account)
    user.role = role
    user.plex_token_encrypted = encryptor.encrypt(plex_token)
    user.last_login_at = utcnow()
    session.add(user)
    await session.flush()
    await audit.record(session, "login.plex", actor_user_id=user.id, target=f"user:{user.id}",
                       client_ip=client_ip, new_user=existing is None, role=role)
    return user


def _apply_account(user: User, account: PlexAccount) -> None:
    user.username = account.username or account.title or user.username
    user.email = account.email
    user.avatar_url = account.thumb
    user.plex_uuid = account.uuid or user.plex_uuid


async def _refuse(session: AsyncSession, account: PlexAccount, client_ip: str | None, reason: str) -> None:
    await audit.record(session, "login.refused", target=f"plex:{account.id}", client_ip=client_ip,
                       reason=reason, username=account.username)
    await session.commit()


# ---- local admin bootstrap ------------------------------------------------------------

async def local_sign_in(session: AsyncSession, *, username: str, password: str, settings: Settings,
                        client_ip: str | None, user_agent: str | None) -> str:
    """Sign in the bootstrap admin with ADMIN_USERNAME / ADMIN_PASSWORD; returns a ticket.

    The environment password only works until the admin has chosen their own,
    which they must do right after the first sign-in.
    """
    if not settings.admin_username or settings.admin_password is None:
        raise ValidationFailed("Local sign-in is turned off on this server. Sign in with Plex instead.")
    username = (username or "").strip()
    user = (await session.exec(select(User).where(col(User.is_local).is_(True), User.username == username))).first()
    if user is None:
        ok = (hmac.compare_digest(username.encode(), settings.admin_username.encode())
              and hmac.compare_digest((password or "").encode(), settings.secret_value("admin_password").encode()))
        if ok:
            user = User(username=username, role=Role.ADMIN.value, is_local=True,
                        password_hash=hash_password(password), must_change_password=True)
    else:
        ok = bool(user.password_hash and verify_password(password or "", user.password_hash))
    if not ok or user is None:
        await audit.record(session, "login.local_failed", target=f"local:{username[:64]}", client_ip=client_ip)
        await session.commit()
        raise ValidationFailed("That user name and password do not match.")
    if user.status == UserStatus.SUSPENDED.value:
        raise AccessDenied("This account is suspended.", reason="suspended")
    user.last_login_at = utcnow()
    session.add(user)
    await session.flush()
    await audit.record(session, "login.local", actor_user_id=user.id, target=f"user:{user.id}", client_ip=client_ip)
    row = await create_session(session, user=user, remember=False, settings=settings,
                               client_ip=client_ip, user_agent=user_agent)
    return issue_token("ticket", row.id, secret=settings.secret_value("jwt_secret"), ttl=TICKET_TTL)


async def change_password(session: AsyncSession, *, user_id: int, current: str, new: str, confirm: str,
                          session_id: str) -> None:
    """Change a local account's password; other sessions of that account end."""
    user = await session.get(User, user_id)
    if user is None or not user.is_local or not user.password_hash:
        raise ValidationFailed("Only the local admin account has a password here; "
                               "Plex accounts change theirs on plex.tv.")
    if not verify_password(current or "", user.password_hash):
        raise ValidationFailed("The current password is not right.")
    if len(new or "") < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if new != confirm:
        raise ValidationFailed("The two new passwords are not the same.")
    if new == current or new.lower() == user.username.lower():
        raise ValidationFailed("Choose a password that differs from the old one and from the user name.")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    session.add(user)
    await revoke_user_sessions(session, user_id=id_of(user), reason="password_changed", keep_session_id=session_id)
    await audit.record(session, "password.changed", actor_user_id=user.id, target=f"user:{user.id}")


# ---- sessions -------------------------------------------------------------------------

async def create_session(session: AsyncSession, *, user: User, remember: bool, settings: Settings,
                         client_ip: str | None, user_agent: str | None) -> UserSession:
    ttl = timedelta(days=settings.session_days) if remember else timedelta(hours=settings.session_idle_hours)
    row = UserSession(user_id=id_of(user), remember=remember, expires_at=utcnow() + ttl,
                      client_ip=(client_ip or "")[:64] or None, user_agent=(user_agent or "")[:512] or None)
    session.add(row)
    await session.flush()
    return row


async def activate_session(session: AsyncSession, *, ticket: str, pin_cookie: str | None,
                           settings: Settings) -> tuple[str, UserSession]:
    """Exchange a one-time ticket for the session JWT the browser keeps.

    Raises:
        InvalidToken: a bad, expired or already used ticket, or one from another browser.
    """
    secret = settings.secret_value("jwt_secret")
    claims = verify_token(ticket, "ticket", secret=secret)
    if "pin" in claims.data:
        # The ticket travels in a URL; only the browser that started the PIN may use it.
        if not pin_cookie or verify_token(pin_cookie, "pin", secret=secret).subject != str(claims.data["pin"]):
            raise InvalidToken(detail="ticket from another browser")
    row = await session.get(UserSession, claims.subject)
    if row is None or row.activated_at is not None or row.revoked_at is not None:
        raise InvalidToken(detail="ticket already used")
    ttl = timedelta(days=settings.session_days) if row.remember else timedelta(days=7)
    jwt_value = issue_token("session", row.id, secret=secret, ttl=ttl, data={"uid": row.user_id})
    row.token_hash = token_hash(jwt_value)
    row.activated_at = row.last_used_at = utcnow()
    session.add(row)
    await session.flush()
    return jwt_value, row


async def resolve_session(session: AsyncSession, *, token: str | None, settings: Settings,
                          next_path: str = "/") -> CurrentUser:
    """The signed-in user for a session JWT.

    Raises:
        NotAuthenticated: no token, a bad one, or a revoked/expired session or suspended user.
    """
    if not token:
        raise NotAuthenticated(next_path=next_path)
    try:
        claims = verify_token(token, "session", secret=settings.secret_value("jwt_secret"))
    except InvalidToken as exc:
        raise NotAuthenticated(exc.user_message, next_path=next_path) from exc
    # One round trip for the session and its user: every event handler comes through here.
    found = (await session.exec(select(UserSession, User).join(User, col(User.id) == col(UserSession.user_id))
                                .where(UserSession.id == claims.subject))).first()
    row, user = found if found is not None else (None, None)
    now = utcnow()
    if (row is None or row.revoked_at is not None or row.token_hash != token_hash(token)
            or as_utc(row.expires_at) <= now):
        raise NotAuthenticated("Your session has ended. Please sign in again.", next_path=next_path)
    if user is None or user.status != UserStatus.ACTIVE.value:
        raise NotAuthenticated("Your account is not active any more.", next_path=next_path)
    last_used = as_utc(row.last_used_at)
    if last_used is None or now - last_used >= _LAST_USED_GRANULARITY:
        # Write at most once a minute: every handler resolves the session.
        values = {"last_used_at": now}
        if not row.remember:
            values["expires_at"] = now + timedelta(hours=settings.session_idle_hours)
        await session.exec(update(UserSession).where(col(UserSession.id) == row.id).values(**values))
    return CurrentUser(id=id_of(user), username=user.username, email=user.email, avatar_url=user.avatar_url,
                       role=user.role, is_local=user.is_local, must_change_password=user.must_change_password,
                       session_id=row.id)


async def revoke_session(session: AsyncSession, *, session_id: str, reason: str) -> None:
    """End one session. Once the caller commits, every web process stops trusting it and its open
    tabs are cut from the member's live feed (see :func:`_announce_after_commit`)."""
    result = await session.exec(
        update(UserSession).where(col(UserSession.id) == session_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason).returning(col(UserSession.id), col(UserSession.user_id)))
    _announce_after_commit(session, result.all())


async def revoke_user_sessions(session: AsyncSession, *, user_id: int, reason: str,
                               keep_session_id: str | None = None) -> None:
    query = update(UserSession).where(col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None))
    if keep_session_id:
        query = query.where(col(UserSession.id) != keep_session_id)
    result = await session.exec(query.values(revoked_at=utcnow(), revoked_reason=reason)
                                .returning(col(UserSession.id), col(UserSession.user_id)))
    _announce_after_commit(session, result.all())


async def revoke_all_sessions(session: AsyncSession, *, reason: str, keep_session_id: str | None = None) -> int:
    """End every session of everyone (but ``keep_session_id``), as a suspension does for one member:
    once the caller commits, every open tab of them is cut and sent to sign-in. Returns how many ended."""
    query = update(UserSession).where(col(UserSession.revoked_at).is_(None))
    if keep_session_id:
        query = query.where(col(UserSession.id) != keep_session_id)
    result = await session.exec(query.values(revoked_at=utcnow(), revoked_reason=reason)
                                .returning(col(UserSession.id), col(UserSession.user_id)))
    rows = result.all()
    _announce_after_commit(session, rows)
    return len(rows)


_REVOKED = "medianest.revoked_sessions"


def _announce_after_commit(session: AsyncSession, rows: Sequence[tuple[str, int]]) -> None:
    """Remember revoked sessions on the DB session; announce them when (and only if) it commits.

    Announcing before the commit would let a tab re-link, or an image route re-trust the session,
    in between; announcing in every caller would miss one. The announcement is awaited inside the
    commit, so a sign-out response is sent only after every web process stopped trusting it."""
    if not rows:
        return
    info = session.sync_session.info
    if _REVOKED not in info:
        sa_event.listen(session.sync_session, "after_commit", _announce_revoked)
        sa_event.listen(session.sync_session, "after_rollback", _forget_revoked)
    pending: dict[int, set[str]] = info.setdefault(_REVOKED, {})
    for session_id, user_id in rows:
        pending.setdefault(int(user_id), set()).add(str(session_id))


def _announce_revoked(sync_session: SyncSession) -> None:
    pending = sync_session.info.pop(_REVOKED, None) or {}
    sync_session.info[_REVOKED] = {}
    for user_id, session_ids in pending.items():
        # Runs inside AsyncSession.commit's greenlet: await_only waits for the coroutine there.
        await_only(live.announce_revoked(user_id, sorted(session_ids)))


def _forget_revoked(sync_session: SyncSession) -> None:
    sync_session.info[_REVOKED] = {}
