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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from pydantic_core import PydanticUndefined
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from fastapi._compat import ModelField

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
        self.direct = _direct_body(self.body_fields, self.embed)

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
        valid: dict[str, Any] | None = None
        if self.direct is not None:
            valid = await _validated(request, *self.direct)
        if self.body_fields and valid is None:
            body = await _read_json(request)
        cache: dict[Callable[..., Any], Any] = {}
        values = await _solve(self.plan, request, cache)
        if valid is not None:
            values.update(valid)
        elif self.body_fields:
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


def _is_json(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == "application/json" or (ctype.startswith("application/")
                                           and ctype.endswith("+json"))


async def _read_json(request: Request) -> Any:
    """FastAPI's reading of a JSON body: nothing → no body; JSON → parsed with
    ``request.json()`` (cached on the request, so a rate-limit dependency reads the very
    same value); another content type → the bytes (the Edge refused those under /auth);
    a parser failure other than bad JSON (nesting too deep) → 400, as FastAPI says it."""
    try:
        raw = await request.body()
        if not raw:
            return _UNDEFINED
        if _is_json(request):
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


# Core-schema kinds whose validation of a JSON document gives what FastAPI's
# ``json.loads`` then python-mode validation gives, for every document both accept.
_LEAVES = frozenset({"str"})
_WRAPPERS = frozenset({"nullable", "default", "model-field"})


def _json_mode_agrees(schema: Mapping[str, Any]) -> bool:
    """True when validating a JSON document against ``schema`` in pydantic-core's JSON mode
    accepts only what python mode accepts after ``json.loads``, with the same result: plain
    strings, strict booleans, optional/defaulted fields, ``before`` validators that see the
    same Python values, models that drop or refuse unknown keys. Anything else (numbers,
    dates, enums, unions, ``info``/``after``/``wrap`` validators, kept extras, recursive
    models...) is left to the framework's path."""
    kind = schema.get("type")
    if kind in _LEAVES:
        return True
    if kind == "bool":
        return bool(schema.get("strict"))
    if kind in _WRAPPERS:
        return _json_mode_agrees(schema["schema"])
    if kind == "function-before":
        return (schema["function"].get("type") == "no-info"
                and _json_mode_agrees(schema["schema"]))
    if kind == "model":
        extra = (schema.get("config") or {}).get("extra_fields_behavior")
        return (not schema.get("custom_init") and not schema.get("root_model")
                and not schema.get("post_init") and extra in (None, "ignore", "forbid")
                and _json_mode_agrees(schema["schema"]))
    if kind == "model-fields":
        return (schema.get("extras_schema") is None
                and all(_json_mode_agrees(f) for f in schema["fields"].values()))
    return False


def _direct_body(fields: list[ModelField], embed: bool) -> tuple[str, TypeAdapter[Any]] | None:
    """(parameter name, the body field's own adapter) when a valid JSON body can be
    validated straight from its bytes (``_validated``): one body model, not embedded, of
    kinds where the JSON mode agrees with the framework's reading."""
    if len(fields) != 1 or embed:
        return None
    adapter: TypeAdapter[Any] | None = getattr(fields[0], "_type_adapter", None)
    if adapter is None or not _json_mode_agrees(adapter.core_schema):
        return None
    return fields[0].name, adapter


async def _validated(request: Request, name: str, adapter: TypeAdapter[Any]
                     ) -> dict[str, Any] | None:
    """The body model validated from the body's bytes in one step (pydantic-core parses
    and checks together: ~6 µs less than ``json.loads`` plus ``request_body_to_args``), or
    None: no JSON body, or one it refuses, which the framework's path then reads again
    (the body is cached on the request) and answers exactly as FastAPI does."""
    try:
        raw = await request.body()
    except HTTPException:
        raise
    except Exception as e:
        raise HTTPException(400, "There was an error parsing the body") from e
    if not raw or not _is_json(request):
        return None
    try:
        return {name: adapter.validate_json(raw)}
    except ValueError:  # ValidationError: bad JSON or a bad value
        return None


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
