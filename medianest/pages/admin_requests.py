"""Admin: every request made through MediaNest (filter by member, status and type), approve or
decline pending ones with an optional reason the member sees."""

from __future__ import annotations

import reflex as rx

from ..components import toasts
from ..components.admin import admin_tabs
from ..components.cards import request_card
from ..components.layout import shell
from ..components.media import live_reload
from ..components.pager import pager
from ..db import session_scope
from ..errors import MediaNestError
from ..handler_args import as_id
from ..models import Role
from ..services import media_requests, request_views
from ..services.request_views import FILTERS, TYPES, MemberChoice, RequestView
from ..state import SessionMixin
from ..wiring import get_registry


class AdminRequestsState(SessionMixin, rx.State):
    rows: list[RequestView] = []
    members: list[MemberChoice] = []
    total: int = 0
    page: int = 1
    pages: int = 1
    status_filter: str = "pending"
    type_filter: str = "all"
    member_filter: str = "all"
    loading: bool = False
    decline_open: bool = False
    decline_id: int = 0
    decline_title: str = ""
    decline_reason: str = ""
    busy_id: int = 0

    async def _refresh(self, actor, page: int | None = None) -> None:
        async with session_scope() as session:
            found = await request_views.request_page(
                session, viewer=actor, mine=False, status=self.status_filter, media_type=self.type_filter,
                member_id=as_id(self.member_filter), page=self.page if page is None else page)
            people = await request_views.members(session)
        self.rows, self.total, self.page, self.pages = found.rows, found.total, found.page, found.pages
        self.members = people

    @rx.event
    async def load(self):
        actor = await self._load_user(Role.ADMIN)
        self.loading = True
        yield
        await self._refresh(actor)
        self.loading = False

    @rx.event
    async def reload(self):
        actor = await self._require_user(Role.ADMIN)
        await self._refresh(actor)

    @rx.event
    async def set_status_filter(self, value: str):
        actor = await self._require_user(Role.ADMIN)
        if value in FILTERS:
            self.status_filter, self.page = value, 1
            await self._refresh(actor)

    @rx.event
    async def set_type_filter(self, value: str):
        actor = await self._require_user(Role.ADMIN)
        if value in TYPES:
            self.type_filter, self.page = value, 1
            await self._refresh(actor)

    @rx.event
    async def set_member_filter(self, value: str):
        actor = await self._require_user(Role.ADMIN)
        if value == "all" or as_id(value) is not None:
            self.member_filter, self.page = value, 1
            await self._refresh(actor)

    @rx.event
    async def go_to_page(self, page: int):
        actor = await self._require_user(Role.ADMIN)
        await self._refresh(actor, page=int(page))

    @rx.event
    async def approve(self, request_id: int):
        actor = await self._require_user(Role.ADMIN)
        return await self._decide(actor, int(request_id), True, "")

    @rx.event
    async def open_decline(self, request_id: int):
        await self._require_user(Role.ADMIN)
        row = next((r for r in self.rows if r.id == int(request_id)), None)
        if row is None:
            return
        self.decline_id, self.decline_title, self.decline_reason = row.id, row.title, ""
        self.decline_open = True

    @rx.event
    async def set_decline_reason(self, text: str):
        await self._require_user(Role.ADMIN)
        self.decline_reason = str(text)[:600]

    @rx.event
    async def close_decline(self, _open: bool = False):
        await self._require_user(Role.ADMIN)
        self.decline_open = False

    @rx.event
    async def confirm_decline(self):
        actor = await self._require_user(Role.ADMIN)
        if len(self.decline_reason.strip()) > media_requests.MAX_REASON:
            return toasts.error(f"Keep the reason under {media_requests.MAX_REASON} characters.")
        self.decline_open = False
        return await self._decide(actor, self.decline_id, False, self.decline_reason)

    async def _decide(self, actor, request_id: int, approve: bool, reason: str):
        overseerr = get_registry().overseerr()
        if overseerr is None:
            return toasts.error("Overseerr is not configured.")
        self.busy_id = request_id
        try:
            async with session_scope() as session:
                text = await media_requests.decide(session, actor=actor, request_id=request_id, approve=approve,
                                                   reason=reason, overseerr=overseerr, client_ip=self._client_ip())
        except MediaNestError as exc:
            await self._refresh(actor)
            return toasts.error(exc.user_message)
        finally:
            self.busy_id = 0
        await self._refresh(actor)
        return toasts.success(text)


def _decide_buttons(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["can_decide"],
        rx.hstack(
            rx.button(rx.icon("check", size=14), "Approve", size="1", color_scheme="green",
                      loading=AdminRequestsState.busy_id == row["id"],
                      on_click=AdminRequestsState.approve(row["id"]), class_name="approve-button"),
            rx.button(rx.icon("x", size=14), "Decline", size="1", color_scheme="red", variant="soft",
                      on_click=AdminRequestsState.open_decline(row["id"]), class_name="decline-button"),
            spacing="2",
        ),
        rx.fragment(),
    )


def _decline_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Decline ", AdminRequestsState.decline_title),
            rx.dialog.description("The member sees the reason with their request. It is optional.", size="2"),
            rx.text_area(placeholder="Reason (optional)", value=AdminRequestsState.decline_reason,
                         on_change=AdminRequestsState.set_decline_reason, id="decline-reason", max_length=500,
                         margin_y="1em"),
            rx.hstack(rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                      rx.button("Decline request", color_scheme="red", on_click=AdminRequestsState.confirm_decline,
                                id="confirm-decline"),
                      justify="end", spacing="2"),
            max_width="28rem",
        ),
        open=AdminRequestsState.decline_open, on_open_change=AdminRequestsState.close_decline,
    )


def _select(value: rx.Var, on_change, items: list[tuple[str, str]], element_id: str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(id=element_id),
        rx.select.content(*[rx.select.item(label, value=v) for v, label in items]),
        value=value, on_change=on_change,
    )


@rx.page(route="/admin/requests", title="Requests · Admin · MediaNest", on_load=AdminRequestsState.load)
def admin_requests() -> rx.Component:
    return shell(
        admin_tabs("/admin/requests"),
        live_reload(AdminRequestsState.reload),
        rx.hstack(
            _select(AdminRequestsState.status_filter, AdminRequestsState.set_status_filter, list(FILTERS.items()),
                    "admin-status-filter"),
            _select(AdminRequestsState.type_filter, AdminRequestsState.set_type_filter, list(TYPES.items()),
                    "admin-type-filter"),
            rx.select.root(
                rx.select.trigger(id="admin-member-filter"),
                rx.select.content(rx.select.item("Every member", value="all"),
                                  rx.foreach(AdminRequestsState.members,
                                             lambda m: rx.select.item(m["name"], value=m["id"]))),
                value=AdminRequestsState.member_filter, on_change=AdminRequestsState.set_member_filter,
            ),
            rx.spacer(),
            rx.text(AdminRequestsState.total, rx.cond(AdminRequestsState.total == 1, " request", " requests"),
                    size="2", color_scheme="gray"),
            spacing="3", wrap="wrap", width="100%", align="center",
        ),
        rx.cond(
            AdminRequestsState.loading,
            rx.skeleton(height="10em", width="100%"),
            rx.cond(AdminRequestsState.rows.length() > 0,
                    rx.vstack(rx.foreach(AdminRequestsState.rows,
                                         lambda r: request_card(r, _decide_buttons(r), show_user=True)),
                              spacing="3", width="100%", id="admin-requests"),
                    rx.center(rx.text("No requests match these filters.", color_scheme="gray"), padding="2em",
                              id="no-admin-requests")),
        ),
        pager(AdminRequestsState),
        _decline_dialog(),
        title="Requests",
    )
