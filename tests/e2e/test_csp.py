"""The served pages run under a script policy without 'unsafe-inline' or 'unsafe-eval', and the
toasts the backend sends still appear (the journeys fixture fails on any CSP report)."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import setup_household

INLINE = re.compile(r"<script(?![^>]*\ssrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


def _script_src(csp: str) -> list[str]:
    return next(d.split()[1:] for d in csp.split(";") if d.strip().startswith("script-src"))


def test_pages_allow_only_their_own_inline_scripts(app_url):
    for path in ("/", "/login", "/search", "/no/such/page"):
        response = httpx.get(f"{app_url}{path}", follow_redirects=True, timeout=30)
        sources = _script_src(response.headers["content-security-policy"])
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
        inline = INLINE.findall(response.text)
        assert inline, f"{path}: expected the prerendered page's inline scripts"
        for script in inline:
            digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in sources, f"{path}: inline script not allowed: {script[:80]!r}"


def test_backend_toasts_show_under_the_strict_policy(journeys):
    alice = journeys()
    setup_household(alice)  # choosing the server answers with a success toast
    expect(alice.page.get_by_text(re.compile(r"is now the household server\.$"))).to_be_visible()
    alice.page.locator("#color-mode").click()  # the colour-mode toggle is compiled code, no eval either
    assert alice.csp_violations == []
