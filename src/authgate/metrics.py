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
``authgate_mfa_challenges_total{method}`` (codes sent),
``authgate_refresh_reuse_detections_total``, ``authgate_backend_errors_total{backend}``
(database/Redis failures by service: those answered 503 and those of background work, which
answers nobody), ``authgate_password_hash_queue_depth`` (argon2 jobs submitted and not
finished; summed over live workers), ``authgate_password_hash_duration_seconds{operation}``
(one hash or verification, in its hashing process) and
``authgate_password_hash_wait_seconds`` (the wait for a free hashing process: above zero
when logins outrun the cores). ``docs/grafana/authgate.json`` charts them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from authgate import events

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    from authgate.events import EventBus

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0)
_HASH_BUCKETS = (.01, .025, .05, .075, .1, .15, .2, .3, .5, .75, 1.0, 2.5)
"""One argon2 operation: tens to hundreds of ms at the costs calibrate-hash prints."""


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    errors: Counter
    logins: Counter
    mfa: Counter
    mfa_challenges: Counter
    refresh_reuse: Counter
    backend_errors: Counter
    hash_queue_depth: Gauge
    hash_seconds: Histogram
    hash_wait: Histogram

    def backend_error(self, backend: str) -> None:
        self.backend_errors.labels(backend).inc()

    # the hasher's observer (crypto.passwords.HashObserver)
    def hash_queue(self, depth: int) -> None:
        self.hash_queue_depth.set(depth)

    def hashed(self, operation: str, seconds: float, waited: float) -> None:
        self.hash_seconds.labels(operation).observe(seconds)
        self.hash_wait.observe(waited)

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
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
        mfa_challenges=Counter("authgate_mfa_challenges", "MFA codes sent by method (email, "
                               "sms): the challenges a sign-in's second step asked for",
                               ["method"], registry=reg),
        refresh_reuse=Counter("authgate_refresh_reuse_detections", "Rotated refresh tokens "
                              "presented again (the session was revoked)", registry=reg),
        backend_errors=Counter("authgate_backend_errors", "Failures of a backing service "
                               "(database, redis, other) met by a request or background work",
                               ["backend"], registry=reg),
        hash_queue_depth=Gauge("authgate_password_hash_queue_depth", "Password hashes and "
                               "verifications submitted and not finished", registry=reg,
                               multiprocess_mode="livesum"),
        hash_seconds=Histogram("authgate_password_hash_duration_seconds", "One argon2 hash or "
                               "verification, as long as it ran", ["operation"], registry=reg,
                               buckets=_HASH_BUCKETS),
        hash_wait=Histogram("authgate_password_hash_wait_seconds", "Time a password hash "
                            "waited for a free hashing process", registry=reg,
                            buckets=_BUCKETS),
    )

    def on_event(e: events.Event) -> None:
        if e.name == events.LOGGED_IN:
            m.logins.labels("success").inc()
        elif e.name == events.LOGIN_FAILED:
            m.logins.labels("failure").inc()
        elif e.name == events.REFRESH_REUSE_DETECTED:
            m.refresh_reuse.inc()
        elif e.name == events.MFA_CODE_SENT:
            m.mfa_challenges.labels(str(e.data.get("method") or "unknown")[:32]).inc()
        else:
            method = str(e.data.get("method") or "unknown")[:32]
            m.mfa.labels(method, "success" if e.name == events.MFA_VERIFIED else "failure").inc()

    for name in (events.LOGGED_IN, events.LOGIN_FAILED, events.MFA_VERIFIED, events.MFA_FAILED,
                 events.MFA_CODE_SENT, events.REFRESH_REUSE_DETECTED):
        bus.subscribe(name, on_event)
    return m
