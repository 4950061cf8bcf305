"""Admin: post a short announcement (info or warning, optional end time) that every member sees
as a banner on every page, live, until it ends or is removed; and the latest ones."""

from __future__ import annotations

import reflex as rx

from ..components import toasts
from ..components.admin import admin_tabs
from ..components.layout import shell
from ..db import session_scope
from ..errors import MediaNestError
from ..models import Role
from ..reflex_compat import FunctionStringVar
from ..services import announcements
from ..services.announcements import LEVELS, MAX_MESSAGE, AnnouncementView
from ..state import SessionMixin

# The end is picked in the admin's local time; the browser knows that zone (and its daylight
# saving on that date), so it converts the pick to an absolute UTC time when it sends the pick
# (with the pick, not with the click on Post: the server has it before Post arrives).
_LOCAL_TO_UTC = FunctionStringVar.create(
    "((v) => { const d = new Date(v); return v && !isNaN(d) ? d.toISOString() : ''; })")


class AdminAnnouncementState(SessionMixin, rx.State):
    message: str = ""
    level: str = "info"
    ends_local: str = ""
    ends_utc: str = ""
    history: list[AnnouncementView] = []
    showing: bool = False

    async def _refresh(self) -> None:
        async with session_scope() as session:
            self.history = await announcements.recent(session)
        self.showing = bool(self.history) and self.history[0].state == "showing"

    @rx.event
    async def load(self):
        await self._load_user(Role.ADMIN)
        await self._refresh()

    @rx.event
    async def set_message(self, text: str):
        await self._require_user(Role.ADMIN)
        self.message = text[:MAX_MESSAGE * 2]

    @rx.event
    async def set_level(self, value: str):
        await self._require_user(Role.ADMIN)
        if value in LEVELS:
            self.level = value

    @rx.event
    async def set_ends(self, value: str, utc: str):
        """The end as picked (local time, shown in the field) and as the browser converted it (UTC)."""
        await self._require_user(Role.ADMIN)
        self.ends_local, self.ends_utc = value[:40], utc[:40]

    @rx.event
    async def post(self):
        actor = await self._require_user(Role.ADMIN)
        try:
            async with session_scope() as session:
                await announcements.post(session, actor=actor, message=self.message, level=self.level,
                                         ends_at=self.ends_utc, client_ip=self._client_ip())
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        self.message, self.ends_local, self.ends_utc = "", "", ""
        await self._refresh()
        return toasts.success("The announcement is showing on every page.")

    @rx.event
    async def remove(self):
        actor = await self._require_user(Role.ADMIN)
        try:
            async with session_scope() as session:
                await announcements.remove(session, actor=actor, client_ip=self._client_ip())
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        await self._refresh()
        return toasts.success("The announcement was removed.")


def _form() -> rx.Component:
    return rx.card(rx.vstack(
        rx.text_area(placeholder="A short message for every member, e.g. “Plex restarts at 22:00 for an update.”",
                     value=AdminAnnouncementState.message, on_change=AdminAnnouncementState.set_message,
                     max_length=MAX_MESSAGE, id="announcement-message", width="100%"),
        rx.text(AdminAnnouncementState.message.length(), f" / {MAX_MESSAGE}", size="1", color_scheme="gray"),
        rx.hstack(
            rx.vstack(rx.text("Level", size="2", weight="medium"),
                      rx.select.root(rx.select.trigger(id="announcement-level"),
                                     rx.select.content(*[rx.select.item(label, value=value)
                                                         for value, label in LEVELS.items()]),
                                     value=AdminAnnouncementState.level, on_change=AdminAnnouncementState.set_level),
                      spacing="1"),
            rx.vstack(rx.text("Ends (optional, your local time)", size="2", weight="medium"),
                      rx.hstack(rx.input(type="datetime-local", step="1", value=AdminAnnouncementState.ends_local,
                                         on_change=lambda value: AdminAnnouncementState.set_ends(
                                             value, _LOCAL_TO_UTC.call(value)),
                                         id="announcement-ends"),
                                rx.button("No end", size="1", variant="ghost", color_scheme="gray",
                                          on_click=AdminAnnouncementState.set_ends("", ""), id="announcement-no-end"),
                                align="center", spacing="2"),
                      spacing="1"),
            spacing="5", wrap="wrap", align="end",
        ),
        rx.hstack(rx.button(rx.icon("megaphone", size=16), "Post announcement",
                            on_click=AdminAnnouncementState.post,
                            id="announcement-post"),
                  rx.cond(AdminAnnouncementState.showing,
                          rx.button("Remove the current one", variant="soft", color_scheme="red",
                                    on_click=AdminAnnouncementState.remove, id="announcement-remove"),
                          rx.fragment()),
                  spacing="3", wrap="wrap"),
        rx.text("Posting replaces the announcement showing now. Members see it at once on every page.",
                size="1", color_scheme="gray"),
        spacing="3", width="100%",
    ), width="100%")


def _history_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.message, size="2")),
        rx.table.cell(rx.badge(row.level, color_scheme=rx.cond(row.level == "warning", "amber", "blue"),
                               variant="soft")),
        rx.table.cell(rx.text(rx.moment(row.posted_at, format="D MMM, HH:mm", local=True), " · ", row.posted_by,
                              size="1")),
        rx.table.cell(rx.cond(row.ends_at != "", rx.text(rx.moment(row.ends_at, format="D MMM, HH:mm", local=True),
                                                          size="1"), rx.text("until removed", size="1"))),
        rx.table.cell(rx.badge(row.state, color_scheme=rx.cond(row.state == "showing", "green", "gray"),
                               class_name="announcement-state")),
        id="announcement-" + row.id.to(str),
    )


@rx.page(route="/admin/announcement", title="Announcement · Admin · MediaNest", on_load=AdminAnnouncementState.load)
def admin_announcement() -> rx.Component:
    return shell(
        admin_tabs("/admin/announcement"),
        _form(),
        rx.heading("Latest announcements", size="4"),
        rx.cond(AdminAnnouncementState.history.length() > 0,
                rx.box(rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(n)
                                                   for n in ("Message", "Level", "Posted", "Ends", "State")])),
                    rx.table.body(rx.foreach(AdminAnnouncementState.history, _history_row)),
                    width="100%", id="announcement-history"), width="100%", overflow_x="auto"),
                rx.text("Nothing was announced yet.", size="2", color_scheme="gray", id="announcement-history-empty")),
        title="Announcement",
    )
