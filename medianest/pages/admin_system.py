"""Admin → System: the ``/health`` checks in words, each circuit breaker in every process with
Reset, versions of MediaNest and of each connected service, database and Redis reachability and
size, free space on the downloads disk, and the signed-in sessions with "Sign everyone out"."""

from __future__ import annotations

import logging

import reflex as rx

from ..components import toasts
from ..components.admin import admin_tabs
from ..components.layout import shell
from ..db import session_scope
from ..errors import MediaNestError
from ..models import Role, utcnow
from ..services import breaker_views, system_health
from ..services.breaker_views import BreakerRow
from ..services.system_health import Line
from ..state import SessionMixin
from ..wiring import get_registry

logger = logging.getLogger(__name__)

_TONE_COLORS = {"ok": "green", "warn": "amber", "bad": "red", "none": "gray"}
_TONE_WORDS = {"ok": "OK", "warn": "Attention", "bad": "Problem", "none": "Info"}


class AdminSystemState(SessionMixin, rx.State):
    healthy: bool = True
    headline: str = ""
    checks: list[Line] = []
    versions: list[Line] = []
    storage: list[Line] = []
    paused: list[Line] = []
    sessions_text: str = ""
    breakers: list[BreakerRow] = []
    processes_text: str = ""
    checked_at: str = ""
    loaded: bool = False
    busy_service: str = ""
    sign_out_open: bool = False

    async def _refresh(self) -> None:
        registry = get_registry()
        plex = None
        try:
            async with session_scope() as session:
                plex = await registry.plex_server(session)
        except Exception as exc:  # the database is down: the view says so itself
            logger.info("system page: no Plex client (%r)", exc)
        view = await system_health.system_view(session_scope, settings=registry.settings, redis=registry.redis(),
                                               plex=plex, overseerr=registry.overseerr(),
                                               kuma=registry.uptime_kuma())
        self.healthy, self.headline, self.checks = view.healthy, view.headline, view.checks
        self.versions, self.storage, self.sessions_text = view.versions, view.storage, view.sessions.text
        self.paused = view.paused
        await self._refresh_breakers()
        self.checked_at = utcnow().isoformat()
        self.loaded = True

    async def _refresh_breakers(self) -> None:
        self.breakers, self.processes_text = await breaker_views.read_breakers(get_registry().redis())

    @rx.event
    async def load(self):
        await self._load_user(Role.ADMIN)
        yield  # the shell shows the admin while the checks run (versions may take a few seconds)
        await self._refresh()

    @rx.event
    async def refresh(self):
        await self._require_user(Role.ADMIN)
        await self._refresh()

    @rx.event
    async def reset_breaker(self, service: str):
        """Reset one service's circuit breaker in every web and task worker process."""
        actor = await self._require_user(Role.ADMIN)
        self.busy_service = str(service)
        yield
        try:
            async with session_scope() as session:
                outcome = await breaker_views.reset(session, actor=actor, service=str(service),
                                                    redis=get_registry().redis(), client_ip=self._client_ip())
        except MediaNestError as exc:
            self.busy_service = ""
            yield toasts.error(exc.user_message)
            return
        await self._refresh_breakers()
        self.busy_service = ""
        yield toasts.success(breaker_views.reset_sentence(outcome))

    @rx.event
    async def open_sign_out(self):
        await self._require_user(Role.ADMIN)
        self.sign_out_open = True

    @rx.event
    async def close_sign_out(self, _open: bool = False):
        await self._require_user(Role.ADMIN)
        self.sign_out_open = False

    @rx.event
    async def confirm_sign_out(self):
        """End every session but this one: every open tab of everyone else goes to sign-in."""
        actor = await self._require_user(Role.ADMIN)
        self.sign_out_open = False
        async with session_scope() as session:
            ended = await system_health.sign_everyone_out(session, actor=actor, client_ip=self._client_ip())
        async with session_scope() as session:
            self.sessions_text = (await system_health.session_count(session)).text
        return toasts.success(system_health.signed_out_sentence(ended))


def _tone(tone: rx.Var) -> rx.Component:
    return rx.match(tone, *[(key, rx.badge(_TONE_WORDS[key], color_scheme=color, variant="soft"))
                            for key, color in _TONE_COLORS.items()], rx.fragment())


def _line(prefix: str, line: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(line.title, white_space="nowrap"),
        rx.table.cell(line.text, id=f"{prefix}-" + line.key),
        rx.table.cell(_tone(line.tone)),
    )


def _lines(prefix: str, lines: rx.Var) -> rx.Component:
    return rx.table.root(rx.table.body(rx.foreach(lines, lambda line: _line(prefix, line))),
                         variant="surface", size="1", width="100%")


def _breaker(row: rx.Var) -> rx.Component:
    color = rx.match(row.state, ("open", "red"), ("half-open", "amber"), ("closed", "green"), "gray")
    return rx.table.row(
        rx.table.row_header_cell(row.service, white_space="nowrap"),
        rx.table.cell(rx.badge(row.label, color_scheme=color, id="breaker-state-" + row.key)),
        rx.table.cell(rx.text(row.text, size="2"), id="breaker-text-" + row.key),
        rx.table.cell(rx.button("Reset", size="1", variant="soft", loading=AdminSystemState.busy_service == row.service,
                                on_click=AdminSystemState.reset_breaker(row.service), id="reset-" + row.key)),
    )


def _sign_out_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Sign everyone out?"),
            rx.alert_dialog.description(
                "Every session ends at once, on every device, and every open MediaNest page goes to the sign-in "
                "page. You stay signed in in this browser; your other devices are signed out too.", size="2"),
            rx.hstack(rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                      rx.alert_dialog.action(rx.button("Sign everyone out", color_scheme="red",
                                                       on_click=AdminSystemState.confirm_sign_out,
                                                       id="confirm-sign-everyone-out")),
                      justify="end", spacing="2", margin_top="1em"),
            max_width="30rem",
        ),
        open=AdminSystemState.sign_out_open, on_open_change=AdminSystemState.close_sign_out,
    )


def _section(title: str, *children: rx.Component) -> rx.Component:
    return rx.vstack(rx.heading(title, size="4"), *children, spacing="2", width="100%", margin_top="1em")


@rx.page(route="/admin/system", title="System · Admin · MediaNest", on_load=AdminSystemState.load)
def admin_system() -> rx.Component:
    return shell(
        admin_tabs("/admin/system"),
        rx.cond(
            AdminSystemState.loaded,
            rx.vstack(
                rx.hstack(
                    rx.callout(AdminSystemState.headline, icon=rx.cond(AdminSystemState.healthy, "circle_check",
                                                                       "circle_alert"),
                               color_scheme=rx.cond(AdminSystemState.healthy, "green", "red"), id="system-headline"),
                    rx.spacer(),
                    rx.text("Checked ", rx.moment(AdminSystemState.checked_at, from_now=True), size="1",
                            color_scheme="gray"),
                    rx.button(rx.icon("refresh_cw", size=14), "Refresh", variant="soft",
                              on_click=AdminSystemState.refresh, id="system-refresh"),
                    width="100%", align="center", wrap="wrap", spacing="3",
                ),
                _section("Health checks", _lines("check", AdminSystemState.checks)),
                _section("Circuit breakers",
                         rx.text("After repeated failures a service's breaker opens and calls to it are refused for "
                                 "a while. Each web and task worker process keeps its own; Reset closes the "
                                 "service's breaker in all of them.", size="2", color_scheme="gray"),
                         rx.table.root(rx.table.body(rx.foreach(AdminSystemState.breakers, _breaker)),
                                       variant="surface", size="1", width="100%", id="breakers"),
                         rx.text(AdminSystemState.processes_text, size="1", color_scheme="gray",
                                 id="breaker-processes")),
                _section("Versions", _lines("version", AdminSystemState.versions)),
                _section("Storage", _lines("storage", AdminSystemState.storage)),
                _section("Paused work", _lines("paused", AdminSystemState.paused)),
                _section("Sessions",
                         rx.hstack(rx.text(AdminSystemState.sessions_text, id="session-count"),
                                   rx.button("Sign everyone out", color_scheme="red", variant="soft",
                                             on_click=AdminSystemState.open_sign_out, id="sign-everyone-out"),
                                   align="center", spacing="3", wrap="wrap")),
                width="100%", spacing="2",
            ),
            rx.skeleton(height="16em", width="100%"),
        ),
        _sign_out_dialog(),
        title="System",
    )
