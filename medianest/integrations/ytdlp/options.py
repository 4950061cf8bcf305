"""yt-dlp options for our downloads and previews, and the equivalent bare command line.

Kept free of any running state so the child, the preview and the benchmark helper all build
their options from the same table.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .jobs import ItemJob

# Video: the best that fits the cap, merged into mp4 when the codecs allow it, else mkv (both
# play in Plex). A cap filter uses ``<=?`` so that formats without a known height (direct files
# on plain web pages) still count; ``wv*+ba/w`` is the fallback when nothing fits the cap.
FORMATS = {
    "best": "bv*+ba/b",
    "1080": "bv*[height<=?1080]+ba/b[height<=?1080]/wv*+ba/w",
    "720": "bv*[height<=?720]+ba/b[height<=?720]/wv*+ba/w",
    "480": "bv*[height<=?480]+ba/b[height<=?480]/wv*+ba/w",
    # Audio: m4a first (no re-encoding), then any audio, then a combined file whose audio is kept.
    "audio": "ba[ext=m4a]/ba/b",
}
MERGE_FORMAT = "mp4/mkv"
# FFmpegExtractAudio's mapping: an mp3 stays mp3, everything else becomes m4a (AAC).
AUDIO_MAPPING = "mp3>mp3/m4a"
THUMBNAIL_FORMAT = "jpg"


def template_literal(text: str) -> str:
    """``text`` as a literal part of a yt-dlp output template (``%`` starts a field there)."""
    return text.replace("%", "%%")


def common_params(*, socket_timeout: float, retries: int) -> dict[str, Any]:
    """What every yt-dlp call of ours shares: quiet, no config files, no cache of cookies, no
    external downloaders (ffmpeg/aria2 would open connections our address guard cannot see)."""
    return {
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "ignoreconfig": True,
        "ignoreerrors": False,
        "socket_timeout": socket_timeout,
        "retries": retries,
        "fragment_retries": retries,
        "extractor_retries": min(retries, 3),
        "file_access_retries": 3,
        "external_downloader": {"default": "native"},
        "enable_file_urls": False,
        "color": {"stdout": "never", "stderr": "never"},
        "consoletitle": False,
        "overwrites": None,
        "continuedl": False,
        # A fixed 64 KiB read size: yt-dlp otherwise grows it up to 4 MiB, and a slow server then
        # leaves seconds between two progress hook calls, which are where a cancel is noticed.
        "buffersize": 64 * 1024,
        "noresizebuffer": True,
    }


def format_params(quality: str) -> dict[str, Any]:
    """``format`` (and merging or audio extraction) for one of :data:`~.jobs.QUALITIES`."""
    if quality == "audio":
        return {"format": FORMATS["audio"],
                "postprocessors": [{"key": "FFmpegExtractAudio", "preferredcodec": AUDIO_MAPPING,
                                    "nopostoverwrites": False}]}
    return {"format": FORMATS[quality], "merge_output_format": MERGE_FORMAT, "postprocessors": []}


def download_params(job: ItemJob) -> dict[str, Any]:
    """Options for one item (hooks, filters and our after-move post-processor are added by the child)."""
    params = common_params(socket_timeout=job.socket_timeout, retries=job.retries)
    fmt = format_params(job.quality)
    postprocessors = [
        # Before the download, so a failed conversion costs no video bandwidth.
        {"key": "FFmpegThumbnailsConvertor", "format": THUMBNAIL_FORMAT, "when": "before_dl"},
        *fmt.pop("postprocessors"),
        {"key": "FFmpegMetadata", "add_metadata": True, "add_chapters": True, "add_infojson": False},
    ]
    params.update(fmt)
    params.update({
        "paths": {"home": str(job.output_dir), "temp": str(job.temp_dir)},
        "outtmpl": {"default": f"{template_literal(job.stem)}.%(ext)s"},
        "writethumbnail": True,
        "postprocessors": postprocessors,
        "max_filesize": job.max_filesize,
        "download_archive": str(job.archive_path) if job.archive_path else None,
        "noplaylist": True,
        "allowed_extractors": list(job.extractors) or None,
        "windowsfilenames": False,
        "restrictfilenames": False,
    })
    return {k: v for k, v in params.items() if v is not None or k == "overwrites"}


def preview_params(*, max_entries: int, socket_timeout: float, extractors: tuple[str, ...] = ()) -> dict[str, Any]:
    """``extract_info(download=False)`` of a playlist without resolving its entries; one entry
    more than asked so a longer list shows up as truncated."""
    params = common_params(socket_timeout=socket_timeout, retries=1)
    params.update({"extract_flat": "in_playlist", "playlistend": max_entries + 1, "lazy_playlist": False})
    if extractors:
        params["allowed_extractors"] = list(extractors)
    return params


def ytdlp_cli_command(url: str, out_dir: str | Path, *, quality: str = "best") -> list[str]:
    """The bare ``yt-dlp`` command that downloads ``url`` into ``out_dir`` the way we do (same
    format choice, metadata, thumbnail, no config files), for benchmarks. It runs the yt-dlp of
    this interpreter so both sides use the same version."""
    fmt = format_params(quality)
    command = [sys.executable, "-m", "yt_dlp", "--ignore-config", "--quiet", "--no-progress",
               "-f", fmt["format"], "-P", str(out_dir), "-o", "%(title)s [%(id)s].%(ext)s",
               "--embed-metadata", "--write-thumbnail", "--convert-thumbnails", THUMBNAIL_FORMAT,
               "--downloader", "native"]
    if quality == "audio":
        command += ["--extract-audio", "--audio-format", AUDIO_MAPPING]
    else:
        command += ["--merge-output-format", MERGE_FORMAT]
    return [*command, "--", url]
