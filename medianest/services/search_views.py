"""The search page's rules as typed view models: which action a result offers, which seasons can
be chosen, and how a card changes after a request or a follow.

Everything here is plain Python over ``services.search``; the page only assigns what it gets.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from ..errors import IntegrationRejected, IntegrationUnavailable, MediaNestError
from ..integrations.overseerr import OverseerrClient, OverseerrNotFound, SearchResult
from . import media_requests, search
from .auth import CurrentUser
from .media_requests import Draft
from .posters import tmdb_poster

OVERVIEW_CHARS = 180


@dataclass(frozen=True)
class ResultView:
    """One search result card. ``action`` is what its main button does: ``request`` (a movie),
    ``seasons`` (open the season picker), ``follow`` or ``none``."""

    key: str
    tmdb_id: int
    media_type: str
    type_label: str
    title: str
    year: str
    overview: str
    poster: str
    poster_path: str
    badge: str
    badge_label: str
    action: str
    plex_url: str
    can_follow: bool


@dataclass(frozen=True)
class Seen:
    """One result of the Overseerr snapshot behind the cards, and when Overseerr gave it."""

    result: SearchResult
    fetched_at: float

    @property
    def key(self) -> str:
        return result_key(self.result)


@dataclass(frozen=True)
class SeasonView:
    number: int
    label: str
    state: str
    selectable: bool


class SeasonsUnavailable(MediaNestError):
    """The season picker cannot show the seasons (Overseerr forgot the show or does not answer)."""


async def cannot_request(session: AsyncSession, user: CurrentUser, overseerr: OverseerrClient | None) -> bool:
    """Whether to tell the member up front that nothing can be requested for them: their Plex
    account has no Overseerr user (a local admin's requests go out as the admin key's owner).
    Overseerr not answering (or refusing MediaNest's key) is not a reason: the search itself says so."""
    if overseerr is None or user.is_local:
        return False
    try:
        return await media_requests.overseerr_user_id(session, user.id, overseerr) is None
    except (IntegrationUnavailable, IntegrationRejected):
        return False


def result_key(r: SearchResult) -> str:
    return f"{r.media_type}-{r.tmdb_id}"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= OVERVIEW_CHARS else text[:OVERVIEW_CHARS].rsplit(" ", 1)[0] + "…"


def result_view(r: SearchResult, *, mine: str = "", following: bool = False) -> ResultView:
    """The card of a result: badge, the action it offers and whether it can be followed."""
    badge, label = search.badge_for(r.status)
    if mine:
        badge, label = "requested", "You requested this"
    elif following:
        label = f"{label} · following"
    if r.media_type == "movie":
        action = {"none": "request", "requested": "follow", "processing": "follow"}.get(badge, "none")
    else:
        action = "seasons" if badge in ("none", "partial", "requested", "processing") else "none"
    if mine and r.media_type == "movie":
        action = "none"
    if following and action == "follow":
        action = "none"
    return ResultView(
        key=result_key(r), tmdb_id=r.tmdb_id, media_type=r.media_type,
        type_label="Movie" if r.media_type == "movie" else "Show", title=r.title, year=str(r.year or ""),
        overview=_short(r.overview), poster=tmdb_poster(r.poster_path), poster_path=r.poster_path or "",
        badge=badge, badge_label=label, action=action, plex_url=r.plex_url or "",
        can_follow=r.media_type == "tv" and badge in ("requested", "processing") and not following and not mine,
    )


def snapshot(outcome: search.SearchOutcome, *, skip: Sequence[str] = ()) -> list[Seen]:
    """The results of one search page as a snapshot (``skip``: keys already shown)."""
    return [Seen(r, outcome.fetched_at) for r in outcome.results if result_key(r) not in skip]


async def views(session: AsyncSession, user_id: int, seen: Sequence[Seen]) -> list[ResultView]:
    """The cards of a snapshot with what MediaNest knows laid over it (``search.overlay``)."""
    info = await search.known(session, user_id, [(s.result.media_type, s.result.tmdb_id) for s in seen])
    out = []
    for s in seen:
        (shown,) = search.overlay([s.result], info, s.fetched_at)
        out.append(result_view(shown.result, mine=shown.mine, following=shown.following))
    return out


def learned(seen: Sequence[Seen], key: str, status: str, plex_url: str | None = None) -> list[Seen]:
    """Overseerr told us more about one title just now: newer than the snapshot it came in."""
    return [Seen(dataclasses.replace(s.result, status=status, plex_url=plex_url or s.result.plex_url), time.time())
            if s.key == key else s for s in seen]


def find(cards: Sequence[ResultView], key: str) -> ResultView | None:
    return next((c for c in cards if c.key == key), None)


def replace(cards: Sequence[ResultView], card: ResultView) -> list[ResultView]:
    return [card if c.key == card.key else c for c in cards]


def draft(card: ResultView, seasons: tuple[int, ...] = ()) -> Draft:
    """What a request or a follow of this card sends."""
    return Draft(card.media_type, card.tmdb_id, card.title, int(card.year) if card.year else None,
                 card.poster_path or None, seasons)


def now_available(card: ResultView, plex_url: str | None) -> ResultView:
    return dataclasses.replace(card, badge="available", badge_label="Available", action="none", can_follow=False,
                               plex_url=plex_url or card.plex_url)


def after_request(card: ResultView, status: str) -> ResultView:
    """The card once a request of it was answered with ``status`` (the request row's status)."""
    if status == "duplicate":  # someone else asked first: it can be followed
        return dataclasses.replace(card, badge="requested", badge_label="Requested",
                                   action="follow" if card.media_type == "movie" else "seasons",
                                   can_follow=card.media_type == "tv")
    if status == "refused":
        return card
    return dataclasses.replace(card, badge="requested", badge_label="You requested this",
                               action="none" if card.media_type == "movie" else "seasons")


def after_follow(card: ResultView) -> ResultView:
    return dataclasses.replace(card, action="none" if card.media_type == "movie" else card.action,
                               can_follow=False, badge_label=f"{card.badge_label} · following")


def can_follow(card: ResultView) -> bool:
    return card.action == "follow" or card.can_follow


async def seasons(overseerr: OverseerrClient, tmdb_id: int) -> list[SeasonView]:
    """The seasons of a show for the picker: those available, processing or requested cannot be
    chosen again.

    Raises:
        SeasonsUnavailable: Overseerr does not know the show, or does not answer.
    """
    try:
        details = await overseerr.tv(int(tmdb_id))
    except OverseerrNotFound:
        raise SeasonsUnavailable("Overseerr does not know this show any more.") from None
    except IntegrationUnavailable as exc:
        raise SeasonsUnavailable("Overseerr is not answering, so the seasons cannot be shown. "
                                 "Try again in a moment.", detail=str(exc)) from None
    requested = set(details.requested_seasons)
    out = []
    for s in details.seasons:
        state = {"available": "Available", "partially_available": "Partly available",
                 "processing": "Processing", "pending": "Requested"}.get(s.status, "")
        if not state and s.season_number in requested:
            state = "Requested"
        out.append(SeasonView(number=s.season_number, label=f"Season {s.season_number}", state=state,
                              selectable=state in ("", "Partly available")))
    return out


def chosen_seasons(picker: Sequence[SeasonView], selected: Sequence[int]) -> tuple[int, ...]:
    """The selected seasons that may be requested (anything else a browser sends is dropped)."""
    allowed = {s.number for s in picker if s.selectable}
    return tuple(n for n in selected if n in allowed)


def toggle(picker: Sequence[SeasonView], selected: Sequence[int], number: int) -> list[int]:
    if not any(s.number == number and s.selectable for s in picker):
        return list(selected)
    return sorted(set(selected) ^ {number})
