"""Database tables (SQLModel). Enum values are stored as plain strings so that
SQLite and PostgreSQL migrations stay identical and new values need no ALTER TYPE."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def id_of(row: _Row) -> int:
    """The primary key of a row that is in the database (loaded, or added and flushed).

    SQLModel types ``id`` as ``int | None`` only because a new row has none until it is flushed;
    asking for the id of one that never was is a bug, not a case to handle."""
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id: it was never flushed")
    return row.id


def ids_of(values: Iterable[int | None]) -> list[int]:
    """Ids selected as a column the query keeps from being NULL (a primary key, or one filtered
    with ``.is_not(None)``); the column's Python type still says ``int | None``."""
    ids: list[int] = []
    for value in values:
        if value is None:
            raise RuntimeError("an id column read as NULL")
        ids.append(value)
    return ids


def _ts(**kw: Any) -> Any:
    """A timezone-aware timestamp column (SQLite keeps the offset as text)."""
    return Field(sa_type=sa.DateTime(timezone=True), **kw)


class Role(str, enum.Enum):
    ADMIN = "admin"
    USER = "user"


class UserStatus(str, enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class RequestStatus(str, enum.Enum):
    QUEUED = "queued"          # saved, not yet accepted by Overseerr
    PENDING = "pending"
    APPROVED = "approved"
    PROCESSING = "processing"
    AVAILABLE = "available"
    PARTIALLY_AVAILABLE = "partially_available"
    DECLINED = "declined"
    FAILED = "failed"
    REFUSED = "refused"        # Overseerr said no (permission, quota, unknown title)
    DUPLICATE = "duplicate"    # someone else had already requested it


#: Statuses that can still change (the status sync looks at these).
OPEN_REQUEST_STATUSES = (RequestStatus.QUEUED.value, RequestStatus.PENDING.value, RequestStatus.APPROVED.value,
                         RequestStatus.PROCESSING.value, RequestStatus.PARTIALLY_AVAILABLE.value)


class DownloadState(str, enum.Enum):
    """A download (one link: a video or a playlist) as a whole."""
    QUEUED = "queued"              # saved; no item has started yet
    RUNNING = "running"            # items are downloading (or waiting for a slot)
    ADDING = "adding_to_plex"      # every item finished; Plex is scanning and the collection is made
    WAITING_PLEX = "waiting_plex"  # the files are there, Plex did not answer: retried by itself
    DONE = "done"
    FAILED = "failed"              # nothing could be downloaded
    CANCELLED = "cancelled"


class ItemState(str, enum.Enum):
    """One video of a download; each runs as its own task."""
    QUEUED = "queued"
    PAUSED = "paused"              # the download disk is almost full: waits, does not fail
    DOWNLOADING = "downloading"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Item states a task may still move on from.
OPEN_ITEM_STATES = (ItemState.QUEUED.value, ItemState.PAUSED.value, ItemState.DOWNLOADING.value,
                    ItemState.PROCESSING.value)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    plex_id: int | None = Field(default=None, sa_type=sa.BigInteger, unique=True, index=True)
    plex_uuid: str | None = Field(default=None, max_length=64)
    username: str = Field(max_length=255, index=True)
    email: str | None = Field(default=None, max_length=320)
    avatar_url: str | None = Field(default=None, max_length=1024)
    role: str = Field(default=Role.USER.value, max_length=16)
    status: str = Field(default=UserStatus.ACTIVE.value, max_length=16, index=True)
    plex_token_encrypted: str | None = Field(default=None, sa_type=sa.Text)
    is_local: bool = Field(default=False)
    password_hash: str | None = Field(default=None, max_length=255)
    must_change_password: bool = Field(default=False)
    created_at: datetime = _ts(default_factory=utcnow)
    last_login_at: datetime | None = _ts(default=None)
    overseerr_user_id: int | None = Field(default=None)
    overseerr_checked_at: datetime | None = _ts(default=None)


class UserSession(SQLModel, table=True):
    """A server-side session; the browser holds a JWT that names it."""

    __tablename__ = "user_sessions"

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True, max_length=32)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    token_hash: str | None = Field(default=None, sa_column_kwargs={"unique": True}, max_length=64)
    remember: bool = Field(default=False)
    created_at: datetime = _ts(default_factory=utcnow)
    expires_at: datetime = _ts()
    last_used_at: datetime | None = _ts(default=None)
    activated_at: datetime | None = _ts(default=None)
    revoked_at: datetime | None = _ts(default=None)
    revoked_reason: str | None = Field(default=None, max_length=64)
    client_ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)


class ServiceConfig(SQLModel, table=True):
    __tablename__ = "service_configs"

    id: int | None = Field(default=None, primary_key=True)
    service_name: str = Field(max_length=32, sa_column_kwargs={"unique": True})
    url: str | None = Field(default=None, max_length=1024)
    secrets_encrypted: str | None = Field(default=None, sa_type=sa.Text)
    enabled: bool = Field(default=True)
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    updated_at: datetime = _ts(default_factory=utcnow)
    updated_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")


class ServiceStatus(SQLModel, table=True):
    __tablename__ = "service_status"

    id: int | None = Field(default=None, primary_key=True)
    service_name: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    display_name: str | None = Field(default=None, max_length=128)
    status: str = Field(default="pending", max_length=16)
    response_time_ms: int | None = None
    last_check_at: datetime | None = _ts(default=None)
    uptime_24h: float | None = None
    uptime_30d: float | None = None
    message: str | None = Field(default=None, max_length=512)
    source: str = Field(default="builtin", max_length=16, sa_column_kwargs={"server_default": "builtin"})
    url: str | None = Field(default=None, max_length=1024)
    status_since: datetime | None = _ts(default=None)


class ServiceStatusHistory(SQLModel, table=True):
    """One check result per service, kept ``STATUS_HISTORY_DAYS`` days for charts and uptime."""

    __tablename__ = "service_status_history"
    __table_args__ = (sa.Index("ix_service_status_history_service_time", "service_name", "checked_at"),)

    id: int | None = Field(default=None, primary_key=True)
    service_name: str = Field(max_length=64)
    status: str = Field(max_length=16)
    response_time_ms: int | None = None
    checked_at: datetime = _ts(default_factory=utcnow)


class MediaRequest(SQLModel, table=True):
    __tablename__ = "media_requests"
    __table_args__ = (sa.Index("ix_media_requests_user_status", "user_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    title: str = Field(max_length=512)
    media_type: str = Field(max_length=8)
    tmdb_id: int = Field(index=True)
    seasons: list[int] = Field(default_factory=list, sa_type=sa.JSON)
    status: str = Field(default=RequestStatus.QUEUED.value, max_length=24)
    overseerr_request_id: int | None = Field(default=None, index=True)
    last_error: str | None = Field(default=None, max_length=1024)
    attempts: int = Field(default=0)
    created_at: datetime = _ts(default_factory=utcnow, index=True)
    updated_at: datetime = _ts(default_factory=utcnow)
    completed_at: datetime | None = _ts(default=None)
    year: int | None = None
    poster_path: str | None = Field(default=None, max_length=255)
    next_attempt_at: datetime | None = _ts(default=None, index=True)
    decline_reason: str | None = Field(default=None, max_length=500)
    plex_url: str | None = Field(default=None, max_length=1024)
    synced_at: datetime | None = _ts(default=None)


class RequestFollow(SQLModel, table=True):
    """A member waiting for a title somebody else requested; told when it becomes available."""

    __tablename__ = "request_follows"
    __table_args__ = (sa.UniqueConstraint("user_id", "media_type", "tmdb_id", name="uq_request_follows_user_title"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    media_type: str = Field(max_length=8)
    tmdb_id: int = Field(index=True)
    title: str = Field(max_length=512)
    year: int | None = None
    poster_path: str | None = Field(default=None, max_length=255)
    status: str = Field(default=RequestStatus.PENDING.value, max_length=24)
    plex_url: str | None = Field(default=None, max_length=1024)
    created_at: datetime = _ts(default_factory=utcnow)
    notified_at: datetime | None = _ts(default=None)


class Notification(SQLModel, table=True):
    """Something a member should see (e.g. "available, watch in Plex"), kept until dismissed."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    kind: str = Field(max_length=32)
    title: str = Field(max_length=255)
    body: str = Field(default="", max_length=1024)
    link: str | None = Field(default=None, max_length=1024)
    link_label: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    read_at: datetime | None = _ts(default=None)


class YoutubeDownload(SQLModel, table=True):
    """One link a member sent to Plex: a single video or (chosen entries of) a playlist."""

    __tablename__ = "youtube_downloads"
    __table_args__ = (sa.Index("ix_youtube_downloads_user_status", "user_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    url: str = Field(sa_type=sa.Text)
    kind: str = Field(default="video", max_length=16)             # video | playlist
    source_id: str = Field(default="", max_length=255)            # the site's id of the video or playlist
    title: str = Field(max_length=512)
    uploader: str | None = Field(default=None, max_length=255)
    thumbnail_url: str | None = Field(default=None, sa_type=sa.Text)
    quality: str = Field(default="best", max_length=16)
    folder: str = Field(max_length=1024)                          # relative to the downloads root
    make_collection: bool = Field(default=False)
    collection_title: str | None = Field(default=None, max_length=512)
    collection_key: str | None = Field(default=None, max_length=64)
    status: str = Field(default=DownloadState.QUEUED.value, max_length=24)
    note: str | None = Field(default=None, max_length=512)        # why it waits, or what failed
    keep_in_sync: bool = Field(default=False)
    synced_at: datetime | None = _ts(default=None)
    plex_attempts: int = Field(default=0)
    # The Plex step is run by one task at a time: it holds this lease while it scans and collects.
    plex_claimed_until: datetime | None = _ts(default=None)
    created_at: datetime = _ts(default_factory=utcnow, index=True)
    updated_at: datetime = _ts(default_factory=utcnow)
    finished_at: datetime | None = _ts(default=None)


class YoutubeDownloadItem(SQLModel, table=True):
    """One video of a download. Claimed by one task at a time under a lease, so a worker that
    vanished leaves nothing stuck (the watchdog queues the item again once the lease ran out)."""

    __tablename__ = "youtube_download_items"
    __table_args__ = (
        sa.UniqueConstraint("download_id", "entry_id", name="uq_youtube_download_items_entry"),
        sa.Index("ix_youtube_download_items_status", "status", "user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    download_id: int = Field(foreign_key="youtube_downloads.id", ondelete="CASCADE", index=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    position: int = Field(default=1)                              # 1-based index in the playlist
    entry_id: str = Field(max_length=255)
    title: str = Field(max_length=512)
    url: str = Field(sa_type=sa.Text)
    duration_s: float | None = Field(default=None)
    status: str = Field(default=ItemState.QUEUED.value, max_length=16)
    error_kind: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, max_length=512)
    attempts: int = Field(default=0)
    downloaded_bytes: int = Field(default=0, sa_type=sa.BigInteger)
    total_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    file_path: str | None = Field(default=None, sa_type=sa.Text)
    claimed_by: str | None = Field(default=None, max_length=128)
    lease_until: datetime | None = _ts(default=None)
    cancel_requested: bool = Field(default=False)
    created_at: datetime = _ts(default_factory=utcnow)
    started_at: datetime | None = _ts(default=None)
    finished_at: datetime | None = _ts(default=None)


class AuditLog(SQLModel, table=True):
    """Admin and security events; append-only."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _ts(default_factory=utcnow, index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    action: str = Field(max_length=64, index=True)
    target: str | None = Field(default=None, max_length=255)
    client_ip: str | None = Field(default=None, max_length=64)
    correlation_id: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class Announcement(SQLModel, table=True):
    """A short message from an admin, shown on every signed-in page until ``ends_at`` or until it is
    removed (posting a new one removes the one before: one shows at a time)."""

    __tablename__ = "announcements"

    id: int | None = Field(default=None, primary_key=True)
    message: str = Field(max_length=500)
    level: str = Field(default="info", max_length=16)
    created_at: datetime = _ts(default_factory=utcnow)
    created_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    ends_at: datetime | None = _ts(default=None)
    removed_at: datetime | None = _ts(default=None)
    removed_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")


class SystemSetting(SQLModel, table=True):
    """Small install-wide values (Plex client identifier, household server)."""

    __tablename__ = "system_settings"

    key: str = Field(primary_key=True, max_length=64)
    value: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    updated_at: datetime = _ts(default_factory=utcnow)
