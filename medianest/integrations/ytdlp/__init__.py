"""The yt-dlp seam: the only code in MediaNest that imports ``yt_dlp`` (see
``shared/docs/integrations.md`` §5).

* ``links``: :func:`check_link` (async, with a DNS look-up) and :func:`inspect_link` (pure):
  which links may be fetched at all, and what kind of YouTube link they are.
* ``preview``: :func:`preview`, what a video or playlist link holds (entries on refused hosts
  are dropped and counted).
* ``download``: :func:`download_item`, one video into ``output_dir`` in a killable child
  process, with progress reports, cancelling, the size limit and the download archive;
  ``pool``: :class:`ChildPool`, children kept warm from one video to the next.
* ``errors``: :class:`LinkRefused` and the :class:`DownloadFailed` family, each with a plain
  sentence (``user_message``) and yt-dlp's own text (``raw``, for the log).
* ``options``: the yt-dlp options, and :func:`ytdlp_cli_command` for benchmarks.

Internals: ``process`` (the parent's side of the child: JSON lines, minimal environment, kill
of the process group), ``child`` (its entry point and resolver guard), ``worker`` (what the
child does with yt-dlp: entry selection, hooks), ``classify`` (exceptions to typed errors).
"""

from __future__ import annotations

from .download import CANCEL_GRACE_S, ProgressCallback, download_item
from .errors import (
    Cancelled,
    DiskFull,
    DownloadFailed,
    GeoBlocked,
    HttpError,
    LinkRefused,
    NetworkError,
    PostProcessingFailed,
    PrivateVideo,
    SignInRequired,
    TooLarge,
    UnsupportedLink,
    VideoUnavailable,
)
from .jobs import QUALITIES, ItemJob, ItemResult, Progress
from .links import YOUTUBE_HOSTS, Link, check_link, inspect_link
from .options import ytdlp_cli_command
from .pool import ChildPool
from .preview import Preview, PreviewEntry, preview

__all__ = [
    "CANCEL_GRACE_S", "QUALITIES", "YOUTUBE_HOSTS", "Cancelled", "ChildPool", "DiskFull", "DownloadFailed",
    "GeoBlocked",
    "HttpError", "ItemJob", "ItemResult", "Link", "LinkRefused", "NetworkError", "PostProcessingFailed",
    "Preview", "PreviewEntry", "PrivateVideo", "Progress", "ProgressCallback", "SignInRequired", "TooLarge",
    "UnsupportedLink", "VideoUnavailable", "check_link", "download_item", "inspect_link", "preview",
    "ytdlp_cli_command",
]
