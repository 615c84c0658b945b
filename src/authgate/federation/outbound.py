"""Requests to identity providers: bounded in time and size, one retry at most, and every
failure a coded error (never a 500, never a hang)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from authgate.errors import AuthError, Code
from authgate.resources import Resources

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("authgate.federation")
MAX_BODY = 512 * 1024
"""Largest provider answer read (a JWKS or a profile is a few kB)."""


async def call(res: Resources, method: str, url: str, *, provider: str,
               params: dict[str, str] | None = None, data: dict[str, str] | None = None,
               json: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
               auth: tuple[str, str] | None = None) -> tuple[int, Any]:
    """``(status, parsed JSON body)`` of one request to a provider.

    A transport failure or a 5xx is retried once (the bound is twice ``social.timeout``);
    then OAUTH_PROVIDER_UNAVAILABLE (503). A body that is not JSON, or too large, is
    OAUTH_PROVIDER_ERROR. A 4xx is returned to the caller, who knows what it means.
    """
    import httpx  # only when a social login runs

    timeout = res.settings.social.timeout.total_seconds()
    hdrs = {"Accept": "application/json", "User-Agent": "authgate", **(headers or {})}
    last: str = ""
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False,
                                 trust_env=False) as client:
        for _attempt in (1, 2):
            try:
                status, body = await _once(client, method, url, params=params, data=data,
                                           json=json, headers=hdrs, auth=auth)
            except httpx.TransportError as exc:
                last = type(exc).__name__
                continue
            if status >= 500:
                last = f"HTTP {status}"
                continue
            return status, _parse(body, provider)
    log.warning("identity provider %s unreachable: %s", provider, last)
    raise AuthError(Code.OAUTH_PROVIDER_UNAVAILABLE)


async def _once(client: httpx.AsyncClient, method: str, url: str, *,
                params: dict[str, str] | None, data: dict[str, str] | None,
                json: dict[str, Any] | None, headers: dict[str, str],
                auth: tuple[str, str] | None) -> tuple[int, bytes]:
    request = client.build_request(method, url, params=params, data=data, json=json,
                                   headers=headers)
    if auth is not None:
        import httpx

        request = next(httpx.BasicAuth(*auth).auth_flow(request))
    response = await client.send(request, stream=True)
    try:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_BODY:
                raise AuthError(Code.OAUTH_PROVIDER_ERROR, "The sign-in provider's answer is "
                                                           "too large")
        return response.status_code, bytes(body)
    finally:
        await response.aclose()


def _parse(body: bytes, provider: str) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        log.warning("identity provider %s answered something that is not JSON", provider)
        raise AuthError(Code.OAUTH_PROVIDER_ERROR) from None
