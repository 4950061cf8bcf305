"""Password change for the local admin (forced after the first sign-in with the bootstrap password)."""

from __future__ import annotations

import reflex as rx

from ..components import toasts
from ..components.layout import shell
from ..db import session_scope
from ..errors import ValidationFailed
from ..services import auth
from ..state import SessionMixin


class PasswordState(SessionMixin, rx.State):
    error: str = ""
    must_change: bool = False

    @rx.event
    async def load(self):
        user = await self._load_user(allow_password_change=True)
        self.must_change = user.must_change_password
        self.error = ""

    @rx.event
    async def change_password(self, form: dict):
        user = await self._require_user(allow_password_change=True)
        try:
            async with session_scope() as session:
                await auth.change_password(session, user_id=user.id, current=str(form.get("current", "")),
                                           new=str(form.get("new", "")), confirm=str(form.get("confirm", "")),
                                           session_id=user.session_id)
        except ValidationFailed as exc:
            self.error = exc.user_message
            return None
        self.error, self.must_change = "", False
        return [toasts.success("Password changed."), rx.redirect("/")]


@rx.page(route="/account/password", title="Password · MediaNest", on_load=PasswordState.load)
def password_page() -> rx.Component:
    return shell(
        rx.cond(PasswordState.must_change,
                rx.callout("You signed in with the bootstrap password. Choose your own before you continue.",
                           icon="key-round", color_scheme="amber", id="must-change"), rx.fragment()),
        rx.card(rx.form(rx.vstack(
            rx.input(name="current", type="password", placeholder="Current password", required=True,
                     auto_complete="current-password", id="pw-current", width="100%"),
            rx.input(name="new", type="password",
                     placeholder=f"New password (at least {auth.MIN_PASSWORD_LENGTH} characters)", required=True,
                     auto_complete="new-password", id="pw-new", width="100%"),
            rx.input(name="confirm", type="password", placeholder="New password again", required=True,
                     auto_complete="new-password", id="pw-confirm", width="100%"),
            rx.cond(PasswordState.error != "", rx.callout(PasswordState.error, icon="triangle-alert",
                                                          color_scheme="red", id="pw-error"), rx.fragment()),
            rx.button("Change password", type="submit", id="pw-submit"),
            spacing="3", width="100%"), on_submit=PasswordState.change_password, reset_on_submit=True),
            width="100%", max_width="28rem"),
        title="Change password",
    )
