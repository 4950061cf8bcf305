"""Admin → Audit: every audit row (sign-ins, refusals, role and suspension changes, configuration
changes, request decisions, downloads removed…), newest first, 50 a page, filtered by action, user
and dates (inclusive, in the browser's time zone), and the same rows as CSV (``/admin/audit.csv``)."""

from __future__ import annotations

from urllib.parse import urlencode

import reflex as rx

from ..components import toasts
from ..components.admin import admin_tabs
from ..components.layout import shell
from ..components.pager import pager
from ..db import session_scope
from ..errors import ValidationFailed
from ..handler_args import as_id
from ..models import Role
from ..reflex_compat import browser_value
from ..services import audit_views, request_views
from ..services.audit_views import ActionChoice, AuditRowView
from ..services.request_views import MemberChoice
from ..state import SessionMixin

_BROWSER_TIME_ZONE = "(Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC')"


class AdminAuditState(SessionMixin, rx.State):
    rows: list[AuditRowView] = []
    actions: list[ActionChoice] = []
    people: list[MemberChoice] = []
    total: int = 0
    page: int = 1
    pages: int = 1
    action_filter: str = "all"
    user_filter: str = "all"
    date_from: str = ""
    date_to: str = ""
    time_zone: str = "UTC"
    problem: str = ""
    loading: bool = False

    @rx.var
    def csv_href(self) -> str:
        query = {"action": self.action_filter, "user": self.user_filter, "from": self.date_from,
                 "to": self.date_to, "tz": self.time_zone}
        return "/admin/audit.csv?" + urlencode({k: v for k, v in query.items() if v and v != "all"})

    async def _refresh(self, page: int | None = None) -> None:
        try:
            chosen = audit_views.parse_filter(action=self.action_filter, user=self.user_filter,
                                              date_from=self.date_from, date_to=self.date_to,
                                              time_zone=self.time_zone)
        except ValidationFailed as exc:
            self.problem, self.rows, self.total, self.page, self.pages = exc.user_message, [], 0, 1, 1
            return
        async with session_scope() as session:
            found = await audit_views.audit_page(session, chosen, page=self.page if page is None else page)
            self.actions = await audit_views.action_choices(session)
        self.problem = ""
        self.rows, self.total, self.page, self.pages = found.rows, found.total, found.page, found.pages
        self.time_zone = found.time_zone

    @rx.event
    async def load(self):
        await self._load_user(Role.ADMIN)
        self.loading = True
        yield
        async with session_scope() as session:
            self.people = await request_views.members(session)
        await self._refresh()
        self.loading = False

    @rx.event
    async def set_time_zone(self, name: str):
        """The browser's IANA time zone, sent once the page is shown (unknown ones mean UTC)."""
        await self._require_user(Role.ADMIN)
        zone = audit_views.known_time_zone(str(name))
        if zone != self.time_zone:
            self.time_zone = zone
            await self._refresh()

    @rx.event
    async def set_action_filter(self, value: str):
        await self._require_user(Role.ADMIN)
        if value == "all" or any(choice.value == value for choice in self.actions):
            self.action_filter, self.page = value, 1
            await self._refresh()

    @rx.event
    async def set_user_filter(self, value: str):
        await self._require_user(Role.ADMIN)
        if value == "all" or as_id(value) is not None:
            self.user_filter, self.page = value, 1
            await self._refresh()

    @rx.event
    async def set_date_from(self, value: str):
        await self._require_user(Role.ADMIN)
        self.date_from, self.page = str(value)[:10], 1
        await self._refresh()

    @rx.event
    async def set_date_to(self, value: str):
        await self._require_user(Role.ADMIN)
        self.date_to, self.page = str(value)[:10], 1
        await self._refresh()

    @rx.event
    async def clear_filters(self):
        await self._require_user(Role.ADMIN)
        self.action_filter, self.user_filter, self.date_from, self.date_to, self.page = "all", "all", "", "", 1
        await self._refresh()

    @rx.event
    async def go_to_page(self, page: int):
        await self._require_user(Role.ADMIN)
        await self._refresh(page=int(page))
        if self.problem:
            return toasts.error(self.problem)
        return None


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.when, size="2", white_space="nowrap"), class_name="audit-when"),
        rx.table.cell(rx.vstack(rx.text(row.label, weight="medium", size="2"),
                                rx.code(row.action, size="1", variant="ghost"), spacing="0"),
                      class_name="audit-action"),
        rx.table.cell(row.actor, class_name="audit-actor"),
        rx.table.cell(row.target, class_name="audit-target"),
        rx.table.cell(rx.text(row.details, size="1", color_scheme="gray"), class_name="audit-details",
                      display=["none", "none", "table-cell"]),
        rx.table.cell(rx.text(row.client_ip, size="1"), display=["none", "none", "table-cell"]),
        class_name="audit-row",
    )


def _filters() -> rx.Component:
    return rx.hstack(
        rx.select.root(
            rx.select.trigger(id="audit-action-filter"),
            rx.select.content(rx.foreach(AdminAuditState.actions,
                                         lambda a: rx.select.item(a.label, value=a.value))),
            value=AdminAuditState.action_filter, on_change=AdminAuditState.set_action_filter,
        ),
        rx.select.root(
            rx.select.trigger(id="audit-user-filter"),
            rx.select.content(rx.select.item("Every user", value="all"),
                              rx.foreach(AdminAuditState.people, lambda p: rx.select.item(p.name, value=p.id))),
            value=AdminAuditState.user_filter, on_change=AdminAuditState.set_user_filter,
        ),
        rx.hstack(rx.text("From", size="2"),
                  rx.input(type="date", value=AdminAuditState.date_from, on_change=AdminAuditState.set_date_from,
                           id="audit-from"),
                  rx.text("to", size="2"),
                  rx.input(type="date", value=AdminAuditState.date_to, on_change=AdminAuditState.set_date_to,
                           id="audit-to"),
                  align="center", spacing="2"),
        rx.button("Clear", variant="soft", color_scheme="gray", on_click=AdminAuditState.clear_filters,
                  id="audit-clear"),
        rx.spacer(),
        rx.link(rx.button(rx.icon("download", size=14), "Download CSV", variant="soft"),
                href=AdminAuditState.csv_href, reload_document=True, id="audit-csv"),
        spacing="3", wrap="wrap", width="100%", align="center",
    )


@rx.page(route="/admin/audit", title="Audit · Admin · MediaNest", on_load=AdminAuditState.load)
def admin_audit() -> rx.Component:
    return shell(
        admin_tabs("/admin/audit"),
        # Once shown, the page tells the server the browser's time zone (dates and times are in it).
        rx.box(on_mount=AdminAuditState.set_time_zone(browser_value(_BROWSER_TIME_ZONE)), display="none"),
        _filters(),
        rx.hstack(
            rx.text(AdminAuditState.total, rx.cond(AdminAuditState.total == 1, " entry", " entries"),
                    size="2", color_scheme="gray", id="audit-total"),
            rx.text("Times and dates in ", AdminAuditState.time_zone, " (this browser's time zone); "
                    "dates are inclusive.", size="2", color_scheme="gray", id="audit-time-zone"),
            spacing="3", wrap="wrap",
        ),
        rx.cond(AdminAuditState.problem != "",
                rx.callout(AdminAuditState.problem, icon="triangle_alert", color_scheme="amber", id="audit-problem")),
        rx.cond(
            AdminAuditState.loading,
            rx.skeleton(height="10em", width="100%"),
            rx.cond(AdminAuditState.rows.length() > 0,
                    rx.box(rx.table.root(
                        rx.table.header(rx.table.row(
                            rx.table.column_header_cell("When"), rx.table.column_header_cell("What"),
                            rx.table.column_header_cell("By"), rx.table.column_header_cell("Target"),
                            rx.table.column_header_cell("Details", display=["none", "none", "table-cell"]),
                            rx.table.column_header_cell("IP address", display=["none", "none", "table-cell"]))),
                        rx.table.body(rx.foreach(AdminAuditState.rows, _row)),
                        variant="surface", width="100%", size="1", id="audit-rows",
                    ), width="100%", overflow_x="auto"),
                    rx.center(rx.text("No audit entries match these filters.", color_scheme="gray"), padding="2em",
                              id="no-audit-rows")),
        ),
        pager(AdminAuditState),
        title="Audit log",
    )
