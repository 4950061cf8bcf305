"""What both the HTTP routes (``api``) and the Reflex states read from a browser's request: the
cookie names, a cookie from a raw ``Cookie`` header, and the caller's IP behind trusted proxies.

It sits below both so that neither imports the other."""

from __future__ import annotations

from http.cookies import SimpleCookie

SESSION_COOKIE = "mn_session"
PIN_COOKIE = "mn_pin"


def client_ip_from(peer: str | None, forwarded_for: str | None, hops: int) -> str:
    """The caller's IP; X-Forwarded-For counts only behind ``hops`` trusted proxies."""
    ip = peer or "0.0.0.0"
    if hops and forwarded_for:
        chain = [part.strip() for part in forwarded_for.split(",") if part.strip()]
        if len(chain) >= hops:
            ip = chain[-hops]
    return ip


def cookie_value(cookie_header: str | None, name: str) -> str | None:
    if not cookie_header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # a malformed header from the client is just "no cookie"
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None
