"""Posters and the responsive grid shared by search, requests and the library."""

from __future__ import annotations

import reflex as rx


def poster(src: rx.Var | str, title: rx.Var | str, *, width: str = "6.5em") -> rx.Component:
    """A 2:3 poster, or a neutral placeholder when there is no image."""
    return rx.box(
        rx.cond(
            src != "",
            rx.image(src=src, alt=title, loading="lazy", width="100%", height="100%", object_fit="cover",
                     class_name="poster"),
            rx.center(rx.icon("film", size=24, color=rx.color("gray", 8)), width="100%", height="100%",
                      class_name="poster-placeholder"),
        ),
        width=width, min_width=width, aspect_ratio="2 / 3", border_radius="var(--radius-2)", overflow="hidden",
        background=rx.color("gray", 4),
    )


def media_grid(*children: rx.Component, min_width: str = "10rem", **props) -> rx.Component:
    columns = f"repeat(auto-fill, minmax(min({min_width}, 100%), 1fr))"
    return rx.box(*children, display="grid", grid_template_columns=columns, gap="1em", width="100%", **props)


def live_reload(handler) -> rx.Component:
    """Runs ``handler`` whenever the member's feed moves (``UserFeed.version``): the keyed fragment
    remounts its child, whose mount effect sends the event. (The key must sit on a parent: Reflex
    puts the mount effect in the component that renders the keyed element.)"""
    from ..state import UserFeed

    return rx.fragment(rx.box(on_mount=handler, display="none", class_name="live-reload"), key=UserFeed.version)
