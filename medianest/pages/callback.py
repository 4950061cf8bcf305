"""Where Plex sends the member back (``forwardUrl``). A background event polls the PIN
until Plex confirms, then hands the browser a one-time ticket for its session cookie."""

from __future__ import annotations

import asyncio
import logging
import time

import reflex as rx

from ..components.layout import brand_heading, centered_card
from ..components.native import ticket_form
from ..config import get_settings
from ..db import session_scope
from ..errors import AccessDenied, IntegrationRejected, IntegrationUnavailable, InvalidToken
from ..log import new_correlation_id
from ..services import auth
from ..state import TicketState
from ..web import PIN_COOKIE, cookie_value
from ..wiring import get_registry

logger = logging.getLogger(__name__)
POLL_INTERVAL_S = 1.0


class PlexCallbackState(rx.State):
    """Public: the caller proves who they are with the signed PIN cookie, not a session."""

    phase: str = "waiting"     # waiting | denied | error | done
    message: str = ""
    _running: bool = False

    @rx.event(background=True)
    async def finish(self):
        async with self:
            if self._running:
                return
            self._running = True
            self.phase, self.message = "waiting", "Waiting for Plex to confirm your sign-in…"
            (await self.get_state(TicketState)).ticket = ""
        new_correlation_id()
        try:
            outcome = await self._poll()
        finally:
            async with self:
                self._running = False
        if outcome is not None:
            async with self:
                # One delta: the form that carries the ticket mounts with its value in place.
                tickets = await self.get_state(TicketState)
                tickets.ticket, tickets.next_path = outcome.ticket, outcome.next_path
                self.phase, self.message = "done", f"Welcome, {outcome.username}! Taking you in…"

    async def _poll(self) -> auth.LoginOutcome | None:
        settings = get_settings()
        registry = get_registry()
        pin_cookie = cookie_value(self.router.headers.cookie, PIN_COOKIE)
        if not pin_cookie:
            await self._set("error", "This sign-in was not started in this browser, or it took too long. "
                                     "Please start again.")
            return None
        deadline = time.monotonic() + settings.plex_login_timeout_s
        failures = 0
        while time.monotonic() < deadline:
            try:
                async with session_scope() as session:
                    plex_tv = await registry.plex_tv(session)
                    outcome = await auth.check_plex_login(
                        session, pin_cookie=pin_cookie, plex_tv=plex_tv, settings=settings,
                        encryptor=registry.encryptor, client_ip=self.router.session.client_ip,
                        user_agent=self.router.headers.user_agent)
                if outcome is not None:
                    return outcome
                failures = 0
            except InvalidToken:
                await self._set("error", "This sign-in request is no longer valid. Please start again.")
                return None
            except AccessDenied as exc:
                await self._set("denied", exc.user_message)
                return None
            except IntegrationRejected as exc:
                # plex.tv answered but refused (for instance a token revoked in the meantime).
                logger.warning("plex.tv refused the sign-in: %s", exc)
                await self._set("error", "Plex refused this sign-in. Please start again.")
                return None
            except IntegrationUnavailable as exc:
                failures += 1
                logger.warning("polling plex.tv failed (%s): %s", failures, exc)
                if failures >= 5:
                    await self._set("error", "Plex is not answering right now, so we cannot finish signing you in. "
                                             "Please try again in a minute.")
                    return None
            await asyncio.sleep(POLL_INTERVAL_S)
        await self._set("error", "Plex did not confirm the sign-in in time. Please start again.")
        return None

    async def _set(self, phase: str, message: str) -> None:
        async with self:
            self.phase, self.message = phase, message


@rx.page(route="/auth/plex/callback", title="Signing in · MediaNest", on_load=PlexCallbackState.finish)
def plex_callback() -> rx.Component:
    return centered_card(
        brand_heading(),
        rx.match(
            PlexCallbackState.phase,
            ("denied", rx.vstack(
                rx.heading("You can't sign in here", size="5", id="denied-title"),
                rx.callout(PlexCallbackState.message, icon="shield-x", color_scheme="red", id="callback-message"),
                rx.link(rx.button("Back to sign-in", variant="soft"), href="/login"),
                spacing="3", width="100%")),
            ("error", rx.vstack(
                rx.heading("Sign-in did not finish", size="5"),
                rx.callout(PlexCallbackState.message, icon="triangle-alert", color_scheme="amber",
                           id="callback-message"),
                rx.link(rx.button("Try again"), href="/login"),
                spacing="3", width="100%")),
            ("done", rx.vstack(
                rx.spinner(size="3"),
                rx.text(PlexCallbackState.message, id="callback-message"),
                rx.cond(TicketState.ticket != "", ticket_form(TicketState.ticket, TicketState.next_path),
                        rx.fragment()),
                align="center", spacing="3", width="100%")),
            rx.vstack(
                rx.spinner(size="3"),
                rx.text(PlexCallbackState.message, id="callback-message"),
                rx.text("If you closed the Plex page before approving, go back and sign in again.",
                        size="1", color_scheme="gray"),
                align="center", spacing="3", width="100%"),
        ),
    )
