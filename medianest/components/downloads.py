"""Pieces of the downloads pages: the preview of a pasted link, one card per download with a
progress bar per video, and the compact line shown in "My requests"."""

from __future__ import annotations

from typing import Any

import reflex as rx

from ..services.downloads.rules import QUALITIES


def _thumb(src: rx.Var, width: str) -> rx.Component:
    return rx.cond(src != "",
                   rx.image(src=src, width=width, height="auto", border_radius="6px", loading="lazy", alt=""),
                   rx.center(rx.icon("film", size=20), width=width, height="3.5em", border_radius="6px",
                             background=rx.color("gray", 3)))


def preview_panel(state: Any) -> rx.Component:
    """What a pasted link holds, the choices, and the Download button."""
    p = state.preview

    def entry(e: rx.Var) -> rx.Component:
        return rx.hstack(
        rx.checkbox(checked=state.chosen.contains(e.id), on_change=lambda _v: state.toggle_entry(e.id),
                    id=rx.Var.create("entry-") + e.id.to(str)),
        rx.text(e.index, color_scheme="gray", size="1", min_width="2em"),
        rx.text(e.title, size="2", flex="1"),
        rx.text(e.duration, color_scheme="gray", size="1"),
        width="100%", align="center", spacing="2", class_name="preview-entry",
    )
    return rx.card(
        rx.vstack(
            rx.hstack(
                _thumb(p["thumb"], "8em"),
                rx.vstack(
                    rx.heading(p["title"], size="4", id="preview-title"),
                    rx.text(p["uploader"], color_scheme="gray", size="2"),
                    rx.hstack(
                        rx.cond(p["kind"] == "playlist",
                                rx.badge(p["total"].to(str) + " videos", id="preview-count"),
                                rx.badge("Video")),
                        rx.cond(p["duration"] != "", rx.badge(p["duration"], variant="outline"), rx.fragment()),
                        rx.cond(p["size"] != "", rx.badge("≈ " + p["size"].to(str), variant="outline"), rx.fragment()),
                        spacing="2", wrap="wrap",
                    ),
                    rx.cond(p["truncated"], rx.text("Only the first videos are shown: a download holds at most "
                                                 "the number your admin allows.", size="1", color_scheme="amber"),
                            rx.fragment()),
                    spacing="1", align="start",
                ),
                spacing="3", align="start", width="100%",
            ),
            rx.cond(p["kind"] == "playlist",
                    rx.vstack(
                        rx.hstack(rx.checkbox("All", checked=state.chosen.length() == p["entries"].length(),
                                              on_change=state.choose_all, id="entries-all"),
                                  rx.text(state.chosen.length().to(str) + " chosen", size="1", color_scheme="gray"),
                                  spacing="3", align="center"),
                        rx.scroll_area(rx.vstack(rx.foreach(p["entries"], entry), spacing="1", width="100%"),
                                       max_height="18em", type="auto", scrollbars="vertical"),
                        width="100%", spacing="2", id="preview-entries"),
                    rx.fragment()),
            rx.hstack(
                rx.select.root(
                    rx.select.trigger(id="download-quality", aria_label="Quality"),
                    rx.select.content(*[rx.select.item(label, value=value) for value, label in QUALITIES.items()]),
                    value=state.quality, on_change=state.set_quality,
                ),
                rx.cond(p["kind"] == "playlist",
                        rx.checkbox("Add to Plex as a collection", checked=state.make_collection,
                                    on_change=state.set_make_collection, id="download-collection"),
                        rx.fragment()),
                rx.spacer(),
                rx.button("Cancel", variant="soft", color_scheme="gray", on_click=state.clear),
                rx.button(rx.cond(state.submitting, rx.spinner(size="2"), rx.icon("download", size=16)),
                          "Download", id="download-start", on_click=state.download,
                          disabled=state.submitting | (state.chosen.length() == 0)),
                width="100%", spacing="3", align="center", wrap="wrap",
            ),
            spacing="3", width="100%",
        ),
        width="100%", id="download-preview-card",
    )


def _item(row: rx.Var, card: rx.Var, state: Any, admin: bool) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(row.position, size="1", color_scheme="gray", min_width="2em"),
            rx.text(row.title, size="2", flex="1", class_name="download-item-title"),
            rx.badge(row.label, color_scheme=row.tone, variant="soft", class_name="download-item-state"),
            rx.fragment() if admin else rx.cond(
                row.can_retry, rx.button("Retry", size="1", variant="soft", class_name="download-item-retry",
                                         on_click=state.retry(card.id, row.id)), rx.fragment()),
            width="100%", align="center", spacing="2",
        ),
        rx.cond((row.status == "downloading") | (row.status == "processing"),
                rx.hstack(rx.progress(value=row.percent, max=100, width="100%", class_name="download-item-bar"),
                          rx.text(row.percent.to(str) + "%", size="1", min_width="3em"), width="100%",
                          align="center"),
                rx.fragment()),
        rx.cond(row.detail != "", rx.text(row.detail, size="1", color_scheme="gray"), rx.fragment()),
        rx.cond(row.error != "", rx.text(row.error, size="1", color_scheme="red", class_name="download-item-error"),
                rx.fragment()),
        width="100%", spacing="1", class_name="download-item",
    )


def download_card(card: rx.Var, state: Any, *, admin: bool = False) -> rx.Component:
    """One download; ``admin``: the admin's view (the member shown, only Cancel offered)."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                _thumb(card.thumb, "6em"),
                rx.vstack(
                    rx.text(card.title, weight="bold", class_name="download-title"),
                    rx.hstack(
                        rx.badge(card.label, color_scheme=card.tone, class_name="download-state"),
                        rx.text(card.count_label, size="1", color_scheme="gray", class_name="download-count"),
                        rx.text(card.quality, size="1", color_scheme="gray"),
                        rx.badge(card.member, variant="outline") if admin else rx.fragment(),
                        spacing="2", align="center", wrap="wrap",
                    ),
                    rx.cond(card.note != "", rx.text(card.note, size="1", color_scheme="amber",
                                                     class_name="download-note"), rx.fragment()),
                    spacing="1", align="start", flex="1",
                ),
                rx.hstack(
                    rx.cond(card.can_cancel, rx.button("Cancel", size="1", color_scheme="red", variant="soft",
                                                       class_name="download-cancel",
                                                       on_click=state.cancel(card.id, 0)), rx.fragment()),
                    *([] if admin else [
                        rx.cond(card.can_retry & ~card.can_cancel,
                                rx.button("Retry", size="1", variant="soft", class_name="download-retry",
                                          on_click=state.retry(card.id, 0)), rx.fragment()),
                        rx.cond(card.can_remove, _remove_button(card, state), rx.fragment())]),
                    spacing="2", wrap="wrap",
                ),
                width="100%", align="start", spacing="3",
            ),
            rx.progress(value=card.percent, max=100, width="100%", class_name="download-bar"),
            rx.fragment() if admin else rx.cond(card.can_sync,
                    rx.hstack(rx.switch(checked=card.keep_in_sync, on_change=lambda on: state.set_sync(card.id, on),
                                        class_name="download-sync"),
                              rx.text("Keep in sync (new videos of the playlist are downloaded by themselves)",
                                      size="1"), align="center", spacing="2"),
                    rx.fragment()),
            rx.cond(card.total > 1,
                    rx.accordion.root(rx.accordion.item(
                        header=rx.text("Videos", size="2"),
                        content=rx.vstack(rx.foreach(card["items"], lambda r: _item(r, card, state, admin)),
                                          width="100%", spacing="2"),
                        value="items"), collapsible=True, type="single", variant="ghost", width="100%",
                        default_value="items"),
                    rx.vstack(rx.foreach(card["items"], lambda r: _item(r, card, state, admin)), width="100%")),
            spacing="2", width="100%",
        ),
        width="100%", class_name="download-card", custom_attrs={"data-download": card.id},
    )


def _remove_button(card: rx.Var, state: Any) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button("Remove", size="1", variant="soft", color_scheme="gray",
                                          class_name="download-remove")),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Remove this download?"),
            rx.alert_dialog.description("Its files are deleted, and its videos and collection leave Plex."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button("Remove", color_scheme="red", class_name="download-remove-confirm",
                                                 on_click=state.remove(card.id))),
                spacing="3", justify="end", margin_top="1em",
            ),
        ),
    )


def download_line(card: rx.Var) -> rx.Component:
    """The compact line of a download in "My requests"."""
    return rx.hstack(
        rx.icon("circle-play", size=16),
        rx.link(card.title, href="/downloads", size="2", flex="1"),
        rx.badge(card.label, color_scheme=card.tone, variant="soft"),
        rx.text(card.count_label, size="1", color_scheme="gray"),
        rx.progress(value=card.percent, max=100, width="6em"),
        width="100%", align="center", spacing="2", class_name="download-line",
    )
