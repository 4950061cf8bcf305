"""Download cards as the pages show them (pure: no database): an ended item's row laid over the
cards by the live bridge gives the same card as reading the rows again."""

from __future__ import annotations

from dataclasses import asdict

from medianest.models import DownloadState, ItemState, YoutubeDownload, YoutubeDownloadItem
from medianest.services.downloads import views


def _download(status: str = DownloadState.RUNNING.value) -> YoutubeDownload:
    return YoutubeDownload(id=7, user_id=1, url="https://www.youtube.com/playlist?list=PL1", kind="playlist",
                           title="Road trip", folder="bob/Road trip", status=status)


def _items(*states: str) -> list[YoutubeDownloadItem]:
    return [YoutubeDownloadItem(id=70 + n, download_id=7, user_id=1, position=n, entry_id=f"v{n}", title=f"Clip {n}",
                                url=f"https://youtu.be/v{n}", status=state, total_bytes=2_000_000,
                                downloaded_bytes=2_000_000 if state == ItemState.DONE.value else 500_000,
                                error="HTTP Error 404" if state == ItemState.FAILED.value else None)
            for n, state in enumerate(states, start=1)]


def test_an_ended_items_row_gives_the_card_a_new_read_would():
    download = _download()
    before = _items(ItemState.DONE.value, ItemState.DOWNLOADING.value, ItemState.DOWNLOADING.value,
                    ItemState.QUEUED.value)
    other = views.card(_download(DownloadState.DONE.value).model_copy(update={"id": 6}), [], "bob")
    cards = [views.card(download, before, "bob"), other]
    for ended, state in ((1, ItemState.DONE.value), (2, ItemState.FAILED.value)):
        after = [i.model_copy(update={"status": state, "downloaded_bytes": i.total_bytes}) if n == ended else i
                 for n, i in enumerate(before)]
        row = views.ItemRow(**asdict(views.item_row(after[ended])))  # as it travels in the event
        laid = views.with_item_row(cards, 7, row)
        assert laid is not None
        assert laid[0] == views.card(download, after, "bob")
        assert laid[1] is other
        cards, before = laid, after
    assert (cards[0].count_label, cards[0].failed, cards[0].can_retry) == ("2 of 4", 1, True)


def test_when_every_item_waits_the_card_says_so_and_unknown_items_ask_for_a_reload():
    download = _download()
    items = _items(ItemState.DONE.value, ItemState.DOWNLOADING.value, ItemState.QUEUED.value)
    cards = [views.card(download, items, "bob")]
    ended = items[1].model_copy(update={"status": ItemState.DONE.value})
    laid = views.with_item_row(cards, 7, views.item_row(ended))
    assert laid is not None and laid[0].label == "Waiting for a free slot" and laid[0].count_label == "2 of 3"
    stranger = items[1].model_copy(update={"id": 999})
    assert views.with_item_row(cards, 7, views.item_row(stranger)) is None
    assert views.with_item_row(cards, 8, views.item_row(ended)) is None


def test_late_or_repeated_news_of_an_ended_item_changes_nothing():
    download = _download()
    items = _items(ItemState.DOWNLOADING.value, ItemState.QUEUED.value, ItemState.QUEUED.value)
    failed = items[0].model_copy(update={"status": ItemState.FAILED.value})
    cards = views.with_item_row([views.card(download, items, "bob")], 7, views.item_row(failed))
    assert cards is not None and cards[0].items[0].status == ItemState.FAILED.value
    # The same event again (redelivered), or after a retry queued the item again: read afresh instead.
    assert views.with_item_row(cards, 7, views.item_row(failed)) is None
    retried = [views.card(download, [failed.model_copy(update={"status": ItemState.QUEUED.value}), *items[1:]],
                          "bob")]
    assert views.with_item_row(retried, 7, views.item_row(failed)) is None
    # A progress report that arrives after the item ended leaves the card as a new read shows it.
    late = views.with_progress(cards, failed.id or 0, phase="downloading", downloaded=10, total=100, speed=None,
                               eta=None)
    assert late == cards and late[0].label == "Waiting for a free slot"
