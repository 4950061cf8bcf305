"""Shared Reflex state: who is signed in, and the one place every handler authorizes.

Every public method of a State can be called by any connected browser, so each
handler starts with ``await self._require_user(...)``. The session lives in an
HttpOnly cookie that reaches the backend with the websocket handshake; the
client cannot send a user id or role of its own.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from datetime import datetime
from typing import Any

import reflex as rx
from reflex.middleware import Middleware
from sqlmodel.ext.asyncio.session import AsyncSession

from . import live, reflex_compat
from .config import get_settings
from .db import session_scope
from .errors import Forbidden, NotAuthenticated, PasswordChangeRequired
from .log import new_correlation_id
from .models import Role, utcnow
from .services import announcements, auth, jobs, notifications, service_status, status_board, system
from .services.announcements import AnnouncementView
from .services.downloads import views as download_views
from .services.downloads.views import DownloadCard
from .services.status_board import CardView
from .web import SESSION_COOKIE, cookie_value

logger = logging.getLogger(__name__)


class TicketState(rx.State):
    """A one-time sign-in ticket about to be handed to ``/auth/session`` by a form that submits
    itself (see ``components.native``). A tab keeps its state across page loads, so whoever
    lands next (a signed-in page or the sign-in page) clears it: a spent ticket is never replayed."""

    ticket: str = ""
    next_path: str = "/"


STATUS_BOARD_SHARDS = 8


def status_board_token(shard: int) -> str:
    """One shard of the shared board, distinct per install: Reflex's own Redis keys carry no
    prefix, so two MediaNests on one Redis database must not share a board (no "_" allowed).

    Tabs are spread over a few shards because Reflex fans a shared state out from the one
    process that changed it; separate shards are changed by separate web processes."""
    return f"status{hashlib.sha1(get_settings().redis_prefix.encode()).hexdigest()[:12]}s{shard}"


def board_shard_of(client_token: str) -> int:
    return zlib.crc32(client_token.encode()) % STATUS_BOARD_SHARDS


def card_view(card: service_status.ServiceCard) -> dict[str, Any]:
    """A service card as it travels on the live event stream (plain JSON, see ``services.status_board``)."""
    return status_board.to_json(status_board.card_view(card))


class StatusBoard(rx.SharedState):
    """Live service status, one copy shared by every signed-in browser (token "status").

    Written only by the server (the live bridge and the guard's first load); it has no handlers
    of its own, and browsers are linked to it only after their session was checked."""

    services: list[CardView] = []
    # A plain var, not a computed one: computed vars of a shared state are recomputed for every
    # linked tab at every change, and the outages are the same for all of them.
    outages: list[CardView] = []
    loaded: bool = False

    def _show(self, cards: list[service_status.ServiceCard]) -> None:
        self._set_cards([status_board.card_view(c) for c in cards])

    def _show_views(self, views: list[dict[str, Any]]) -> None:
        """Cards from the live event stream (``card_view``)."""
        self._set_cards([status_board.from_json(v) for v in views])

    def _set_cards(self, cards: list[CardView]) -> None:
        self.services = cards
        self.outages = status_board.outages(cards)
        self.loaded = True


def user_feed_token(user_id: int) -> str:
    """The shared feed of one member (all their tabs), distinct per install like the board."""
    return f"user{hashlib.sha1(get_settings().redis_prefix.encode()).hexdigest()[:12]}u{int(user_id)}"


class UserFeed(rx.SharedState):
    """What changes for one member while they look elsewhere: unread notifications, and a
    ``version`` that moves whenever their requests change (lists remount and reload on it).

    Written only by the server (the live bridge, and the guard on first load)."""

    notices: list[notifications.NoticeCard] = []
    unread: int = 0
    version: int = 0
    user_id: int = 0
    # Which session each linked tab belongs to, so that a revocation cuts exactly those tabs.
    _tabs: dict[str, str] = {}

    async def _reload(self, user_id: int) -> None:
        async with session_scope() as session:
            shown, count = await notifications.unread(session, user_id)
        self.notices = [notifications.card(n) for n in shown]
        self.unread = count
        self.user_id = user_id


def downloads_feed_token(user_id: int | None) -> str:
    """A member's downloads (all their tabs on /downloads and /requests); None: the admins' view
    of everyone's."""
    tag = hashlib.sha1(get_settings().redis_prefix.encode()).hexdigest()[:12]
    return f"dl{tag}{'all' if user_id is None else f'u{int(user_id)}'}"


class DownloadsFeed(rx.SharedState):
    """Live downloads of one member (or of everyone, for admins): written only by the server
    (the live bridge and the page's first load); progress events are laid over the cards."""

    cards: list[DownloadCard] = []
    # The admins' feed only: items running and waiting per member.
    queue: list[download_views.QueueRow] = []
    loaded: bool = False

    async def _reload(self, user_id: int | None) -> None:
        async with session_scope() as session:
            self.cards = await download_views.cards_for(session, user_id=user_id, limit=100 if user_id is None
                                                        else download_views.PAGE_SIZE)
            if user_id is None:
                self.queue = await download_views.queue(session)
        self.loaded = True

    def _item_end(self, event: dict[str, Any]) -> bool:
        """Lay an ended item's row over the cards; False when they do not hold it (reload then)."""
        try:
            row = download_views.ItemRow(**event["row"])
            cards = download_views.with_item_row(self.cards, int(event["download_id"]), row)
        except (KeyError, TypeError, ValueError):
            return False
        if cards is None:
            return False
        self.cards = cards
        return True

    def _progress(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if not isinstance(item_id, int):
            return
        self.cards = download_views.with_progress(
            self.cards, item_id, phase=str(event.get("phase") or "downloading"),
            downloaded=_num(event.get("downloaded")), total=_num(event.get("total")),
            speed=_num(event.get("speed")), eta=_num(event.get("eta")))


def _num(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def announcement_token(shard: int) -> str:
    """One shard of the announcement banner (tabs are spread over the status board's shards)."""
    return f"notice{hashlib.sha1(get_settings().redis_prefix.encode()).hexdigest()[:12]}s{shard}"


class AnnouncementBanner(rx.SharedState):
    """The admin's announcement as every signed-in page shows it; written only by the server (the
    live bridge, which also clears it at its end time, and a tab's first load)."""

    message: str = ""
    level: str = "info"
    ends_at: str = ""
    loaded: bool = False

    def _show(self, view: AnnouncementView | None) -> None:
        shown = (view.message, view.level, view.ends_at) if view is not None else ("", "info", "")
        if (self.message, self.level, self.ends_at) != shown:  # unchanged: no delta to any tab
            self.message, self.level, self.ends_at = shown
        if not self.loaded:
            self.loaded = True

    def _over(self) -> bool:
        """Its end time passed on the server's clock (the bridge's clearing may not have reached it)."""
        return bool(self.ends_at) and datetime.fromisoformat(self.ends_at) <= utcnow()


def jobs_board_token() -> str:
    return f"jobs{hashlib.sha1(get_settings().redis_prefix.encode()).hexdigest()[:12]}"


class JobsBoard(rx.SharedState):
    """The admins' Jobs page (schedules, queue, failed work), reloaded by the live bridge whenever
    a task is sent, starts or ends; written only by the server."""

    schedules: list[jobs.ScheduleRow] = []
    queue: list[jobs.QueueRow] = []
    queue_note: str = ""
    deliveries: list[jobs.FailedDelivery] = []
    downloads: list[jobs.FailedDownload] = []
    loaded: bool = False

    async def _reload(self) -> None:
        async with session_scope() as session:
            found = await jobs.overview(session, settings=get_settings())
        for name in ("schedules", "queue", "queue_note", "deliveries", "downloads"):
            if getattr(self, name) != getattr(found, name):  # only what changed goes to the admins' tabs
                setattr(self, name, getattr(found, name))
        self.loaded = True


class SessionMixin(rx.State, mixin=True):
    """The session helpers of every member page state: ``class SearchState(SessionMixin, rx.State)``
    (``rx.State`` named too: a class whose only state base is a mixin is a mixin itself).

    Page states take these from a mixin instead of subclassing ``SessionState``: in Reflex an
    event loads the state's parents and all its substates, so with the pages below
    ``SessionState`` every keepalive and guard loaded (and saved) every page's state too. Each
    page state is now a direct substate of ``rx.State`` and loads ``SessionState`` only when it
    shows the member (``_load_user``) or records the tab's session (``_require_user``)."""

    def _client_ip(self) -> str:
        return self.router.session.client_ip or ""

    def _user_agent(self) -> str:
        return self.router.headers.user_agent or ""

    def _current_path(self) -> str:
        url = self.router.url
        query = url.query or ""
        return (url.path or "/") + (f"?{query}" if query else "")

    async def _require_user(self, role: Role | None = None, *, allow_password_change: bool = False,
                            session: AsyncSession | None = None) -> auth.CurrentUser:
        """Resolve the session from the handshake cookie, or raise a typed error. A handler that
        needs the database anyway may pass its own ``session`` (one connection, one transaction).

        Raises:
            NotAuthenticated: no valid session (the edge redirects to sign-in).
            PasswordChangeRequired: the local admin must choose a password first.
            Forbidden: signed in without the required role.
        """
        new_correlation_id()
        token = cookie_value(self.router.headers.cookie, SESSION_COOKIE)
        if session is not None:
            user = await auth.resolve_session(session, token=token, settings=get_settings(),
                                              next_path=self._current_path())
        else:
            async with session_scope() as own:
                user = await auth.resolve_session(own, token=token, settings=get_settings(),
                                                  next_path=self._current_path())
        if user.must_change_password and not allow_password_change:
            raise PasswordChangeRequired()
        if role is Role.ADMIN and not user.is_admin:
            raise Forbidden("Only admins can open the admin area.")
        holder = await self.get_state(SessionState)
        if holder._session_id != user.session_id:
            holder._session_id = user.session_id
        return user

    async def _link_downloads(self, owner: int | None) -> None:
        """Link this tab to a member's downloads feed (or, for ``None``, everyone's) and read it
        afresh: the live bridge skips the events of a feed no tab watches (``live.is_watched``)."""
        token = downloads_feed_token(owner)
        fresh = await live.mark_watched(token)
        feed = await reflex_compat.link(await self.get_state(DownloadsFeed), token)
        await feed._reload(owner)
        if fresh:  # other tabs still linked to it may have missed events: the bridge reloads it for all
            await live.publish({"type": "downloads-feed", "owner": owner})

    async def _renew_watches(self, user: auth.CurrentUser) -> None:
        """Keepalive: renew the marks of the feeds this tab shows; one whose mark had lapsed (the
        bridge skipped its events meanwhile) is reloaded by the bridge for every tab on it."""
        links = reflex_compat.linked_state_names(self._get_root_state())
        downloads = links.get(DownloadsFeed.get_full_name())
        owners = {downloads_feed_token(user.id): user.id}
        if user.is_admin:
            owners[downloads_feed_token(None)] = None
        if downloads in owners and await live.mark_watched(downloads) \
                and not await live.publish({"type": "downloads-feed", "owner": owners[downloads]}):
            await (await self.get_state(DownloadsFeed))._reload(owners[downloads])  # at least this tab
        if user.is_admin and links.get(JobsBoard.get_full_name()) == jobs_board_token() \
                and await live.mark_watched(jobs_board_token()) and not await live.publish({"type": "jobs"}):
            await (await self.get_state(JobsBoard))._reload()

    async def _link_announcement(self, shard: int) -> None:
        """Link the tab to its shard of the banner, unless it is (a keepalive then loads nothing more)."""
        token = announcement_token(shard)
        if reflex_compat.linked_state_names(self._get_root_state()).get(AnnouncementBanner.get_full_name()) == token:
            return
        banner = await reflex_compat.link(await self.get_state(AnnouncementBanner), token)
        if not banner.loaded or banner._over():
            async with session_scope() as session:
                banner._show(await announcements.current(session))

    async def _load_user(self, role: Role | None = None, *, allow_password_change: bool = False) -> auth.CurrentUser:
        """``_require_user``, then link the tab to the live feeds and show the member in the shell."""
        user = await self._require_user(role, allow_password_change=allow_password_change)
        shard = board_shard_of(self.router.session.client_token)
        board = await reflex_compat.link(await self.get_state(StatusBoard), status_board_token(shard))
        if not board.loaded:
            async with session_scope() as session:
                board._show(await service_status.board(session, interval_s=get_settings().status_check_interval_s))
        await self._link_announcement(shard)
        feed = await reflex_compat.link(await self.get_state(UserFeed), user_feed_token(user.id))
        tab = self.router.session.client_token
        if feed._tabs.get(tab) != user.session_id:
            feed._tabs = {**feed._tabs, tab: user.session_id}
        if feed.user_id != user.id:
            await feed._reload(user.id)
        tickets = await self.get_state(TicketState)
        if tickets.ticket:
            tickets.ticket = ""
        async with session_scope() as session:
            server = await system.household_server(session)
        (await self.get_state(SessionState))._show_user(user, server.name if server else "")
        return user


class SessionState(SessionMixin, rx.State):
    """The signed-in member as the page shows it (display only, never trusted)."""

    user_name: str = ""
    user_email: str = ""
    user_role: str = ""
    user_avatar: str = ""
    user_is_local: bool = False
    household_name: str = ""
    checked: bool = False
    signing_out: bool = False
    # The session this tab's data was loaded under: a tab that comes back without it is cleared.
    _session_id: str = ""

    @rx.var
    def is_admin(self) -> bool:
        return self.user_role == Role.ADMIN.value

    @rx.var
    def signed_in(self) -> bool:
        return bool(self.user_name)

    @rx.var
    def initials(self) -> str:
        return (self.user_name[:2] or "?").upper()

    def _show_user(self, user: auth.CurrentUser, household: str) -> None:
        self.signing_out = False
        self.user_name = user.username
        self.user_email = user.email or ""
        self.user_role = user.role
        self.user_avatar = user.avatar_url or ""
        self.user_is_local = user.is_local
        self.household_name = household
        self.checked = True

    # ---- handlers ---------------------------------------------------------------------

    @rx.event
    async def guard(self):
        """on_load of every member page: signed-out visitors go to sign-in and come back."""
        user = await self._load_user()
        if user.is_admin and not self.household_name and not user.is_local:
            return rx.redirect("/setup")
        return None

    @rx.event
    async def keepalive(self, _tick: str = ""):
        """Every 15 s from each signed-in page: a revoked session ends here, and the link to the
        live status board is restored if Redis lost it (a restart empties Reflex's state), and the
        marks that keep the live bridge writing this tab's feeds are renewed."""
        user = await self._load_user(allow_password_change=True)
        await self._renew_watches(user)

    @rx.event
    async def dismiss_notice(self, notice_id: int):
        """Mark one of the member's own notifications read (an id of someone else's matches nothing)."""
        user = await self._require_user()
        async with session_scope() as session:
            await notifications.dismiss(session, user.id, int(notice_id))
        await notifications.announce([user.id], reason="dismiss")

    @rx.event
    async def dismiss_all_notices(self):
        user = await self._require_user()
        async with session_scope() as session:
            await notifications.dismiss(session, user.id)
        await notifications.announce([user.id], reason="dismiss")

    @rx.event
    async def sign_out(self):
        """End this session on the server, then let the HTTP route clear the cookie."""
        user = await self._require_user(allow_password_change=True)
        async with session_scope() as session:
            await auth.revoke_session(session, session_id=user.session_id, reason="sign_out")
        await clear_tab(self._get_root_state())  # this tab at once; its other tabs through the live bridge
        # The shell now renders a form that navigates to /auth/logout, which clears the cookie.
        self.signing_out = True



async def clear_tab(root: rx.State) -> list | None:
    """Cut one tab from its member: unlink it from every shared feed and reset every state that
    holds member data (the session, every page state). The caller holds the tab's lock, inside
    Reflex's linked-state context (an event, or ``app.modify_state``).

    Returns:
        Events that make the browser re-read the now empty state, or None if there was nothing to clear.
    """
    session = await root.get_state(SessionState)
    links = reflex_compat.linked_state_names(root)
    if not (links or session._session_id or session.user_name):
        return None
    tab = root.router.session.client_token
    rehydrate: list = []
    for name in links:
        shared = await root.get_state(root.get_class_substate(name))
        if isinstance(shared, UserFeed) and tab in shared._tabs:
            shared._tabs = {t: s for t, s in shared._tabs.items() if t != tab}
        rehydrate = await reflex_compat.unlink(shared)
    for cls in member_states():
        (await root.get_state(cls)).reset()
    return rehydrate


def member_states() -> list[type[rx.State]]:
    """Every state that holds member data: ``SessionState`` and every page state, i.e. every
    state that takes the session helpers from ``SessionMixin`` (wherever it sits in the tree)."""
    found, todo = [], list(rx.State.get_substates())
    while todo:
        cls = todo.pop()
        todo.extend(cls.get_substates())
        if issubclass(cls, SessionMixin):
            found.append(cls)
    return found


class SignedOutTabs(Middleware):
    """A tab that (re)connects without the session its data was loaded under gets that data
    cleared before Reflex's hydrate would send it back: only the sign-in page is left."""

    async def preprocess(self, app, state, event):
        if event.name not in _BOOT_EVENTS:
            return None
        session = await state.get_state(SessionState)
        if not (reflex_compat.linked_state_names(state) or session._session_id or session.user_name):
            return None
        token = cookie_value(session.router.headers.cookie, SESSION_COOKIE)
        try:
            async with session_scope() as db:
                user = await auth.resolve_session(db, token=token, settings=get_settings())
            if user.session_id == session._session_id:
                return None
        except NotAuthenticated:
            pass
        except Exception as exc:
            logger.warning("could not check a reconnecting tab's session (%s): clearing the tab", type(exc).__name__)
        await clear_tab(state)  # the page's guard signs the member back in once the session checks out
        return None


_BOOT_EVENTS = {f"{rx.State.get_full_name()}.{name}" for name in ("hydrate", "hydrate_and_load")}
