"""Which links MediaNest fetches: the scheme, host and address rules, and the shape of YouTube links.

:func:`inspect_link` is pure (no network): scheme, credentials, host allow-list, IP literals,
ports, and the YouTube link shapes. :func:`check_link` adds a DNS look-up and refuses names that
resolve to private, loopback, link-local, multicast, reserved or unspecified addresses. The
download child repeats the address rule on every connection it opens (see ``child.py``), so a
redirect or a DNS answer that changes after this check cannot reach the local network either.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

from .errors import (
    NO_CREDENTIALS,
    NOT_A_WEB_LINK,
    NOT_DOWNLOADABLE,
    ONLY_ALLOWED_HOSTS,
    PRIVATE_ADDRESS,
    UNKNOWN_SITE,
    LinkRefused,
    NetworkError,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com", "youtu.be",
                           "youtube-nocookie.com", "www.youtube-nocookie.com"})
KINDS = ("video", "playlist", "channel", "shorts", "music", "other")
# Names that only ever mean this machine or the local network, whatever DNS says.
_LOCAL_SUFFIXES = ("localhost", "localdomain", "local", "internal", "home.arpa")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_VIDEO_ID = re.compile(r"[0-9A-Za-z_-]{11}")
_LIST_ID = re.compile(r"[0-9A-Za-z_-]{2,80}")
_CHANNEL_ID = re.compile(r"UC[0-9A-Za-z_-]{22}")
_NAME = re.compile(r"[\w.\-·]{1,100}")
_CHANNEL_TABS = frozenset({"videos", "shorts", "streams", "playlists", "featured", "releases", "podcasts"})
_DNS_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Link:
    """A link that passed the rules.

    Attributes:
        url: the normalised URL to hand to yt-dlp (``https``, canonical host, no fragment, no tracking).
        host: the host as given, normalised (lower case, no trailing dot, IDNA).
        kind: ``video``, ``playlist``, ``channel``, ``shorts``, ``music`` (anything on
            music.youtube.com; ``list_id`` tells a music playlist) or ``other`` (an allowed
            non-YouTube host: yt-dlp decides what it is at preview time).
        video_id: the YouTube video id, where the link names one (also for a watch link with a list).
        list_id: the YouTube playlist id (``list=``).
        channel: the channel as written in the link: ``@handle``, ``UC…``, ``c/name`` or ``user/name``.
    """

    url: str
    host: str
    kind: str
    video_id: str | None = None
    list_id: str | None = None
    channel: str | None = None

    @property
    def is_youtube(self) -> bool:
        return self.kind != "other"

    @property
    def is_collection(self) -> bool:
        """A playlist or a channel (many videos), as opposed to one video."""
        return self.kind in ("playlist", "channel") or self.list_id is not None


def normalise_host(host: str) -> str:
    """Lower case, one trailing dot removed, IDNA (punycode) for non-ASCII names, IPv6 literals
    in their compressed form. Raises ``ValueError`` for anything that is not a valid host name."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host.endswith("."):
        host = host[:-1]
    if not host.isascii():
        host = host.encode("idna").decode("ascii")  # UnicodeError is a ValueError
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"not a host name: {host!r}")
    if all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        # 2130706433, 0177.0.0.1, 0x7f.1: the C resolver reads these as IPv4 addresses.
        raise ValueError(f"numeric host that is not a plain IPv4 address: {host!r}")
    return host


def host_matches(host: str, allowed_hosts: Iterable[str]) -> bool:
    """``host`` equals an allowed entry or is a subdomain of one (IP literals only match exactly)."""
    for entry in allowed_hosts:
        try:
            allowed = normalise_host(entry)
        except ValueError:
            continue
        if host == allowed or (not _is_ip(allowed) and not _is_ip(host) and host.endswith("." + allowed)):
            return True
    return False


def is_youtube_host(host: str) -> bool:
    return host in YOUTUBE_HOSTS


def address_is_private(ip: IPAddress) -> bool:
    """True for anything but a public unicast address, looking inside IPv4-mapped, NAT64, 6to4
    and Teredo IPv6 addresses at the IPv4 address they carry."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return address_is_private(ip.ipv4_mapped)
        if ip in _NAT64:
            return address_is_private(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and address_is_private(ip.sixtofour):
            return True
        if ip.teredo is not None and address_is_private(ip.teredo[1]):
            return True
    return (not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified)


def is_local_name(host: str) -> bool:
    return any(host == suffix or host.endswith("." + suffix) for suffix in _LOCAL_SUFFIXES)


def inspect_link(url: str, *, allowed_hosts: Iterable[str], allow_private: bool) -> Link:
    """Every rule that needs no network. Raises :class:`LinkRefused`."""
    if not isinstance(url, str):
        raise LinkRefused(NOT_DOWNLOADABLE, reason="malformed", detail="not a string")
    url = url.strip()
    scheme_match = _SCHEME.match(url)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    if url and scheme not in ("http", "https"):
        raise LinkRefused(NOT_A_WEB_LINK, reason="scheme", detail=scheme or "none")
    if not url or len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 or c in "\\\x7f" for c in url):
        raise LinkRefused(NOT_DOWNLOADABLE, reason="malformed", detail=url[:200])
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise LinkRefused(NOT_DOWNLOADABLE, reason="malformed", detail=str(exc)) from exc
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise LinkRefused(NO_CREDENTIALS, reason="credentials")
    if not parts.hostname:
        raise LinkRefused(NOT_DOWNLOADABLE, reason="malformed", detail="no host")
    try:
        host = normalise_host(parts.hostname)
    except ValueError as exc:
        raise LinkRefused(ONLY_ALLOWED_HOSTS, reason="address", detail=str(exc)) from exc
    youtube = is_youtube_host(host)
    if not youtube and not host_matches(host, allowed_hosts):
        raise LinkRefused(ONLY_ALLOWED_HOSTS, reason="host", detail=host)
    if not allow_private and (is_local_name(host) or (_is_ip(host) and address_is_private(ipaddress.ip_address(host)))):
        raise LinkRefused(PRIVATE_ADDRESS, reason="private", detail=host)
    if youtube:
        if port not in (None, 80, 443):
            raise LinkRefused(NOT_DOWNLOADABLE, reason="port", detail=f"{host}:{port}")
        return _youtube_link(host, parts.path, parts.query)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return Link(url=urlunsplit((scheme, netloc, parts.path or "/", parts.query, "")), host=host, kind="other")


async def check_link(url: str, *, allowed_hosts: Iterable[str], allow_private: bool, resolve: bool = True) -> Link:
    """:func:`inspect_link`, then (with ``resolve``) a DNS look-up of the host.

    Every address the name resolves to must be public unless ``allow_private``: one private
    answer among public ones is enough to refuse (a resolver under someone else's control can
    hand them out in any order).

    Raises:
        LinkRefused: the link breaks a rule or its host does not exist.
        NetworkError: the resolver did not answer (try again later).
    """
    link = inspect_link(url, allowed_hosts=allowed_hosts, allow_private=allow_private)
    if resolve and not _is_ip(link.host):
        addresses = await resolve_host(link.host)
        if not allow_private:
            private = [str(a) for a in addresses if address_is_private(a)]
            if private:
                raise LinkRefused(PRIVATE_ADDRESS, reason="private", detail=f"{link.host} -> {', '.join(private)}")
    return link


async def resolve_host(host: str) -> list[IPAddress]:
    """The addresses of ``host`` (through the event loop's resolver thread, bounded in time)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), _DNS_TIMEOUT_S)
    except TimeoutError as exc:
        raise NetworkError(raw=f"DNS look-up of {host} timed out") from exc
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise NetworkError(raw=f"DNS look-up of {host}: {exc}") from exc
        raise LinkRefused(UNKNOWN_SITE, reason="unresolvable", detail=f"{host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise LinkRefused(UNKNOWN_SITE, reason="unresolvable", detail=host)
    return addresses


def watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def youtube_video_id(url: str) -> str | None:
    """The video id of a YouTube link that names exactly one video (watch, youtu.be, shorts,
    embed…), else None. Used to fetch a playlist entry by its own link."""
    try:
        link = inspect_link(url, allowed_hosts=(), allow_private=False)
    except LinkRefused:
        return None
    if link.kind in ("video", "shorts", "music") and link.list_id is None:
        return link.video_id
    return None


# ---- YouTube link shapes ------------------------------------------------------------------------

def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _first(query: dict[str, list[str]], key: str, pattern: re.Pattern[str]) -> str | None:
    values = query.get(key) or []
    return values[0] if values and pattern.fullmatch(values[0]) else None


def _youtube_link(host: str, path: str, query_string: str) -> Link:
    query = parse_qs(query_string)
    segments = [unquote(s) for s in path.split("/") if s]
    video_id = _first(query, "v", _VIDEO_ID)
    list_id = _first(query, "list", _LIST_ID)
    refused = LinkRefused(NOT_DOWNLOADABLE, reason="shape", detail=f"{host}{path}")

    if host == "youtu.be":
        if len(segments) != 1 or not _VIDEO_ID.fullmatch(segments[0]):
            raise refused
        return _video_or_list(host, segments[0], list_id)

    head = segments[0] if segments else ""
    rest = segments[1:]
    if host == "music.youtube.com":
        if head == "watch" and not rest and video_id:
            url = f"https://music.youtube.com/watch?v={video_id}" + (f"&list={list_id}" if list_id else "")
            return Link(url=url, host=host, kind="music", video_id=video_id, list_id=list_id)
        if head == "playlist" and not rest and list_id:
            return Link(url=f"https://music.youtube.com/playlist?list={list_id}", host=host, kind="music",
                        list_id=list_id)
        raise refused

    if host.endswith("youtube-nocookie.com") and head != "embed":
        raise refused  # the privacy-enhanced host only serves embeds
    if head == "watch" and not rest and video_id:
        return _video_or_list(host, video_id, list_id)
    if head == "playlist" and not rest and list_id:
        return Link(url=f"https://www.youtube.com/playlist?list={list_id}", host=host, kind="playlist",
                    list_id=list_id)
    if head in ("embed", "v", "e", "live") and len(rest) == 1:
        if head == "embed" and rest[0] == "videoseries" and list_id:
            return Link(url=f"https://www.youtube.com/playlist?list={list_id}", host=host, kind="playlist",
                        list_id=list_id)
        if _VIDEO_ID.fullmatch(rest[0]):
            return _video_or_list(host, rest[0], list_id if head == "embed" else None)
    if head == "shorts" and len(rest) == 1 and _VIDEO_ID.fullmatch(rest[0]):
        return Link(url=f"https://www.youtube.com/shorts/{rest[0]}", host=host, kind="shorts", video_id=rest[0])
    return _channel_link(host, head, rest, refused)


def _video_or_list(host: str, video_id: str, list_id: str | None) -> Link:
    if list_id:
        return Link(url=f"{watch_url(video_id)}&list={list_id}", host=host, kind="playlist", video_id=video_id,
                    list_id=list_id)
    return Link(url=watch_url(video_id), host=host, kind="video", video_id=video_id)


def _channel_link(host: str, head: str, rest: list[str], refused: LinkRefused) -> Link:
    if head.startswith("@") and _NAME.fullmatch(head[1:]):
        channel, tail = head, rest
    elif head == "channel" and rest and _CHANNEL_ID.fullmatch(rest[0]):
        channel, tail = rest[0], rest[1:]
    elif head in ("c", "user") and rest and _NAME.fullmatch(rest[0]):
        channel, tail = f"{head}/{rest[0]}", rest[1:]
    else:
        raise refused
    if len(tail) > 1 or (tail and tail[0] not in _CHANNEL_TABS):
        raise refused
    prefix = "channel/" if channel.startswith("UC") and head == "channel" else ""
    url = f"https://www.youtube.com/{prefix}{quote(channel, safe='/@')}" + (f"/{tail[0]}" if tail else "")
    return Link(url=url, host=host, kind="channel", channel=channel)
