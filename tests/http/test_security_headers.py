"""Every /auth response says ``Cache-Control: no-store``, ``Pragma: no-cache`` and
``X-Content-Type-Options: nosniff`` (issue #19 item 8; ASVS 8.2.1, 14.4.4): successes that
carry tokens, TOTP secrets, recovery codes or reset tokens, the hot routes, and every error
(validation, 401, 404, 405, 413) — also on a host's own routes' auth errors."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Harness, MakeHarness, bearer
from tests.mfa.helpers import code

SECURITY = {"cache-control": "no-store", "pragma": "no-cache",
            "x-content-type-options": "nosniff",
            "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
            "x-frame-options": "DENY", "referrer-policy": "no-referrer",
            "content-disposition": "attachment"}
"""ASVS 8.2.1, 14.4.2, 14.4.3, 14.4.4, 14.4.6, 14.4.7."""


def assert_no_store(r: httpx.Response, content_type: str = "application/json") -> None:
    if content_type.startswith("text/html"):
        # the social sign-in callback page sets its own CSP (it runs a script); never
        # stored, never sniffed, never framed
        for name in ("cache-control", "pragma", "x-content-type-options"):
            assert r.headers.get_list(name) == [SECURITY[name]], (r.request.url.path, name)
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["content-type"] == content_type
        assert "content-disposition" not in r.headers  # a page: it must render
        return
    for name, value in SECURITY.items():
        assert r.headers.get_list(name) == [value], (r.request.method, r.request.url.path,
                                                     r.status_code, name, r.headers)
    assert r.headers["content-type"] == content_type


async def test_successes_carrying_secrets_are_not_stored(h: Harness) -> None:
    r = await h.signup()
    assert r.status_code == 200 and r.json()["accessToken"]
    assert_no_store(r)
    token = r.json()["accessToken"]
    for path in ("/auth/user", "/auth/verify-session", "/auth/mfa/status", "/auth/me",
                 "/auth/mfa/devices", "/auth/client-config", "/auth/csrf"):
        r = await h.client.get(path, headers=bearer(token))
        assert r.status_code == 200, (path, r.text)
        assert_no_store(r)
    r = await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["secret"]
    assert_no_store(r)
    r = await h.client.post("/auth/mfa/verify-totp-setup", headers=bearer(token),
                            json={"otp": code(h, r.json()["secret"]), "secret": r.json()["secret"]})
    assert r.status_code == 200, r.text
    assert_no_store(r)
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert_no_store(r)
    refresh = (await h.login()).json()["refreshToken"]
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": refresh})
    assert r.status_code == 200 and r.json()["refreshToken"]
    assert_no_store(r)


async def test_mfa_toggle_is_not_stored(h: Harness) -> None:
    u = await h.make_user(verified=True, totp=True, tokens=True)
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True},
                            headers=bearer(u.access_token or ""))
    assert r.status_code == 200, r.text
    assert_no_store(r)


async def test_every_error_is_not_stored(h: Harness) -> None:
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/auth/user", {}),                                              # 401
        ("GET", "/auth/user", {"headers": {"authorization": "Basic x"}}),       # 401 format
        ("POST", "/auth/login", {"content": b"{", "headers": {"content-type": "application/json"}}),
        ("POST", "/auth/signup", {"json": {"email": 3}}),                       # 400 validation
        ("GET", "/auth/no-such-route", {}),                                     # 404
        ("DELETE", "/auth/signup", {}),                                         # 405
        ("POST", "/auth/login", {"json": {"providerName": "email", "credentials": {
            "email": "nobody@example.com", "password": "wrong password here"}}}),  # 401
    ]
    for method, path, kw in cases:
        r = await h.client.request(method, path, **kw)
        assert r.status_code >= 400, (method, path, r.status_code)
        assert_no_store(r)


async def test_payload_too_large_is_not_stored(make_harness: MakeHarness) -> None:
    h = await make_harness(security={"max_body_bytes": 1024})
    r = await h.client.post("/auth/signup", content=b'{"email":"' + b"x" * 2000 + b'"}',
                            headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert_no_store(r)


async def test_every_documented_route_answers_with_the_headers(h: Harness) -> None:
    """Walk the OpenAPI document: whatever each route answers an anonymous caller with an
    empty body, the headers are there (a new route cannot forget them)."""
    paths = (await h.client.get("/openapi.json")).json()["paths"]
    seen = 0
    for path, ops in paths.items():
        if not path.startswith("/auth"):
            continue
        for method in ops:
            url = path.replace("{deviceId}", "00000000-0000-0000-0000-000000000000")
            r = await h.client.request(method.upper(), url, json={})
            html = path == "/auth/callback/{provider}"  # the page that posts to its opener
            assert_no_store(r, "text/html; charset=utf-8" if html else "application/json")
            seen += 1
    assert seen > 25

