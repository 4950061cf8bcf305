"""Sign-in page: "Sign in with Plex" (a plain link, so phones never block a pop-up),
remember me, and the local admin form when ADMIN_USERNAME / ADMIN_PASSWORD are set."""

from __future__ import annotations

import reflex as rx

from ..components.layout import brand_heading, centered_card
from ..components.native import native_form, ticket_form
from ..config import get_settings
from ..db import session_scope
from ..errors import AccessDenied, RateLimited, ValidationFailed
from ..log import new_correlation_id
from ..services import auth
from ..state import TicketState
from ..wiring import get_registry


class LoginState(rx.State):
    """Public by design: everything here is for visitors who are not signed in yet."""

    next_path: str = "/"
    error: str = ""
    notice: str = ""
    local_enabled: bool = False
    local_error: str = ""
    local_busy: bool = False

    @rx.event
    async def load(self):
        """Read the page's query (errors from the sign-in routes, where to go next)."""
        query = self.router.url.query_parameters
        self.next_path = auth.safe_next_path(query.get("next"))
        self.error = str(query.get("error", ""))[:300]
        self.notice = "You are signed out." if query.get("signed_out") else ""
        settings = get_settings()
        self.local_enabled = bool(settings.admin_username and settings.admin_password is not None)
        (await self.get_state(TicketState)).ticket = ""  # never replay a spent ticket
        self.local_error = ""

    @rx.event
    async def local_sign_in(self, form: dict):
        """Local admin sign-in; rate limited like Plex sign-in."""
        new_correlation_id()
        self.local_error = ""
        self.local_busy = True
        yield
        registry = get_registry()
        try:
            await registry.rate_limiter().hit(registry.auth_limit, self.router.session.client_ip or "",
                                              message="Too many sign-in attempts.")
            async with session_scope() as session:
                ticket = await auth.local_sign_in(session, username=str(form.get("username", "")),
                                                  password=str(form.get("password", "")),
                                                  settings=get_settings(), client_ip=self.router.session.client_ip,
                                                  user_agent=self.router.headers.user_agent)
        except (ValidationFailed, RateLimited, AccessDenied) as exc:
            self.local_error = exc.user_message
            self.local_busy = False
            return
        self.local_busy = False
        tickets = await self.get_state(TicketState)
        tickets.ticket, tickets.next_path = ticket, "/account/password"


def _local_form() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.separator(size="4"), rx.text("or", size="1", color_scheme="gray"), rx.separator(size="4"),
                  align="center", width="100%"),
        rx.form(
            rx.vstack(
                rx.text("Local admin", weight="bold", size="2"),
                rx.input(name="username", placeholder="User name", id="local-username", width="100%",
                         auto_complete="username", required=True),
                rx.input(name="password", type="password", placeholder="Password", id="local-password",
                         width="100%", auto_complete="current-password", required=True),
                rx.cond(LoginState.local_error != "",
                        rx.callout(LoginState.local_error, icon="triangle-alert", color_scheme="red",
                                   size="1", id="local-error", width="100%"), rx.fragment()),
                rx.button("Sign in", type="submit", variant="soft", width="100%", id="local-submit",
                          loading=LoginState.local_busy),
                spacing="2", width="100%",
            ),
            on_submit=LoginState.local_sign_in, width="100%",
        ),
        spacing="3", width="100%",
    )


@rx.page(route="/login", title="Sign in · MediaNest", on_load=LoginState.load)
def login() -> rx.Component:
    return centered_card(
        brand_heading("Your household's Plex, in one place"),
        rx.cond(LoginState.error != "",
                rx.callout(LoginState.error, icon="triangle-alert", color_scheme="red", id="login-error",
                           width="100%"), rx.fragment()),
        rx.cond(LoginState.notice != "",
                rx.callout(LoginState.notice, icon="info", color_scheme="green", id="login-notice", width="100%"),
                rx.fragment()),
        # A native GET form: a full page navigation to the route that creates the PIN and
        # redirects to Plex. Nothing is opened as a pop-up, so phones never block it.
        native_form(
            rx.el.input(type="hidden", name="next", value=LoginState.next_path),
            rx.vstack(
                rx.button(rx.icon("log-in", size=18), "Sign in with Plex", size="3", width="100%",
                          color_scheme="amber", type="submit", id="plex-sign-in"),
                rx.el.label(
                    rx.hstack(rx.checkbox(name="remember", value="1", default_checked=True, id="remember-me"),
                              rx.text("Remember me for 30 days", size="2"), spacing="2", align="center"),
                ),
                spacing="3", width="100%",
            ),
            action="/auth/plex/start", width="100%",
        ),
        rx.text("You will approve the sign-in on Plex's own page, then come straight back here.",
                size="1", color_scheme="gray"),
        rx.cond(LoginState.local_enabled, _local_form(), rx.fragment()),
        rx.cond(TicketState.ticket != "", ticket_form(TicketState.ticket, TicketState.next_path), rx.fragment()),
        rx.hstack(rx.spacer(), rx.color_mode.button(size="1", variant="ghost"), width="100%"),
    )
