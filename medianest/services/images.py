"""A small on-disk cache of proxied images (Plex thumbnails, TMDB posters).

Shared by every process on the host through ``MEDIANEST_DATA_DIR/cache/images``; entries live
``max_age_s`` (a week) and the cache is trimmed to ``max_bytes`` oldest-first."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

TRIM_EVERY = 64  # writes between two size checks of the whole cache
_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}
_EXT_TYPES = {v: k for k, v in _TYPES.items()}


class ImageCache:
    def __init__(self, root: Path, *, max_age_s: int = 7 * 86400, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.root = Path(root)
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._locks: dict[str, asyncio.Lock] = {}
        self._writes = 0

    def _find(self, digest: str) -> Path | None:
        for ext in _EXT_TYPES:
            path = self.root / digest[:2] / f"{digest}{ext}"
            if path.exists():
                return path
        return None

    async def get_or_fetch(self, key: str, fetch: Callable[[], Awaitable[tuple[bytes, str]]]
                           ) -> tuple[bytes, str, bool]:
        """``(bytes, content type, was_cached)``; ``fetch`` runs once per key at a time."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        hit = self._read(digest)
        if hit is not None:
            return (*hit, True)
        lock = self._locks.setdefault(digest, asyncio.Lock())
        try:
            async with lock:
                hit = self._read(digest)
                if hit is not None:
                    return (*hit, True)
                body, content_type = await fetch()
                content_type = content_type if content_type in _TYPES else "image/jpeg"
                self._write(digest, body, content_type)
        finally:
            if not lock.locked():
                self._locks.pop(digest, None)
        self._writes += 1
        if self._writes % TRIM_EVERY == 1:
            # Listing the whole cache takes a while when it is big: never on the event loop.
            await asyncio.to_thread(self._trim)
        return body, content_type, False

    def _read(self, digest: str) -> tuple[bytes, str] | None:
        path = self._find(digest)
        if path is None:
            return None
        try:
            if time.time() - path.stat().st_mtime > self.max_age_s:
                path.unlink(missing_ok=True)
                return None
            return path.read_bytes(), _EXT_TYPES[path.suffix]
        except OSError:
            return None

    def _write(self, digest: str, body: bytes, content_type: str) -> None:
        folder = self.root / digest[:2]
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.replace(tmp, folder / f"{digest}{_TYPES[content_type]}")

    def _trim(self) -> None:
        files = []
        for path in self.root.glob("*/*"):
            try:
                if path.suffix in _EXT_TYPES:
                    info = path.stat()
                    files.append((info.st_mtime, info.st_size, path))
            except OSError:  # removed by another process meanwhile
                continue
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
