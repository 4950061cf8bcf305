"""The request card shared by "My requests" and the admin's request list."""

from __future__ import annotations

import reflex as rx

from .badges import request_status_badge
from .media import poster


def request_card(row: rx.Var, *extra: rx.Component, show_user: bool = False) -> rx.Component:
    """One request (a ``RequestView``); ``extra`` are buttons beside "Watch in Plex"."""
    return rx.card(
        rx.hstack(
            poster(row["poster"], row["title"], width="4.5em"),
            rx.vstack(
                rx.hstack(rx.text(row["title"], weight="bold", class_name="request-title"),
                          rx.text(row["year"], color_scheme="gray", size="2"), spacing="2", align="baseline",
                          wrap="wrap"),
                rx.hstack(request_status_badge(row), rx.text(row["what"], size="1", color_scheme="gray"),
                          *([rx.text("by ", row["username"], size="1", color_scheme="gray",
                                     class_name="request-user")] if show_user else []),
                          spacing="2", align="center", wrap="wrap"),
                rx.cond(row["message"] != "",
                        rx.text(row["message"], size="2",
                                color_scheme=rx.cond(row["status"] == "queued", "gray", "red"),
                                class_name="request-message"),
                        rx.fragment()),
                rx.text("Requested ", rx.moment(row["requested_iso"], from_now=True), " · updated ",
                        rx.moment(row["updated_iso"], from_now=True), size="1", color_scheme="gray",
                        title=row["requested"]),
                rx.hstack(
                    rx.cond(row["plex_url"] != "",
                            rx.link(rx.button(rx.icon("play", size=14), "Watch in Plex", size="1", variant="outline"),
                                    href=row["plex_url"], is_external=True, class_name="watch-link"),
                            rx.fragment()),
                    *extra, spacing="2", wrap="wrap"),
                spacing="1", align="start", flex="1", min_width="0",
            ),
            spacing="3", align="start", width="100%",
        ),
        width="100%", class_name="request-row", custom_attrs={"data-title": row["title"]},
    )
