"""My requests: poster, title, status, requested and updated times, 20 per page, filter by
status; it reloads by itself whenever the member's requests change (``UserFeed.version``)."""

from __future__ import annotations

import reflex as rx

from ..components import toasts
from ..components.cards import request_card
from ..components.downloads import download_line
from ..components.layout import shell
from ..components.media import live_reload, poster
from ..components.pager import pager
from ..db import session_scope
from ..errors import MediaNestError
from ..services import media_requests, request_views
from ..services.request_views import FILTERS, FollowView, RequestView
from ..state import DownloadsFeed, SessionMixin


class RequestsState(SessionMixin, rx.State):
    rows: list[RequestView] = []
    follows: list[FollowView] = []
    total: int = 0
    page: int = 1
    pages: int = 1
    status_filter: str = "all"
    loading: bool = False
    error: str = ""

    async def _refresh(self, user, page: int | None = None) -> None:
        try:
            async with session_scope() as session:
                found = await request_views.request_page(session, viewer=user, mine=True, status=self.status_filter,
                                                         page=self.page if page is None else page)
                followed = await request_views.followed(session, user.id)
        except MediaNestError as exc:
            self.error = exc.user_message
            return
        self.error = ""
        self.rows, self.total, self.page, self.pages = found.rows, found.total, found.page, found.pages
        self.follows = followed

    @rx.event
    async def load(self):
        user = await self._load_user()
        await self._link_downloads(user.id)
        self.loading = True
        yield
        await self._refresh(user)
        self.loading = False

    @rx.event
    async def reload(self):
        """Remounted by ``UserFeed.version``: something about this member's requests changed."""
        user = await self._require_user()
        await self._refresh(user)

    @rx.event
    async def set_filter(self, value: str):
        user = await self._require_user()
        if value in FILTERS:
            self.status_filter, self.page = value, 1
            await self._refresh(user)

    @rx.event
    async def go_to_page(self, page: int):
        user = await self._require_user()
        await self._refresh(user, page=int(page))

    @rx.event
    async def unfollow(self, follow_id: int):
        user = await self._require_user()
        try:
            async with session_scope() as session:
                await media_requests.unfollow(session, user=user, follow_id=int(follow_id))
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        await self._refresh(user)
        return toasts.success("You no longer follow it.")


def _follow_card(f: rx.Var) -> rx.Component:
    return rx.card(
        rx.hstack(
            poster(f["poster"], f["title"], width="3em"),
            rx.vstack(rx.text(f["title"], weight="medium", size="2"),
                      rx.badge(f["label"], variant="soft",
                               color_scheme=rx.cond(f["status"] == "available", "green", "amber")),
                      spacing="1", align="start", flex="1"),
            rx.cond(f["plex_url"] != "",
                    rx.link("Watch in Plex", href=f["plex_url"], is_external=True, size="2"), rx.fragment()),
            rx.button("Unfollow", size="1", variant="ghost", color_scheme="gray",
                      on_click=RequestsState.unfollow(f["id"])),
            align="center", spacing="3", width="100%",
        ),
        class_name="follow-row",
    )


@rx.page(route="/requests", title="My requests · MediaNest", on_load=RequestsState.load)
def requests_page() -> rx.Component:
    return shell(
        # Remounted whenever this member's requests change, so the list reloads without a page reload.
        live_reload(RequestsState.reload),
        rx.hstack(
            rx.select.root(
                rx.select.trigger(placeholder="Status", id="status-filter"),
                rx.select.content(*[rx.select.item(label, value=value) for value, label in FILTERS.items()]),
                value=RequestsState.status_filter, on_change=RequestsState.set_filter,
            ),
            rx.spacer(),
            rx.text(RequestsState.total, rx.cond(RequestsState.total == 1, " request", " requests"),
                    size="2", color_scheme="gray"),
            rx.link(rx.button(rx.icon("search", size=14), "Search"), href="/search"),
            align="center", width="100%", wrap="wrap", spacing="3",
        ),
        rx.cond(RequestsState.error != "", rx.callout(RequestsState.error, icon="triangle-alert", color_scheme="red"),
                rx.fragment()),
        rx.cond(
            RequestsState.loading,
            rx.skeleton(height="10em", width="100%"),
            rx.cond(
                RequestsState.rows.length() > 0,
                rx.vstack(rx.foreach(RequestsState.rows, lambda r: request_card(r)), spacing="3", width="100%",
                          id="my-requests"),
                rx.center(rx.vstack(
                    rx.text(rx.cond(RequestsState.status_filter == "all", "You have not requested anything yet.",
                                    "No requests with this status."), color_scheme="gray"),
                    rx.link("Search for something to watch", href="/search"), align="center"),
                    padding="2em", id="no-requests"),
            ),
        ),
        pager(RequestsState),
        rx.cond(DownloadsFeed.cards.length() > 0,
                rx.vstack(rx.hstack(rx.heading("Downloads", size="4"), rx.spacer(),
                                    rx.link("All downloads", href="/downloads", size="2"), width="100%",
                                    align="center"),
                          rx.card(rx.vstack(rx.foreach(DownloadsFeed.cards, download_line), width="100%",
                                            spacing="2"), width="100%"),
                          width="100%", id="my-downloads"),
                rx.fragment()),
        rx.cond(RequestsState.follows.length() > 0,
                rx.vstack(rx.heading("Following", size="4"),
                          rx.text("Titles someone else requested; you are told when they are available.",
                                  size="2", color_scheme="gray"),
                          rx.vstack(rx.foreach(RequestsState.follows, _follow_card), width="100%", spacing="2"),
                          width="100%", id="following"),
                rx.fragment()),
        title="My requests",
    )
