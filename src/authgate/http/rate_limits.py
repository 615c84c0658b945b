"""The rate-limit dependency: one line puts a route under a row of the limit table.

    from authgate.http.rate_limits import FromBody, rate_limit

    @router.post("/mfa/verify", dependencies=[rate_limit("mfa_verify")], ...)
    @router.post("/verify-email", dependencies=[rate_limit("otp_verify", by="token")], ...)
    @router.post("/passwordless/send",
                 dependencies=[rate_limit("send_code", by=FromBody(SendIn, _accounts))], ...)

It runs before the route's guard and body validation (a refused request costs one counter
increment), keys the client IP via ``deps.client_ip`` (X-Forwarded-For only from
``security.trusted_proxies``) and the account per ``by`` (default: the bucket's row in
``authgate.throttling.rate.BUCKETS``):

* ``token``: the user id of a *verified* access token (Bearer or cookie); a missing or
  invalid token gives no account key (the guard rejects the request anyway). Use it on
  authenticated routes so a caller cannot pick another account's bucket via the body.
* ``FromBody(Model, accounts)``: the route's own request model, validated from the same
  parsed JSON the route gets, and a function naming the account(s) the flow will look up
  from it (``identity.contact.account_ref``: the same fields, normalised the same way).
  A body the model refuses has no account key (the route refuses it with 400 anyway);
  fields the model does not read can never change the key. A bucket whose row says
  ``body`` must be given one: there is no guessing from raw JSON.
* ``refresh``: the session of a valid refresh token (body ``refreshToken`` or the cookie).

``per_client=True`` keys each account per (account, client IP), for budgets that strangers
must not spend (the reset code: the engine's per-code attempts and ``issued_codes`` bound all
clients together).

Routes carrying it are documented with a 429 response in the OpenAPI file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from authgate.config import Settings
from authgate.errors import AuthError
from authgate.http import cookies
from authgate.http.deps import client_ip, extract_token, get_resources
from authgate.resources import Resources
from authgate.throttling import rate
from authgate.throttling.rate import AccountSource

RATE_BUCKET_ATTR = "authgate_rate_bucket"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class FromBody(Generic[M]):
    """Where a body route's account comes from: ``accounts(body, settings)`` on the
    validated ``model``, returning ``contact.account_ref`` strings (usually one)."""

    model: type[M]
    accounts: Callable[[M, Settings], Iterable[str]]

    def refs(self, data: Any, settings: Settings) -> list[str]:
        try:
            body = self.model.model_validate(data)
            return [ref for ref in self.accounts(body, settings) if ref]
        except (ValidationError, AuthError, ValueError):
            return []  # the route refuses this body (a 400) before any flow runs


def rate_limit(bucket: str, *, by: AccountSource | FromBody[Any] | None = None,
               per_client: bool = False) -> Any:
    """``Depends(...)`` counting each request against ``bucket`` (429 RATE_LIMITED when
    over). ``by`` overrides where the account key comes from; ``per_client`` keys body
    accounts per (account, client)."""
    row = rate.BUCKETS.get(bucket)
    if row is None:
        raise ValueError(f"unknown rate-limit bucket {bucket!r}; known: {sorted(rate.BUCKETS)}")
    source: AccountSource | FromBody[Any] = by or row.account_from
    if source == "body":
        raise ValueError(f"rate_limit({bucket!r}) keys on the body: say which fields, "
                         "by=FromBody(Model, accounts)")

    async def _rate_limited(request: Request) -> None:
        res = get_resources(request)
        if not res.settings.rate_limit.enabled:
            return
        ip = client_ip(res, request)
        accounts: list[str] = []
        rules = rate.bucket_rules(res, bucket)
        if rules.per_account is not None or rules.per_account_long is not None:
            accounts = await accounts_of(res, request, source, ip=ip, per_client=per_client)
        await rate.enforce(res, bucket, ip=ip, accounts=accounts)

    setattr(_rate_limited, RATE_BUCKET_ATTR, bucket)
    return Depends(_rate_limited)


async def accounts_of(res: Resources, request: Request, source: AccountSource | FromBody[Any],
                      *, ip: str | None = None, per_client: bool = False) -> list[str]:
    """The per-account counter subjects of this request (often one, maybe none)."""
    if isinstance(source, FromBody):
        refs = source.refs(await _json_body(request), res.settings)
        if per_client:
            return [rate.client_account(res, ref, ip) for ref in refs]
        return [rate.account_subject(res, "acct", ref) for ref in refs]
    if source == "token":
        try:
            found = extract_token(res, request)
            if found is None:
                return []
            claims = res.tokens.decode_access(found[0], res.clock.now())
        except AuthError:
            return []
        return [rate.account_subject(res, "user", str(claims["sub"]))]
    if source == "refresh":
        body = await _json_body(request)
        token = body.get("refreshToken") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            token = cookies.refresh_cookie(res.settings, request)
        if not token:
            return []
        try:
            claims_r = res.tokens.decode_refresh(token, res.clock.now())
        except AuthError:
            return []
        return [rate.account_subject(res, "session", claims_r.session_id)]
    return []


async def _json_body(request: Request) -> Any:
    """The JSON the route is given: FastAPI parsed it with ``request.json()`` (cached on
    this request) before any dependency runs, so both read the very same value (a second
    parser could disagree on NaN, duplicate keys or surrogates)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    try:
        return await request.json() if await request.body() else None
    except ValueError:  # malformed JSON or text: the route refuses it
        return None
