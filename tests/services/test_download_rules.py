"""The download rules that need nothing but Python: safe names and collection titles."""

from __future__ import annotations

from medianest.services.downloads import rules


def test_names_fit_in_bytes_not_characters():
    title = "日本語のタイトル" * 20  # 160 characters, 480 bytes of UTF-8
    name = rules.safe_name(title, fallback="x")
    assert len(name.encode()) <= 120 and title.startswith(name)
    stem = rules.item_stem(12, title, "abcDEF_123-x", numbered=True)
    assert len(stem.encode()) <= 200 and stem.startswith("12 - ") and stem.endswith(" [abcDEF_123-x]")
    assert len(rules.safe_name("😀" * 100, fallback="x").encode()) <= 120


def test_names_cannot_hide_or_leave_their_folder():
    assert rules.safe_name("a\u202egnp.exe", fallback="x") == "agnp.exe"  # a bidi override is dropped
    assert rules.safe_name("zero\u200bwidth", fallback="x") == "zerowidth"
    for hostile in ("..", "../..", "/", "\\", ".", "CON", "con.txt", "CON .x", "NUL", "   ", "\x00"):
        assert rules.safe_name(hostile, fallback="fallback") == "fallback", hostile
    assert rules.safe_name("../../etc/passwd", fallback="x") == "etc passwd"
    assert rules.safe_name('AC/DC: "Live" <1979>?*', fallback="x") == "AC DC Live 1979"


def test_collection_titles_never_clash():
    assert rules.collection_title("Road trip", "bob", taken=set()) == "Road trip"
    assert rules.collection_title("Road trip", "bob", taken={"Road trip"}) == "Road trip (bob)"
    assert rules.collection_title("Road trip", "bob", taken={"Road trip", "Road trip (bob)"}) == "Road trip (bob 2)"
    long = rules.collection_title("x" * 400, "bob", taken={"x" * 150})
    assert long == "x" * 150 + " (bob)" and len(long) < 200


def test_a_downloads_state_follows_its_items():
    assert rules.download_state(["queued", "queued"]) == "queued"
    assert rules.download_state(["done", "queued"]) == "running"
    assert rules.download_state(["done", "paused"]) == "running"
    assert rules.download_state(["done", "failed"]) == "adding_to_plex"
    assert rules.download_state(["failed", "cancelled"]) == "failed"
    assert rules.download_state(["cancelled"]) == "cancelled"
