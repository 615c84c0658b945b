"""The response class of every ``/auth`` answer: JSON that no cache keeps and no browser sniffs.

Bodies here carry tokens, TOTP secrets, recovery codes, reset tokens and personal data, so
each response says ``Cache-Control: no-store`` and ``Pragma: no-cache`` (ASVS 8.2.1: no
browser or shared cache stores them; ``Pragma`` for HTTP/1.0 caches) and
``X-Content-Type-Options: nosniff`` (14.4.4: a JSON body is never run as script or HTML),
and what OWASP asks of every API response: ``Content-Security-Policy: default-src 'none';
frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` (14.4.3, 14.4.7: nothing to load,
never framed), ``Referrer-Policy: no-referrer`` (14.4.6), and ``Content-Disposition: attachment`` (14.4.2:
a browser navigated to a JSON answer saves it, never renders it in the origin's context).
``fetch``/XHR clients (the SDK) ignore them all. A page meant for navigation — the OAuth
callback page, the admin console — is HTML built elsewhere and keeps rendering; a code
flow's ``returnTo`` is the app's own page, never a JSON route.

The headers are added where responses are built (``respond``, ``respond_list``, the error
envelope), not by a middleware: a middleware layer costs every request an extra ASGI hop;
this costs a list extend of pre-encoded pairs.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-disposition", b"attachment"),
)


class NoStoreJSON(Response):
    """A JSON response with ``SECURITY_HEADERS``; the body is already serialised."""

    media_type = "application/json"

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        super().init_headers(headers)
        self.raw_headers.extend(SECURITY_HEADERS)
