"""Admin → Services: one card per external system (Plex, Overseerr, Uptime Kuma, YouTube downloads),
"Test connection" before saving, and Save that every process applies at once.

Secrets never enter this state: each card is a plain form whose password fields are not bound to
any var; the submitted form goes straight to the service and is not kept. The cards show only
"set · ends in …4f2a" (``services.service_config``)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from .. import config_version
from ..components import toasts
from ..components.admin import admin_tabs
from ..components.layout import shell
from ..config import get_settings
from ..db import session_scope
from ..errors import IntegrationUnavailable, MediaNestError, ValidationFailed
from ..models import Role
from ..services import household, service_config
from ..services.household import ServerChoice
from ..services.service_config import CardView, FieldInvalid
from ..state import SessionMixin, SessionState
from ..wiring import get_registry

_ACTIONS = ("test", "save")


class AdminServicesState(SessionMixin, rx.State):
    cards: list[CardView] = []
    loading: bool = False
    #: Per service: the last test's or save's sentence, and "ok" / "error".
    notes: dict[str, str] = {}
    note_kinds: dict[str, str] = {}
    #: Per field (``Settings`` attribute): why its value was refused.
    field_errors: dict[str, str] = {}
    #: Per service: bumped after a save so the form is drawn again (typed secrets gone).
    generations: dict[str, int] = {}
    busy: str = ""
    servers: list[ServerChoice] = []
    servers_error: str = ""
    choosing: str = ""
    # Which button sent the form that follows (its click event arrives just before the submit).
    _intent: str = ""

    async def _reload(self) -> None:
        registry = get_registry()
        async with session_scope() as session:
            self.cards = await service_config.cards(session, env=get_settings(), encryptor=registry.encryptor)
        self.generations = {card.service: self.generations.get(card.service, 0) for card in self.cards}

    @rx.event
    async def load(self):
        await self._load_user(Role.ADMIN)
        self.loading = True
        yield
        await self._reload()
        self.notes, self.note_kinds, self.field_errors, self.servers = {}, {}, {}, []
        self.loading = False

    @rx.event
    async def intend(self, action: str):
        """The Test or Save button was clicked; the form's submit event comes next."""
        await self._require_user(Role.ADMIN)
        self._intent = action if action in _ACTIONS else ""

    def _note(self, service: str, text: str, kind: str) -> None:
        self.notes = {**self.notes, service: text}
        self.note_kinds = {**self.note_kinds, service: kind}

    @rx.event
    async def submit(self, form: dict):
        """A card's form: test its values, or save them (whichever button sent it)."""
        actor = await self._require_user(Role.ADMIN)
        action, self._intent = self._intent or "save", ""
        service = str(form.get("service") or "")
        if service not in service_config.SERVICES:
            yield toasts.error("That service is not on this page.")
            return
        self.busy = f"{action}:{service}"
        self.field_errors = {k: v for k, v in self.field_errors.items()
                             if k not in {f.attr for f in service_config.fields_of(service)}}
        yield
        registry = get_registry()
        try:
            async with session_scope() as session:
                if action == "test":
                    result = await service_config.try_connection(
                        session, service=service, form=form, env=get_settings(), encryptor=registry.encryptor,
                        clients=registry.probes())
                else:
                    saved = await service_config.save(session, actor=actor, service=service, form=form,
                                                      env=get_settings(), encryptor=registry.encryptor,
                                                      client_ip=self._client_ip())
        except FieldInvalid as exc:
            self.busy = ""
            self.field_errors = {**self.field_errors, exc.field: exc.problem}
            self._note(service, exc.user_message, "error")
            return
        except MediaNestError as exc:
            self.busy = ""
            self._note(service, exc.user_message, "error")
            return
        self.busy = ""
        if action == "test":
            self._note(service, result.message, "ok" if result.ok else "error")
            return
        if saved.changes:
            await config_version.bump()
            self.generations = {**self.generations, service: self.generations.get(service, 0) + 1}
        await self._reload()
        self._note(service, saved.message, "ok")

    @rx.event
    async def forget(self, service: str):
        """Drop everything saved for one service: the environment's values apply again."""
        actor = await self._require_user(Role.ADMIN)
        service = str(service)
        try:
            async with session_scope() as session:
                count = await service_config.forget(session, actor=actor, service=service,
                                                    encryptor=get_registry().encryptor, client_ip=self._client_ip())
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        if count:
            await config_version.bump()
        self.generations = {**self.generations, service: self.generations.get(service, 0) + 1}
        await self._reload()
        self._note(service, f"{count} saved value{'s' if count != 1 else ''} dropped: the environment's apply.", "ok")
        return None

    @rx.event
    async def list_servers(self):
        """Plex: the servers the admin owns, to choose another household server."""
        actor = await self._require_user(Role.ADMIN)
        self.choosing, self.servers_error = "list", ""
        yield
        registry = get_registry()
        try:
            async with session_scope() as session:
                self.servers = await household.owned_servers(session, actor=actor,
                                                             plex_tv=await registry.plex_tv(session),
                                                             encryptor=registry.encryptor)
            if not self.servers:
                self.servers_error = "Your Plex account does not own a Plex Media Server."
        except (ValidationFailed, IntegrationUnavailable) as exc:
            self.servers, self.servers_error = [], exc.user_message
        self.choosing = ""

    @rx.event
    async def choose_server(self, machine_id: str):
        actor = await self._require_user(Role.ADMIN)
        self.choosing = str(machine_id)
        yield
        registry = get_registry()
        try:
            async with session_scope() as session:
                chosen = await service_config.choose_household(
                    session, actor=actor, machine_id=str(machine_id), plex_tv=await registry.plex_tv(session),
                    encryptor=registry.encryptor, client_ip=self._client_ip())
        except (ValidationFailed, IntegrationUnavailable) as exc:
            self.choosing, self.servers_error = "", exc.user_message
            return
        await config_version.bump()
        self.choosing, self.servers = "", []
        (await self.get_state(SessionState)).household_name = chosen.name
        self.generations = {**self.generations, "plex": self.generations.get("plex", 0) + 1}
        await self._reload()
        self._note("plex", f"{chosen.name} is now the household server.", "ok")


def _field(field: rx.Var) -> rx.Component:
    name = field.attr
    error = AdminServicesState.field_errors[name]
    has_error = AdminServicesState.field_errors.contains(name)
    common: dict[str, Any] = {"name": name, "id": "field-" + name, "width": "100%"}
    control = rx.match(
        field.input,
        ("secret", rx.vstack(
            rx.text(field.secret_state, size="2", id="state-" + name),
            rx.input(type="password", placeholder=field.placeholder, auto_complete="new-password", **common),
            rx.cond(field.saved,
                    rx.el.label(rx.checkbox(name="clear:" + name, id="clear-" + name),
                                rx.text("Clear the value saved here", size="1"),
                                display="flex", gap="0.4em", align_items="center"),
                    rx.fragment()),
            spacing="1", width="100%")),
        ("choice", rx.select.root(
            rx.select.trigger(id="field-" + name, width="100%"),
            rx.select.content(rx.foreach(field.options, lambda o: rx.select.item(o.label, value=o.value))),
            name=name, default_value=field.value)),
        ("number", rx.input(type="number", default_value=field.value, step=field.step, **common)),
        rx.input(default_value=field.value, placeholder=field.placeholder, **common),
    )
    return rx.vstack(
        rx.hstack(rx.text(field.label, weight="medium", size="2"),
                  rx.badge(field.source_note, variant="soft", size="1", id="source-" + name,
                           color_scheme=rx.match(field.source, ("saved here", "teal"), ("environment", "blue"),
                                                 "gray")),
                  spacing="2", align="center", wrap="wrap"),
        control,
        rx.cond(has_error, rx.text(error, color_scheme="red", size="1", id="error-" + name), rx.fragment()),
        rx.cond(field.help != "", rx.text(field.help, size="1", color_scheme="gray"), rx.fragment()),
        spacing="1", width="100%",
    )


def _server(server: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.text(server.name, weight="medium"), rx.text(server.url, size="1", color_scheme="gray"), rx.spacer(),
        rx.button("Use this server", size="1", on_click=AdminServicesState.choose_server(server.machine_id),
                  loading=AdminServicesState.choosing == server.machine_id, id="choose-" + server.machine_id),
        width="100%", align="center", wrap="wrap",
    )


def _household(card: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.text("Household server:", weight="medium", size="2"),
                  rx.text(card.household, size="2", id="household-server"),
                  rx.button("Change", size="1", variant="soft", on_click=AdminServicesState.list_servers,
                            loading=AdminServicesState.choosing == "list", id="change-household"),
                  spacing="2", align="center", wrap="wrap"),
        rx.cond(AdminServicesState.servers_error != "",
                rx.text(AdminServicesState.servers_error, color_scheme="red", size="2", id="servers-error"),
                rx.fragment()),
        rx.vstack(rx.foreach(AdminServicesState.servers, _server), width="100%", id="server-choices"),
        width="100%", spacing="2",
    )


def _card(card: rx.Var) -> rx.Component:
    service = card.service
    note_kind = AdminServicesState.note_kinds[service]
    return rx.card(rx.vstack(
        rx.heading(card.title, size="4"),
        rx.text(card.description, size="2", color_scheme="gray"),
        rx.cond(service == "plex", _household(card), rx.fragment()),
        rx.cond(card.warning != "", rx.callout(card.warning, color_scheme="amber", icon="triangle-alert"),
                rx.fragment()),
        rx.form(
            rx.vstack(
                rx.el.input(type="hidden", name="service", value=service),
                rx.foreach(card.fields, _field),
                rx.hstack(
                    rx.button("Test connection", type="submit", variant="soft", id="test-" + service,
                              on_click=AdminServicesState.intend("test"),
                              loading=AdminServicesState.busy == "test:" + service),
                    rx.button("Save", type="submit", id="save-" + service, on_click=AdminServicesState.intend("save"),
                              loading=AdminServicesState.busy == "save:" + service),
                    rx.cond(card.has_saved,
                            rx.button("Use the environment's values", type="button", variant="outline",
                                      color_scheme="gray", on_click=AdminServicesState.forget(service),
                                      id="forget-" + service),
                            rx.fragment()),
                    spacing="2", wrap="wrap"),
                spacing="3", width="100%"),
            on_submit=AdminServicesState.submit, reset_on_submit=False, width="100%",
            key=service + "-" + AdminServicesState.generations[service].to_string(), id="form-" + service,
        ),
        rx.cond(AdminServicesState.notes.contains(service),
                rx.cond(note_kind == "ok",
                        rx.callout(AdminServicesState.notes[service], id="note-" + service, width="100%",
                                   color_scheme="green", icon="circle-check", data_result="ok"),
                        rx.callout(AdminServicesState.notes[service], id="note-" + service, width="100%",
                                   color_scheme="red", icon="triangle-alert", data_result="error")),
                rx.fragment()),
        rx.text(card.saved_note, size="1", color_scheme="gray", id="saved-note-" + service),
        spacing="3", width="100%",
    ), width="100%", id="card-" + service)


@rx.page(route="/admin/services", title="Services · Admin · MediaNest", on_load=AdminServicesState.load)
def admin_services_page() -> rx.Component:
    return shell(
        admin_tabs("/admin/services"),
        rx.text("The addresses and keys of the household's services. Values start from the environment; what you "
                "save here replaces them in every MediaNest process at once, without a restart. Secrets are stored "
                "encrypted and never shown again.", color_scheme="gray"),
        rx.cond(AdminServicesState.loading,
                rx.skeleton(height="12em", width="100%"),
                rx.vstack(rx.foreach(AdminServicesState.cards, _card), width="100%", spacing="4",
                          id="service-cards")),
        title="Services",
    )
