"""Simulator of a video site that yt-dlp downloads from offline, through its ``generic`` and
``html5`` extractors only (no special extractor): the stand-in for YouTube when it cannot be
reached (``shared/docs/integrations.md`` §5.8, §5.9).

Pages and files (stable URLs; ``<id>`` is an entry id such as ``demo-2``):

==========================  ===================================================================
``/``                       index: links to every page (no video: yt-dlp says "Unsupported URL")
``/playlists/demo``         "Demo playlist": 3 clips (the one ``make run`` prints to paste)
``/playlists/broken``       3 clips; entry 2's media URL answers 404
``/playlists/big``          10 × 20 MiB at full speed (throughput benchmark)
``/playlists/large``        1 × 40 MiB served at ~2 MB/s (``large_rate_bytes_per_s``): progress
                            bars, cancelling mid-file. One ``<video>``, so yt-dlp sees a single video
``/videos/sunrise``         single-video pages (one ``<video>``); also ``/videos/ocean``
``/media/<id>.mp4``         the media: ``video/mp4``, ``Content-Length``, ``Accept-Ranges: bytes``,
                            single ``Range`` requests answered 206 (416 past the end), HEAD, and
                            ``Last-Modified`` = the entry's upload date
``/thumbs/<id>.jpg``        the thumbnail (``<video poster>``)
``/about``                  a page without video: ``DownloadError("ERROR: Unsupported URL: …")``
``/missing`` (any unknown)  an HTML 404 page: ``"… Unable to download webpage: HTTP Error 404: Not Found"``
==========================  ===================================================================

Media: real H.264 + AAC mp4 clips (320×180, 2–3 s, an ffmpeg ``lavfi`` test pattern with its own
hue and sine pitch per entry, the site's entry title in the mp4 ``title`` tag, 20–75 kB) and a
JPEG thumbnail each, made with ffmpeg at the first start (about 1 s) and cached under
``<data_dir>/video-site/`` (``media.py``: a manifest of recipe digests and sizes; a missing,
truncated or outdated clip is made again, each file written under a temporary name and renamed).
The ``big`` playlist's clips are made on the first request of its page or files (about 1 s).
``big`` and ``large`` files are real clips followed by one ISO-BMFF ``free`` box of zeros up to
exactly 20 MiB / 40 MiB: valid, playable mp4 (ffprobe reports the clip's duration), built on the
fly, never written to disk.

What yt-dlp 2026.10.26 reports (``allowed_extractors=["generic", "html5"]``; checked by running it):
    A playlist page: ``_type`` ``playlist``, ``id`` = page name (``demo``), ``title`` = the page
    ``<title>`` (``Demo playlist``), ``description`` = its ``og:description``, ``extractor``
    ``generic``, ``playlist_count`` = number of ``<video>`` tags. Each entry, the same with
    ``extract_flat="in_playlist"`` or fully resolved (the html5 entries are complete already):
    ``id`` ``demo-<n>``, ``title`` ``Demo playlist (<n>)`` (the page title and the position: the
    html5 extractor ignores the site's own titles), ``url`` = the media URL, ``ext`` ``mp4``,
    ``format_id`` ``"0"``, ``thumbnail`` = the poster URL (and ``thumbnails`` = ``[{"url": …,
    "id": "0"}]``), ``extractor`` ``html5``, ``extractor_key`` ``HTML5MediaEmbed`` (download archive
    lines ``html5mediaembed demo-<n>``), ``webpage_url`` = the page URL, ``playlist_index`` n.
    Not reported for entries: ``duration``, ``filesize``/``filesize_approx``, ``description``,
    ``timestamp``/``upload_date`` (all ``None``). The size is known once downloading: progress hooks
    carry ``total_bytes`` from ``Content-Length``.
    A page with one ``<video>`` (``/videos/sunrise``, ``/playlists/large``): a single video, not a
    playlist: ``id`` ``sunrise-1``, ``title`` ``Sunrise (1)``, plus the page's ``description``.
    A direct media URL (``/media/demo-1.mp4``): ``extractor`` ``generic``, ``id`` and ``title``
    ``demo-1``, ``format_id`` ``mp4``, ``timestamp``/``upload_date`` from ``Last-Modified``. yt-dlp
    requests such a URL twice (the extractor reads the headers, then the downloader), so both
    requests meet a media fault (below).
    Errors: entry 2 of ``broken``: ``DownloadError("ERROR: unable to download video data: HTTP
    Error 404: Not Found")`` (``exc_info[1]`` an ``HTTPError``; with ``ignoreerrors`` entries 1
    and 3 are downloaded and ``download()`` returns 1). A dropped connection with ``retries=0``:
    ``DownloadError("ERROR: [download] Got error: <K> bytes read, <rest> more expected")`` and the
    ``.part`` file stays.

Markup evaluated instead of ``<video>`` tags (so entries could carry their own titles):
    JSON-LD ``VideoObject`` (a list or an ``ItemList``): the generic extractor reads it only when
    no embed was found and merges it into **one** video, never a playlist. RSS (``<item>`` with
    ``<enclosure>``, ``<guid>``, ``itunes:*``): a playlist whose entries do get title, description,
    timestamp, duration and thumbnail, but in a flat preview they are ``url_transparent`` with
    ``id`` ``None`` (the guid only appears once resolved, and ``webpage_url`` keeps a
    ``#__youtubedl_smuggle`` fragment); the playlist id is the feed URL. Not reliable enough for
    "keep a playlist in sync", so the site stays with ``<video>`` tags. XSPF gives every entry
    the same id (§5.8); an M3U document is read as one HLS stream.

Python API (``VideoSite``, thread-safe): ``page``, ``pages``, ``entry``, ``add_entry(playlist,
title=None, missing=False)`` (appends ``<playlist>-<n+1>``, makes its clip; ids never move),
``set_media_fault(path, drop_after_bytes=, rate_bytes_per_s=, times=)``,
``clear_media_faults(path=None)``, ``media_faults``, ``set_faults``/``clear_faults`` (``faults.py``:
latency, status, outage; ``clear_faults`` also clears media faults), ``reset`` (fixed catalogue,
no faults; the clips stay cached), ``state``, ``media`` (the ``MediaCache``; ``media.generated``
lists the clips this start made), ``stopping``.

Control endpoints (JSON; errors ``{"error": …}`` with 400/404; never affected by faults):
    ``GET /__sim__/state``, ``POST /__sim__/reset``.
    ``POST /__sim__/playlists/{name}/entries`` ``{"title": optional, "missing": false}`` → 201
    ``{"entry": …, "playlist": …}``.
    ``GET|POST|DELETE /__sim__/media-faults``: POST ``{"path": "/media/demo-2.mp4",
    "drop_after_bytes": 100000, "rate_bytes_per_s": null, "times": null}`` replaces that path's
    fault; DELETE clears all (or ``?path=``). ``drop_after_bytes`` closes the connection after that
    many body bytes *of each response* (a resumed download gets that many more); ``rate_bytes_per_s``
    overrides the entry's rate; ``times`` counts GET responses (HEAD is never affected).
    ``GET|POST|DELETE /__sim__/faults`` (``faults.py``: latency, status, outage for a path prefix).
    A dropped connection makes uvicorn log "ASGI callable returned without completing response."
    at ERROR level: expected.

Serving: ``serve_in_thread(host="127.0.0.1", port=0, data_dir=…)`` returns a ``VideoSiteHandle``
(``.site``, ``.url``, ``.stop()``; also a context manager); ``VideoSiteStack`` serves it in an event
loop of one's own (``python -m medianest.simulators --video-port 8765 --video-data DIR``).

Modules: ``media`` (clip recipes, ffmpeg, cache, padded blobs), ``catalogue`` (pages and entries),
``state`` (``VideoSite``), ``pages`` (HTML), ``streaming`` (ranges, throttling, drops), ``routes``
(handlers and ``create_video_site_app``), ``serving``.
"""

from __future__ import annotations

from medianest.simulators.video_site.catalogue import (
    BIG_ENTRY_BYTES,
    DEFAULT_LARGE_RATE,
    LARGE_ENTRY_BYTES,
    PLAYLIST,
    VIDEO,
    Entry,
    Page,
)
from medianest.simulators.video_site.media import ClipSpec, MediaBlob, MediaCache, MediaError
from medianest.simulators.video_site.routes import create_video_site_app
from medianest.simulators.video_site.serving import (
    VideoSiteHandle,
    VideoSiteStack,
    serve_in_thread,
    serve_video_site_in_thread,
)
from medianest.simulators.video_site.state import MediaFault, VideoSite, default_data_dir

__all__ = [
    "BIG_ENTRY_BYTES", "DEFAULT_LARGE_RATE", "LARGE_ENTRY_BYTES", "PLAYLIST", "VIDEO", "ClipSpec", "Entry",
    "MediaBlob", "MediaCache", "MediaError", "MediaFault", "Page", "VideoSite", "VideoSiteHandle", "VideoSiteStack",
    "create_video_site_app", "default_data_dir", "serve_in_thread", "serve_video_site_in_thread",
]
