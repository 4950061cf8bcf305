"""The signed-in landing page."""

from __future__ import annotations

import reflex as rx

from ..components.layout import shell
from ..components.status import status_section
from ..state import SessionState


def _card(icon: str, title: str, body: rx.Component | str, **props) -> rx.Component:
    return rx.card(rx.hstack(rx.icon(icon, size=22), rx.vstack(rx.text(title, weight="bold"), body, spacing="1"),
                             align="start", spacing="3"), width="100%", **props)


@rx.page(route="/", title="MediaNest", on_load=SessionState.guard)
def index() -> rx.Component:
    return shell(
        rx.vstack(
            rx.heading(rx.text.span("Welcome, "), rx.text.span(SessionState.user_name, id="welcome-name"),
                       size="7", id="page-title"),
            rx.text("Everything your household shares through Plex, in one place.", color_scheme="gray"),
            spacing="1",
        ),
        rx.grid(
            _card("server", "Household server",
                  rx.cond(SessionState.household_name != "",
                          rx.text(SessionState.household_name, id="household-name"),
                          rx.text("Not chosen yet.", color_scheme="gray", id="household-name")),
                  id="card-server"),
            _card("user", "Your account",
                  rx.hstack(rx.text(SessionState.user_email), rx.badge(SessionState.user_role, id="home-role"),
                            spacing="2", wrap="wrap"),
                  id="card-account"),
            columns=rx.breakpoints(initial="1", sm="2"), spacing="4", width="100%",
        ),
        status_section(),
    )
