"""Row factories for tests: each builds one row with unique defaults (a process-wide counter) and adds
it to the session it is given, async or sync alike; with ``None`` the row is only built.

Nothing is flushed or committed here: the test does that, as it did when it built the row by hand,
so ids appear after the test's own ``flush``/``commit``. Any other column is a keyword argument.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from medianest.config import get_settings
from medianest.models import (
    AuditLog,
    DownloadState,
    ItemState,
    MediaRequest,
    Notification,
    RequestFollow,
    RequestStatus,
    Role,
    User,
    UserStatus,
    YoutubeDownload,
    YoutubeDownloadItem,
)
from medianest.security import issue_token
from medianest.services import auth
from medianest.services.auth import CurrentUser

_counter = itertools.count(1)

#: Far above any id TMDB hands out, so a default never matches a simulator title.
TMDB_ID_BASE = 900_000_000


class _HasId(Protocol):
    @property
    def id(self) -> int | None: ...


def _next() -> int:
    return next(_counter)


def _value(value: str | Enum) -> str:
    return value.value if isinstance(value, Enum) else value


def _user_id(user: _HasId | int) -> int:
    user_id = user if isinstance(user, int) else user.id
    if user_id is None:
        raise ValueError("the user has no id yet: flush or commit the session before making rows that name it")
    return user_id


def _add(session: AsyncSession | Session | None, row: Any) -> None:
    if session is not None:
        session.add(row)


def make_user(session: AsyncSession | Session | None, *, username: str | None = None, role: str | Role = Role.USER,
              plex_id: int | None = None, status: str | UserStatus = UserStatus.ACTIVE, **fields: Any) -> User:
    """A member (``member<n>`` unless named), active, without a Plex account unless given one."""
    user = User(username=username or f"member{_next()}", role=_value(role), plex_id=plex_id, status=_value(status),
                **fields)
    _add(session, user)
    return user


def make_request(session: AsyncSession | Session | None, user: _HasId | int, *, title: str | None = None,
                 media_type: str = "movie", tmdb_id: int | None = None,
                 status: str | RequestStatus = RequestStatus.QUEUED, **fields: Any) -> MediaRequest:
    """A media request of ``user`` (a row, a ``CurrentUser`` or an id) for an otherwise unused title."""
    n = _next()
    row = MediaRequest(user_id=_user_id(user), title=title or f"Title {n}", media_type=media_type,
                       tmdb_id=TMDB_ID_BASE + n if tmdb_id is None else tmdb_id, status=_value(status), **fields)
    _add(session, row)
    return row


def make_follow(session: AsyncSession | Session | None, user: _HasId | int, *, title: str | None = None,
                media_type: str = "movie", tmdb_id: int | None = None,
                status: str | RequestStatus = RequestStatus.PENDING, **fields: Any) -> RequestFollow:
    """``user`` following a title somebody else requested."""
    n = _next()
    row = RequestFollow(user_id=_user_id(user), title=title or f"Title {n}", media_type=media_type,
                        tmdb_id=TMDB_ID_BASE + n if tmdb_id is None else tmdb_id, status=_value(status), **fields)
    _add(session, row)
    return row


def make_notification(session: AsyncSession | Session | None, user: _HasId | int, *, kind: str = "available",
                      title: str | None = None, body: str = "", read_at: datetime | None = None,
                      **fields: Any) -> Notification:
    """An (unread unless ``read_at``) notification for ``user``."""
    row = Notification(user_id=_user_id(user), kind=kind, title=title or f"Notice {_next()}", body=body,
                       read_at=read_at, **fields)
    _add(session, row)
    return row


def make_audit(session: AsyncSession | Session | None, action: str, *, actor: _HasId | int | None = None,
               target: str | None = None, created_at: datetime | None = None, client_ip: str | None = None,
               **details: Any) -> AuditLog:
    """An audit row (written as ``services.audit.record`` would, but at any time and unscrubbed)."""
    row = AuditLog(action=action, actor_user_id=None if actor is None else _user_id(actor), target=target,
                   client_ip=client_ip, details=details)
    if created_at is not None:
        row.created_at = created_at
    _add(session, row)
    return row


def make_download(session: AsyncSession | Session | None, user: _HasId | int, *, title: str | None = None,
                  url: str | None = None, kind: str = "video", folder: str | None = None,
                  status: str | DownloadState = DownloadState.QUEUED, **fields: Any) -> YoutubeDownload:
    """A download ``user`` sent (no items: see :func:`make_download_item`), in its own folder."""
    n = _next()
    title = title or f"Video {n}"
    row = YoutubeDownload(user_id=_user_id(user), url=url or f"https://videos.example/{n}", kind=kind,
                          source_id=fields.pop("source_id", f"source-{n}"), title=title,
                          folder=folder or f"member/{title} [{n}]", status=_value(status), **fields)
    _add(session, row)
    return row


def make_download_item(session: AsyncSession | Session | None, download: YoutubeDownload, *, position: int = 1,
                       entry_id: str | None = None, title: str | None = None,
                       status: str | ItemState = ItemState.QUEUED, **fields: Any) -> YoutubeDownloadItem:
    """One video of ``download`` (which must have its id)."""
    if download.id is None:
        raise ValueError("the download has no id yet: flush or commit the session before making its items")
    n = _next()
    row = YoutubeDownloadItem(download_id=download.id, user_id=download.user_id, position=position,
                              entry_id=entry_id or f"entry-{n}", title=title or download.title,
                              url=fields.pop("url", download.url), status=_value(status), **fields)
    _add(session, row)
    return row


def as_member(user: User, *, session_id: str = "s", **overrides: Any) -> CurrentUser:
    """``user`` as the services see a signed-in caller (the row must have its id)."""
    values: dict[str, Any] = {
        "id": _user_id(user), "username": user.username, "email": user.email, "avatar_url": user.avatar_url,
        "role": user.role, "is_local": user.is_local, "must_change_password": user.must_change_password,
        "session_id": session_id}
    values.update(overrides)
    return CurrentUser(**values)


async def make_session(session: AsyncSession, user: User, *, remember: bool = True, client_ip: str | None = None,
                       user_agent: str | None = None) -> str:
    """A real signed-in session of ``user``, made the way sign-in makes it (a ticket, then activated);
    returns the session cookie's value. The caller commits."""
    settings = get_settings()
    row = await auth.create_session(session, user=user, remember=remember, settings=settings, client_ip=client_ip,
                                    user_agent=user_agent)
    ticket = issue_token("ticket", row.id, secret=settings.secret_value("jwt_secret"), ttl=auth.TICKET_TTL)
    token, _ = await auth.activate_session(session, ticket=ticket, pin_cookie=None, settings=settings)
    return token
