"""Requests of movies and shows through Overseerr, acting as the member.

The lifecycle of a MediaNest request row (``media_requests``):

* ``submit`` checks the input and MediaNest's own hourly limit, **writes the row (queued) and
  commits it**, then tries to deliver it at once.
* ``deliver`` sends it to Overseerr with ``X-Api-User`` = the member's Overseerr user, so the
  member's permissions, quota and auto-approval decide. Each attempt holds a short lease on the
  row (``delivery_lease``: no longer than the attempt itself may take), so an attempt cut short by
  a killed worker or a database blip is retried within about one retry interval. Overseerr
  unreachable: the row stays queued with ``next_attempt_at`` backed off exponentially, and
  ``deliver_due`` (a scheduled task) tries again; an attempt the circuit breaker refused sent
  nothing and does not count. When Overseerr answers again (a delivery gets through, the status
  check, the breaker closing, a webhook) ``release_waiting`` makes the waiting rows due at once.
  A 409/403/unknown title ends it with a plain reason. A delivery whose answer was lost is
  recognised on the retry (the member's own request of the title is looked for before sending
  again, and after a 409), so nothing is sent twice.
* ``sync_open`` (scheduled, and per request from the webhook) follows Overseerr's status
  (pending → approved → processing → available, declined, failed) and notifies the member, and
  followers of the title, when it becomes available.

Every change is committed before ``notifications.announce`` tells open tabs to reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db import as_utc
from ..errors import (CircuitOpen, Forbidden, IntegrationRejected, IntegrationUnavailable, NotFound, RateLimited,
                      ValidationFailed)
from ..integrations.overseerr import (AlreadyRequested, MediaDetails, OverseerrClient, OverseerrNotFound,
                                      RequestNotAllowed)
from ..integrations.overseerr import MediaRequest as OverseerrRequest
from ..models import OPEN_REQUEST_STATUSES, MediaRequest, Notification, RequestFollow, RequestStatus, User, utcnow
from . import audit, notifications, search
from .auth import CurrentUser
from .ratelimit import humanize_wait

logger = logging.getLogger(__name__)

PAGE_SIZE = 20
USER_MAP_TTL = timedelta(minutes=10)
NO_USER_RECHECK = timedelta(minutes=1)
#: One delivery attempt may spend this many HTTP timeouts talking to Overseerr (a look-up for an
#: earlier delivery, the request itself) before it counts as "not answering"...
ATTEMPT_TIMEOUTS = 2
#: What a row waiting only because Overseerr did not answer says (release_waiting looks for it).
UNREACHABLE_NOTE = "Overseerr is not answering; MediaNest will send it automatically."
#: ...and its lease one timeout more, for the database work around the calls (at least this long).
MIN_LEASE_S = 5.0
RETRY_BASE_S = 15
MAX_REASON = 500

STATUS_LABELS = {
    RequestStatus.QUEUED.value: "Queued",
    RequestStatus.PENDING.value: "Pending approval",
    RequestStatus.APPROVED.value: "Approved",
    RequestStatus.PROCESSING.value: "Processing",
    RequestStatus.PARTIALLY_AVAILABLE.value: "Partly available",
    RequestStatus.AVAILABLE.value: "Available",
    RequestStatus.DECLINED.value: "Declined",
    RequestStatus.FAILED.value: "Failed",
    RequestStatus.REFUSED.value: "Not accepted",
    RequestStatus.DUPLICATE.value: "Already requested",
}
#: The "filter by status" choices of the request lists (value → statuses).
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "all": (),
    "open": OPEN_REQUEST_STATUSES,
    "queued": (RequestStatus.QUEUED.value,),
    "pending": (RequestStatus.PENDING.value,),
    "approved": (RequestStatus.APPROVED.value, RequestStatus.PROCESSING.value),
    "available": (RequestStatus.AVAILABLE.value, RequestStatus.PARTIALLY_AVAILABLE.value),
    "declined": (RequestStatus.DECLINED.value,),
    "failed": (RequestStatus.FAILED.value, RequestStatus.REFUSED.value, RequestStatus.DUPLICATE.value),
}
_AVAILABLE = {RequestStatus.AVAILABLE.value, RequestStatus.PARTIALLY_AVAILABLE.value}


class NotInOverseerr(ValidationFailed):
    """The member's Plex account has no Overseerr user yet."""

    user_message = ("Your Plex account is not set up in Overseerr yet, so requests cannot be sent for you. "
                    "An admin can add you from the Users page; you will be able to request after that.")


@dataclass(frozen=True)
class Draft:
    """What the member asked for (title, year and poster are for display only)."""

    media_type: str
    tmdb_id: int
    title: str
    year: int | None = None
    poster_path: str | None = None
    seasons: tuple[int, ...] = ()


@dataclass(frozen=True)
class Outcome:
    row: MediaRequest
    message: str
    ok: bool
    #: Overseerr did not answer; the row waits for its next attempt.
    unreachable: bool = False


@dataclass(frozen=True)
class RequestRow:
    """One request as the lists show it."""

    id: int
    user_id: int
    username: str
    title: str
    year: int | None
    media_type: str
    tmdb_id: int
    seasons: tuple[int, ...]
    poster_path: str | None
    status: str
    label: str
    message: str
    created_at: datetime
    updated_at: datetime
    plex_url: str | None
    decline_reason: str | None
    can_decide: bool


def status_from_overseerr(req: OverseerrRequest) -> str:
    """MediaNest's status of a request from Overseerr's request and media statuses (both flavours).

    A show request follows the seasons it asked for: S3 of a show whose S1–2 are in Plex is not
    "partly available" until S3 itself (or part of it) is."""
    if req.status == "declined":
        return RequestStatus.DECLINED.value
    if req.status == "failed":
        return RequestStatus.FAILED.value
    if req.status == "pending":
        return RequestStatus.PENDING.value
    if req.media_status in ("deleted", "blocklisted"):
        return RequestStatus.APPROVED.value  # Seerr "completes" requests of deleted media: not "available"
    if req.status == "completed":
        return RequestStatus.AVAILABLE.value
    asked = {s.season_number for s in req.seasons}
    if req.media_type == "tv" and asked and req.media_seasons:
        found = {s.season_number: s.status for s in req.media_seasons}
        states = [found.get(n, "unknown") for n in sorted(asked)]
        if all(state == "available" for state in states):
            return RequestStatus.AVAILABLE.value
        if any(state in ("available", "partially_available") for state in states):
            return RequestStatus.PARTIALLY_AVAILABLE.value
        return RequestStatus.PROCESSING.value if req.media_status in ("processing", "partially_available") \
            else RequestStatus.APPROVED.value
    if req.media_status == "available":
        return RequestStatus.AVAILABLE.value
    if req.media_status == "partially_available":
        return RequestStatus.PARTIALLY_AVAILABLE.value
    if req.media_status == "processing":
        return RequestStatus.PROCESSING.value
    return RequestStatus.APPROVED.value


def validate_draft(draft: Draft) -> Draft:
    if draft.media_type not in ("movie", "tv"):
        raise ValidationFailed("Only movies and shows can be requested.")
    if not isinstance(draft.tmdb_id, int) or draft.tmdb_id <= 0:
        raise ValidationFailed("That title cannot be requested.")
    seasons = tuple(sorted({int(n) for n in draft.seasons}))
    if draft.media_type == "tv":
        if not seasons:
            raise ValidationFailed("Choose at least one season.")
        if any(n < 1 or n > 200 for n in seasons):
            raise ValidationFailed("Choose seasons from the list.")
    elif seasons:
        raise ValidationFailed("A movie has no seasons.")
    title = " ".join((draft.title or "").split())[:512] or f"TMDB {draft.tmdb_id}"
    return Draft(draft.media_type, draft.tmdb_id, title, draft.year, (draft.poster_path or None), seasons)


# --------------------------------------------------------------------------------------
# The member's Overseerr user
# --------------------------------------------------------------------------------------


async def overseerr_user_id(session: AsyncSession, user_id: int, overseerr: OverseerrClient, *,
                            refresh: bool = False) -> int | None:
    """The Overseerr user with this member's Plex id (admin key lookup, remembered 10 minutes).

    Returns None when there is none. Raises ``IntegrationUnavailable`` only when Overseerr does not
    answer and nothing was remembered."""
    user = await session.get(User, user_id)
    if user is None or user.plex_id is None:
        return None
    checked = as_utc(user.overseerr_checked_at)
    now = utcnow()
    if not refresh and checked is not None:
        ttl = USER_MAP_TTL if user.overseerr_user_id is not None else NO_USER_RECHECK
        if now - checked < ttl:
            return user.overseerr_user_id
    try:
        found = await overseerr.user_by_plex_id(user.plex_id)
    except IntegrationUnavailable:
        if user.overseerr_user_id is not None:
            return user.overseerr_user_id
        raise
    user.overseerr_user_id = found.id if found else None
    user.overseerr_checked_at = now
    session.add(user)
    await session.commit()
    return user.overseerr_user_id


async def import_member(session: AsyncSession, *, actor: CurrentUser, user_id: int, overseerr: OverseerrClient,
                        client_ip: str | None = None) -> str:
    """Admin: create the member's Overseerr user from Plex (``import-from-plex``)."""
    if not actor.is_admin:
        raise Forbidden("Only admins can add members to Overseerr.")
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound()
    if user.plex_id is None:
        raise ValidationFailed("The local admin has no Plex account to add to Overseerr.")
    if await overseerr_user_id(session, user_id, overseerr, refresh=True) is not None:
        return f"{user.username} is already in Overseerr."
    await overseerr.import_from_plex([user.plex_id])
    mapped = await overseerr_user_id(session, user_id, overseerr, refresh=True)
    await audit.record(session, "overseerr.import_user", actor_user_id=actor.id, target=str(user_id),
                       client_ip=client_ip, found=mapped is not None)
    if mapped is None:
        raise ValidationFailed(f"Overseerr did not add {user.username}: their Plex account must have access to "
                               "the server Overseerr uses.")
    await notifications.add(session, user.id, kind="overseerr_ready", title="You can request now",
                            body="An admin added you to Overseerr.", link="/search", link_label="Search")
    await session.commit()
    await notifications.announce([user.id], reason="import")
    return f"{user.username} was added to Overseerr."


async def members_without_overseerr(session: AsyncSession, overseerr: OverseerrClient) -> set[int]:
    """MediaNest user ids with a Plex account that has no Overseerr user (fresh lookup)."""
    people = {u.plex_id: u.id for u in (await session.exec(select(User).where(User.plex_id.is_not(None)))).all()}
    known = {u.plex_id for u in await overseerr.users()}
    return {uid for pid, uid in people.items() if pid not in known}


async def _ask_admins_to_import(session: AsyncSession, user: CurrentUser) -> None:
    """Tell the admins (once, until they dismiss it) that a member cannot request yet."""
    title = f"{user.username} cannot request yet"
    admins = [a for a in await notifications.admin_ids(session) if a != user.id]
    told = set((await session.exec(select(Notification.user_id).where(
        Notification.title == title, Notification.read_at.is_(None)))).all())
    for admin_id in admins:
        if admin_id not in told:
            await notifications.add(session, admin_id, kind="not_in_overseerr", title=title,
                                    body="Their Plex account has no Overseerr user. Add them from the Users page.",
                                    link="/admin", link_label="Open Users")
    await session.commit()
    await notifications.announce(set(admins) - told, reason="import-offer")


# --------------------------------------------------------------------------------------
# Submitting and delivering
# --------------------------------------------------------------------------------------


async def check_hourly_limit(session: AsyncSession, user_id: int, limit: int) -> None:
    """MediaNest's own limit (``REQUEST_LIMIT_PER_HOUR``), counted from the rows themselves."""
    since = utcnow() - timedelta(hours=1)
    stamps = (await session.exec(
        select(MediaRequest.created_at).where(MediaRequest.user_id == user_id, MediaRequest.created_at > since)
        .order_by(MediaRequest.created_at))).all()
    if len(stamps) >= limit:
        oldest = as_utc(stamps[len(stamps) - limit])
        wait = max(1, math.ceil((oldest + timedelta(hours=1) - utcnow()).total_seconds()))
        raise RateLimited(f"You have made {limit} requests in the last hour, the most allowed. "
                          f"You can request again in {humanize_wait(wait)}.", retry_after=wait)


async def submit(session: AsyncSession, *, user: CurrentUser, draft: Draft, overseerr: OverseerrClient | None,
                 limit_per_hour: int, retry_max_s: int = 900) -> Outcome:
    """Save the request, then try to deliver it (see the module docstring).

    Raises ``ValidationFailed`` (bad input, already asked, not in Overseerr) and ``RateLimited``
    before anything is written."""
    draft = validate_draft(draft)
    if overseerr is None:
        raise ValidationFailed("Requests are not set up: this MediaNest has no Overseerr configured.")
    mine = (await session.exec(select(MediaRequest).where(
        MediaRequest.user_id == user.id, MediaRequest.media_type == draft.media_type,
        MediaRequest.tmdb_id == draft.tmdb_id, MediaRequest.status.in_(OPEN_REQUEST_STATUSES)))).all()
    if draft.media_type == "movie" and mine:
        raise ValidationFailed(f"You have already requested {draft.title}; see My requests.")
    asked = {n for row in mine for n in row.seasons}
    if draft.media_type == "tv" and asked.issuperset(draft.seasons):
        raise ValidationFailed("You have already requested those seasons; see My requests.")
    known = await search.known_available(session, draft.media_type, draft.tmdb_id, draft.seasons)
    if known is not None:  # Overseerr itself is asked right before the request is sent (_send_once)
        raise search.TitleAvailable(draft.title, known.plex_url)
    # One submission per member at a time (PostgreSQL row lock; SQLite serialises writes anyway),
    # so parallel tabs cannot both pass the hourly limit.
    await session.exec(select(User.id).where(User.id == user.id).with_for_update())
    await check_hourly_limit(session, user.id, limit_per_hour)
    try:
        if await overseerr_user_id(session, user.id, overseerr) is None:
            await _ask_admins_to_import(session, user)
            raise NotInOverseerr()
    except IntegrationUnavailable:
        pass  # not knowable now: the row is queued and the mapping is checked on delivery
    row = MediaRequest(user_id=user.id, title=draft.title, media_type=draft.media_type, tmdb_id=draft.tmdb_id,
                       seasons=list(draft.seasons), year=draft.year, poster_path=draft.poster_path,
                       status=RequestStatus.QUEUED.value, next_attempt_at=utcnow())
    session.add(row)
    await session.commit()  # saved before Overseerr is called: nothing submitted is lost
    saved = MediaRequest(**row.model_dump())  # what the member is told if the attempt below breaks
    await notifications.announce([user.id, *await notifications.admin_ids(session)], reason="request")
    try:
        return await deliver(session, row.id, overseerr, retry_max_s=retry_max_s)
    except sa.exc.SQLAlchemyError:
        # The row is committed and the retry task sends it (or adopts what this attempt sent)
        # once its short lease ends; the member is told that, not shown an error page.
        logger.exception("request %s: the database failed during its first delivery attempt", saved.id)
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            await session.rollback()
        return Outcome(saved, f"Your request for {saved.title} is saved and will be sent to Overseerr shortly.",
                       ok=False, unreachable=True)


def _refuse_if_in_plex(details: MediaDetails, media_type: str, seasons: Iterable[int], title: str) -> None:
    """Raise ``search.TitleAvailable`` when the title (every chosen season) is in Plex.

    The card the member clicked may come from a search snapshot minutes old, the title may have
    reached Plex while a queued request waited, and Seerr answers a new request for an available
    title with 201 (a needless request, auto-approved for an admin) where Overseerr says 409: so
    every attempt looks at Overseerr's fresh details right before it sends."""
    in_plex = {s.season_number for s in details.seasons if s.status == "available"}
    chosen = set(seasons)
    if details.status == "available" or (media_type == "tv" and chosen and chosen <= in_plex):
        raise search.TitleAvailable(title, details.plex_url)


def _backoff(attempts: int, retry_max_s: int) -> timedelta:
    return timedelta(seconds=min(RETRY_BASE_S * 2 ** max(attempts - 1, 0), retry_max_s))


def delivery_lease(timeout_s: float) -> timedelta:
    """How long a claimed row is left to its attempt: no longer than the attempt can take (its
    Overseerr budget plus one timeout for the database), so an attempt cut short (a worker killed,
    a database blip before the last commit) is tried again within about one retry interval."""
    return timedelta(seconds=max((ATTEMPT_TIMEOUTS + 1) * timeout_s, MIN_LEASE_S))


async def _claim(session: AsyncSession, row_id: int, lease: timedelta) -> MediaRequest | None:
    """Take the row for one delivery attempt (a lease, so two workers never send it together).

    The attempt is counted here, before anything is sent: a later attempt then knows that an
    earlier one may have reached Overseerr even if it never recorded an answer."""
    now = utcnow()
    result = await session.exec(sa.update(MediaRequest).where(  # type: ignore[call-overload]
        MediaRequest.id == row_id, MediaRequest.status == RequestStatus.QUEUED.value,
        sa.or_(MediaRequest.next_attempt_at.is_(None), MediaRequest.next_attempt_at <= now),
    ).values(next_attempt_at=now + lease, attempts=MediaRequest.attempts + 1))
    await session.commit()
    if not result.rowcount:
        return None
    row = await session.get(MediaRequest, row_id)
    if row is not None:
        await session.refresh(row)
    return row


async def _linked_elsewhere(session: AsyncSession, row: MediaRequest) -> set[int]:
    """Overseerr requests of this title that other MediaNest rows already stand for."""
    return set((await session.exec(select(MediaRequest.overseerr_request_id).where(
        MediaRequest.media_type == row.media_type, MediaRequest.tmdb_id == row.tmdb_id, MediaRequest.id != row.id,
        MediaRequest.overseerr_request_id.is_not(None)))).all())


async def _send_once(row: MediaRequest, overseerr: OverseerrClient, member: int,
                     linked: set[int]) -> OverseerrRequest:
    """The Overseerr side of one attempt: the title's fresh details, then the member's request.

    An earlier attempt may have reached Overseerr with its answer lost. Overseerr's duplicate
    check only looks at a title's first request, so when that one was declined a re-send is
    accepted as a second request: look for the member's own request first and adopt it."""
    details = await (overseerr.movie(row.tmdb_id) if row.media_type == "movie" else overseerr.tv(row.tmdb_id))
    if row.attempts > 1:
        earlier = await _find_own(overseerr, row, member, linked, details)
        if earlier is not None:
            logger.info("request %s: adopting Overseerr request %s from an earlier attempt", row.id, earlier.id)
            return earlier
    _refuse_if_in_plex(details, row.media_type, row.seasons, row.title)
    try:
        return await overseerr.create_request(row.media_type, row.tmdb_id, list(row.seasons) or None, as_user=member)
    except AlreadyRequested:
        earlier = await _own_existing(overseerr, row, member, linked)  # an earlier answer may have been lost
        if earlier is None:
            raise
        return earlier


async def deliver(session: AsyncSession, row_id: int, overseerr: OverseerrClient, *,
                  retry_max_s: int = 900, background: bool = False) -> Outcome:
    """One delivery attempt of a queued row; the outcome's message is what the member is told.
    ``background`` (the retry task): the member also gets a notification of the result."""
    row = await _claim(session, row_id, delivery_lease(overseerr.timeout_s))
    if row is None:
        current = await session.get(MediaRequest, row_id)
        if current is None:
            raise NotFound()
        return Outcome(current, _message_for(current), current.status != RequestStatus.QUEUED.value)
    # The row is only changed once Overseerr has answered: no write transaction (SQLite's write
    # lock) is held across the call.
    linked = await _linked_elsewhere(session, row) if row.attempts > 1 else set()
    accepted: OverseerrRequest | None = None
    ending: tuple[RequestStatus, str] | None = None
    retry_note, unreachable, refused = "", False, False
    try:
        member = await overseerr_user_id(session, row.user_id, overseerr)
        if member is None:
            raise NotInOverseerr()
        # The Overseerr calls are bounded as a whole, so the attempt never outlives its lease (see
        # delivery_lease); the database work stays outside, never cancelled half-way.
        async with asyncio.timeout(ATTEMPT_TIMEOUTS * overseerr.timeout_s):
            accepted = await _send_once(row, overseerr, member, linked)
    except CircuitOpen:
        # Nothing was sent: not a failed attempt, and no longer wait (the breaker closing
        # releases the queue, see release_waiting).
        unreachable, refused = True, True
        retry_note = UNREACHABLE_NOTE
        logger.info("request %s stays queued: Overseerr's circuit is open", row.id)
    except (IntegrationUnavailable, TimeoutError) as exc:
        unreachable = True
        retry_note = UNREACHABLE_NOTE
        logger.info("request %s stays queued: %r (attempt %s)", row.id, exc, row.attempts)
    except AlreadyRequested as exc:
        ending = (RequestStatus.DUPLICATE, "Someone else has already requested this. Follow it to be told "
                  "when it is available." if row.media_type == "movie" else exc.user_message)
    except RequestNotAllowed as exc:
        if "access this endpoint" in exc.server_message.lower():  # MediaNest's API key, not the member
            retry_note = "Overseerr did not accept MediaNest's API key; MediaNest will try again."
            logger.warning("request %s: Overseerr refused the API key; will retry", row.id)
        else:
            ending = (RequestStatus.REFUSED, _refusal(exc))
    except search.TitleAvailable as exc:
        ending = (RequestStatus.AVAILABLE, f"{row.title} reached Plex while the request waited; nothing was "
                  "sent to Overseerr.")
        row.plex_url = exc.plex_url or row.plex_url
    except OverseerrNotFound:
        ending = (RequestStatus.REFUSED, "Overseerr does not know this title any more.")
    except NotInOverseerr as exc:
        ending = (RequestStatus.REFUSED, exc.user_message)
    except IntegrationRejected as exc:  # e.g. a changed API key: keep it, try again later
        if exc.status_code == 403 and "access this endpoint" in str(exc).lower():  # the look-up met the key
            retry_note = "Overseerr did not accept MediaNest's API key; MediaNest will try again."
        else:
            retry_note = f"Overseerr did not take the request (HTTP {exc.status_code}); MediaNest will try again."
        logger.warning("request %s: Overseerr answered %s; will retry", row.id, exc)
    now = utcnow()
    if refused:
        row.attempts = max(row.attempts - 1, 0)
    if accepted is not None:
        _accept(row, accepted)
    elif ending is not None:
        _end(row, *ending)
    else:
        row.next_attempt_at = now + _backoff(row.attempts, retry_max_s)
        row.last_error = retry_note
    row.updated_at = now
    session.add(row)
    if background and row.status != RequestStatus.QUEUED.value:
        sent = accepted is not None
        if not sent and row.status == RequestStatus.AVAILABLE.value:
            await _notify_available(session, row.user_id, row.title, row.plex_url, partly=False)
        else:
            await notifications.add(session, row.user_id, kind="delivered" if sent else "refused",
                                    title=f"{row.title} was {'sent to Overseerr' if sent else 'not requested'}",
                                    body=_message_for(row), link="/requests", link_label="My requests")
    await session.commit()
    await notifications.announce([row.user_id, *await notifications.admin_ids(session)], reason="delivery")
    return Outcome(row, _message_for(row), row.status not in (RequestStatus.QUEUED.value,
                                                              RequestStatus.REFUSED.value,
                                                              RequestStatus.DUPLICATE.value), unreachable)


def _refusal(exc: RequestNotAllowed) -> str:
    if exc.quota_exceeded:
        return "Your Overseerr request quota is used up for now. Try again when it resets."
    if "blocklist" in exc.server_message.lower():
        return "This title is blocklisted in Overseerr."
    return "Overseerr does not allow you to request this. Ask an admin for the permission."


def _accept(row: MediaRequest, created: OverseerrRequest) -> None:
    row.overseerr_request_id = created.id
    row.status = status_from_overseerr(created)
    row.last_error = None
    row.next_attempt_at = None
    row.plex_url = created.plex_url or row.plex_url
    row.synced_at = utcnow()


def _end(row: MediaRequest, status: RequestStatus, message: str) -> None:
    row.status = status.value
    row.last_error = message[:1024]
    row.next_attempt_at = None


async def _find_own(overseerr: OverseerrClient, row: MediaRequest, member: int,
                    linked: set[int], details: MediaDetails | None = None) -> OverseerrRequest | None:
    """The member's own live request for this title in Overseerr that no other MediaNest row
    stands for, newest first. Raises ``IntegrationUnavailable`` when Overseerr does not answer."""
    if details is None:
        try:
            details = await (overseerr.movie(row.tmdb_id) if row.media_type == "movie" else overseerr.tv(row.tmdb_id))
        except OverseerrNotFound:
            return None  # the request itself will say so
    for request_id in sorted(set(details.request_ids) - linked, reverse=True):
        try:
            found = await overseerr.request(request_id)
        except (OverseerrNotFound, RequestNotAllowed):
            continue
        if found.requested_by_id == member and found.status not in ("declined",) and (
                row.media_type == "movie" or set(row.seasons) & {s.season_number for s in found.seasons}):
            return found
    return None


async def _own_existing(overseerr: OverseerrClient, row: MediaRequest, member: int | None,
                        linked: set[int]) -> OverseerrRequest | None:
    """Like ``_find_own`` after a 409, where not knowing means "somebody else's"."""
    if member is None:
        return None
    try:
        return await _find_own(overseerr, row, member, linked)
    except (IntegrationUnavailable, RequestNotAllowed) as exc:
        logger.info("could not look for an earlier delivery of request %s: %s", row.id, exc)
    return None


def _message_for(row: MediaRequest) -> str:
    if row.status == RequestStatus.QUEUED.value:
        return (f"{row.title} is saved. Overseerr is not answering right now; MediaNest will send the request "
                "automatically.")
    if row.status in (RequestStatus.REFUSED.value, RequestStatus.DUPLICATE.value):
        return row.last_error or "Overseerr did not accept the request."
    if row.status == RequestStatus.PENDING.value:
        return f"{row.title} was requested and is waiting for approval."
    if row.status in _AVAILABLE:
        return f"{row.title} is already available."
    return f"{row.title} was requested and approved."


async def release_waiting(session: AsyncSession, *, timeout_s: float, only_unreachable: bool = False) -> int:
    """Overseerr answers again: queued rows waiting out a backoff become due now (returns how many).
    ``only_unreachable``: only rows that wait because Overseerr did not answer (the status check
    calls this on every check that finds Overseerr up; a row refused for another reason keeps
    its backoff).

    A row whose wait ends within one lease is left alone: it may be leased by an attempt in
    progress, which must not be sent a second time, and it is due soon anyway."""
    now = utcnow()
    waiting = [MediaRequest.status == RequestStatus.QUEUED.value,
               MediaRequest.next_attempt_at > now + delivery_lease(timeout_s)]
    if only_unreachable:
        waiting.append(MediaRequest.last_error == UNREACHABLE_NOTE)
    result = await session.exec(sa.update(MediaRequest).where(  # type: ignore[call-overload]
        *waiting).values(next_attempt_at=now))
    await session.commit()
    if result.rowcount:
        logger.info("Overseerr answers again: %s queued requests are due now", result.rowcount)
    return int(result.rowcount or 0)


async def _due_ids(session_factory, limit: int) -> list[int]:  # noqa: ANN001
    async with session_factory() as session:
        return list((await session.exec(select(MediaRequest.id).where(
            MediaRequest.status == RequestStatus.QUEUED.value,
            sa.or_(MediaRequest.next_attempt_at.is_(None), MediaRequest.next_attempt_at <= utcnow()),
        ).order_by(MediaRequest.id).limit(limit))).all())


async def deliver_due(session_factory, overseerr: OverseerrClient, *, retry_max_s: int = 900,  # noqa: ANN001
                      limit: int = 50) -> int:
    """Retry every queued row whose time has come; returns how many were tried.

    Once one of them gets through, Overseerr is back: the rows still waiting out a backoff are
    released and sent in the same run."""
    ids, tried, resumed = await _due_ids(session_factory, limit), 0, False
    while ids:
        released = 0
        for row_id in ids:
            try:
                async with session_factory() as session:
                    outcome = await deliver(session, row_id, overseerr, retry_max_s=retry_max_s, background=True)
            except Exception:  # one broken row must not hold up the others
                logger.exception("delivering request %s failed", row_id)
                continue
            tried += 1
            if outcome.unreachable:
                return tried  # Overseerr is still down: the rest wait for their own turn
            if not resumed and outcome.row.status != RequestStatus.QUEUED.value:
                resumed = True
                async with session_factory() as session:
                    released = await release_waiting(session, timeout_s=overseerr.timeout_s)
        if not released or tried >= limit:
            break
        ids = await _due_ids(session_factory, limit - tried)
    return tried


# --------------------------------------------------------------------------------------
# Following Overseerr's status
# --------------------------------------------------------------------------------------


async def apply_overseerr(session: AsyncSession, row: MediaRequest, remote: OverseerrRequest) -> bool:
    """Update a row from Overseerr and notify the member of the change. True when it changed.

    The status moves with a conditional UPDATE (``WHERE status = <old>``): when the scheduled
    sync, the webhook and an admin's decision see the same change at once, exactly one of them
    wins and notifies."""
    status = status_from_overseerr(remote)
    old, now = row.status, utcnow()
    plex_url = remote.plex_url or row.plex_url
    if status == old:
        row.synced_at, row.plex_url = now, plex_url
        session.add(row)
        return False
    values = {"status": status, "updated_at": now, "synced_at": now, "plex_url": plex_url}
    if status in _AVAILABLE and old not in _AVAILABLE:
        values["completed_at"] = now
    won = await session.exec(sa.update(MediaRequest).where(  # type: ignore[call-overload]
        MediaRequest.id == row.id, MediaRequest.status == old).values(**values))
    await session.refresh(row)
    if not won.rowcount:
        return False
    if status == RequestStatus.AVAILABLE.value or (status == RequestStatus.PARTIALLY_AVAILABLE.value
                                                   and old not in _AVAILABLE):
        await _notify_available(session, row.user_id, row.title, row.plex_url, partly=status != "available")
    elif status == RequestStatus.DECLINED.value:
        reason = f" Reason: {row.decline_reason}" if row.decline_reason else ""
        await notifications.add(session, row.user_id, kind="declined", title=f"{row.title} was declined",
                                body=f"Your request was declined.{reason}", link="/requests",
                                link_label="My requests")
    elif status == RequestStatus.FAILED.value:
        await notifications.add(session, row.user_id, kind="failed", title=f"{row.title} could not be fetched",
                                body="Overseerr could not hand the request to the downloader. An admin can retry "
                                     "it in Overseerr.", link="/requests", link_label="My requests")
    elif status in (RequestStatus.APPROVED.value, RequestStatus.PROCESSING.value) and old in (
            RequestStatus.PENDING.value, RequestStatus.QUEUED.value):
        await notifications.add(session, row.user_id, kind="approved", title=f"{row.title} was approved",
                                body="It will be available once it has been downloaded.", link="/requests",
                                link_label="My requests")
    logger.info("request %s: %s -> %s", row.id, old, status)
    return True


async def _notify_available(session: AsyncSession, user_id: int, title: str, plex_url: str | None, *,
                            partly: bool) -> None:
    await notifications.add(
        session, user_id, kind="available", title=f"{title} is {'partly ' if partly else ''}available",
        body="It is in Plex now." if not partly else "Some of it is in Plex now.",
        link=plex_url or "/library", link_label="Watch in Plex")


#: What the status sync looks at: open requests, and failed ones (an admin may retry them in Overseerr).
SYNCED_STATUSES = (*OPEN_REQUEST_STATUSES, RequestStatus.FAILED.value)


async def sync_open(session_factory, overseerr: OverseerrClient) -> int:  # noqa: ANN001
    """Check every open request and followed title against Overseerr; returns how many members
    saw a change. Stops early (until the next run) when Overseerr does not answer."""
    async with session_factory() as session:
        ids = list((await session.exec(select(MediaRequest.id).where(
            MediaRequest.status.in_(SYNCED_STATUSES), MediaRequest.overseerr_request_id.is_not(None)))).all())
    changed: set[int] = set()
    try:
        for row_id in ids:
            async with session_factory() as session:
                row = await session.get(MediaRequest, row_id)
                if row is None or row.overseerr_request_id is None:
                    continue
                try:
                    remote = await overseerr.request(row.overseerr_request_id)
                except OverseerrNotFound:
                    removed = await session.exec(sa.update(MediaRequest).where(  # type: ignore[call-overload]
                        MediaRequest.id == row.id, MediaRequest.status == row.status).values(
                        status=RequestStatus.DECLINED.value, updated_at=utcnow(),
                        last_error="The request was removed in Overseerr."))
                    if removed.rowcount:
                        await notifications.add(session, row.user_id, kind="declined",
                                                title=f"{row.title} was removed",
                                                body="The request was removed in Overseerr.", link="/requests",
                                                link_label="My requests")
                        changed.add(row.user_id)
                    continue
                except IntegrationRejected as exc:
                    logger.warning("request %s: Overseerr refused the status lookup: %s", row_id, exc)
                    continue
                if await apply_overseerr(session, row, remote):
                    changed.add(row.user_id)
        changed |= await sync_follows(session_factory, overseerr)
    except IntegrationUnavailable as exc:
        logger.info("status sync stopped early, Overseerr is not answering: %s", exc)
    if changed:
        async with session_factory() as session:
            admins = await notifications.admin_ids(session)
        await notifications.announce([*changed, *admins], reason="sync")
    return len(changed)


async def sync_follows(session_factory, overseerr: OverseerrClient,  # noqa: ANN001
                       titles: Sequence[tuple[str, int]] | None = None) -> set[int]:
    """Followed titles that became available: notify each follower once (a conditional UPDATE on
    ``notified_at`` makes "once" hold when two syncs run together).

    Raises ``IntegrationUnavailable`` when Overseerr does not answer; a title Overseerr no longer
    knows is skipped."""
    async with session_factory() as session:
        stmt = select(RequestFollow.media_type, RequestFollow.tmdb_id).where(
            RequestFollow.notified_at.is_(None)).distinct()
        wanted = list((await session.exec(stmt)).all())
    if titles is not None:
        wanted = [t for t in wanted if tuple(t) in set(map(tuple, titles))]
    changed: set[int] = set()
    for media_type, tmdb_id in wanted:
        try:
            details = await (overseerr.movie(tmdb_id) if media_type == "movie" else overseerr.tv(tmdb_id))
        except IntegrationRejected as exc:
            logger.warning("followed %s %s: Overseerr refused the lookup: %s", media_type, tmdb_id, exc)
            continue
        new = {"available": RequestStatus.AVAILABLE.value,
               "partially_available": RequestStatus.PARTIALLY_AVAILABLE.value,
               "processing": RequestStatus.PROCESSING.value}.get(details.status, RequestStatus.PENDING.value)
        async with session_factory() as session:
            follows = (await session.exec(select(RequestFollow).where(
                RequestFollow.media_type == media_type, RequestFollow.tmdb_id == tmdb_id,
                RequestFollow.notified_at.is_(None)))).all()
            for follow in follows:
                if new == follow.status and new != RequestStatus.AVAILABLE.value:
                    continue
                values: dict = {"status": new, "plex_url": details.plex_url or follow.plex_url}
                if new == RequestStatus.AVAILABLE.value:
                    values["notified_at"] = utcnow()
                won = await session.exec(sa.update(RequestFollow).where(  # type: ignore[call-overload]
                    RequestFollow.id == follow.id, RequestFollow.notified_at.is_(None)).values(**values))
                if not won.rowcount:
                    continue
                if new == RequestStatus.AVAILABLE.value:
                    await _notify_available(session, follow.user_id, follow.title, values["plex_url"], partly=False)
                changed.add(follow.user_id)
    return changed


async def sync_by_overseerr_id(session_factory, overseerr: OverseerrClient, overseerr_request_id: int,  # noqa: ANN001
                               ) -> int:
    """The webhook path: update the rows of one Overseerr request now."""
    async with session_factory() as session:
        await release_waiting(session, timeout_s=overseerr.timeout_s)  # Overseerr is evidently up again
        rows = (await session.exec(select(MediaRequest).where(
            MediaRequest.overseerr_request_id == int(overseerr_request_id)))).all()
        if not rows:
            return 0
        remote = await overseerr.request(int(overseerr_request_id))
        changed = {row.user_id for row in rows if await apply_overseerr(session, row, remote)}
        admins = await notifications.admin_ids(session)
        titles = [(row.media_type, row.tmdb_id) for row in rows]
    changed |= await sync_follows(session_factory, overseerr, titles)
    if changed:
        await notifications.announce([*changed, *admins], reason="webhook")
    return len(changed)


# --------------------------------------------------------------------------------------
# Following a title somebody else requested
# --------------------------------------------------------------------------------------


async def follow(session: AsyncSession, *, user: CurrentUser, draft: Draft) -> str:
    if draft.media_type not in ("movie", "tv") or draft.tmdb_id <= 0:
        raise ValidationFailed("That title cannot be followed.")
    existing = (await session.exec(select(RequestFollow).where(
        RequestFollow.user_id == user.id, RequestFollow.media_type == draft.media_type,
        RequestFollow.tmdb_id == draft.tmdb_id))).first()
    if existing is not None:
        return f"You already follow {existing.title}."
    session.add(RequestFollow(user_id=user.id, media_type=draft.media_type, tmdb_id=draft.tmdb_id,
                              title=" ".join(draft.title.split())[:512] or f"TMDB {draft.tmdb_id}",
                              year=draft.year, poster_path=draft.poster_path))
    await session.commit()
    await notifications.announce([user.id], reason="follow")
    return f"You will be told when {draft.title} is available."


async def unfollow(session: AsyncSession, *, user: CurrentUser, follow_id: int) -> None:
    row = await session.get(RequestFollow, int(follow_id))
    if row is None or row.user_id != user.id:
        raise NotFound()
    await session.delete(row)
    await session.commit()
    await notifications.announce([user.id], reason="unfollow")


async def follows(session: AsyncSession, user_id: int) -> list[RequestFollow]:
    return list((await session.exec(select(RequestFollow).where(RequestFollow.user_id == user_id)
                                    .order_by(RequestFollow.id.desc()).limit(100))).all())


# --------------------------------------------------------------------------------------
# Lists and admin decisions
# --------------------------------------------------------------------------------------


async def list_requests(session: AsyncSession, *, viewer: CurrentUser, mine: bool = True, status: str = "all",
                        media_type: str = "all", member_id: int | None = None, page: int = 1
                        ) -> tuple[list[RequestRow], int]:
    """A page (20) of requests, newest first, and the total. Only admins may list others'."""
    if status not in STATUS_FILTERS:
        raise ValidationFailed("Unknown status filter.")
    if media_type not in ("all", "movie", "tv"):
        raise ValidationFailed("Unknown type filter.")
    if not mine and not viewer.is_admin:
        raise Forbidden("Only admins can see every request.")
    conditions = []
    if mine:
        conditions.append(MediaRequest.user_id == viewer.id)
    elif member_id is not None:
        conditions.append(MediaRequest.user_id == int(member_id))
    if STATUS_FILTERS[status]:
        conditions.append(MediaRequest.status.in_(STATUS_FILTERS[status]))
    if media_type != "all":
        conditions.append(MediaRequest.media_type == media_type)
    total = (await session.exec(select(sa.func.count()).select_from(MediaRequest).where(*conditions))).one()
    page = max(1, int(page))
    rows = (await session.exec(
        select(MediaRequest, User.username).join(User, User.id == MediaRequest.user_id).where(*conditions)
        .order_by(MediaRequest.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))).all()
    return [_row_view(r, name, viewer) for r, name in rows], int(total)


def _row_view(row: MediaRequest, username: str, viewer: CurrentUser) -> RequestRow:
    message = row.decline_reason if row.status == RequestStatus.DECLINED.value and row.decline_reason else (
        row.last_error or "")
    return RequestRow(
        id=row.id, user_id=row.user_id, username=username, title=row.title, year=row.year,
        media_type=row.media_type, tmdb_id=row.tmdb_id, seasons=tuple(row.seasons or ()),
        poster_path=row.poster_path, status=row.status, label=STATUS_LABELS.get(row.status, row.status.title()),
        message=message, created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),
        plex_url=row.plex_url, decline_reason=row.decline_reason,
        can_decide=viewer.is_admin and row.status == RequestStatus.PENDING.value
        and row.overseerr_request_id is not None)


async def decide(session: AsyncSession, *, actor: CurrentUser, request_id: int, approve: bool,
                 reason: str = "", overseerr: OverseerrClient, client_ip: str | None = None) -> str:
    """Admin: approve or decline a pending request in Overseerr; a decline reason is kept here
    (Overseerr's API has no field for it) and shown to the member."""
    if not actor.is_admin:
        raise Forbidden("Only admins can approve or decline requests.")
    reason = " ".join((reason or "").split())
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"Keep the reason under {MAX_REASON} characters.")
    row = await session.get(MediaRequest, int(request_id))
    if row is None:
        raise NotFound("That request no longer exists.")
    if row.overseerr_request_id is None or row.status != RequestStatus.PENDING.value:
        raise ValidationFailed(f"{row.title} is not waiting for approval any more ({STATUS_LABELS.get(row.status)}).")
    if approve:
        remote = await overseerr.approve(row.overseerr_request_id)
    else:
        # Saved first: Overseerr's webhook may report the decline before this call returns, and
        # whichever path records the change tells the member, with the reason.
        row.decline_reason = reason or None
        session.add(row)
        await session.commit()
        remote = await overseerr.decline(row.overseerr_request_id, reason or None)
    await apply_overseerr(session, row, remote)
    await audit.record(session, "request.approve" if approve else "request.decline", actor_user_id=actor.id,
                       target=str(row.id), client_ip=client_ip, overseerr_request_id=row.overseerr_request_id,
                       reason=reason or None)
    await session.commit()
    await notifications.announce([row.user_id, *await notifications.admin_ids(session)], reason="decision")
    return f"{row.title} was {'approved' if approve else 'declined'}."
