"""The rate-limit dependency: one line puts a route under a row of the limit table.

    from authgate.http.rate_limits import rate_limit

    @router.post("/mfa/verify", dependencies=[rate_limit("mfa_verify")], ...)
    @router.post("/verify-email", dependencies=[rate_limit("otp_verify", by="token")], ...)
    @router.post("/passwordless/send", dependencies=[rate_limit("send_code", by="body")], ...)

It runs before the route's guard and body validation (a refused request costs one counter
increment), keys the client IP via ``deps.client_ip`` (X-Forwarded-For only from
``security.trusted_proxies``) and the account per ``by`` (default: the bucket's row in
``authgate.throttling.rate.BUCKETS``):

* ``token``: the user id of a *verified* access token (Bearer or cookie); a missing or
  invalid token gives no account key (the guard rejects the request anyway). Use it on
  authenticated routes so a caller cannot pick another account's bucket via the body.
* ``body``: the first of ``credentials.email``, ``credentials.phone``, ``email``,
  ``phone``, ``identifier`` in the JSON body, normalised (trimmed, lower-cased; phones in
  E.164 as the look-up does, ``identifier_key``).
* ``refresh``: the session of a valid refresh token (body ``refreshToken`` or the cookie).

Routes carrying it are documented with a 429 response in the OpenAPI file.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Depends, Request

from authgate.errors import AuthError
from authgate.http import cookies
from authgate.http.deps import client_ip, extract_token, get_resources
from authgate.identity import store as users
from authgate.resources import Resources
from authgate.throttling import rate
from authgate.throttling.rate import AccountSource

RATE_BUCKET_ATTR = "authgate_rate_bucket"
_BODY_KEYS = (("credentials", "email"), ("credentials", "phone"),
              ("credentials", "identifier"), ("email",), ("phone",), ("identifier",))


def rate_limit(bucket: str, *, by: AccountSource | None = None) -> Any:
    """``Depends(...)`` counting each request against ``bucket`` (429 RATE_LIMITED when
    over). ``by`` overrides where the account key comes from."""
    row = rate.BUCKETS.get(bucket)
    if row is None:
        raise ValueError(f"unknown rate-limit bucket {bucket!r}; known: {sorted(rate.BUCKETS)}")
    source: AccountSource = by or row.account_from

    async def _rate_limited(request: Request) -> None:
        res = get_resources(request)
        if not res.settings.rate_limit.enabled:
            return
        account = None
        rules = rate.bucket_rules(res, bucket)
        if rules.per_account is not None or rules.per_account_long is not None:
            account = await account_of(res, request, source)
        await rate.enforce(res, bucket, ip=client_ip(res, request), account=account)

    setattr(_rate_limited, RATE_BUCKET_ATTR, bucket)
    return Depends(_rate_limited)


async def account_of(res: Resources, request: Request, source: AccountSource) -> str | None:
    """The per-account counter subject of this request, or None."""
    if source == "token":
        try:
            found = extract_token(res, request)
            if found is None:
                return None
            claims = res.tokens.decode_access(found[0], res.clock.now())
        except AuthError:
            return None
        return rate.account_subject(res, "user", str(claims["sub"]))
    body = await _json_body(request)
    if source == "refresh":
        token = body.get("refreshToken") if body else None
        if not isinstance(token, str) or not token:
            token = request.cookies.get(cookies.cookie_name(res.settings, cookies.REFRESH_COOKIE))
        if not token:
            return None
        try:
            claims_r = res.tokens.decode_refresh(token, res.clock.now())
        except AuthError:
            return None
        return rate.account_subject(res, "session", claims_r.session_id)
    if body is None:
        return None
    for path in _BODY_KEYS:
        value: Any = body
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip():
            return rate.account_subject(res, "id", identifier_key(res, path[-1], value))
    return None


def identifier_key(res: Resources, field: str, value: str) -> str:
    """An email or phone as the look-up normalises it, so ``+1-555-123-4567`` and
    ``+15551234567`` spend one budget. A phone that cannot be normalised keeps its
    stripped form (the route refuses it with INVALID_PHONE_FORMAT anyway)."""
    stripped = "".join(value.split()).lower()
    if field == "phone" or (field == "identifier" and "@" not in stripped):
        try:
            return users.normalise_phone(value, res.settings.phone_default_region)
        except AuthError:
            return stripped
    return stripped


async def _json_body(request: Request) -> dict[str, Any] | None:
    """The request's JSON object (Starlette caches the bytes for the route), or None."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    try:
        raw = await request.body()
        data = orjson.loads(raw) if raw else None
    except (orjson.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None
