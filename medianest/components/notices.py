"""Member notifications: a bell with the unread count, and cards in the corner of every page
("… is now available · Watch in Plex") that arrive live, whichever page is open."""

from __future__ import annotations

import reflex as rx

from ..state import SessionState, UserFeed


def _notice(n: rx.Var) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon(rx.cond(n["kind"] == "available", "circle-check", "bell"), size=20,
                    color=rx.cond(n["kind"] == "available", rx.color("green", 10), rx.color("accent", 10))),
            rx.vstack(
                rx.text(n["title"], weight="bold", size="2", class_name="notice-title"),
                rx.cond(n["body"] != "", rx.text(n["body"], size="2", color_scheme="gray"), rx.fragment()),
                rx.cond(n["link"] != "",
                        rx.cond(n["external"],
                                rx.link(n["link_label"], href=n["link"], is_external=True, size="2", weight="medium",
                                        class_name="notice-link"),
                                rx.link(n["link_label"], href=n["link"], size="2", weight="medium",
                                        class_name="notice-link")),
                        rx.fragment()),
                spacing="1", align="start", flex="1",
            ),
            rx.icon_button(rx.icon("x", size=14), size="1", variant="ghost", color_scheme="gray",
                           aria_label="Dismiss", on_click=SessionState.dismiss_notice(n["id"]),
                           class_name="notice-dismiss"),
            align="start", spacing="3", width="100%",
        ),
        width="100%", class_name="notice", role="status",
    )


def notice_stack() -> rx.Component:
    """Fixed bottom-right (full width on phones); at most the five newest unread, in at most
    45 % of the screen's height (scrolling), and the page below gets as much room (``layout``)."""
    return rx.cond(
        UserFeed.notices.length() > 0,
        rx.vstack(
            rx.foreach(UserFeed.notices, _notice),
            rx.cond(UserFeed.unread > 1,
                    rx.button("Dismiss all", size="1", variant="soft", color_scheme="gray",
                              on_click=SessionState.dismiss_all_notices, id="dismiss-all-notices"),
                    rx.fragment()),
            position="fixed", bottom="1em", right="1em", left=["1em", "auto"], width=["auto", "22rem"],
            max_height="min(45vh, 26rem)", overflow_y="auto",
            z_index="50", spacing="2", align="end", id="notices", aria_live="polite",
        ),
        rx.fragment(),
    )


def bell() -> rx.Component:
    return rx.box(
        rx.icon("bell", size=18),
        rx.cond(UserFeed.unread > 0,
                rx.badge(UserFeed.unread, color_scheme="red", variant="solid", radius="full", size="1",
                         position="absolute", top="-0.6em", right="-0.8em", id="unread-count"),
                rx.fragment()),
        position="relative", title="Notifications", id="bell",
    )
