"""Admin area: users, roles and suspension (suspending ends the member's sessions at once)."""

from __future__ import annotations

import reflex as rx

from ..components import toasts
from ..components.admin import admin_tabs
from ..components.layout import shell
from ..db import session_scope
from ..errors import MediaNestError, NotFound, ValidationFailed
from ..handler_args import as_id
from ..models import Role, UserStatus
from ..services import media_requests, member_views, users
from ..services.member_views import MemberRow
from ..state import SessionMixin
from ..wiring import get_registry


class AdminUsersState(SessionMixin, rx.State):
    rows: list[MemberRow] = []
    loading: bool = False

    async def _refresh(self, actor) -> None:
        async with session_scope() as session:
            self.rows = await member_views.member_rows(session, actor=actor, overseerr=get_registry().overseerr())

    @rx.event
    async def load(self):
        user = await self._load_user(Role.ADMIN)
        self.loading = True
        yield
        await self._refresh(user)
        self.loading = False

    @rx.event
    async def import_to_overseerr(self, user_id: str):
        """Create the member's Overseerr user from their Plex account (``import-from-plex``)."""
        actor = await self._require_user(Role.ADMIN)
        overseerr = get_registry().overseerr()
        if overseerr is None:
            return toasts.error("Overseerr is not configured.")
        target = as_id(user_id)
        if target is None:
            return toasts.error("That user id is not valid.")
        try:
            async with session_scope() as session:
                text = await media_requests.import_member(session, actor=actor, user_id=target,
                                                          overseerr=overseerr, client_ip=self._client_ip())
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        await self._refresh(actor)
        return toasts.success(text)

    @rx.event
    async def suspend(self, user_id: str):
        yield await self._change(user_id, status=UserStatus.SUSPENDED.value)

    @rx.event
    async def reactivate(self, user_id: str):
        yield await self._change(user_id, status=UserStatus.ACTIVE.value)

    @rx.event
    async def set_role(self, user_id: str, role: str):
        yield await self._change(user_id, role=str(role))

    async def _change(self, user_id: str, *, status: str | None = None, role: str | None = None):
        actor = await self._require_user(Role.ADMIN)
        target = as_id(user_id)
        if target is None:
            return toasts.error("That user id is not valid.")
        try:
            async with session_scope() as session:
                if status is not None:
                    changed = await users.set_status(session, actor=actor, user_id=target, status=status,
                                                     client_ip=self._client_ip())
                    text = users.status_sentence(changed, status)
                else:
                    changed = await users.set_role(session, actor=actor, user_id=target, role=role or "",
                                                   client_ip=self._client_ip())
                    text = users.role_sentence(changed)
        except (ValidationFailed, NotFound) as exc:
            return toasts.error(exc.user_message)
        await self._refresh(actor)
        return toasts.success(text)


def _row(row: rx.Var) -> rx.Component:
    suspended = row["status"] == UserStatus.SUSPENDED.value
    return rx.table.row(
        rx.table.cell(rx.hstack(rx.avatar(src=row["avatar"], fallback=row["initials"], size="2",
                                          radius="full"),
                                rx.vstack(rx.text(row["username"], weight="medium"),
                                          rx.text(row["email"], size="1", color_scheme="gray"), spacing="0"),
                                align="center")),
        rx.table.cell(rx.badge(row["role"], color_scheme=rx.cond(row["role"] == "admin", "amber", "gray"))),
        rx.table.cell(rx.badge(rx.cond(suspended, "suspended", "active"),
                               color_scheme=rx.cond(suspended, "red", "green"), id="status-" + row["username"])),
        rx.table.cell(row["kind"], display=["none", "none", "table-cell"]),
        rx.table.cell(rx.match(
            row["overseerr"],
            ("linked", rx.badge("linked", color_scheme="green", variant="soft")),
            ("missing", rx.hstack(rx.badge("not in Overseerr", color_scheme="amber", variant="soft"),
                                  rx.button("Add to Overseerr", size="1", variant="soft",
                                            on_click=AdminUsersState.import_to_overseerr(row["id"]),
                                            id="import-" + row["username"]), spacing="2", wrap="wrap")),
            ("unknown", rx.badge("Overseerr not answering", color_scheme="gray", variant="soft")),
            rx.text("–", color_scheme="gray"),
        ), id="overseerr-" + row["username"]),
        rx.table.cell(row["last_login"], display=["none", "none", "table-cell"]),
        rx.table.cell(rx.hstack(
            rx.cond(suspended,
                    rx.button("Reactivate", size="1", variant="soft", color_scheme="green",
                              on_click=AdminUsersState.reactivate(row["id"]), id="reactivate-" + row["username"]),
                    rx.button("Suspend", size="1", variant="soft", color_scheme="red",
                              on_click=AdminUsersState.suspend(row["id"]), id="suspend-" + row["username"])),
            rx.cond(row["role"] == Role.ADMIN.value,
                    rx.button("Make member", size="1", variant="outline",
                              on_click=AdminUsersState.set_role(row["id"], Role.USER.value)),
                    rx.button("Make admin", size="1", variant="outline",
                              on_click=AdminUsersState.set_role(row["id"], Role.ADMIN.value))),
            spacing="2", wrap="wrap")),
        id="user-row-" + row["username"],
    )


@rx.page(route="/admin", title="Admin · MediaNest", on_load=AdminUsersState.load)
def admin() -> rx.Component:
    return shell(
        admin_tabs("/admin"),
        rx.text("Everyone who has signed in to MediaNest. Suspending someone signs them out everywhere at once.",
                color_scheme="gray"),
        rx.cond(
            AdminUsersState.loading,
            rx.skeleton(height="8em", width="100%"),
            rx.cond(
                AdminUsersState.rows.length() > 0,
                rx.box(rx.table.root(
                    rx.table.header(rx.table.row(
                        rx.table.column_header_cell("User"), rx.table.column_header_cell("Role"),
                        rx.table.column_header_cell("Status"),
                        rx.table.column_header_cell("Sign-in", display=["none", "none", "table-cell"]),
                        rx.table.column_header_cell("Overseerr"),
                        rx.table.column_header_cell("Last sign-in", display=["none", "none", "table-cell"]),
                        rx.table.column_header_cell("Actions"))),
                    rx.table.body(rx.foreach(AdminUsersState.rows, _row)),
                    variant="surface", width="100%", id="users-table",
                ), width="100%", overflow_x="auto"),
                rx.text("No users yet.", color_scheme="gray"),
            ),
        ),
        title="Users",
    )
