"""The application factory, and ``AuthGate`` for mounting into a host FastAPI app.

Standalone::

    app = create_app(load_settings())

Library::

    gate = AuthGate(load_settings())
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)                        # /auth routes, error envelope, body limits

    @app.get("/orders")
    async def orders(user: Annotated[Principal, Depends(gate.current_user)]): ...
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from authgate import __version__, background, housekeeping
from authgate.clock import Clock
from authgate.composition import build_resources
from authgate.config import Settings, check_deployment, sqlite_path
from authgate.http import deps
from authgate.http import errors as http_errors
from authgate.http.edge import Edge, HeaderHook, lanes_for
from authgate.http.openapi import finalize as openapi_finalize
from authgate.http.request_log import RequestLog
from authgate.http.routes import auth as auth_routes
from authgate.http.routes import health as health_routes
from authgate.http.routes import jwks as jwks_routes
from authgate.http.routes import mfa as mfa_routes
from authgate.http.routing import HOT_PATHS, add_routes
from authgate.lifecycle import Drain
from authgate.migrate import upgrade
from authgate.resources import Resources

log = logging.getLogger("authgate")
Extension = Callable[[Resources], Any]


class AuthGate:
    def __init__(self, settings: Settings, *, clock: Clock | None = None, prefix: str = "/auth",
                 extensions: list[Extension] | None = None,
                 server_process: bool = False) -> None:
        self.settings = settings
        self.server_process = server_process
        """The process serves only this app (``authgate serve``): it may run helper processes
        (password hashing)."""
        self.clock = clock
        self.prefix = prefix
        self.resources: Resources | None = None
        self._extensions = list(extensions or [])
        self.routers: list[APIRouter] = [auth_routes.router, mfa_routes.router,
                                          *_feature_routers()]
        """Where the routes are declared; ``install`` adds them to the app (http/routing)."""
        self.routes: list[APIRoute] = []
        self.drain = Drain()
        """Shared with ``Resources.drain``: ``begin_drain`` fails readiness at once."""

    current_user = staticmethod(deps.current_principal)
    """Dependency: the fully authenticated caller (401/403 envelopes otherwise)."""
    require = staticmethod(deps.require)
    """Dependency factory: ``Depends(gate.require(roles=("admin",)))``."""

    health_router = health_routes.router
    """``GET /health/live`` and ``/health/ready``; ``install(app, health=False)`` leaves them
    out for a host that includes this router under a path of its own."""

    jwks_router = jwks_routes.router
    """``GET /.well-known/jwks.json``; ``install(app, jwks=False)`` leaves it out for a host
    that serves it under a path of its own."""

    def begin_drain(self) -> None:
        """Start a graceful shutdown: ``/health/ready`` answers 503 and every response says
        ``Connection: close`` from now on; call it from the host's SIGTERM handling, wait
        for the load balancer to notice, then stop the server."""
        self.drain.begin()  # the Edge reads it on every response

    async def start(self) -> Resources:
        check_deployment(self.settings)  # DeploymentError: production without a secret/SMTP
        console = self.settings.admin_console
        if console.enabled and console.secret_key is None:
            log.warning("admin_console.enabled is set but admin_console.secret_key is not: "
                        "the admin console stays off")
        res = build_resources(self.settings, clock=self.clock,
                              hash_processes=self.server_process)
        res.drain = self.drain
        if self.settings.metrics.enabled:
            from authgate import metrics

            res.metrics = metrics.build(res.events)
            res.hasher.observer = res.metrics  # queue depth and hashing times
        try:
            auto = self.settings.auto_migrate
            if auto and sqlite_path(self.settings.database_url) is not None:
                await upgrade(res.db.writer)
            for setup in self._extensions:
                result = setup(res)
                if hasattr(result, "__await__"):
                    await result
            if self.settings.audit.webhooks and self.settings.audit.enabled:
                from authgate.audit import webhooks

                webhooks.start(res)  # this process's sender of the webhook outbox
        except BaseException:
            await res.close()
            raise
        self.resources = res
        return res

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        res = await self.start()
        app.state.authgate = res
        purging = housekeeping.Scheduler(res) if self.settings.housekeeping.enabled else None
        if purging is not None:
            purging.start()
        try:
            yield
        finally:
            if purging is not None:
                await purging.stop()  # lets a batch in progress finish
            await background.drain(res, timeout=15)  # codes being sent (forgot-password)
            await res.close()
            self.resources = None

    def install(self, app: FastAPI, *, health: bool = True, jwks: bool = True) -> None:
        self.routes = add_routes(app.router, self.prefix, self.routers)
        if health:
            add_routes(app.router, "", [self.health_router])  # documented after gate.routes
        if jwks:
            add_routes(app.router, "", [self.jwks_router])
        http_errors.install(app, redis_errors=self.settings.redis_url is not None)
        if self.settings.metrics.enabled:  # off: no observation, nothing imported
            from authgate.http.routes import metrics as metrics_routes

            add_routes(app.router, "", [metrics_routes.router])
        self._wrap(app)

    def _wrap(self, app: FastAPI) -> None:
        """Put the Edge outside the app's middleware stack when the stack is built (the
        first request or the lifespan), so a host may still add middleware after
        ``install``: the Edge stays the outermost layer, and the hot routes' lanes are
        compiled from the routes as they are then."""
        s = self.settings
        proxies = s.security.trusted_proxies
        request_log = (RequestLog(s.logging.resolved_format(s.development()), proxies)
                       if s.logging.requests else None)
        path_headers: tuple[str, HeaderHook] | None = None
        if s.admin_console.enabled:
            from authgate.admin.http.headers import hook

            path_headers = hook(self.prefix + "/admin")
        build = app.build_middleware_stack

        def build_with_edge() -> Any:
            # A host's own middleware (CORS, sessions, trusted hosts...) must see every
            # request: with any, the hot routes take the framework's path too.
            lanes = {} if app.user_middleware else lanes_for(app, self.routes, HOT_PATHS,
                                                              self.prefix)
            return Edge(build(), prefix=self.prefix, max_bytes=s.security.max_body_bytes,
                        drain=self.drain, resources=lambda: self.resources, lanes=lanes,
                        overrides=lambda: bool(app.dependency_overrides),
                        request_log=request_log, proxies=proxies, path_headers=path_headers,
                        metrics=s.metrics.enabled)

        app.build_middleware_stack = build_with_edge  # type: ignore[method-assign]


def _feature_routers() -> list[APIRouter]:
    """Routers of the feature packages, in the order they appear in the OpenAPI file."""
    from authgate.admin.http import blocked_domains as admin_blocked_domains
    from authgate.admin.http import pages as admin_pages
    from authgate.admin.http import permissions as admin_permissions
    from authgate.admin.http import roles as admin_roles
    from authgate.admin.http import routes as admin_routes
    from authgate.admin.http import tenants as admin_tenants
    from authgate.admin.http import users as admin_users
    from authgate.http.routes import (
        account,
        activity,
        api_keys,
        invites,
        mfa_challenge,
        mfa_devices,
        passkeys,
        password,
        passwordless,
        sessions,
        social,
        tenants,
        verification,
    )

    return [password.router, verification.router, passwordless.router, mfa_challenge.router,
            mfa_devices.router, tenants.router, invites.router, admin_routes.router,
            admin_pages.router, passkeys.router, admin_users.router, admin_roles.router,
            admin_tenants.router, admin_permissions.router, admin_blocked_domains.router,
            social.router, api_keys.router, sessions.router, account.router,
            activity.router]


def _ask_telemetry_once(app: FastAPI) -> None:
    """FastAPI (0.16x) asks OpenTelemetry on every request whether a tracer, meter or
    logger provider is configured: three environment look-ups, 7 µs of a hot route's
    hundred (measured). The standalone app asks once, when it has started: a provider
    configured by then (``opentelemetry-instrument`` configures them before the app is
    built; an extension may at start-up) keeps FastAPI's native telemetry on; with none it
    stays off for the life of the process."""
    native = getattr(app, "_native_telemetry", None)
    config = getattr(native, "config", None)
    if native is None or not isinstance(config, dict) or native.enabled():
        return
    for signal in ("tracing", "metrics", "logs"):
        config[signal] = False


def create_app(settings: Settings, *, clock: Clock | None = None,
               server_process: bool = False) -> FastAPI:
    """The standalone app. ``server_process``: this process only serves this app (``authgate
    serve`` workers), so passwords may be hashed in helper processes. Process-wide tuning
    (the garbage collector, the switch interval) is the process owner's: ``authgate serve``
    (``authgate.cli.main.tune_process``)."""
    gate = AuthGate(settings, clock=clock, server_process=server_process)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with gate.lifespan(app):
            _ask_telemetry_once(app)
            yield

    docs = settings.docs_enabled()
    app = FastAPI(
        title="authgate",
        version=__version__,
        description="Authentication and MFA service, wire-compatible with @ackplus/nest-auth.",
        lifespan=lifespan,
        # API docs are a map for attackers too: on in development mode unless configured.
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    gate.install(app)
    app.state.gate = gate

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        documented = [*gate.routes, *(r for r in app.routes if r not in gate.routes)]
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=documented)
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["access-token"] = {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        schema["components"]["securitySchemes"]["admin-session"] = {
            "type": "apiKey", "in": "cookie", "name": settings.admin_console.cookie_name}
        app.openapi_schema = openapi_finalize(schema, app.routes)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
