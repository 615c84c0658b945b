"""Adding authgate's routes to an app: flat, and the hot ones first.

FastAPI (0.16x) matches included routers lazily: each level of ``include_router`` costs every
request CPU, and matching walks the routes in order (figures in docs/DESIGN-NOTES.md). So
the feature routers are the place routes are *declared*, and
``add_routes`` copies them onto the app's own router (as ``@app.get`` would: the app's
dependency overrides and dependencies apply), the routes every request passes first.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from fastapi.routing import APIRoute

HOT_PATHS = ("/user", "/verify-session", "/mfa/status", "/mfa/toggle", "/refresh-token", "/me")
"""Matched first: the routes that run on every request of a signed-in client."""


def add_routes(target: APIRouter, prefix: str, routers: Iterable[APIRouter]) -> list[APIRoute]:
    """Copy every route of ``routers`` onto ``target`` under ``prefix``; returns them in the
    order they were declared (the documentation order)."""
    declared: list[APIRoute] = []
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                raise TypeError(f"not an API route: {route!r}")
            declared.append(route)
    rank = {path: i for i, path in enumerate(HOT_PATHS)}
    added: dict[int, APIRoute] = {}
    for route in sorted(declared, key=lambda r: rank.get(r.path, len(rank))):
        target.add_api_route(
            prefix + route.path, route.endpoint, response_model=route.response_model,
            status_code=route.status_code, tags=list(route.tags),
            dependencies=list(route.dependencies), summary=route.summary,
            description=route.description, response_description=route.response_description,
            responses=dict(route.responses), deprecated=route.deprecated,
            methods=set(route.methods or ()), operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema, response_class=route.response_class,
            name=route.name, callbacks=route.callbacks, openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
        )
        new = target.routes[-1]
        assert isinstance(new, APIRoute)
        added[id(route)] = new
    return [added[id(r)] for r in declared]
