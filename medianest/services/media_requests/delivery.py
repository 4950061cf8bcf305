"""Submitting a request and delivering it to Overseerr, with leases, backoff and adoption of an
earlier attempt's request (see the package docstring for the lifecycle)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ...db import SessionFactory, as_utc
from ...errors import CircuitOpen, IntegrationRejected, IntegrationUnavailable, NotFound, RateLimited, ValidationFailed
from ...integrations.overseerr import (
    AlreadyRequested,
    ApiKeyRefused,
    MediaDetails,
    OverseerrClient,
    OverseerrNotFound,
    RequestNotAllowed,
)
from ...integrations.overseerr import MediaRequest as OverseerrRequest
from ...models import OPEN_REQUEST_STATUSES, MediaRequest, RequestStatus, User, id_of, ids_of, utcnow
from .. import notifications, search
from ..auth import CurrentUser
from ..ratelimit import humanize_wait
from .common import AVAILABLE, Draft, notify_available, status_from_overseerr
from .members import NotInOverseerr, ask_admins_to_import, overseerr_user_id

logger = logging.getLogger(__name__)

#: One delivery attempt may spend this many HTTP timeouts talking to Overseerr (a look-up for an
#: earlier delivery, the request itself) before it counts as "not answering"...
ATTEMPT_TIMEOUTS = 2
#: What a row waiting only because Overseerr did not answer says (release_waiting looks for it).
UNREACHABLE_NOTE = "Overseerr is not answering; MediaNest will send it automatically."
#: ...and its lease one timeout more, for the database work around the calls (at least this long).
MIN_LEASE_S = 5.0
RETRY_BASE_S = 15


@dataclass(frozen=True)
class Outcome:
    row: MediaRequest
    message: str
    ok: bool
    #: Overseerr did not answer; the row waits for its next attempt.
    unreachable: bool = False


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


async def check_hourly_limit(session: AsyncSession, user_id: int, limit: int) -> None:
    """MediaNest's own limit (``REQUEST_LIMIT_PER_HOUR``), counted from the rows themselves."""
    since = utcnow() - timedelta(hours=1)
    stamps = (await session.exec(
        select(MediaRequest.created_at).where(MediaRequest.user_id == user_id, MediaRequest.created_at > since)
        .order_by(col(MediaRequest.created_at)))).all()
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
        MediaRequest.tmdb_id == draft.tmdb_id, col(MediaRequest.status).in_(OPEN_REQUEST_STATUSES)))).all()
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
            await ask_admins_to_import(session, user)
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
        return await deliver(session, id_of(row), overseerr, retry_max_s=retry_max_s)
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
    result = await session.exec(sa.update(MediaRequest).where(
        col(MediaRequest.id) == row_id, col(MediaRequest.status) == RequestStatus.QUEUED.value,
        sa.or_(col(MediaRequest.next_attempt_at).is_(None), col(MediaRequest.next_attempt_at) <= now),
    ).values(next_attempt_at=now + lease, attempts=col(MediaRequest.attempts) + 1))
    await session.commit()
    if not result.rowcount:
        return None
    row = await session.get(MediaRequest, row_id)
    if row is not None:
        await session.refresh(row)
    return row


async def _linked_elsewhere(session: AsyncSession, row: MediaRequest) -> set[int]:
    """Overseerr requests of this title that other MediaNest rows already stand for."""
    return set(ids_of((await session.exec(select(col(MediaRequest.overseerr_request_id)).where(
        MediaRequest.media_type == row.media_type, MediaRequest.tmdb_id == row.tmdb_id, MediaRequest.id != row.id,
        col(MediaRequest.overseerr_request_id).is_not(None)))).all()))


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
    except ApiKeyRefused:  # a look-up as MediaNest met a wrong or missing key (an admin may be changing it)
        retry_note = "Overseerr did not accept MediaNest's API key; MediaNest will try again."
        logger.warning("request %s: Overseerr refused the API key; will retry", row.id)
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
            await notify_available(session, row.user_id, row.title, row.plex_url, partly=False)
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
    if row.status in AVAILABLE:
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
    waiting = [col(MediaRequest.status) == RequestStatus.QUEUED.value,
               col(MediaRequest.next_attempt_at) > now + delivery_lease(timeout_s)]
    if only_unreachable:
        waiting.append(col(MediaRequest.last_error) == UNREACHABLE_NOTE)
    result = await session.exec(sa.update(MediaRequest).where(*waiting).values(next_attempt_at=now))
    await session.commit()
    if result.rowcount:
        logger.info("Overseerr answers again: %s queued requests are due now", result.rowcount)
    return int(result.rowcount or 0)


async def _due_ids(session_factory: SessionFactory, limit: int) -> list[int]:
    async with session_factory() as session:
        return ids_of((await session.exec(select(col(MediaRequest.id)).where(
            MediaRequest.status == RequestStatus.QUEUED.value,
            sa.or_(col(MediaRequest.next_attempt_at).is_(None), col(MediaRequest.next_attempt_at) <= utcnow()),
        ).order_by(col(MediaRequest.id)).limit(limit))).all())


async def deliver_due(session_factory: SessionFactory, overseerr: OverseerrClient, *, retry_max_s: int = 900,
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
