"""Downloads: paste a link, see what it holds, choose, send it to Plex, and watch it live."""

from __future__ import annotations

import logging

import reflex as rx

from ..components import toasts
from ..components.downloads import download_card, preview_panel
from ..components.layout import shell
from ..db import session_scope
from ..errors import MediaNestError
from ..models import DownloadState
from ..services.downloads import members, rules, to_plex
from ..services.downloads.runner import announce
from ..services.downloads.views import PreviewView, preview_view
from ..state import DownloadsFeed, SessionMixin
from ..tasks.downloads import add_to_plex, queue_items
from ..wiring import get_registry

logger = logging.getLogger(__name__)


class DownloadsState(SessionMixin, rx.State):
    url: str = ""
    previewing: bool = False
    submitting: bool = False
    preview: PreviewView | None = None
    chosen: list[str] = []
    quality: str = "best"
    make_collection: bool = True
    error: str = ""
    # What the preview found, kept on the server: the download is made from this, never from
    # anything the browser sends back.
    _found: members.Found | None = None

    @rx.event
    async def load(self):
        user = await self._load_user()
        await self._link_downloads(user.id)
        if self._found is None:  # the admin's default quality, unless a preview is being chosen from
            self.quality = get_registry().settings.downloads_quality

    @rx.event
    async def set_url(self, value: str):
        await self._require_user()
        self.url = str(value)[:4096]
        self.error = ""

    @rx.event(background=True)
    async def look(self, form: dict):
        """Preview the pasted link (the form's ``url``; nothing is saved). In the background: a
        playlist can take yt-dlp many seconds, longer than a tab's lock may be held."""
        async with self:
            user = await self._require_user()
            if self.previewing:
                return
            url = str(form.get("url") or "")[:4096] if isinstance(form, dict) else ""
            self.url = url
            self.previewing, self.error, self.preview, self._found = True, "", None, None
        try:
            registry = get_registry()
            found = await members.preview(url, settings=registry.settings, limiter=registry.rate_limiter(),
                                          user_id=user.id)
        except MediaNestError as exc:
            async with self:
                self.previewing, self.error = False, exc.user_message
            return
        except Exception:
            logger.exception("preview of a pasted link failed")
            async with self:
                self.previewing, self.error = False, "MediaNest could not look at that link. Try again."
            return
        async with self:
            if self.url != url:  # the member pasted another link meanwhile
                self.previewing = False
                return
            self._found = found
            self.preview = preview_view(found)
            self.chosen = [e.id for e in found.entries]
            self.make_collection = found.kind == "playlist"
            self.previewing = False

    @rx.event
    async def toggle_entry(self, entry_id: str):
        await self._require_user()
        entry_id = str(entry_id)
        if entry_id in self.chosen:
            self.chosen = [c for c in self.chosen if c != entry_id]
        elif self._found is not None and any(e.id == entry_id for e in self._found.entries):
            self.chosen = [*self.chosen, entry_id]

    @rx.event
    async def choose_all(self, on: bool):
        await self._require_user()
        self.chosen = [e.id for e in self._found.entries] if on and self._found else []

    @rx.event
    async def set_quality(self, value: str):
        await self._require_user()
        if value in rules.QUALITIES:
            self.quality = value

    @rx.event
    async def set_make_collection(self, on: bool):
        await self._require_user()
        self.make_collection = bool(on)

    @rx.event
    async def clear(self):
        await self._require_user()
        self.url, self.preview, self._found, self.chosen, self.error = "", None, None, [], ""

    @rx.event
    async def download(self):
        user = await self._require_user()
        if self._found is None:
            self.error = "Preview the link first."
            return
        self.submitting = True
        yield
        choice = members.Choice(entry_ids=tuple(self.chosen), quality=self.quality,
                                make_collection=self.make_collection)
        try:
            async with session_scope() as session:
                saved, item_ids = await members.submit(session, user_id=user.id, username=user.username,
                                                       found=self._found, choice=choice,
                                                       settings=get_registry().settings)
        except MediaNestError as exc:
            self.submitting = False
            yield toasts.error(exc.user_message)
            return
        except Exception:
            logger.exception("a download could not be saved")
            self.submitting = False
            yield toasts.error("MediaNest could not save this download. Nothing was sent; try again.")
            return
        self.submitting = False
        self.url, self.preview, self._found, self.chosen = "", None, None, []
        self.quality = get_registry().settings.downloads_quality
        try:
            await queue_items(item_ids)
            await _announce(user.id, saved.id or 0)
        except Exception:  # saved: the watchdog queues what no task took up
            logger.exception("download %s saved, its tasks not queued yet", saved.id)
        yield toasts.success(f"{saved.title} is on its way to Plex.")

    @rx.event
    async def cancel(self, download_id: int, item_id: int):
        """Cancel one video (``item_id``) or, with 0, the whole download."""
        user = await self._require_user()
        try:
            async with session_scope() as session:
                row = await members.cancel(session, int(download_id), user_id=user.id, is_admin=user.is_admin,
                                           item_id=int(item_id) or None)
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        if row.status == DownloadState.ADDING.value:  # what finished before the cancel goes to Plex
            await add_to_plex.kiq(row.id)
        await _announce(row.user_id, row.id or 0)
        return toasts.info("Cancelled.")

    @rx.event
    async def retry(self, download_id: int, item_id: int):
        """Retry one video (``item_id``) or, with 0, every failed one."""
        user = await self._require_user()
        try:
            async with session_scope() as session:
                row, item_ids = await members.retry(session, int(download_id), user_id=user.id,
                                                    is_admin=user.is_admin, item_id=int(item_id) or None)
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        await queue_items(item_ids)
        if not item_ids:
            await add_to_plex.kiq(row.id)
        await _announce(row.user_id, row.id or 0)
        return toasts.info("Trying again.")

    @rx.event
    async def remove(self, download_id: int):
        user = await self._require_user()
        try:
            async with session_scope() as session:
                row, _items = await members.forget(session, int(download_id), user_id=user.id,
                                                   is_admin=user.is_admin, settings=get_registry().settings)
                plex = await get_registry().plex_server(session)
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        await to_plex.tidy_removed(plex, get_registry().settings, row.folder, row.collection_key)
        await _announce(row.user_id, row.id or 0)
        return toasts.success(f"{row.title} was removed.")

    @rx.event
    async def set_sync(self, download_id: int, on: bool):
        user = await self._require_user()
        try:
            async with session_scope() as session:
                row = await members.set_sync(session, int(download_id), user_id=user.id, is_admin=user.is_admin,
                                             on=bool(on))
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        await _announce(row.user_id, row.id or 0)
        return toasts.info("Kept in sync." if on else "No longer kept in sync.")


async def _announce(user_id: int, download_id: int) -> None:
    await announce(user_id, download_id)


@rx.page(route="/downloads", title="Downloads · MediaNest", on_load=DownloadsState.load)
def downloads_page() -> rx.Component:
    return shell(
        rx.vstack(
            rx.heading("Downloads", size="6"),
            rx.text("Paste a YouTube link (a video, a playlist or a channel) and send it to Plex.",
                    color_scheme="gray", size="2"),
            rx.form(
                rx.hstack(
                    rx.input(placeholder="https://www.youtube.com/playlist?list=…", value=DownloadsState.url,
                             on_change=DownloadsState.set_url, id="download-url", name="url", width="100%",
                             size="3"),
                    rx.button(rx.cond(DownloadsState.previewing, rx.spinner(size="2"), rx.icon("eye", size=16)),
                              "Preview", type="submit", id="download-preview", size="3",
                              disabled=DownloadsState.previewing | (DownloadsState.url == "")),
                    width="100%", spacing="2",
                ),
                on_submit=DownloadsState.look, width="100%", reset_on_submit=False,
            ),
            rx.cond(DownloadsState.error != "",
                    rx.callout(DownloadsState.error, icon="triangle-alert", color_scheme="red", id="download-error",
                               width="100%"),
                    rx.fragment()),
            rx.cond(DownloadsState.preview, preview_panel(DownloadsState), rx.fragment()),
            rx.heading("Your downloads", size="4", margin_top="1em"),
            rx.cond(
                DownloadsFeed.cards.length() > 0,
                rx.vstack(rx.foreach(DownloadsFeed.cards, lambda c: download_card(c, DownloadsState)),
                          width="100%", spacing="3", id="download-list"),
                rx.cond(DownloadsFeed.loaded,
                        rx.text("Nothing downloaded yet. Paste a link above to start.", color_scheme="gray",
                                id="downloads-empty"),
                        rx.spinner()),
            ),
            spacing="3", width="100%", max_width="60em",
        ),
        title="Downloads",
    )
