"""The page ``GET /auth/callback/{provider}`` answers: it ``postMessage``s one message,
``{"type": "nest-auth-sso-callback", ...}`` (upstream's shape, which the SDK listens for), to
its opener (or parent frame), then closes; with no opener it goes to ``returnTo``.

Upstream posted every query parameter with target origin ``*``, so any page that opened
the window could read the provider's ``code``. Here the message is posted once per allowed
origin (``social.callback_origins``, or the one origin the flow was started for): the
browser delivers it only to an opener on that origin. Data goes in as JSON inside a
``<script type="application/json">`` (escaped so it cannot close the element); the one
script runs under a per-response CSP nonce; no referrer, no caching.
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any

from starlette.responses import HTMLResponse

MESSAGE_TYPE = "nest-auth-sso-callback"

_SCRIPT = """
(function () {
  var d = JSON.parse(document.getElementById("authgate-callback").textContent);
  var target = window.opener || (window.parent !== window ? window.parent : null);
  if (target) {
    d.origins.forEach(function (o) {
      try { target.postMessage(d.message, o); } catch (e) { /* closed or cross-origin */ }
    });
    if (window.opener) { window.close(); }
  } else if (d.returnTo) {
    window.location.replace(d.returnTo);
  }
})();
"""


def _json_for_html(value: Any) -> str:
    return (json.dumps(value, separators=(",", ":"), ensure_ascii=True)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def page(message: dict[str, Any], *, origins: list[str], return_to: str | None = None,
         status: int = 200, text: str = "Signing you in…") -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    data = {"message": {"type": MESSAGE_TYPE, **message}, "origins": origins,
            "returnTo": return_to}
    body = (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\"><title>Sign-in</title></head>"
        f"<body><p>{html.escape(text)}</p>"
        f"<script type=\"application/json\" id=\"authgate-callback\">{_json_for_html(data)}"
        f"</script><script nonce=\"{nonce}\">{_SCRIPT}</script></body></html>")
    return HTMLResponse(body, status_code=status, headers={
        "Content-Security-Policy": (f"default-src 'none'; script-src 'nonce-{nonce}'; "
                                    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "X-Content-Type-Options": "nosniff",
    })
