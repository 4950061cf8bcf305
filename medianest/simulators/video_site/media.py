"""The video site's media: small real clips made with ffmpeg, cached on disk, and the padded
"big"/"large" files built from them on the fly.

Every clip is an H.264 + AAC mp4 (``lavfi`` test pattern with a hue shift, and a sine tone) with
its title in the mp4 ``title`` tag, plus a JPEG frame as thumbnail. ``MediaCache`` keeps them in
a folder with a ``manifest.json`` recording each clip's recipe digest and file sizes: a clip whose
files are missing, truncated, not an mp4/JPEG or made from another recipe is made again; every
file is written under a temporary name and renamed into place, so a crash never leaves half a clip.

``MediaBlob`` is what a media URL serves: a clip, optionally followed by one top-level ISO-BMFF
``free`` box of zeros so that the file has an exact size (20 MiB, 40 MiB …) while staying a valid,
playable mp4 (players and ffmpeg skip ``free`` boxes). The padding is never written to disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import subprocess
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Bumped whenever the ffmpeg recipe changes, so cached clips of an older recipe are made again.
GENERATOR_VERSION = 1
MANIFEST = "manifest.json"
#: Size of the ``free`` box header (32-bit size + type) that starts the padding.
FREE_BOX_HEADER = 8
_FFMPEG_TIMEOUT_S = 60
_ZEROS = bytes(1024 * 1024)


class MediaError(RuntimeError):
    """ffmpeg is missing or failed to make a clip."""


@dataclass(frozen=True)
class ClipSpec:
    """The recipe of one clip; equal recipes make equal-looking clips.

    Attributes:
        key: File stem in the cache (the entry id, e.g. ``demo-1``).
        title: Written to the mp4 ``title`` tag.
        pattern: An ffmpeg ``lavfi`` test source (``testsrc2``, ``smptebars`` …).
        hue: Hue rotation in degrees, so that clips of one pattern differ.
        frequency: Pitch of the sine tone in Hz.
        duration: Length in seconds.
        width: Frame width in pixels.
        height: Frame height in pixels.
    """

    key: str
    title: str
    pattern: str = "testsrc2"
    hue: int = 0
    frequency: int = 440
    duration: float = 3.0
    width: int = 320
    height: int = 180

    def digest(self) -> str:
        """A fingerprint of the recipe (and of the generator version)."""
        recipe = json.dumps({"v": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(recipe.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MediaBlob:
    """The bytes one media URL serves: a clip, padded with a ``free`` box up to ``size``.

    Attributes:
        clip: The mp4 clip.
        size: Total size in bytes (``len(clip)`` when unpadded).
    """

    clip: bytes
    size: int

    def __post_init__(self) -> None:
        """Refuse a size that leaves no room for the padding's box header."""
        padding = self.size - len(self.clip)
        if padding and padding < FREE_BOX_HEADER:
            raise ValueError(f"size {self.size} leaves {padding} bytes: too few for a free box")

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer at the end of the blob)."""
        end = min(self.size, offset + length)
        parts: list[bytes] = []
        clip_len = len(self.clip)
        position = offset
        while position < end:
            if position < clip_len:
                take = min(end, clip_len) - position
                parts.append(self.clip[position:position + take])
            elif position < clip_len + FREE_BOX_HEADER:
                header = struct.pack(">I4s", self.size - clip_len, b"free")
                take = min(end, clip_len + FREE_BOX_HEADER) - position
                start = position - clip_len
                parts.append(header[start:start + take])
            else:
                take = min(end - position, len(_ZEROS))
                parts.append(_ZEROS if take == len(_ZEROS) else _ZEROS[:take])
            position += take
        return parts[0] if len(parts) == 1 else b"".join(parts)


class MediaCache:
    """Clips and thumbnails under one folder, made with ffmpeg when missing (thread-safe).

    Attributes:
        folder: Where the files and ``manifest.json`` live.
        generated: Keys of the clips this instance made (empty when everything was reused).
    """

    def __init__(self, folder: Path, *, ffmpeg: str = "ffmpeg", workers: int | None = None) -> None:
        """Open (and create) the cache folder.

        Args:
            folder: The cache folder.
            ffmpeg: The ffmpeg executable.
            workers: ffmpeg processes run at once (default: one per CPU, at most 4).
        """
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ffmpeg = ffmpeg
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.generated: list[str] = []
        self._lock = threading.Lock()
        # One ensure() at a time: a clip two requests need at once is made once.
        self._ensure_lock = threading.Lock()
        self._manifest = self._load_manifest()
        self._bytes: dict[str, bytes] = {}
        self._ready: dict[str, str] = {}  # key -> digest of the clips checked or made by this instance

    def ready(self, specs: Iterable[ClipSpec]) -> bool:
        """Whether every clip was already checked or made by this instance (no disk access)."""
        with self._lock:
            return all(self._ready.get(spec.key) == spec.digest() for spec in specs)

    def ensure(self, specs: Iterable[ClipSpec]) -> list[str]:
        """Make every clip that is missing or invalid; reuse the others.

        Args:
            specs: The clips needed.

        Returns:
            The keys made by this call.

        Raises:
            MediaError: ffmpeg is missing or failed.
        """
        specs = list(specs)
        if self.ready(specs):
            return []
        with self._ensure_lock:
            todo = [spec for spec in specs if not self._valid(spec)]
            with self._lock:
                self._ready.update((spec.key, spec.digest()) for spec in specs if spec not in todo)
            if not todo:
                return []
            if shutil.which(self.ffmpeg) is None:
                raise MediaError(f"ffmpeg not found ({self.ffmpeg!r}): the video site needs it to make its clips")
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="video-site-ffmpeg") as pool:
                results = list(pool.map(self._generate, todo))
            with self._lock:
                for spec, sizes in zip(todo, results, strict=True):
                    self._manifest[spec.key] = {"digest": spec.digest(), **sizes}
                    self._ready[spec.key] = spec.digest()
                    self._bytes.pop(spec.key, None)
                    self.generated.append(spec.key)
                self._write_manifest()
        logger.info("video site: made %d clip(s) in %s", len(todo), self.folder)
        return [spec.key for spec in todo]

    def clip(self, key: str) -> bytes:
        """The mp4 bytes of a clip made by ``ensure`` (kept in memory after the first read)."""
        with self._lock:
            data = self._bytes.get(key)
        if data is None:
            data = self.clip_path(key).read_bytes()
            with self._lock:
                self._bytes[key] = data
        return data

    def thumbnail(self, key: str) -> bytes:
        """The JPEG bytes of a clip's thumbnail."""
        return self.thumbnail_path(key).read_bytes()

    def clip_path(self, key: str) -> Path:
        """Where a clip's mp4 lives."""
        return self.folder / f"{key}.mp4"

    def thumbnail_path(self, key: str) -> Path:
        """Where a clip's thumbnail lives."""
        return self.folder / f"{key}.jpg"

    def _valid(self, spec: ClipSpec) -> bool:
        with self._lock:
            record = self._manifest.get(spec.key)
        if not isinstance(record, dict) or record.get("digest") != spec.digest():
            return False
        checks = ((self.clip_path(spec.key), record.get("mp4"), 4, b"ftyp"),
                  (self.thumbnail_path(spec.key), record.get("jpg"), 0, b"\xff\xd8\xff"))
        for path, size, at, magic in checks:
            try:
                if path.stat().st_size != size:
                    return False
                with path.open("rb") as handle:
                    if handle.read(at + len(magic))[at:] != magic:
                        return False
            except OSError:
                return False
        return True

    def _generate(self, spec: ClipSpec) -> dict[str, int]:
        """Run ffmpeg for one clip and move its files into place; returns their sizes."""
        tag = uuid.uuid4().hex[:8]
        tmp_mp4 = self.folder / f".{spec.key}.{tag}.mp4"
        tmp_jpg = self.folder / f".{spec.key}.{tag}.jpg"
        video = (f"{spec.pattern}=size={spec.width}x{spec.height}:rate=25:duration={spec.duration:g},"
                 f"hue=h={spec.hue}")
        audio = f"sine=frequency={spec.frequency}:sample_rate=44100:duration={spec.duration:g}"
        command = [
            self.ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio,
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-threads", "1",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "48k", "-shortest", "-movflags", "+faststart",
            "-metadata", f"title={spec.title}", "-metadata", "comment=MediaNest demo video site", str(tmp_mp4),
            "-map", "0:v", "-ss", f"{spec.duration / 2:g}", "-frames:v", "1", "-q:v", "5", str(tmp_jpg),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=_FFMPEG_TIMEOUT_S, check=False)
            if done.returncode != 0 or not tmp_mp4.exists() or not tmp_jpg.exists():
                raise MediaError(f"ffmpeg failed for {spec.key} (exit {done.returncode}): {done.stderr[-500:]}")
            sizes = {"mp4": tmp_mp4.stat().st_size, "jpg": tmp_jpg.stat().st_size}
            os.replace(tmp_mp4, self.clip_path(spec.key))
            os.replace(tmp_jpg, self.thumbnail_path(spec.key))
            return sizes
        except subprocess.TimeoutExpired as exc:
            raise MediaError(f"ffmpeg took over {_FFMPEG_TIMEOUT_S} s for {spec.key}") from exc
        finally:
            tmp_mp4.unlink(missing_ok=True)
            tmp_jpg.unlink(missing_ok=True)

    def _load_manifest(self) -> dict[str, Any]:
        try:
            data = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != GENERATOR_VERSION:
            return {}
        clips = data.get("clips")
        return dict(clips) if isinstance(clips, dict) else {}

    def _write_manifest(self) -> None:
        """Write the manifest under a temporary name and rename it (caller holds the lock)."""
        target = self.folder / MANIFEST
        tmp = self.folder / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
        tmp.write_text(json.dumps({"version": GENERATOR_VERSION, "clips": self._manifest}, indent=1,
                                  sort_keys=True), encoding="utf-8")
        os.replace(tmp, target)
