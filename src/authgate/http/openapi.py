"""Make the OpenAPI file say what the routes really answer (schemathesis holds us to it).

FastAPI documents a 422 with its own validation body on every route that takes input;
authgate never sends it (validation is a 400 envelope). Errors that any route can produce
(the body guard's 413/415, a backing-service outage's 503, the limiter's 429) are added
here once instead of on every decorator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import routing as fastapi_routing
from starlette.routing import BaseRoute

from authgate.http.rate_limits import RATE_BUCKET_ATTR

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds until the limit resets",
                                "schema": {"type": "integer", "minimum": 1}}}
_DESCRIPTIONS = {
    400: "Invalid input (validation, malformed JSON)",
    403: "Refused (CSRF check of a cookie-authenticated request, or not permitted)",
    413: "Request body is too large",
    415: "Content-Type must be application/json",
    429: "Too many requests (rate limit, lockout or attempt limit)",
    503: "A backing service (database, Redis, delivery) is unavailable; retry",
}


def _routes(routes: list[BaseRoute]) -> Iterator[Any]:
    """Every route with its full path (FastAPI >= 0.16x includes routers lazily)."""
    walk = getattr(fastapi_routing, "iter_route_contexts", None)
    yield from (walk(routes) if walk is not None else routes)


def _rate_limited(route: Any) -> bool:
    dependant = getattr(route, "dependant", None)
    return dependant is not None and any(
        getattr(d.call, RATE_BUCKET_ATTR, None) for d in dependant.dependencies)


def _add(responses: dict[str, Any], status: int, *, retry_after: bool = False) -> None:
    entry = responses.setdefault(str(status), {"description": _DESCRIPTIONS[status], **_ERROR})
    if retry_after:
        entry.setdefault("headers", {}).update(_RETRY_AFTER)


# OpenAPI links (clients and stateful fuzzing follow them): every response that hands out a
# token pair can feed the refresh operation.
_TOKEN_ISSUERS = (("post", "/auth/signup"), ("post", "/auth/login"),
                  ("post", "/auth/refresh-token"), ("post", "/auth/mfa/verify"),
                  ("post", "/auth/mfa/verify-recovery-code"))
_REFRESH_LINK = {"operationId": "", "description": "Rotate the pair just issued",
                 "requestBody": {"refreshToken": "$response.body#/refreshToken"}}


def _add_links(paths: dict[str, Any]) -> None:
    refresh = paths.get("/auth/refresh-token", {}).get("post")
    if refresh is None or "operationId" not in refresh:
        return
    for method, path in _TOKEN_ISSUERS:
        ok = paths.get(path, {}).get(method, {}).get("responses", {}).get("200")
        if ok is not None:
            ok.setdefault("links", {})["RefreshToken"] = {
                **_REFRESH_LINK, "operationId": refresh["operationId"]}


def finalize(schema: dict[str, Any], routes: list[BaseRoute]) -> dict[str, Any]:
    limited = {(m.lower(), r.path_format) for r in _routes(routes)
               if _rate_limited(r) for m in (r.methods or ())}
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            responses: dict[str, Any] = op.setdefault("responses", {})
            responses.pop("422", None)
            if "requestBody" in op or op.get("parameters"):
                _add(responses, 400)
            if "requestBody" in op:
                _add(responses, 413)
                _add(responses, 415)
            if op.get("security") and method in ("post", "put", "patch", "delete"):
                _add(responses, 403)  # a cookie-authenticated write can always fail CSRF
            if (method, path) in limited or "429" in responses:
                _add(responses, 429, retry_after=True)
            _add(responses, 503, retry_after=True)
    _add_links(schema.get("paths", {}))
    comps = schema.get("components", {}).get("schemas", {})
    text = repr(schema.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in comps and f"/{unused}'" not in text:
            del comps[unused]
    return schema
