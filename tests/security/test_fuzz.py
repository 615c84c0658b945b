"""Schemathesis against the app's own /openapi.json, in process, on the real databases.

Every operation gets the coverage phase (boundary and schema-violating values for every
field) and ``AUTHGATE_FUZZ_EXAMPLES`` random examples (default 5; raise it for a longer
local run, e.g. ``AUTHGATE_FUZZ_EXAMPLES=500``). Authenticated operations carry a valid
bearer token of a user of their own. Then a stateful run follows the OpenAPI links
(signup/login/refresh → refresh) while every call uses the newest token the scenario got.

Checks on every response: no 5xx other than a documented 503; status, content type, body and
headers as documented; schema-invalid input rejected with a 4xx; declared auth enforced; and
every error is exactly the envelope {statusCode, error, message, code} with a code of
``authgate.errors.Code``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI, Request
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as st_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from authgate import background
from authgate.app import create_app
from authgate.errors import Code
from authgate.throttling.rate import BUCKETS
from tests.conftest import _truncate, base_settings

EXAMPLES = int(os.environ.get("AUTHGATE_FUZZ_EXAMPLES", "5"))
CODES = {c.value for c in Code}
PASSWORD = "fuzzing is fun 42!"
BASE = "http://testserver"
STATS: dict[str, int] = {"requests": 0, "errors": 0}


def fuzz_settings(url: str) -> Any:
    # The limiter stays on (its code path is fuzzed too) but never trips: abuse limits have
    # their own tests; here a 429 would only hide the route behind it.
    wide = {"limit": 1_000_000, "window": 60}
    table: dict[str, Any] = {b: {"per_ip": wide, "per_account": wide, "per_account_long": wide}
                             for b in BUCKETS}
    # The fuzzer reads /openapi.json: served only when enabled (off in production mode).
    return base_settings(url, rate_limit={**table, "issued_codes": wide, "lockout": {
        "max_failures": 1000, "account_max_failures": 100_000}}, docs={"enabled": True})


@pytest.fixture(scope="module")
async def fuzz_app(database_url: str) -> AsyncIterator[FastAPI]:
    await _truncate(database_url)
    app = create_app(fuzz_settings(database_url))

    @app.middleware("http")
    async def settle(request: Request, call_next: Any) -> Any:
        # Work a route leaves running after its answer (forgot-password / passwordless
        # sends) finishes before the checks and the next draw: it runs in schemathesis'
        # event-loop thread, and the stdlib email package's use of the global `random`
        # there would trip Hypothesis' "random inside strategies" check at random.
        response = await call_next(request)
        await background.drain(request.app.state.authgate)
        return response

    yield app
    st_asgi.shutdown_lifespans()  # the app ran in schemathesis' event-loop thread
    TOKENS.clear()


# One user per operation (a fuzzed logout-all or MFA toggle stays with its operation); the
# token is reused until a call comes back 401, then the user signs in again.
TOKENS: dict[str, str] = {}


def _post(app: Any, path: str, body: dict[str, Any]) -> Any:
    with st_asgi.get_client(app) as client:
        return client.post(BASE + path, json=body)


def token_for(app: Any, who: str) -> str:
    if who in TOKENS:
        return TOKENS[who]
    email = f"fuzz-{hashlib.sha256(who.encode()).hexdigest()[:16]}@example.com"
    r = _post(app, "/auth/signup", {"email": email, "password": PASSWORD})
    if r.status_code != 200:  # exists already: sign in again
        r = _post(app, "/auth/login", {"providerName": "email",
                                       "credentials": {"email": email, "password": PASSWORD}})
    assert r.status_code == 200, r.text
    TOKENS[who] = r.json()["accessToken"]
    return TOKENS[who]


@schemathesis.check
def error_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error is {statusCode, error, message, code} with a known code; no 5xx but 503."""
    STATS["requests"] += 1
    status = response.status_code
    if status < 400:
        return None
    STATS["errors"] += 1
    assert status == 503 or status < 500, f"server error {status}: {response.text[:500]}"
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"statusCode", "error", "message", "code"}, body
    assert body["statusCode"] == status, body
    assert body["error"] == HTTPStatus(status).phrase, body
    assert body["code"] in CODES, body
    assert isinstance(body["message"], str) and body["message"], body
    if status in (429, 503):
        (retry_after,) = response.headers["retry-after"]  # schemathesis: name -> values
        assert int(retry_after) >= 1
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, negative_data_rejection,
          ignored_auth, error_envelope]

# The document does not depend on the database: load it once from an app that never starts,
# and point each operation at the started app of the backend under test.
schema = schemathesis.openapi.from_dict(
    create_app(fuzz_settings("sqlite+aiosqlite:////nonexistent/schema-only.db")).openapi())
schema.config.phases.update(phases=["examples", "coverage", "fuzzing", "stateful"])
schema.config.phases.coverage.unexpected_methods = {"patch"}  # one 405 probe per path is enough
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def secured(case: Any) -> bool:
    return bool(case.operation.definition.raw.get("security"))


@schema.parametrize()
@FUZZ
def test_every_operation(case: Any, fuzz_app: FastAPI) -> None:
    case.operation.schema.app = case.operation.app = fuzz_app
    label = case.operation.label
    headers = {"Authorization": f"Bearer {token_for(fuzz_app, label)}"} if secured(case) else None
    response = case.call(base_url=BASE, headers=headers)
    if secured(case) and response.status_code == 401:
        TOKENS.pop(label, None)
    case.validate_response(response, checks=CHECKS, headers=headers,
                           transport_kwargs={"base_url": BASE, "headers": headers})


# stateful: follow the links, carry the newest token ---------------------------------------
def scenario(app: FastAPI) -> Any:
    schema.app = app  # the machine's operations take the app when the class is built

    class Scenario(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            self.token: str | None = None

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            kwargs: dict[str, Any] = {"base_url": BASE}
            if secured(case):
                kwargs["headers"] = {"Authorization":
                                     f"Bearer {self.token or token_for(app, 'stateful')}"}
            return kwargs

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            if response.status_code == 200 and case.operation.path in (
                    "/auth/signup", "/auth/login", "/auth/refresh-token"):
                self.token = response.json().get("accessToken") or self.token

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None,
                              **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs,
                                   headers=kwargs.get("headers"), recorder=self.recorder)

    return Scenario


def test_stateful_sequences(fuzz_app: FastAPI) -> None:
    scenario(fuzz_app).run(settings=settings(FUZZ, max_examples=max(3, EXAMPLES // 2),
                                             stateful_step_count=8))


def test_the_fuzzer_ran(fuzz_app: FastAPI) -> None:
    """Guards against a silently empty run (e.g. a schema that lost its operations)."""
    print(f"\nfuzz: {STATS['requests']} requests validated, {STATS['errors']} errors")
    assert STATS["requests"] >= 20 * len(schema.raw_schema["paths"])
