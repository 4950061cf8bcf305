"""Search Overseerr's catalogue and request movies and shows (with a season picker)."""

from __future__ import annotations

import reflex as rx
from sqlmodel.ext.asyncio.session import AsyncSession

from ..components import toasts
from ..components.badges import availability_badge
from ..components.layout import shell
from ..components.media import live_reload, media_grid, poster
from ..config import get_settings
from ..db import session_scope
from ..errors import IntegrationUnavailable, MediaNestError, RateLimited
from ..services import media_requests, search, search_views
from ..services.search_views import ResultView, SeasonView, Seen
from ..state import SessionMixin
from ..wiring import get_registry

KINDS = {"all": "All", "movie": "Movies", "tv": "Shows"}


class SearchState(SessionMixin, rx.State):
    query: str = ""
    kind: str = "all"
    results: list[ResultView] = []
    page: int = 0
    total_pages: int = 0
    total_results: int = 0
    searching: bool = False
    loading_more: bool = False
    stale: bool = False
    error: str = ""
    not_in_overseerr: bool = False
    configured: bool = True
    busy_key: str = ""
    # the season picker
    picker_open: bool = False
    picker_key: str = ""
    picker_title: str = ""
    picker_loading: bool = False
    picker_seasons: list[SeasonView] = []
    picker_selected: list[int] = []
    picker_error: str = ""
    # The Overseerr snapshot behind ``results``, so that what MediaNest learns later can be laid
    # over it again without asking Overseerr (``refresh_states``).
    _snapshot: list[Seen] = []

    @rx.var
    def shown_count(self) -> int:
        """Results of the chosen kind (the list itself is filtered in the browser, so each
        search sends its results once)."""
        return sum(1 for r in self.results if self.kind == "all" or r.media_type == self.kind)

    @rx.var
    def has_more(self) -> bool:
        return self.page < self.total_pages

    # ---- loading ---------------------------------------------------------------------

    @rx.event
    async def load(self):
        user = await self._load_user()
        registry = get_registry()
        overseerr = registry.overseerr()
        self.configured = overseerr is not None
        async with session_scope() as session:
            self.not_in_overseerr = await search_views.cannot_request(session, user, overseerr)

    async def _fetch(self, page: int) -> search.SearchOutcome | None:
        overseerr = get_registry().overseerr()
        if overseerr is None:
            self.error = "Search is not set up: this MediaNest has no Overseerr configured."
            return None
        try:
            return await search.search(overseerr, get_registry().search_cache(), self.query, page,
                                       fresh_s=get_settings().search_cache_s)
        except IntegrationUnavailable:
            self.error = "Overseerr is not answering right now, and there are no earlier results for this search."
        except MediaNestError as exc:
            self.error = exc.user_message
        return None

    async def _views(self, user_id: int, seen: list[Seen], session: AsyncSession | None = None) -> list[ResultView]:
        if session is not None:
            return await search_views.views(session, user_id, seen)
        async with session_scope() as own:
            return await search_views.views(own, user_id, seen)

    def _clear(self) -> None:
        self.results, self.page, self.total_pages, self.total_results, self.stale = [], 0, 0, 0, False
        self._snapshot = []

    def _show(self, outcome: search.SearchOutcome, seen: list[Seen], views: list[ResultView]) -> None:
        self._snapshot = seen
        self.results = views
        self.page, self.total_pages, self.total_results = outcome.page, outcome.total_pages, outcome.total_results
        if self.stale != outcome.stale:
            self.stale = outcome.stale

    @rx.event
    async def set_query(self, text: str):
        """Typing (debounced in the browser): search from the first page. A cached search is
        answered in one step with one database transaction (the session check and what
        MediaNest knows of the titles); only a call to Overseerr shows the spinner first."""
        query = str(text)[:200]
        registry = get_registry()
        async with session_scope() as session:
            user = await self._require_user(session=session)
            self.query = query
            if self.error:
                self.error = ""
            if not query.strip():
                self._clear()
                return
            try:
                outcome = await search.cached(registry.search_cache(), query, 1,
                                              fresh_s=get_settings().search_cache_s) \
                    if registry.overseerr() is not None else None
            except MediaNestError as exc:
                self.error = exc.user_message
                self._clear()
                return
            if outcome is not None:
                seen = search_views.snapshot(outcome)
                self._show(outcome, seen, await self._views(user.id, seen, session))
                return
        self.searching = True
        yield
        outcome = await self._fetch(1)
        self.searching = False
        if outcome is None or outcome.query != " ".join(self.query.split()):
            if outcome is None:
                self._clear()
            return
        seen = search_views.snapshot(outcome)
        self._show(outcome, seen, await self._views(user.id, seen))

    @rx.event
    async def load_more(self):
        user = await self._require_user()
        if self.page >= self.total_pages or not self.query.strip():
            return
        self.loading_more = True
        yield
        outcome = await self._fetch(self.page + 1)
        self.loading_more = False
        if outcome is None:
            return
        seen = search_views.snapshot(outcome, skip=[r.key for r in self.results])
        self._snapshot = self._snapshot + seen
        self.results = self.results + await self._views(user.id, seen)
        self.page, self.total_pages = outcome.page, outcome.total_pages
        self.stale = self.stale or outcome.stale

    @rx.event
    async def refresh_states(self):
        """Remounted by ``UserFeed.version``: the member's requests changed (sent, approved,
        declined, available…), so the shown results take on what MediaNest knows now."""
        user = await self._require_user()
        if self._snapshot:
            self.results = await self._views(user.id, self._snapshot)

    @rx.event
    async def set_kind(self, kind: str | list[str]):
        await self._require_user()
        if isinstance(kind, str) and kind in KINDS:
            self.kind = kind

    # ---- requesting ------------------------------------------------------------------

    def _item(self, key: str) -> ResultView | None:
        return search_views.find(self.results, key)

    def _update(self, card: ResultView) -> None:
        self.results = search_views.replace(self.results, card)

    @rx.event
    async def request_movie(self, key: str):
        user = await self._require_user()
        item = self._item(str(key))
        if item is None or item.media_type != "movie":
            return toasts.error("That result is gone; search again.")
        if item.action != "request":
            return toasts.info(f"{item.title} is {item.badge_label.lower()}; there is nothing to request.")
        return await self._submit(user, item, ())

    async def _submit(self, user, item: ResultView, seasons: tuple[int, ...]):
        settings = get_settings()
        self.busy_key = item.key
        try:
            async with session_scope() as session:
                outcome = await media_requests.submit(
                    session, user=user, draft=search_views.draft(item, seasons), overseerr=get_registry().overseerr(),
                    limit_per_hour=settings.request_limit_per_hour, retry_max_s=settings.request_retry_max_s)
        except RateLimited as exc:
            return toasts.error(exc.user_message, duration=10000)
        except media_requests.NotInOverseerr as exc:
            self.not_in_overseerr = True
            return toasts.error(exc.user_message, duration=10000)
        except search.TitleAvailable as exc:
            self._snapshot = search_views.learned(self._snapshot, item.key, "available", exc.plex_url)
            self._update(search_views.now_available(item, exc.plex_url))
            return toasts.info(exc.user_message, duration=10000)
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        finally:
            self.busy_key = ""
        status = outcome.row.status
        if status == "available":  # Overseerr said so right before the request would have gone out
            self._snapshot = search_views.learned(self._snapshot, item.key, "available", outcome.row.plex_url)
            self._update(search_views.now_available(item, outcome.row.plex_url))
            return toasts.info(outcome.message, duration=10000)
        if status == "duplicate":
            self._snapshot = search_views.learned(self._snapshot, item.key, "pending")
        self._update(search_views.after_request(item, status))
        if status == "duplicate":
            return toasts.info(outcome.message, duration=10000)
        if status == "refused":
            return toasts.error(outcome.message, duration=10000)
        if status == "queued":
            return toasts.warning(outcome.message, duration=10000)
        return toasts.success(outcome.message)

    @rx.event
    async def follow(self, key: str):
        user = await self._require_user()
        item = self._item(str(key))
        if item is None:
            return toasts.error("That result is gone; search again.")
        if not search_views.can_follow(item):
            return toasts.info(f"{item.title} cannot be followed ({item.badge_label.lower()}).")
        try:
            async with session_scope() as session:
                text = await media_requests.follow(session, user=user, draft=search_views.draft(item))
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        self._update(search_views.after_follow(item))
        return toasts.success(text)

    # ---- the season picker ------------------------------------------------------------

    @rx.event
    async def open_seasons(self, key: str):
        await self._require_user()
        item = self._item(str(key))
        overseerr = get_registry().overseerr()
        if item is None or item.media_type != "tv" or overseerr is None:
            return
        self.picker_open, self.picker_loading, self.picker_error = True, True, ""
        self.picker_key, self.picker_title = item.key, item.title
        self.picker_seasons, self.picker_selected = [], []
        yield
        try:
            seasons = await search_views.seasons(overseerr, item.tmdb_id)
        except search_views.SeasonsUnavailable as exc:
            self.picker_error = exc.user_message
        else:
            self.picker_seasons = seasons
            self.picker_selected = [s.number for s in seasons if s.selectable]
        self.picker_loading = False

    @rx.event
    async def toggle_season(self, number: int):
        await self._require_user()
        self.picker_selected = search_views.toggle(self.picker_seasons, self.picker_selected, int(number))

    @rx.event
    async def close_seasons(self, _open: bool = False):
        await self._require_user()
        self.picker_open = False

    @rx.event
    async def request_seasons(self):
        user = await self._require_user()
        item = self._item(self.picker_key)
        if item is None:
            self.picker_open = False
            return toasts.error("That result is gone; search again.")
        chosen = search_views.chosen_seasons(self.picker_seasons, self.picker_selected)
        if not chosen:
            self.picker_error = "Choose at least one season."
            return None
        self.picker_open = False
        return await self._submit(user, item, chosen)


# --------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------


def _actions(item: rx.Var) -> rx.Component:
    busy = SearchState.busy_key == item["key"]
    return rx.hstack(
        rx.match(
            item["action"],
            ("request", rx.button(rx.icon("plus", size=14), "Request", size="2", loading=busy,
                                  on_click=SearchState.request_movie(item["key"]), class_name="request-button")),
            ("seasons", rx.button(rx.icon("list-plus", size=14), "Request…", size="2", loading=busy,
                                  on_click=SearchState.open_seasons(item["key"]), class_name="request-button")),
            ("follow", rx.button(rx.icon("bell-plus", size=14), "Follow", size="2", variant="soft",
                                 on_click=SearchState.follow(item["key"]), class_name="follow-button")),
            rx.fragment(),
        ),
        rx.cond(item["can_follow"],
                rx.button(rx.icon("bell-plus", size=14), "Follow", size="2", variant="soft",
                          on_click=SearchState.follow(item["key"]), class_name="follow-button"),
                rx.fragment()),
        rx.cond(item["plex_url"] != "",
                rx.link(rx.button(rx.icon("play", size=14), "Watch in Plex", size="2", variant="outline"),
                        href=item["plex_url"], is_external=True, class_name="watch-link"),
                rx.fragment()),
        spacing="2", wrap="wrap",
    )


def _result(item: rx.Var) -> rx.Component:
    return rx.card(
        rx.hstack(
            poster(item["poster"], item["title"], width="6.5em"),
            rx.vstack(
                rx.hstack(rx.text(item["title"], weight="bold", size="3", class_name="result-title"),
                          rx.text(item["year"], color_scheme="gray", size="2"), align="baseline", wrap="wrap",
                          spacing="2"),
                rx.hstack(rx.badge(item["type_label"], variant="outline", color_scheme="gray"),
                          availability_badge(item), spacing="2", wrap="wrap"),
                rx.text(item["overview"], size="2", color_scheme="gray"),
                _actions(item),
                spacing="2", align="start", flex="1", min_width="0",
            ),
            spacing="3", align="start", width="100%",
        ),
        width="100%", class_name="search-result", custom_attrs={"data-key": item["key"]},
    )


def _season_row(season: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.checkbox(checked=SearchState.picker_selected.contains(season["number"]),
                    disabled=~season["selectable"].to(bool),
                    on_change=lambda _v: SearchState.toggle_season(season["number"]),
                    id="season-" + season["number"].to_string()),
        rx.text(season["label"], size="2"),
        rx.cond(season["state"] != "", rx.badge(season["state"], variant="soft",
                                                color_scheme=rx.cond(season["state"] == "Available", "green",
                                                                     "amber")), rx.fragment()),
        spacing="2", align="center", class_name="season-row",
    )


def season_picker() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Request ", SearchState.picker_title),
            rx.dialog.description("Choose the seasons you want. Seasons already available or requested cannot "
                                  "be chosen again.", size="2"),
            rx.cond(SearchState.picker_loading,
                    rx.center(rx.spinner(), padding="1em"),
                    rx.vstack(rx.foreach(SearchState.picker_seasons, _season_row), spacing="2", padding_y="1em",
                              id="season-list")),
            rx.cond(SearchState.picker_error != "",
                    rx.callout(SearchState.picker_error, icon="triangle-alert", color_scheme="red", size="1"),
                    rx.fragment()),
            rx.hstack(
                rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.button("Request ", SearchState.picker_selected.length(), " season(s)",
                          on_click=SearchState.request_seasons, id="request-seasons",
                          disabled=SearchState.picker_loading | (SearchState.picker_selected.length() == 0)),
                justify="end", spacing="2",
            ),
            max_width="28rem",
        ),
        open=SearchState.picker_open, on_open_change=SearchState.close_seasons,
    )


@rx.page(route="/search", title="Search · MediaNest", on_load=SearchState.load)
def search_page() -> rx.Component:
    return shell(
        # Remounted whenever this member's requests change, so the cards follow without a reload.
        live_reload(SearchState.refresh_states),
        rx.cond(~SearchState.configured,
                rx.callout("Search and requests need Overseerr. An admin can set OVERSEERR_URL and "
                           "OVERSEERR_API_KEY.", icon="info"),
                rx.fragment()),
        rx.cond(SearchState.not_in_overseerr,
                rx.callout("Your Plex account is not set up in Overseerr yet, so you cannot request anything. "
                           "You can still search. An admin can add you from the Users page.",
                           icon="user-x", color_scheme="amber", id="not-in-overseerr"),
                rx.fragment()),
        rx.vstack(
            rx.input(rx.input.slot(rx.icon("search", size=16)), placeholder="Search movies and shows…",
                     value=SearchState.query, on_change=SearchState.set_query, debounce_timeout=350,
                     size="3", width="100%", id="search-input", auto_focus=True, aria_label="Search"),
            rx.hstack(
                rx.segmented_control.root(
                    *[rx.segmented_control.item(label, value=value) for value, label in KINDS.items()],
                    value=SearchState.kind, on_change=SearchState.set_kind, id="kind-filter"),
                rx.cond(SearchState.searching, rx.spinner(size="2", id="search-spinner"), rx.fragment()),
                rx.spacer(),
                rx.cond(SearchState.total_results > 0,
                        rx.text(SearchState.total_results,
                                rx.cond(SearchState.total_results == 1, " result", " results"),
                                size="2", color_scheme="gray"),
                        rx.fragment()),
                align="center", width="100%", wrap="wrap",
            ),
            spacing="3", width="100%",
        ),
        rx.cond(SearchState.stale,
                rx.callout("Overseerr is not answering. These are earlier results and may be out of date.",
                           icon="clock", color_scheme="amber", id="stale-results"),
                rx.fragment()),
        rx.cond(SearchState.error != "",
                rx.callout(SearchState.error, icon="triangle-alert", color_scheme="red", id="search-error"),
                rx.fragment()),
        rx.cond(
            SearchState.shown_count > 0,
            media_grid(rx.foreach(SearchState.results, lambda item: rx.cond(
                (SearchState.kind == "all") | (item["media_type"] == SearchState.kind), _result(item), rx.fragment())),
                id="search-results", min_width="22rem"),
            rx.cond((SearchState.query != "") & ~SearchState.searching & (SearchState.error == ""),
                    rx.center(rx.text(rx.cond(SearchState.results.length() > 0,
                                              "Nothing of this kind on the loaded pages.",
                                              "Nothing found. Check the spelling or try another title."),
                                      color_scheme="gray"), padding="2em", id="no-results"),
                    rx.cond(SearchState.query == "",
                            rx.center(rx.text("Type a title to search movies and shows.", color_scheme="gray"),
                                      padding="2em"),
                            rx.fragment())),
        ),
        rx.cond(SearchState.has_more,
                rx.center(rx.button("Load more results", variant="soft", on_click=SearchState.load_more,
                                    loading=SearchState.loading_more, id="load-more")),
                rx.fragment()),
        season_picker(),
        title="Search",
    )
