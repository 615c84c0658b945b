"""The error contract: one envelope {statusCode, error, message, code} for every failure the
HTTP layer can produce (routing, parsing, size and type limits, validation, crashes)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from authgate.app import AuthGate, create_app
from authgate.clock import FrozenClock
from tests.conftest import Harness, MakeHarness, base_settings, bearer
from tests.helpers import ENVELOPE_KEYS, assert_error

JSON = {"Content-Type": "application/json"}


async def test_unknown_route_is_404_with_envelope(h: Harness) -> None:
    r = await h.client.get("/auth/nope")
    assert_error(r, 404, "NOT_FOUND", "Cannot GET /auth/nope")
    r = await h.client.post("/elsewhere", json={})
    assert_error(r, 404, "NOT_FOUND", "Cannot POST /elsewhere")


async def test_wrong_method_is_405(h: Harness) -> None:
    r = await h.client.get("/auth/login")
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in r.headers["allow"]
    r = await h.client.delete("/auth/user")
    assert_error(r, 405, "METHOD_NOT_ALLOWED")


async def test_malformed_json_is_400(h: Harness) -> None:
    r = await h.client.post("/auth/signup", content=b'{"email": "a@b.co", ', headers=JSON)
    assert_error(r, 400, "INVALID_INPUT", "Malformed JSON body")
    r = await h.client.post("/auth/login", content=b"not json", headers=JSON)
    assert_error(r, 400, "INVALID_INPUT", "Malformed JSON body")


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/xml"])
async def test_wrong_content_type_is_415(h: Harness, ctype: str) -> None:
    r = await h.client.post("/auth/signup", content=b'{"email":"a@b.co","password":"x"}',
                            headers={"Content-Type": ctype})
    assert_error(r, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_body_without_content_type_is_415(h: Harness) -> None:
    r = await h.client.post("/auth/signup", content=b'{"email":"a@b.co","password":"x"}')
    assert_error(r, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("ctype", ["application/json; charset=utf-8", "APPLICATION/JSON",
                                   "application/vnd.api+json"])
async def test_json_content_type_variants_are_accepted(h: Harness, ctype: str) -> None:
    r = await h.client.post(
        "/auth/signup", headers={"Content-Type": ctype},
        content=b'{"email":"variant@example.com","password":"correct horse battery"}')
    assert r.status_code == 200, r.text


async def test_body_over_limit_with_content_length_is_413(make_harness: MakeHarness) -> None:
    h = await make_harness(security={"max_body_bytes": 1024})
    body = b'{"email":"a@b.co","password":"' + b"x" * 1100 + b'"}'
    r = await h.client.post("/auth/signup", content=body, headers=JSON)
    assert r.request.headers["content-length"] == str(len(body))
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    # just under the limit still reaches the route
    ok = b'{"email":"small@example.com","password":"correct horse battery",' \
         b'"padding":"' + b"y" * 800 + b'"}'
    assert len(ok) < 1024
    r = await h.client.post("/auth/signup", content=ok, headers=JSON)
    assert r.status_code == 200, r.text


async def test_body_over_limit_chunked_is_413(make_harness: MakeHarness) -> None:
    h = await make_harness(security={"max_body_bytes": 1024})

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email":"a@b.co","password":"'
        for _ in range(20):
            yield b"z" * 100
        yield b'"}'

    r = await h.client.post("/auth/signup", content=chunks(), headers=JSON)
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")

    async def small() -> AsyncIterator[bytes]:
        yield b'{"email":"chunked@example.com",'
        yield b'"password":"correct horse battery"}'

    r = await h.client.post("/auth/signup", content=small(), headers=JSON)
    assert r.status_code == 200, r.text


async def test_validation_names_the_field(h: Harness) -> None:
    r = await h.client.post("/auth/signup", json={"email": 5, "password": "correct horse"})
    assert_error(r, 400, "INVALID_INPUT", "email must be a string")
    r = await h.client.post("/auth/signup", json={"email": "nobody@example.com"})
    assert_error(r, 400, "INVALID_INPUT", "password should not be null or undefined")
    r = await h.client.post("/auth/login", json={"providerName": "email", "credentials": "x"})
    assert_error(r, 400, "INVALID_INPUT", "credentials must be an object")
    r = await h.client.post("/auth/signup", json=["not", "an", "object"])
    assert_error(r, 400, "INVALID_INPUT", "Request body must be a JSON object")
    r = await h.client.post("/auth/signup", content=b"", headers=JSON)
    assert_error(r, 400, "INVALID_INPUT", "Request body is required")


async def test_empty_json_body_accepted_on_bodiless_posts(make_harness: MakeHarness) -> None:
    h = await make_harness(session={"cookie": {"secure": False}})  # cookies over http://
    """The official SDK sends Content-Type: application/json with no body."""
    token = await h.user_token()
    r = await h.client.post("/auth/logout-all", content=b"", headers={**JSON, **bearer(token)})
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Logged out from all devices successfully"}
    r = await h.client.post("/auth/logout", content=b"", headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Logged out successfully"}

    login = await h.client.post("/auth/login", headers={"x-access-token-type": "cookie"}, json={
        "providerName": "email",
        "credentials": {"email": "alice@example.com", "password": "correct horse battery"}})
    assert login.status_code == 200, login.text
    r = await h.client.post("/auth/refresh-token", content=b"",
                            headers={**JSON, "x-access-token-type": "cookie"})
    assert r.status_code == 200, r.text
    assert r.json() == {"isRequiresMfa": False, "message": "Token refreshed successfully"}


async def test_refresh_with_empty_body_and_no_cookie_names_the_token(h: Harness) -> None:
    r = await h.client.post("/auth/refresh-token", content=b"", headers=JSON)
    assert_error(r, 401, "REFRESH_TOKEN_INVALID", "refreshToken is required")


async def test_auth_errors_use_the_same_envelope(h: Harness) -> None:
    r = await h.client.get("/auth/user")
    assert_error(r, 401, "NO_AUTH_PROVIDED", "No authentication provided")
    r = await h.login(password="wrong password!")
    assert_error(r, 401, "INVALID_CREDENTIALS", "Invalid credentials")


async def test_unexpected_exception_is_bare_500(
    database_url: str, make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash is logged with its trace and answered with nothing but the envelope."""
    await make_harness()  # empties the tables
    app = create_app(base_settings(database_url), clock=FrozenClock())

    @app.get("/auth/test-only/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail: db password hunter2")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            with caplog.at_level(logging.ERROR, logger="authgate.http"):
                r = await client.get("/auth/test-only/boom")
    body = assert_error(r, 500, "INTERNAL_ERROR", "Internal server error")
    assert "hunter2" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
    assert set(body) == ENVELOPE_KEYS
    crash = [rec for rec in caplog.records if rec.name == "authgate.http"]
    assert crash and crash[0].exc_info is not None


async def test_library_mount_gets_the_same_envelope(database_url: str,
                                                    make_harness: MakeHarness) -> None:
    """AuthGate.install puts the envelope on the host app's own routes too."""
    from fastapi import FastAPI

    await make_harness()
    gate = AuthGate(base_settings(database_url), clock=FrozenClock())
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)

    @app.get("/host/crash")
    async def crash() -> None:
        raise KeyError("private")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert_error(await client.get("/host/crash"), 500, "INTERNAL_ERROR")
            assert_error(await client.get("/host/missing"), 404, "NOT_FOUND")
            r = await client.post("/auth/signup", json={"email": "x"})
            assert_error(r, 400, "INVALID_INPUT")
