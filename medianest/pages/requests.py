"""My requests: poster, title, status, requested and updated times, 20 per page, filter by
status; it reloads by itself whenever the member's requests change (``UserFeed.version``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import reflex as rx

from ..components import toasts
from ..components.layout import shell
from ..components.media import live_reload, poster
from ..db import session_scope
from ..errors import MediaNestError
from ..services import media_requests
from ..services.media_requests import PAGE_SIZE, RequestRow
from ..state import SessionState
from .search import tmdb_poster

FILTERS = {"all": "All", "open": "Open", "queued": "Queued", "pending": "Pending", "approved": "Approved",
           "available": "Available", "declined": "Declined", "failed": "Not accepted / failed"}
STATUS_COLOURS = {"queued": "gray", "pending": "amber", "approved": "blue", "processing": "blue",
                  "partially_available": "teal", "available": "green", "declined": "red", "failed": "red",
                  "refused": "red", "duplicate": "orange"}


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def row_view(r: RequestRow) -> dict[str, Any]:
    what = "Movie" if r.media_type == "movie" else (
        "Show · seasons " + ", ".join(map(str, r.seasons)) if r.seasons else "Show")
    return {"id": r.id, "title": r.title, "year": str(r.year or ""), "what": what, "status": r.status,
            "label": r.label, "message": r.message, "requested": _when(r.created_at), "updated": _when(r.updated_at),
            "requested_iso": r.created_at.isoformat(), "updated_iso": r.updated_at.isoformat(),
            "poster": tmdb_poster(r.poster_path, "w185"), "plex_url": r.plex_url or "",
            "username": r.username, "can_decide": r.can_decide, "media_type": r.media_type}


class RequestsState(SessionState):
    rows: list[dict[str, Any]] = []
    follows: list[dict[str, Any]] = []
    total: int = 0
    page: int = 1
    status_filter: str = "all"
    loading: bool = False
    error: str = ""

    @rx.var
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    async def _refresh(self, user) -> None:  # noqa: ANN001
        try:
            async with session_scope() as session:
                found, self.total = await media_requests.list_requests(
                    session, viewer=user, mine=True, status=self.status_filter, page=self.page)
                followed = await media_requests.follows(session, user.id)
        except MediaNestError as exc:
            self.error = exc.user_message
            return
        self.error = ""
        self.rows = [row_view(r) for r in found]
        self.follows = [{"id": f.id, "title": f.title, "year": str(f.year or ""),
                         "label": media_requests.STATUS_LABELS.get(f.status, f.status), "status": f.status,
                         "poster": tmdb_poster(f.poster_path, "w185"), "plex_url": f.plex_url or ""}
                        for f in followed]

    @rx.event
    async def load(self):
        user = await self._load_user()
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
        self.page = min(max(1, int(page)), self.pages)
        await self._refresh(user)

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


def status_badge(row: rx.Var) -> rx.Component:
    return rx.badge(row["label"], variant="soft", class_name="request-status",
                    color_scheme=rx.match(row["status"], *STATUS_COLOURS.items(), "gray"))


def request_card(row: rx.Var, *extra: rx.Component, show_user: bool = False) -> rx.Component:
    return rx.card(
        rx.hstack(
            poster(row["poster"], row["title"], width="4.5em"),
            rx.vstack(
                rx.hstack(rx.text(row["title"], weight="bold", class_name="request-title"),
                          rx.text(row["year"], color_scheme="gray", size="2"), spacing="2", align="baseline",
                          wrap="wrap"),
                rx.hstack(status_badge(row), rx.text(row["what"], size="1", color_scheme="gray"),
                          *([rx.text("by ", row["username"], size="1", color_scheme="gray",
                                     class_name="request-user")] if show_user else []),
                          spacing="2", align="center", wrap="wrap"),
                rx.cond(row["message"] != "",
                        rx.text(row["message"], size="2",
                                color_scheme=rx.cond(row["status"] == "queued", "gray", "red"),
                                class_name="request-message"),
                        rx.fragment()),
                rx.text("Requested ", rx.moment(row["requested_iso"], from_now=True), " · updated ",
                        rx.moment(row["updated_iso"], from_now=True), size="1", color_scheme="gray",
                        title=row["requested"]),
                rx.hstack(
                    rx.cond(row["plex_url"] != "",
                            rx.link(rx.button(rx.icon("play", size=14), "Watch in Plex", size="1", variant="outline"),
                                    href=row["plex_url"], is_external=True, class_name="watch-link"),
                            rx.fragment()),
                    *extra, spacing="2", wrap="wrap"),
                spacing="1", align="start", flex="1", min_width="0",
            ),
            spacing="3", align="start", width="100%",
        ),
        width="100%", class_name="request-row", custom_attrs={"data-title": row["title"]},
    )


def pager(state: type, pages: rx.Var) -> rx.Component:
    return rx.cond(
        pages > 1,
        rx.hstack(
            rx.button(rx.icon("chevron-left", size=14), "Previous", size="2", variant="soft",
                      disabled=state.page <= 1, on_click=state.go_to_page(state.page - 1), class_name="prev-page"),
            rx.text("Page ", state.page, " of ", pages, size="2"),
            rx.button("Next", rx.icon("chevron-right", size=14), size="2", variant="soft",
                      disabled=state.page >= pages, on_click=state.go_to_page(state.page + 1),
                      class_name="next-page"),
            justify="center", align="center", spacing="3", width="100%",
        ),
        rx.fragment(),
    )


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
            rx.text(RequestsState.total, rx.cond(RequestsState.total == 1, " request", " requests"), size="2", color_scheme="gray"),
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
        pager(RequestsState, RequestsState.pages),
        rx.cond(RequestsState.follows.length() > 0,
                rx.vstack(rx.heading("Following", size="4"),
                          rx.text("Titles someone else requested; you are told when they are available.",
                                  size="2", color_scheme="gray"),
                          rx.vstack(rx.foreach(RequestsState.follows, _follow_card), width="100%", spacing="2"),
                          width="100%", id="following"),
                rx.fragment()),
        title="My requests",
    )
