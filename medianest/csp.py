"""The inline scripts of the built frontend, allowed by hash in the Content Security Policy.

The pages React Router prerenders carry small inline scripts (colour mode, router context,
streamed loader data). They change with every build, so their hashes are read from the build
output that this process serves, never written down; anything else inline (an injected script)
stays blocked, and so does ``eval``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from pathlib import Path

from .reflex_compat import frontend_dir

logger = logging.getLogger(__name__)

# An inline script: a <script> start tag without a src attribute, up to its end tag.
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


def inline_script_hashes(directory: Path) -> list[str]:
    """CSP source expressions (``'sha256-…'``) for every inline script in the HTML under ``directory``."""
    found: set[str] = set()
    for page in sorted(directory.rglob("*.html")):
        try:
            text = page.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            logger.warning("csp: cannot read %s: %s", page, exc)
            continue
        for match in _INLINE_SCRIPT.finditer(text):
            digest = hashlib.sha256(match.group(1).encode("utf-8")).digest()
            found.add(f"'sha256-{base64.b64encode(digest).decode()}'")
    return sorted(found)


def script_sources(directory: Path | None = None) -> str:
    """The ``script-src`` sources: this origin, plus the build's inline scripts by hash."""
    try:
        directory = directory or frontend_dir()
    except Exception as exc:
        logger.warning("csp: frontend directory unknown: %s", exc)
        return "'self'"
    hashes = inline_script_hashes(directory) if directory.is_dir() else []
    logger.info("csp: %s inline scripts allowed by hash from %s", len(hashes), directory)
    return " ".join(["'self'", *hashes])
