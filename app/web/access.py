"""Who may ask the web view for what: the token, loopback names, and changes from our own page only."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
TEACH_HEADER = "X-Movinet-Teach"  # sent by the Teach page's script with every change


def offers_token(token: str, cookie_name: str, query: Mapping[str, list[str]], headers: Any) -> bool:
    """Whether the request carries `token`: in the address, as a Bearer header or as the cookie."""
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    try:
        morsel = SimpleCookie(headers.get("Cookie", "")).get(cookie_name)
    except CookieError:
        morsel = None
    candidates = [
        query.get("token", [None])[0],
        value.strip() if scheme.lower() == "bearer" else None,
        morsel.value if morsel is not None else None,
    ]
    expected = token.encode()
    # Constant-time: how much of a guess matches must not show in the response time.
    return any(hmac.compare_digest(c.encode(), expected) for c in candidates if c)


def loopback_host(headers: Any) -> bool:
    """Without a token, only loopback names are served: no web page can rebind its own name to us
    (DNS rebinding). A browser always sends Host, so a request without one is no such attack."""
    host = headers.get("Host", "")
    name = host[1 : host.find("]")] if host.startswith("[") else host.rpartition(":")[0] or host
    return not name or name.lower() in LOOPBACK_NAMES


def same_site(headers: Any) -> bool:
    """A change is asked by our own page, not by a form or script of another site (CSRF).

    Another site's page cannot send a custom header here without a CORS preflight, which
    the server refuses (OPTIONS is not allowed); and Origin, which browsers send with
    every POST, must name this host.
    """
    if headers.get(TEACH_HEADER) != "1":
        return False
    origin = headers.get("Origin")
    return origin is None or urlsplit(origin).netloc.lower() == headers.get("Host", "").lower()
