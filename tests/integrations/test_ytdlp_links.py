"""Which links the yt-dlp seam accepts, and how it reads YouTube link shapes. No network: DNS
look-ups only for 127.0.0.1 and localhost."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from medianest.integrations.ytdlp import Link, LinkRefused, NetworkError, check_link, inspect_link
from medianest.integrations.ytdlp.errors import (
    NO_CREDENTIALS,
    NOT_A_WEB_LINK,
    NOT_DOWNLOADABLE,
    ONLY_ALLOWED_HOSTS,
    PRIVATE_ADDRESS,
)
from medianest.integrations.ytdlp.links import address_is_private, host_matches, normalise_host, youtube_video_id

VID = "dQw4w9WgXcQ"
LIST = "PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf"
UC = "UC38IQsAvIsxxjztdMZQtwHA"


def inspect(url: str, *, allowed: tuple[str, ...] = (), allow_private: bool = False) -> Link:
    return inspect_link(url, allowed_hosts=allowed, allow_private=allow_private)


def refusal(url: str, *, allowed: tuple[str, ...] = (), allow_private: bool = False) -> LinkRefused:
    with pytest.raises(LinkRefused) as caught:
        inspect(url, allowed=allowed, allow_private=allow_private)
    return caught.value


# ---- YouTube shapes -------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "kind", "video_id", "list_id", "normalised"), [
    (f"https://www.youtube.com/watch?v={VID}", "video", VID, None, f"https://www.youtube.com/watch?v={VID}"),
    (f"https://youtube.com/watch?feature=share&v={VID}&t=42s#x", "video", VID, None,
     f"https://www.youtube.com/watch?v={VID}"),
    (f"http://m.youtube.com/watch?v={VID}", "video", VID, None, f"https://www.youtube.com/watch?v={VID}"),
    (f"https://youtu.be/{VID}", "video", VID, None, f"https://www.youtube.com/watch?v={VID}"),
    (f"https://youtu.be/{VID}?si=abc&t=3", "video", VID, None, f"https://www.youtube.com/watch?v={VID}"),
    (f"https://www.youtube.com/shorts/{VID}", "shorts", VID, None, f"https://www.youtube.com/shorts/{VID}"),
    (f"https://music.youtube.com/watch?v={VID}", "music", VID, None, f"https://music.youtube.com/watch?v={VID}"),
    (f"https://music.youtube.com/playlist?list={LIST}", "music", None, LIST,
     f"https://music.youtube.com/playlist?list={LIST}"),
    (f"https://www.youtube.com/playlist?list={LIST}", "playlist", None, LIST,
     f"https://www.youtube.com/playlist?list={LIST}"),
    (f"https://www.youtube.com/watch?v={VID}&list={LIST}&index=3", "playlist", VID, LIST,
     f"https://www.youtube.com/watch?v={VID}&list={LIST}"),
    (f"https://youtu.be/{VID}?list={LIST}", "playlist", VID, LIST,
     f"https://www.youtube.com/watch?v={VID}&list={LIST}"),
    (f"https://www.youtube.com/embed/{VID}", "video", VID, None, f"https://www.youtube.com/watch?v={VID}"),
    (f"https://www.youtube.com/embed/videoseries?list={LIST}", "playlist", None, LIST,
     f"https://www.youtube.com/playlist?list={LIST}"),
    (f"https://www.youtube-nocookie.com/embed/{VID}?rel=0", "video", VID, None,
     f"https://www.youtube.com/watch?v={VID}"),
    (f"https://youtube-nocookie.com/embed/{VID}", "video", VID, None, f"https://www.youtube.com/watch?v={VID}"),
    (f"https://www.youtube.com/live/{VID}", "video", VID, None, f"https://www.youtube.com/watch?v={VID}"),
])
def test_video_and_playlist_shapes(url, kind, video_id, list_id, normalised):
    link = inspect(url)
    assert (link.kind, link.video_id, link.list_id, link.url) == (kind, video_id, list_id, normalised)
    assert link.is_youtube
    assert link.is_collection == (list_id is not None)


@pytest.mark.parametrize(("url", "channel", "normalised"), [
    ("https://www.youtube.com/@SomeChannel", "@SomeChannel", "https://www.youtube.com/@SomeChannel"),
    ("https://www.youtube.com/@some.channel-1/videos", "@some.channel-1",
     "https://www.youtube.com/@some.channel-1/videos"),
    ("https://m.youtube.com/@SomeChannel/shorts", "@SomeChannel", "https://www.youtube.com/@SomeChannel/shorts"),
    (f"https://www.youtube.com/channel/{UC}", UC, f"https://www.youtube.com/channel/{UC}"),
    (f"https://youtube.com/channel/{UC}/playlists", UC, f"https://www.youtube.com/channel/{UC}/playlists"),
    ("https://www.youtube.com/c/SomeName", "c/SomeName", "https://www.youtube.com/c/SomeName"),
    ("https://www.youtube.com/user/someuser/videos", "user/someuser", "https://www.youtube.com/user/someuser/videos"),
    ("https://www.youtube.com/@%C3%A9t%C3%A9", "@été", "https://www.youtube.com/@%C3%A9t%C3%A9"),
])
def test_channel_shapes(url, channel, normalised):
    link = inspect(url)
    assert (link.kind, link.channel, link.url) == ("channel", channel, normalised)
    assert link.is_collection


@pytest.mark.parametrize("url", [
    "https://www.youtube.com/",
    "https://www.youtube.com/feed/subscriptions",
    "https://www.youtube.com/results?search_query=cats",
    "https://www.youtube.com/watch?v=tooshort",
    "https://www.youtube.com/watch",
    "https://www.youtube.com/playlist",
    "https://youtu.be/",
    f"https://youtu.be/{VID}/extra",
    "https://www.youtube.com/@name/community",
    "https://www.youtube.com/channel/not-a-channel-id",
    f"https://www.youtube-nocookie.com/watch?v={VID}",
    "https://music.youtube.com/browse/MPREb_123",
])
def test_youtube_pages_that_are_not_videos_are_refused(url):
    refused = refusal(url)
    assert refused.reason == "shape"
    assert refused.user_message == NOT_DOWNLOADABLE


def test_youtube_video_id_names_only_single_videos():
    assert youtube_video_id(f"https://youtu.be/{VID}") == VID
    assert youtube_video_id(f"https://www.youtube.com/shorts/{VID}") == VID
    assert youtube_video_id(f"https://www.youtube.com/watch?v={VID}&list={LIST}") is None
    assert youtube_video_id("http://127.0.0.1:8000/media/demo-1.mp4") is None


# ---- hosts ----------------------------------------------------------------------------------

def test_allowed_hosts_match_exactly_or_as_parent_domain():
    assert inspect("https://videos.example.org/watch/1", allowed=("example.org",)).kind == "other"
    assert inspect("https://example.org/a?b=c#frag", allowed=("Example.ORG.",)).url == "https://example.org/a?b=c"
    for url in ("https://notexample.org/", "https://example.org.evil.com/", "https://evil.com/example.org"):
        assert refusal(url, allowed=("example.org",)).user_message == ONLY_ALLOWED_HOSTS
    assert host_matches("a.b.example.org", ["example.org"])
    assert not host_matches("example.org", ["a.example.org"])


def test_other_hosts_keep_their_port_and_path():
    link = inspect("http://127.0.0.1:8765/playlists/demo?x=1", allowed=("127.0.0.1",), allow_private=True)
    assert link == Link(url="http://127.0.0.1:8765/playlists/demo?x=1", host="127.0.0.1", kind="other")
    assert not link.is_youtube


@pytest.mark.parametrize(("url", "normalised_host"), [
    (f"https://www.youtube.com./watch?v={VID}", "www.youtube.com"),
    (f"https://WWW.YouTube.COM/watch?v={VID}", "www.youtube.com"),
    # What a browser does with full-width letters (IDNA mapping): the very same host.
    (f"https://ｙｏｕｔｕｂｅ.com/watch?v={VID}", "youtube.com"),
])
def test_host_spellings_of_youtube_that_mean_youtube(url, normalised_host):
    link = inspect(url)
    assert link.host == normalised_host
    assert link.url == f"https://www.youtube.com/watch?v={VID}"


# ---- hostile links --------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "javascript:alert(1)",
    "data:text/html,<video src=x>",
    "ftp://youtube.com/watch",
    "ytsearch:cats",
    f"//www.youtube.com/watch?v={VID}",
    f"www.youtube.com/watch?v={VID}",
])
def test_only_http_and_https(url):
    assert refusal(url).user_message == NOT_A_WEB_LINK


@pytest.mark.parametrize("url", [
    f"https://user:secret@www.youtube.com/watch?v={VID}",
    f"https://user@www.youtube.com/watch?v={VID}",
    "https://www.youtube.com@evil.example/",
    "http://127.0.0.1:80@evil.example/",
])
def test_credentials_are_refused(url):
    refused = refusal(url, allowed=("evil.example", "youtube.com"))
    assert (refused.reason, refused.user_message) == ("credentials", NO_CREDENTIALS)


@pytest.mark.parametrize("url", [
    f"https://www.youtube.com:8443/watch?v={VID}",
    f"http://youtu.be:8080/{VID}",
])
def test_odd_ports_on_youtube_hosts_are_refused(url):
    assert refusal(url).reason == "port"


def test_default_ports_on_youtube_hosts_are_fine():
    assert inspect(f"https://www.youtube.com:443/watch?v={VID}").video_id == VID
    assert inspect(f"http://youtu.be:80/{VID}").video_id == VID


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://10.0.0.5:8080/x", "http://192.168.1.10/", "http://169.254.169.254/latest/meta-data",
    "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[fe80::1]/",
    "http://0.0.0.0/", "http://[::]/", "http://224.0.0.1/", "http://100.64.0.1/", "http://[fd00::1]/",
    "http://[2002:7f00:1::1]/", "http://[64:ff9b::a00:1]/",
])
def test_ip_literals_are_not_hosts_unless_allowed(url):
    assert refusal(url).user_message == ONLY_ALLOWED_HOSTS


@pytest.mark.parametrize(("url", "host"), [
    ("http://127.0.0.1/", "127.0.0.1"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
    ("http://[fe80::1]/", "fe80::1"),
    ("http://localhost:8000/", "localhost"),
    ("http://printer.local/", "printer.local"),
])
def test_private_addresses_are_refused_even_when_allowed_unless_private_is_allowed(url, host):
    refused = refusal(url, allowed=(host,))
    assert (refused.reason, refused.user_message) == ("private", PRIVATE_ADDRESS)
    assert inspect(url, allowed=(host,), allow_private=True).kind == "other"


@pytest.mark.parametrize("url", [
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0177.0.0.1/",  # octal
    "http://0x7f.0.0.1/",  # hex
    "http://0x7f000001/",
    "http://127.1/",
    "http://017700000001/",
])
def test_numeric_host_forms_are_refused(url):
    # Even when the admin "allows" them: the C resolver reads them as 127.0.0.1.
    refused = refusal(url, allowed=("2130706433", "127.1", "0x7f000001"), allow_private=True)
    assert refused.reason == "address"


@pytest.mark.parametrize("url", [
    f"https://xn--yutube-wqa.com/watch?v={VID}",  # punycode look-alike
    f"https://yоutube.com/watch?v={VID}",  # Cyrillic "о"
    f"https://www.youtube.com.evil.example/watch?v={VID}",
    f"https://youtube.co/watch?v={VID}",
    f"https://www.youtu.be.example/{VID}",
    f"https://%79outube.com/watch?v={VID}",
    f"https://gaming.youtube.com/watch?v={VID}",
])
def test_look_alike_hosts_are_not_youtube(url):
    assert refusal(url).reason in ("host", "address")


@pytest.mark.parametrize("url", [
    "", "   ", f"https://www.youtube.com/watch?v={VID} extra", f"https://www.youtube.com/wat\nch?v={VID}",
    f"https://www.youtube.com\\@evil.example/watch?v={VID}", "https://exa mple.org/", "http://[::1/",
    "https://www.youtube.com:99999/", "https://" + "a" * 2100 + ".com/", "https://a..b.com/",
])
def test_malformed_links_are_refused(url):
    assert refusal(url, allowed=("a.b.com", "example.org")).reason in ("malformed", "address", "host")


def test_not_a_string_is_refused():
    assert refusal(None).reason == "malformed"  # type: ignore[arg-type]


# ---- addresses ------------------------------------------------------------------------------

@pytest.mark.parametrize(("address", "private"), [
    ("8.8.8.8", False), ("2001:4860:4860::8888", False), ("142.250.185.78", False),
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.0.1", True), ("169.254.1.1", True),
    ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.251", True), ("239.255.255.250", True), ("240.0.0.1", True),
    ("255.255.255.255", True), ("::1", True), ("::", True), ("fe80::1", True), ("fc00::1", True), ("ff02::1", True),
    ("::ffff:127.0.0.1", True), ("::ffff:8.8.8.8", False), ("64:ff9b::7f00:1", True), ("64:ff9b::808:808", False),
    ("2002:c0a8:0101::1", True), ("2001:db8::1", True),
])
def test_address_is_private(address, private):
    assert address_is_private(ipaddress.ip_address(address)) is private


def test_normalise_host():
    assert normalise_host("[::FFFF:127.0.0.1]") == "::ffff:7f00:1"
    assert normalise_host("Bücher.example.") == "xn--bcher-kva.example"
    for bad in ("a_b..c", "-a.com", "2130706433", "exa mple.org", ""):
        with pytest.raises(ValueError):
            normalise_host(bad)


# ---- with DNS -------------------------------------------------------------------------------

async def test_resolving_localhost_is_refused_unless_private_is_allowed():
    refused = None
    try:
        await check_link("http://localhost:8000/playlists/demo", allowed_hosts=["localhost"], allow_private=False)
    except LinkRefused as exc:
        refused = exc
    assert refused is not None and refused.user_message == PRIVATE_ADDRESS
    link = await check_link("http://localhost:8000/playlists/demo", allowed_hosts=["localhost"], allow_private=True)
    assert link.host == "localhost"


async def test_a_name_that_resolves_to_a_private_address_is_refused():
    """This machine's own name (in /etc/hosts: 127.0.0.1 here, the container's address in Docker):
    nothing in the name says "local", only the DNS answer does."""
    name = socket.gethostname().lower()
    try:
        addresses = {ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(name, None)}
    except OSError:
        pytest.skip("this machine's name does not resolve")
    if "." not in name and not any(address_is_private(a) for a in addresses):
        pytest.skip("this machine's name resolves to public addresses only")
    with pytest.raises(LinkRefused) as caught:
        await check_link(f"http://{name}:8000/x", allowed_hosts=[name], allow_private=False)
    assert caught.value.reason == "private"
    assert (await check_link(f"http://{name}:8000/x", allowed_hosts=[name], allow_private=True)).host == name


async def test_check_link_on_an_ip_literal():
    with pytest.raises(LinkRefused) as caught:
        await check_link("http://127.0.0.1:9/x", allowed_hosts=["127.0.0.1"], allow_private=False)
    assert caught.value.reason == "private"
    link = await check_link("http://127.0.0.1:9/x", allowed_hosts=["127.0.0.1"], allow_private=True)
    assert link.url == "http://127.0.0.1:9/x"


async def test_an_unknown_name_is_refused_with_a_plain_sentence():
    # ``.invalid`` never resolves; a machine without any resolver may say "try again" instead.
    with pytest.raises((LinkRefused, NetworkError)) as caught:
        await check_link("http://no-such-host.invalid/x", allowed_hosts=["invalid"], allow_private=False)
    if isinstance(caught.value, LinkRefused):
        assert caught.value.reason == "unresolvable"
        assert "could not find" in caught.value.user_message


async def test_resolve_false_skips_the_lookup():
    link = await check_link("http://no-such-host.invalid/x", allowed_hosts=["invalid"], allow_private=False,
                            resolve=False)
    assert link.host == "no-such-host.invalid"
