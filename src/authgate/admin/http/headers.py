"""Security headers on every response under the console's path (pages, API answers and
errors alike), added by the app's Edge (``http/edge.py``) only while the console is enabled,
so the other routes pay one string comparison."""

from __future__ import annotations

from authgate.http.edge import HeaderHook

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
_NO_STORE = (b"cache-control", b"no-store")
"""API answers hold account data: never cached. Static assets keep their own caching."""


def hook(path: str) -> tuple[str, HeaderHook]:
    """The Edge's path hook for the console at ``path``: adds what a response lacks."""
    base = path.rstrip("/")
    static_prefix = base + "/static/"

    def add(request_path: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        have = {k.lower() for k, _ in headers}
        extra = [h for h in HEADERS if h[0] not in have]
        if not request_path.startswith(static_prefix) and b"cache-control" not in have:
            extra.append(_NO_STORE)
        return [*headers, *extra]

    return base, add
