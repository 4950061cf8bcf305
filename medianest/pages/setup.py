"""First-run setup: the admin picks the household Plex server from the servers they own."""

from __future__ import annotations

import reflex as rx

from ..components import toasts
from ..components.layout import shell
from ..db import session_scope
from ..errors import IntegrationUnavailable, ValidationFailed
from ..models import Role
from ..services import household
from ..services.household import ServerChoice
from ..state import SessionMixin, SessionState
from ..wiring import get_registry


class SetupState(SessionMixin, rx.State):
    servers: list[ServerChoice] = []
    loading: bool = False
    error: str = ""
    saving: str = ""

    @rx.event
    async def load(self):
        user = await self._load_user(Role.ADMIN)
        self.loading, self.error = True, ""
        yield
        registry = get_registry()
        try:
            async with session_scope() as session:
                choices = await household.owned_servers(session, actor=user, plex_tv=await registry.plex_tv(session),
                                                        encryptor=registry.encryptor)
            self.servers = choices
            if not choices:
                self.error = ("Your Plex account does not own a Plex Media Server. "
                              "Sign in with the server owner's account.")
        except (ValidationFailed, IntegrationUnavailable) as exc:
            self.servers, self.error = [], exc.user_message
        self.loading = False

    @rx.event
    async def choose(self, machine_id: str):
        user = await self._require_user(Role.ADMIN)
        registry = get_registry()
        self.saving, self.error = str(machine_id), ""
        yield
        try:
            async with session_scope() as session:
                chosen = await household.choose_server(session, actor=user, machine_id=str(machine_id),
                                                       plex_tv=await registry.plex_tv(session),
                                                       encryptor=registry.encryptor, client_ip=self._client_ip())
        except (ValidationFailed, IntegrationUnavailable) as exc:
            self.saving, self.error = "", exc.user_message
            return
        self.saving = ""
        (await self.get_state(SessionState)).household_name = chosen.name
        yield [toasts.success(f"{chosen.name} is now the household server."), rx.redirect("/")]


def _server_card(server: rx.Var) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon("server", size=24),
            rx.vstack(rx.text(server["name"], weight="bold"),
                      rx.text(server["url"], size="1", color_scheme="gray"),
                      rx.text("Plex Media Server ", server["version"], size="1", color_scheme="gray"), spacing="0"),
            rx.spacer(),
            rx.button("Use this server", on_click=SetupState.choose(server["machine_id"]),
                      loading=SetupState.saving == server["machine_id"], id="choose-" + server["machine_id"]),
            align="center", width="100%", wrap="wrap", spacing="3",
        ),
        width="100%",
    )


@rx.page(route="/setup", title="Set up · MediaNest", on_load=SetupState.load)
def setup() -> rx.Component:
    return shell(
        rx.text("Pick the Plex server your household shares. Members can sign in when the server is shared "
                "with their Plex account.", color_scheme="gray"),
        rx.cond(SetupState.error != "",
                rx.callout(SetupState.error, icon="triangle-alert", color_scheme="red", id="setup-error"),
                rx.fragment()),
        rx.cond(SetupState.loading,
                rx.vstack(rx.skeleton(height="4em", width="100%"), rx.skeleton(height="4em", width="100%"),
                          width="100%", id="servers-loading"),
                rx.vstack(rx.foreach(SetupState.servers, _server_card), width="100%", spacing="3", id="server-list")),
        title="Choose your household server",
    )
