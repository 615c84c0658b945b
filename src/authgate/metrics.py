"""Prometheus metrics (``metrics.enabled``), fed from the event bus and one request hook.

``prometheus_client`` is imported only when metrics are on: with them off nothing here runs
and no middleware is installed. With them on, ``authgate serve`` gives its workers one
``PROMETHEUS_MULTIPROC_DIR`` (emptied at start) and ``GET /metrics`` adds up every worker's
values; an app in a single process keeps them in its own registry.

Series: ``authgate_http_requests_total{route,method,status}`` (route = the route's template,
``unmatched`` for 404s), ``authgate_http_request_duration_seconds{route}`` (histogram),
``authgate_errors_total{code}`` (every error envelope's ``code``: RATE_LIMITED,
ACCOUNT_LOCKED, MFA_TOO_MANY_ATTEMPTS, SERVICE_UNAVAILABLE for database/Redis failures …),
``authgate_logins_total{outcome}``, ``authgate_mfa_verifications_total{method,outcome}``,
``authgate_refresh_reuse_detections_total``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from authgate import events

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from authgate.events import EventBus

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    errors: Counter
    logins: Counter
    mfa: Counter
    refresh_reuse: Counter

    def render(self) -> bytes:
        """The exposition text: every worker's values in multi-process mode."""
        from prometheus_client import CollectorRegistry, generate_latest

        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(merged))
        return bytes(generate_latest(self.registry))

    def observe(self, route: str, method: str, status: int, started: float,
                code: str | None) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(time.perf_counter() - started)
        if code is not None:
            self.errors.labels(code).inc()


def build(bus: EventBus) -> Metrics:
    """The app's metrics, subscribed to ``bus``."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    reg = CollectorRegistry()
    m = Metrics(
        registry=reg,
        requests=Counter("authgate_http_requests", "HTTP requests by route template, method "
                         "and status", ["route", "method", "status"], registry=reg),
        latency=Histogram("authgate_http_request_duration_seconds",
                          "Request latency by route template", ["route"], registry=reg,
                          buckets=_BUCKETS),
        errors=Counter("authgate_errors", "Error answers by code (RATE_LIMITED, "
                       "ACCOUNT_LOCKED, SERVICE_UNAVAILABLE …)", ["code"], registry=reg),
        logins=Counter("authgate_logins", "Sign-ins by outcome", ["outcome"], registry=reg),
        mfa=Counter("authgate_mfa_verifications", "MFA steps by method and outcome",
                    ["method", "outcome"], registry=reg),
        refresh_reuse=Counter("authgate_refresh_reuse_detections", "Rotated refresh tokens "
                              "presented again (the session was revoked)", registry=reg),
    )

    def on_event(e: events.Event) -> None:
        if e.name == events.LOGGED_IN:
            m.logins.labels("success").inc()
        elif e.name == events.LOGIN_FAILED:
            m.logins.labels("failure").inc()
        elif e.name == events.REFRESH_REUSE_DETECTED:
            m.refresh_reuse.inc()
        else:
            method = str(e.data.get("method") or "unknown")[:32]
            m.mfa.labels(method, "success" if e.name == events.MFA_VERIFIED else "failure").inc()

    for name in (events.LOGGED_IN, events.LOGIN_FAILED, events.MFA_VERIFIED, events.MFA_FAILED,
                 events.REFRESH_REUSE_DETECTED):
        bus.subscribe(name, on_event)
    return m
