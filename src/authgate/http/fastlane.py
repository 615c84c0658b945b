"""The hot routes run without FastAPI's per-request machinery, with the same semantics.

A hot route (``routing.HOT_PATHS``) is still an ordinary FastAPI route: declared with its
dependencies, documented in the OpenAPI file, reachable through the app. ``compile_lane``
turns it, once, into a plan: which parameters take the ``Request``, which dependencies to
await (each once per request, as FastAPI caches them), and FastAPI's own body field. The
``Edge`` then calls the plan directly for ``(method, path)``: no middleware hops, no
routing walk, no dependency solving, no exit stacks. Measured on ``GET /auth/user``: half
of the framework's share of the CPU per request (docs/DESIGN-NOTES.md).

Only routes of the plain shape compile: ``async def`` dependencies taking the ``Request``
or other such dependencies, at most one JSON body model, an endpoint that returns a
``Response``. Anything else (path or query parameters, ``yield`` dependencies, security
scopes...) stays on the framework's path, as does every request while the app has
``dependency_overrides`` (a host's or a test's: FastAPI applies them), and every request of
an app with middleware of its own (``AuthGate.install`` compiles no lanes then: a host's
CORS or session middleware must see the hot routes too).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic_core import PydanticUndefined
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

_UNDEFINED: Any = PydanticUndefined
"""FastAPI's "no body" (a required body model answers "Request body is required")."""


@dataclass(frozen=True, slots=True)
class _Call:
    """One callable and where its arguments come from."""

    call: Callable[..., Awaitable[Any]]
    request_arg: str | None
    deps: tuple[tuple[str | None, _Call], ...]
    """(parameter name or None for a route-level dependency, its plan), in FastAPI's order."""


def _plan(dependant: Dependant, *, top: bool) -> _Call | None:
    if (dependant.path_params or dependant.query_params or dependant.header_params
            or dependant.cookie_params or (dependant.body_params and not top)
            or dependant.websocket_param_name or dependant.http_connection_param_name
            or dependant.response_param_name or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name or dependant.own_oauth_scopes
            or dependant.concurrency is not None or dependant.call is None):
        return None
    if not inspect.iscoroutinefunction(dependant.call):
        return None  # sync (a thread), generators (exit stacks), classes: the framework's
    deps: list[tuple[str | None, _Call]] = []
    for sub in dependant.dependencies:
        if not sub.use_cache:
            return None
        plan = _plan(sub, top=False)
        if plan is None:
            return None
        deps.append((sub.name, plan))
    return _Call(dependant.call, dependant.request_param_name, tuple(deps))


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    try:
        annotation = inspect.signature(endpoint, eval_str=True).return_annotation
    except (NameError, TypeError, ValueError):
        return False
    return isinstance(annotation, type) and issubclass(annotation, Response)


class Lane:
    """One compiled hot route: an ASGI callable for requests already known to match it."""

    def __init__(self, app: FastAPI, route: APIRoute, plan: _Call) -> None:
        self.app = app
        self.route = route
        self.plan = plan
        self.body_fields = list(route.dependant.body_params)
        self.embed = route._embed_body_fields  # noqa: SLF001 - FastAPI's own decision

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self.app
        scope["router"] = self.app.router
        scope["route"] = self.route
        scope["endpoint"] = self.route.endpoint
        scope["path_params"] = {}
        request = Request(scope, receive, send)
        try:
            response = await self._run(request)
        except Exception as exc:
            handler = _handler(self.app, exc)
            if handler is None:
                raise
            if inspect.iscoroutinefunction(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            if response is not None:
                await response(scope, receive, send)
            if _is_crash_handler(self.app, handler):
                raise  # as Starlette's ServerErrorMiddleware: the server logs it too
            return
        # Sending is outside the handlers, as in Starlette: a failure once the response
        # has started cannot become another response.
        await response(scope, receive, send)

    async def _run(self, request: Request) -> Response:
        body: Any = _UNDEFINED
        if self.body_fields:
            body = await _read_json(request)
        cache: dict[Callable[..., Any], Any] = {}
        values = await _solve(self.plan, request, cache)
        if self.body_fields:
            got, errors = await request_body_to_args(self.body_fields, body, self.embed)
            if errors:
                raise RequestValidationError(errors, body=body)
            values.update(got)
        response = await self.plan.call(**values)
        if not isinstance(response, Response):  # compile_lane checked the annotation
            raise TypeError(f"{self.route.path}: the endpoint did not return a Response")
        return response


async def _solve(plan: _Call, request: Request, cache: dict[Callable[..., Any], Any]
                 ) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, dep in plan.deps:
        if dep.call in cache:
            solved = cache[dep.call]
        else:
            solved = await dep.call(**await _solve(dep, request, cache))
            cache[dep.call] = solved
        if name is not None:
            values[name] = solved
    if plan.request_arg is not None:
        values[plan.request_arg] = request
    return values


async def _read_json(request: Request) -> Any:
    """FastAPI's reading of a JSON body: nothing → no body; JSON → parsed with
    ``request.json()`` (cached on the request, so a rate-limit dependency reads the very
    same value); another content type → the bytes (the Edge refused those under /auth);
    a parser failure other than bad JSON (nesting too deep) → 400, as FastAPI says it."""
    try:
        raw = await request.body()
        if not raw:
            return _UNDEFINED
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json" or (ctype.startswith("application/")
                                           and ctype.endswith("+json")):
            return await request.json()
        return raw
    except json.JSONDecodeError as e:
        raise RequestValidationError([{
            "type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error",
            "input": {}, "ctx": {"error": e.msg}}], body=e.doc) from e
    except HTTPException:
        raise
    except Exception as e:
        raise HTTPException(400, "There was an error parsing the body") from e


def _handler(app: FastAPI, exc: Exception) -> Callable[[Request, Exception], Any] | None:
    """Starlette's choice: a handler for the HTTP status first, then by exception class."""
    handlers = app.exception_handlers
    if isinstance(exc, HTTPException) and exc.status_code != 500 and exc.status_code in handlers:
        return handlers[exc.status_code]
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return handlers.get(500)


def _is_crash_handler(app: FastAPI, handler: Callable[..., Any]) -> bool:
    handlers = app.exception_handlers
    return handler is handlers.get(Exception) or handler is handlers.get(500)


def compile_lane(app: FastAPI, route: APIRoute) -> Lane | None:
    """The lane of ``route``, or None when it has a shape only the framework runs."""
    if route.dependant.path_params or not _returns_response(route.endpoint):
        return None
    if len(route.dependant.body_params) > 1:
        return None
    plan = _plan(route.dependant, top=True)
    return Lane(app, route, plan) if plan is not None else None
