"""The error page (a reference instead of a stack trace) and the 404 page."""

from __future__ import annotations

import reflex as rx

from ..components.layout import brand_heading, centered_card


class ErrorPageState(rx.State):
    """Public: shows the reference from the URL so a member can quote it."""

    reference: str = ""

    @rx.event
    def load(self):
        ref = str(self.router.url.query_parameters.get("ref", ""))
        self.reference = ref if ref.isalnum() and len(ref) <= 32 else ""


@rx.page(route="/error", title="Something went wrong · MediaNest", on_load=ErrorPageState.load)
def error_page() -> rx.Component:
    return centered_card(
        brand_heading(),
        rx.heading("Something went wrong on our side", size="5"),
        rx.text("It has been logged. Please try again; if it keeps happening, give the admin this reference:"),
        rx.code(ErrorPageState.reference, size="4", id="error-reference"),
        rx.link(rx.button("Back to MediaNest"), href="/"),
    )


@rx.page(route="/forbidden", title="Admins only · MediaNest")
def forbidden_page() -> rx.Component:
    return centered_card(
        brand_heading(),
        rx.heading("Admins only", size="5", id="forbidden-title"),
        rx.text("Only admins can open the admin area or change household settings. "
                "Ask an admin of your household if something needs changing.", id="forbidden-message"),
        rx.link(rx.button("Go home"), href="/"),
    )


def not_found() -> rx.Component:
    return centered_card(
        brand_heading(),
        rx.heading("Page not found", size="5", id="not-found"),
        rx.text("There is nothing at this address. It may have moved, or the link may be mistyped."),
        rx.link(rx.button("Go home"), href="/"),
    )
