"""Search Overseerr's catalogue and request movies and shows (with a season picker)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import reflex as rx

from ..components import toasts
from ..components.layout import shell
from ..components.media import live_reload, media_grid, poster
from ..config import get_settings
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db import session_scope
from ..errors import IntegrationUnavailable, MediaNestError, RateLimited
from ..integrations.overseerr import OverseerrNotFound, SearchResult
from ..wiring import get_registry
from ..integrations.tmdb import valid_image
from ..services import media_requests, search
from ..services.media_requests import Draft
from ..state import SessionState

KINDS = {"all": "All", "movie": "Movies", "tv": "Shows"}
OVERVIEW_CHARS = 180


def tmdb_poster(path: str | None, size: str = "w300") -> str:
    """MediaNest's proxy URL of a TMDB poster path ("" when there is none)."""
    name = (path or "").lstrip("/")
    return f"/media/tmdb/{size}/{name}" if name and valid_image(size, name) else ""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= OVERVIEW_CHARS else text[:OVERVIEW_CHARS].rsplit(" ", 1)[0] + "…"


def result_view(r: Any, *, mine: str = "", following: bool = False) -> dict[str, Any]:
    badge, label = search.badge_for(r.status)
    if mine:
        badge, label = "requested", "You requested this"
    elif following:
        label = f"{label} · following"
    if r.media_type == "movie":
        action = {"none": "request", "requested": "follow", "processing": "follow"}.get(badge, "none")
    else:
        action = "seasons" if badge in ("none", "partial", "requested", "processing") else "none"
    if mine and r.media_type == "movie":
        action = "none"
    if following and action == "follow":
        action = "none"
    return {
        "key": f"{r.media_type}-{r.tmdb_id}", "tmdb_id": r.tmdb_id, "media_type": r.media_type,
        "type_label": "Movie" if r.media_type == "movie" else "Show", "title": r.title,
        "year": str(r.year or ""), "overview": _short(r.overview), "poster": tmdb_poster(r.poster_path),
        "poster_path": r.poster_path or "", "badge": badge, "badge_label": label, "action": action,
        "plex_url": r.plex_url or "", "can_follow": r.media_type == "tv" and badge in ("requested", "processing")
        and not following and not mine,
    }


class SearchState(SessionState):
    query: str = ""
    kind: str = "all"
    results: list[dict[str, Any]] = []
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
    picker_seasons: list[dict[str, Any]] = []
    picker_selected: list[int] = []
    picker_error: str = ""
    # The Overseerr snapshot behind ``results`` (each with ``fetched_at``), so that what MediaNest
    # learns later can be laid over it again without asking Overseerr (``refresh_states``).
    _snapshot: list[dict[str, Any]] = []

    @rx.var
    def shown_count(self) -> int:
        """Results of the chosen kind (the list itself is filtered in the browser, so each
        search sends its results once)."""
        return sum(1 for r in self.results if self.kind == "all" or r["media_type"] == self.kind)

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
        self.not_in_overseerr = False
        if overseerr is not None:
            try:
                async with session_scope() as session:
                    self.not_in_overseerr = await media_requests.overseerr_user_id(session, user.id, overseerr) is None \
                        and not user.is_local
            except IntegrationUnavailable:
                pass  # the search itself will say that Overseerr is not answering

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

    async def _views(self, user_id: int, outcome: search.SearchOutcome,
                     session: AsyncSession | None = None) -> list[dict[str, Any]]:
        return await self._overlay(user_id, [{**dataclasses.asdict(r), "fetched_at": outcome.fetched_at}
                                             for r in outcome.results], session)

    async def _overlay(self, user_id: int, snapshot: list[dict[str, Any]],
                       session: AsyncSession | None = None) -> list[dict[str, Any]]:
        """Views of a snapshot with what MediaNest knows laid over it (``search.overlay``)."""
        raw = [(SearchResult(**{k: v for k, v in item.items() if k != "fetched_at"}), item["fetched_at"])
               for item in snapshot]
        keys = [(r.media_type, r.tmdb_id) for r, _ in raw]
        if session is None:
            async with session_scope() as own:
                info = await search.known(own, user_id, keys)
        else:
            info = await search.known(session, user_id, keys)
        views = []
        for r, fetched_at in raw:
            (shown,) = search.overlay([r], info, fetched_at)
            views.append(result_view(shown.result, mine=shown.mine, following=shown.following))
        return views

    def _clear(self) -> None:
        self.results, self.page, self.total_pages, self.total_results, self.stale = [], 0, 0, 0, False
        self._snapshot = []

    def _show(self, outcome: search.SearchOutcome, views: list[dict[str, Any]]) -> None:
        self._snapshot = [{**dataclasses.asdict(r), "fetched_at": outcome.fetched_at} for r in outcome.results]
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
                self._show(outcome, await self._views(user.id, outcome, session))
                return
        self.searching = True
        yield
        outcome = await self._fetch(1)
        self.searching = False
        if outcome is None or outcome.query != " ".join(self.query.split()):
            if outcome is None:
                self._clear()
            return
        self._show(outcome, await self._views(user.id, outcome))

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
        seen = {r["key"] for r in self.results}
        self._snapshot = self._snapshot + [{**dataclasses.asdict(r), "fetched_at": outcome.fetched_at}
                                           for r in outcome.results if f"{r.media_type}-{r.tmdb_id}" not in seen]
        self.results = self.results + [v for v in await self._views(user.id, outcome) if v["key"] not in seen]
        self.page, self.total_pages = outcome.page, outcome.total_pages
        self.stale = self.stale or outcome.stale

    @rx.event
    async def refresh_states(self):
        """Remounted by ``UserFeed.version``: the member's requests changed (sent, approved,
        declined, available…), so the shown results take on what MediaNest knows now."""
        user = await self._require_user()
        if self._snapshot:
            self.results = await self._overlay(user.id, self._snapshot)

    @rx.event
    async def set_kind(self, kind: str | list[str]):
        await self._require_user()
        if isinstance(kind, str) and kind in KINDS:
            self.kind = kind

    # ---- requesting ------------------------------------------------------------------

    def _item(self, key: str) -> dict[str, Any] | None:
        return next((r for r in self.results if r["key"] == key), None)

    def _draft(self, item: dict[str, Any], seasons: tuple[int, ...] = ()) -> Draft:
        return Draft(item["media_type"], int(item["tmdb_id"]), item["title"],
                     int(item["year"]) if item["year"] else None, item["poster_path"] or None, seasons)

    def _update_item(self, key: str, **changes: Any) -> None:
        self.results = [{**r, **changes} if r["key"] == key else r for r in self.results]

    def _learned(self, key: str, status: str, plex_url: str | None = None) -> None:
        """Overseerr told us more about one title just now: newer than the snapshot it came in."""
        self._snapshot = [{**s, "status": status, "plex_url": plex_url or s["plex_url"], "fetched_at": time.time()}
                          if f"{s['media_type']}-{s['tmdb_id']}" == key else s for s in self._snapshot]

    @rx.event
    async def request_movie(self, key: str):
        user = await self._require_user()
        item = self._item(str(key))
        if item is None or item["media_type"] != "movie":
            return toasts.error("That result is gone; search again.")
        if item["action"] != "request":
            return toasts.info(f"{item['title']} is {item['badge_label'].lower()}; there is nothing to request.")
        return await self._submit(user, item, ())

    async def _submit(self, user, item: dict[str, Any], seasons: tuple[int, ...]):  # noqa: ANN001, ANN202
        settings = get_settings()
        self.busy_key = item["key"]
        try:
            async with session_scope() as session:
                outcome = await media_requests.submit(
                    session, user=user, draft=self._draft(item, seasons), overseerr=get_registry().overseerr(),
                    limit_per_hour=settings.request_limit_per_hour, retry_max_s=settings.request_retry_max_s)
        except RateLimited as exc:
            return toasts.error(exc.user_message, duration=10000)
        except media_requests.NotInOverseerr as exc:
            self.not_in_overseerr = True
            return toasts.error(exc.user_message, duration=10000)
        except search.TitleAvailable as exc:
            self._learned(item["key"], "available", exc.plex_url)
            self._update_item(item["key"], badge="available", badge_label="Available", action="none",
                              can_follow=False, plex_url=exc.plex_url or item["plex_url"])
            return toasts.info(exc.user_message, duration=10000)
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        finally:
            self.busy_key = ""
        row = outcome.row
        if row.status == "available":  # Overseerr said so right before the request would have gone out
            self._learned(item["key"], "available", row.plex_url)
            self._update_item(item["key"], badge="available", badge_label="Available", action="none",
                              can_follow=False, plex_url=row.plex_url or item["plex_url"])
            return toasts.info(f"{row.title} is already available in Plex; nothing was requested.",
                               duration=10000)
        if row.status == "duplicate":
            self._learned(item["key"], "pending")
            self._update_item(item["key"], badge="requested", badge_label="Requested",
                              action="follow" if item["media_type"] == "movie" else "seasons",
                              can_follow=item["media_type"] == "tv")
            return toasts.info(outcome.message, duration=10000)
        if row.status == "refused":
            return toasts.error(outcome.message, duration=10000)
        self._update_item(item["key"], badge="requested", badge_label="You requested this",
                          action="none" if item["media_type"] == "movie" else "seasons")
        if row.status == "queued":
            return toasts.warning(outcome.message, duration=10000)
        return toasts.success(outcome.message)

    @rx.event
    async def follow(self, key: str):
        user = await self._require_user()
        item = self._item(str(key))
        if item is None:
            return toasts.error("That result is gone; search again.")
        if item["action"] != "follow" and not item["can_follow"]:
            return toasts.info(f"{item['title']} cannot be followed ({item['badge_label'].lower()}).")
        try:
            async with session_scope() as session:
                text = await media_requests.follow(session, user=user, draft=self._draft(item))
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        self._update_item(item["key"], action="none" if item["media_type"] == "movie" else item["action"],
                          can_follow=False, badge_label=f"{item['badge_label']} · following")
        return toasts.success(text)

    # ---- the season picker ------------------------------------------------------------

    @rx.event
    async def open_seasons(self, key: str):
        await self._require_user()
        item = self._item(str(key))
        overseerr = get_registry().overseerr()
        if item is None or item["media_type"] != "tv" or overseerr is None:
            return
        self.picker_open, self.picker_loading, self.picker_error = True, True, ""
        self.picker_key, self.picker_title = item["key"], item["title"]
        self.picker_seasons, self.picker_selected = [], []
        yield
        try:
            details = await overseerr.tv(int(item["tmdb_id"]))
        except OverseerrNotFound:
            self.picker_error = "Overseerr does not know this show any more."
        except IntegrationUnavailable:
            self.picker_error = "Overseerr is not answering, so the seasons cannot be shown. Try again in a moment."
        else:
            requested = set(details.requested_seasons)
            seasons = []
            for s in details.seasons:
                state = {"available": "Available", "partially_available": "Partly available",
                         "processing": "Processing", "pending": "Requested"}.get(s.status, "")
                if not state and s.season_number in requested:
                    state = "Requested"
                seasons.append({"number": s.season_number, "label": f"Season {s.season_number}",
                                "state": state, "selectable": state in ("", "Partly available")})
            self.picker_seasons = seasons
            self.picker_selected = [s["number"] for s in seasons if s["selectable"]]
        self.picker_loading = False

    @rx.event
    async def toggle_season(self, number: int):
        await self._require_user()
        number = int(number)
        if not any(s["number"] == number and s["selectable"] for s in self.picker_seasons):
            return
        self.picker_selected = sorted(set(self.picker_selected) ^ {number})

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
        allowed = {s["number"] for s in self.picker_seasons if s["selectable"]}
        chosen = tuple(n for n in self.picker_selected if n in allowed)
        if not chosen:
            self.picker_error = "Choose at least one season."
            return None
        self.picker_open = False
        return await self._submit(user, item, chosen)


# --------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------


BADGE_COLOURS = {"available": "green", "partial": "teal", "processing": "blue", "requested": "amber", "none": "gray"}


def _badge(item: rx.Var) -> rx.Component:
    return rx.badge(item["badge_label"], variant="soft", class_name="availability",
                    color_scheme=rx.match(item["badge"], *BADGE_COLOURS.items(), "gray"))


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
                rx.hstack(rx.badge(item["type_label"], variant="outline", color_scheme="gray"), _badge(item),
                          spacing="2", wrap="wrap"),
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
                        rx.text(SearchState.total_results, rx.cond(SearchState.total_results == 1, " result", " results"), size="2", color_scheme="gray"),
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
