"""The Content Security Policy allows no inline script but the build's own (by hash) and no eval."""

from __future__ import annotations

import base64
import hashlib

import httpx

from medianest import api
from medianest.csp import inline_script_hashes

BOOT = "window.__boot = 1;"
PAGE = f"""<!doctype html><html><head>
<script type="module" src="/assets/app.js"></script>
<script>{BOOT}</script>
<SCRIPT id="ctx" type="text/javascript">
  window.ctx = "</div>";
</SCRIPT>
</head><body></body></html>"""


def _sha(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def _build(root):
    client = root / "build" / "client"
    (client / "search").mkdir(parents=True)
    (client / "index.html").write_text(PAGE, encoding="utf-8")
    (client / "search" / "index.html").write_text("<html><script>window.x='é'</script></html>", encoding="utf-8")
    (client / "app.js").write_text("eval('not an html page')", encoding="utf-8")
    return client


def test_hashes_cover_every_inline_script_of_the_build_and_nothing_else(tmp_path):
    hashes = inline_script_hashes(_build(tmp_path))
    assert hashes == sorted({_sha(BOOT), _sha('\n  window.ctx = "</div>";\n'), _sha("window.x='é'")})


async def test_policy_forbids_eval_and_foreign_inline_scripts(tmp_path, monkeypatch, database_url):
    _build(tmp_path)
    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(tmp_path))
    app = api.security_middleware(api.build_api())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        csp = (await client.get("/health")).headers["content-security-policy"]
    script_src = next(d.strip() for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert script_src.split()[1] == "'self'"
    assert _sha(BOOT) in script_src.split() and _sha("window.x='é'") in script_src.split()
