"""The yt-dlp seam: the only code in MediaNest that imports ``yt_dlp`` (see
``shared/docs/integrations.md`` §5).

* ``links``: :func:`check_link` / :func:`inspect_link`, which links may be fetched at all.
* ``preview``: :func:`preview`, what a video or playlist link holds.
* ``download``: :func:`download_item`, one video into ``output_dir`` in a killable child process.
* ``errors``: :class:`LinkRefused` and the :class:`DownloadFailed` family, each with a plain sentence.
* ``options``: the yt-dlp options, and :func:`ytdlp_cli_command` for benchmarks.

Internals: ``process`` (the parent's side of the child), ``child`` (its entry point),
``worker`` (what the child does with yt-dlp), ``classify`` (exceptions to typed errors).
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
from .preview import Preview, PreviewEntry, preview

__all__ = [
    "CANCEL_GRACE_S", "QUALITIES", "YOUTUBE_HOSTS", "Cancelled", "DiskFull", "DownloadFailed", "GeoBlocked",
    "HttpError", "ItemJob", "ItemResult", "Link", "LinkRefused", "NetworkError", "PostProcessingFailed",
    "Preview", "PreviewEntry", "PrivateVideo", "Progress", "ProgressCallback", "SignInRequired", "TooLarge",
    "UnsupportedLink", "VideoUnavailable", "check_link", "download_item", "inspect_link", "preview",
    "ytdlp_cli_command",
]
