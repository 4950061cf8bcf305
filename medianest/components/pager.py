"""Previous / next page buttons for a state with ``page``, ``pages`` and a ``go_to_page`` handler."""

from __future__ import annotations

import reflex as rx


def pager(state: type) -> rx.Component:
    return rx.cond(
        state.pages > 1,
        rx.hstack(
            rx.button(rx.icon("chevron-left", size=14), "Previous", size="2", variant="soft",
                      disabled=state.page <= 1, on_click=state.go_to_page(state.page - 1), class_name="prev-page"),
            rx.text("Page ", state.page, " of ", state.pages, size="2"),
            rx.button("Next", rx.icon("chevron-right", size=14), size="2", variant="soft",
                      disabled=state.page >= state.pages, on_click=state.go_to_page(state.page + 1),
                      class_name="next-page"),
            justify="center", align="center", spacing="3", width="100%",
        ),
        rx.fragment(),
    )

