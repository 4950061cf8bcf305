"""Admin: every member's downloads, live (filter by member and state), cancel any of them, and
the queue (items running and waiting, per member)."""

from __future__ import annotations

import reflex as rx

from ..components import toasts
from ..components.admin import admin_tabs
from ..components.downloads import download_card
from ..components.layout import shell
from ..db import session_scope
from ..errors import MediaNestError
from ..models import DownloadState, Role
from ..services import request_views
from ..services.downloads import members
from ..services.downloads.rules import DOWNLOAD_LABELS
from ..services.downloads.runner import announce
from ..services.request_views import MemberChoice
from ..state import DownloadsFeed, SessionMixin
from ..tasks.downloads import add_to_plex


class AdminDownloadsState(SessionMixin, rx.State):
    member_filter: str = "all"
    state_filter: str = "all"
    people: list[MemberChoice] = []

    @rx.event
    async def load(self):
        await self._load_user(Role.ADMIN)
        await self._link_downloads(None)
        async with session_scope() as session:
            self.people = await request_views.members(session)

    @rx.event
    async def set_member_filter(self, value: str):
        await self._require_user(Role.ADMIN)
        if value == "all" or any(p.name == value for p in self.people):
            self.member_filter = value

    @rx.event
    async def set_state_filter(self, value: str):
        await self._require_user(Role.ADMIN)
        if value == "all" or value in DOWNLOAD_LABELS:
            self.state_filter = value

    @rx.event
    async def cancel(self, download_id: int, item_id: int):
        """Cancel a member's download (0: all of it) — admins only."""
        actor = await self._require_user(Role.ADMIN)
        try:
            async with session_scope() as session:
                row = await members.cancel(session, int(download_id), user_id=actor.id, is_admin=True,
                                           item_id=int(item_id) or None)
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        if row.status == DownloadState.ADDING.value:  # what finished before the cancel goes to Plex
            await add_to_plex.kiq(row.id)
        await announce(row.user_id, row.id or 0)
        return toasts.info(f"{row.title} was cancelled.")


def _shown(card: rx.Var) -> rx.Var:
    return (((AdminDownloadsState.member_filter == "all") | (card.member == AdminDownloadsState.member_filter))
            & ((AdminDownloadsState.state_filter == "all") | (card.status == AdminDownloadsState.state_filter)))


def _queue_row(row: rx.Var) -> rx.Component:
    return rx.table.row(rx.table.cell(row.member), rx.table.cell(row.running), rx.table.cell(row.waiting))


@rx.page(route="/admin/downloads", title="Downloads · Admin · MediaNest", on_load=AdminDownloadsState.load)
def admin_downloads_page() -> rx.Component:
    return shell(
        admin_tabs("/admin/downloads"),
        rx.heading("Queue", size="4"),
        rx.cond(DownloadsFeed.queue.length() > 0,
                rx.table.root(rx.table.header(rx.table.row(rx.table.column_header_cell("Member"),
                                                           rx.table.column_header_cell("Running"),
                                                           rx.table.column_header_cell("Waiting"))),
                              rx.table.body(rx.foreach(DownloadsFeed.queue, _queue_row)), width="100%",
                              id="download-queue"),
                rx.text("Nothing is downloading or waiting.", color_scheme="gray", size="2", id="queue-empty")),
        rx.hstack(
            rx.select.root(
                rx.select.trigger(placeholder="Member", id="download-member-filter"),
                rx.select.content(rx.select.item("Every member", value="all"),
                                  rx.foreach(AdminDownloadsState.people,
                                             lambda p: rx.select.item(p.name, value=p.name))),
                value=AdminDownloadsState.member_filter, on_change=AdminDownloadsState.set_member_filter,
            ),
            rx.select.root(
                rx.select.trigger(placeholder="State", id="download-state-filter"),
                rx.select.content(rx.select.item("Every state", value="all"),
                                  *[rx.select.item(label, value=value) for value, label in DOWNLOAD_LABELS.items()]),
                value=AdminDownloadsState.state_filter, on_change=AdminDownloadsState.set_state_filter,
            ),
            spacing="3", wrap="wrap", margin_top="1em",
        ),
        rx.cond(DownloadsFeed.cards.length() > 0,
                rx.vstack(rx.foreach(DownloadsFeed.cards,
                                     lambda c: rx.cond(_shown(c), download_card(c, AdminDownloadsState, admin=True),
                                                       rx.fragment())),
                          width="100%", spacing="3", id="admin-download-list"),
                rx.text("No member has downloaded anything yet.", color_scheme="gray", id="admin-downloads-empty")),
        title="Admin · Downloads",
    )
