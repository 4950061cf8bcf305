"""Library: the household's Plex libraries (recently added, each section A–Z, search), with
posters and "Watch in Plex" links."""

from __future__ import annotations

import reflex as rx

from ..components.layout import shell
from ..components.media import media_grid, poster
from ..db import session_scope
from ..errors import MediaNestError
from ..services import library
from ..services.library import ItemView, SectionView
from ..state import SessionMixin
from ..wiring import get_registry


class LibraryState(SessionMixin, rx.State):
    sections: list[SectionView] = []
    section: str = library.RECENT
    items: list[ItemView] = []
    total: int = 0
    query: str = ""
    loading: bool = False
    loading_more: bool = False
    error: str = ""
    configured: bool = True

    @rx.var
    def has_more(self) -> bool:
        return self.section != library.RECENT and not self.query and len(self.items) < self.total

    async def _plex(self):
        async with session_scope() as session:
            plex = await get_registry().plex_server(session)
            machine = await library.household_machine_id(session)
        self.configured = plex is not None
        return plex, machine

    async def _run(self, work) -> bool:
        try:
            await work()
        except MediaNestError as exc:
            self.error = library.plain_error(exc)
        else:
            self.error = ""
            return True
        return False

    async def _show(self, start: int = 0) -> None:
        plex, machine = await self._plex()
        if plex is None:
            self.items, self.total = [], 0
            return

        async def work() -> None:
            if self.query:
                self.items = await library.find(plex, machine, self.query)
                self.total = len(self.items)
                return
            shelf = await library.shelf(plex, machine, self.section, start=start)
            self.items = (self.items + shelf.items) if start else shelf.items
            self.total = shelf.total

        await self._run(work)

    @rx.event
    async def load(self):
        await self._load_user()
        self.loading = True
        yield
        plex, _ = await self._plex()
        if plex is not None:
            async def work() -> None:
                self.sections = await library.shelves(plex)
            if await self._run(work):
                await self._show()
        self.loading = False

    @rx.event
    async def choose(self, key: str):
        await self._require_user()
        if not any(s.key == key for s in self.sections):
            return
        self.section, self.query, self.loading = key, "", True
        yield
        await self._show()
        self.loading = False

    @rx.event
    async def set_query(self, text: str):
        await self._require_user()
        self.query = " ".join(str(text).split())[:100]
        self.loading = True
        yield
        await self._show()
        self.loading = False

    @rx.event
    async def load_more(self):
        await self._require_user()
        self.loading_more = True
        yield
        await self._show(start=len(self.items))
        self.loading_more = False


def _tile(item: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.cond(item["watch"] != "",
                rx.link(poster(item["poster"], item["title"], width="100%"), href=item["watch"], is_external=True,
                        title="Watch in Plex"),
                poster(item["poster"], item["title"], width="100%")),
        rx.text(item["title"], weight="medium", size="2", trim="both", class_name="library-title"),
        rx.text(rx.cond(item["subtitle"] != "", item["subtitle"], item["year"]), size="1", color_scheme="gray"),
        rx.cond(item["watch"] != "",
                rx.link("Watch in Plex", href=item["watch"], is_external=True, size="1", class_name="watch-link"),
                rx.fragment()),
        spacing="1", align="start", width="100%", class_name="library-item",
    )


@rx.page(route="/library", title="Library · MediaNest", on_load=LibraryState.load)
def library_page() -> rx.Component:
    return shell(
        rx.cond(~LibraryState.configured,
                rx.callout("No Plex server is set up yet. An admin chooses it on the setup page.", icon="info"),
                rx.fragment()),
        rx.hstack(
            rx.foreach(LibraryState.sections, lambda s: rx.button(
                s["title"], size="2", variant=rx.cond((LibraryState.section == s["key"]) & (LibraryState.query == ""),
                                                      "solid", "soft"),
                on_click=LibraryState.choose(s["key"]), class_name="section-button")),
            spacing="2", wrap="wrap", id="library-sections",
        ),
        rx.input(rx.input.slot(rx.icon("search", size=16)), placeholder="Search the library…",
                 value=LibraryState.query, on_change=LibraryState.set_query, debounce_timeout=350, width="100%",
                 id="library-search", aria_label="Search the library"),
        rx.cond(LibraryState.error != "",
                rx.callout(LibraryState.error, icon="triangle-alert", color_scheme="red", id="library-error"),
                rx.fragment()),
        rx.cond(
            LibraryState.loading,
            media_grid(*[rx.skeleton(height="15em") for _ in range(6)]),
            rx.cond(LibraryState.items.length() > 0,
                    media_grid(rx.foreach(LibraryState.items, _tile), id="library-items", min_width="9rem"),
                    rx.cond(LibraryState.error == "",
                            rx.center(rx.text(rx.cond(LibraryState.query != "", "Nothing in Plex matches.",
                                                      "This library is empty."), color_scheme="gray"),
                                      padding="2em", id="library-empty"),
                            rx.fragment())),
        ),
        rx.cond(LibraryState.has_more,
                rx.center(rx.button("Load more", variant="soft", on_click=LibraryState.load_more,
                                    loading=LibraryState.loading_more, id="library-more")),
                rx.fragment()),
        title="Library",
    )
