"""Cookie mode (contract §1.4-§1.6): tokens only in httpOnly cookies with the contract's names
and attributes, remember-me, refresh and logout through cookies, and CSRF on state-changing
cookie-authenticated requests."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims, set_cookies

COOKIE = {"x-access-token-type": "cookie"}
CREDS = {"email": "alice@example.com", "password": "correct horse battery"}
# The test client speaks plain http://: a Secure cookie (the default) would never come back.
PLAIN_HTTP = {"cookie": {"secure": False}}


@pytest.fixture
async def h(make_harness: MakeHarness) -> Harness:
    return await make_harness(session=PLAIN_HTTP)


async def _cookie_login(h: Harness, **extra: Any) -> httpx.Response:
    r = await h.client.post("/auth/login", headers=COOKIE,
                            json={"providerName": "email", "credentials": CREDS, **extra})
    assert r.status_code == 200, r.text
    return r


def _csrf(h: Harness) -> dict[str, str]:
    return {"x-csrf-token": h.client.cookies["nest_auth_csrf"]}


async def test_login_puts_tokens_in_cookies_only(h: Harness) -> None:
    r = await h.client.post("/auth/signup", headers=COOKIE, json=CREDS)
    assert r.json() == {"isRequiresMfa": False, "message": "Signup successful"}
    r = await _cookie_login(h)
    assert r.json() == {"isRequiresMfa": False, "message": "Login successful"}
    c = set_cookies(r)
    access, refresh = c["accessToken"], c["refreshToken"]
    assert claims(access["value"])["type"] == "access"
    assert claims(refresh["value"])["type"] == "refresh"
    for cookie, lifetime in ((access, "900"), (refresh, str(7 * 86400))):
        assert "httponly" in cookie and cookie["path"] == "/"
        assert cookie["samesite"] == "lax" and "domain" not in cookie
        assert cookie["max-age"] == lifetime
    assert c["nest_auth_remember"]["value"] == "" and c["nest_auth_remember"]["max-age"] == "0"
    csrf = c["nest_auth_csrf"]
    assert "httponly" not in csrf and csrf["max-age"] == str(7 * 86400)
    assert len(csrf["value"]) >= 32


async def test_remember_me_false_gives_session_cookies(h: Harness) -> None:
    await h.signup()
    r = await _cookie_login(h, rememberMe=False)
    c = set_cookies(r)
    for name in ("accessToken", "refreshToken"):
        assert "max-age" not in c[name] and "expires" not in c[name]
    assert c["nest_auth_remember"]["value"] == "0" and "httponly" in c["nest_auth_remember"]
    # later token writes without rememberMe follow the nest_auth_remember cookie
    r = await h.client.post("/auth/refresh-token", headers=COOKIE, json={})
    assert r.status_code == 200, r.text
    c = set_cookies(r)
    assert "max-age" not in c["accessToken"] and "max-age" not in c["refreshToken"]
    r = await _cookie_login(h, rememberMe=True)
    c = set_cookies(r)
    assert c["accessToken"]["max-age"] == "900"
    assert c["nest_auth_remember"]["max-age"] == "0"


async def test_cookie_attributes_follow_settings(make_harness: MakeHarness) -> None:
    h = await make_harness(session={"cookie": {"secure": True, "same_site": "strict",
                                               "domain": "example.com", "path": "/app"}})
    await h.signup()
    c = set_cookies(await _cookie_login(h))
    for name in ("accessToken", "refreshToken", "nest_auth_csrf"):
        assert "secure" in c[name] and c[name]["samesite"] == "strict"
        assert c[name]["domain"] == "example.com" and c[name]["path"] == "/app"


async def test_csrf_endpoint(make_harness: MakeHarness) -> None:
    h = await make_harness(session=PLAIN_HTTP)
    r = await h.client.get("/auth/csrf")
    body = r.json()
    assert list(body) == ["enabled", "csrfToken", "headerName", "cookieName"]
    assert body["enabled"] is True and body["headerName"] == "x-csrf-token"
    assert body["cookieName"] == "nest_auth_csrf"
    cookie = set_cookies(r)["nest_auth_csrf"]
    assert cookie["value"] == body["csrfToken"]
    assert "httponly" not in cookie and "max-age" not in cookie and cookie["path"] == "/"
    assert (await h.client.get("/auth/csrf")).json()["csrfToken"] != body["csrfToken"]
    off = await make_harness(session=PLAIN_HTTP, security={"csrf": {"enabled": False}})
    r = await off.client.get("/auth/csrf")
    assert r.json() == {"enabled": False} and "set-cookie" not in r.headers


async def test_csrf_guards_cookie_authenticated_writes(h: Harness) -> None:
    await h.signup()
    await _cookie_login(h)
    assert (await h.client.get("/auth/user")).status_code == 200  # safe method: no check
    toggle = {"enabled": False}
    r = await h.client.post("/auth/mfa/toggle", json=toggle)
    assert_error(r, 403, "CSRF_TOKEN_INVALID", "Invalid or missing CSRF token.")
    r = await h.client.post("/auth/mfa/toggle", json=toggle, headers={"x-csrf-token": "nope"})
    assert_error(r, 403, "CSRF_TOKEN_INVALID")
    r = await h.client.post("/auth/mfa/toggle", json=toggle, headers=_csrf(h))
    assert r.status_code == 200, r.text
    # the token from GET /auth/csrf replaces the cookie and works as well
    fresh = (await h.client.get("/auth/csrf")).json()["csrfToken"]
    r = await h.client.post("/auth/mfa/toggle", json=toggle, headers={"x-csrf-token": fresh})
    assert r.status_code == 200, r.text


async def test_public_routes_are_never_csrf_checked(h: Harness) -> None:
    await h.signup()
    await _cookie_login(h)
    r = await h.client.post("/auth/refresh-token", headers=COOKIE, json={})
    assert r.status_code == 200
    assert (await _cookie_login(h)).status_code == 200


async def test_bearer_header_wins_over_the_cookie(h: Harness) -> None:
    bob = await h.user_token("bob@example.com")
    await h.signup()
    await _cookie_login(h)  # alice's cookies in the jar
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": False}, headers=bearer(bob))
    assert r.status_code == 200, r.text  # header auth: no CSRF needed
    r = await h.client.get("/auth/user", headers=bearer(bob))
    assert r.json()["email"] == "bob@example.com"
    assert (await h.client.get("/auth/user")).json()["email"] == "alice@example.com"


async def test_allowed_origins(make_harness: MakeHarness) -> None:
    h = await make_harness(session=PLAIN_HTTP, security={"csrf": {"allowed_origins": ["https://app.example.com"]}})
    await h.signup()
    await _cookie_login(h)
    body = {"enabled": False}
    for headers in ({"origin": "https://evil.example"},
                    {"referer": "https://evil.example/some/page"},
                    {"origin": "https://app.example.com.evil.example"}):
        r = await h.client.post("/auth/mfa/toggle", json=body, headers={**headers, **_csrf(h)})
        assert_error(r, 403, "CSRF_ORIGIN_REJECTED",
                     "Cross-site request blocked (origin not allowed).")
    r = await h.client.post("/auth/mfa/toggle", json=body,
                            headers={"origin": "https://app.example.com"})
    assert_error(r, 403, "CSRF_TOKEN_INVALID")
    for headers in ({"origin": "https://app.example.com"},
                    {"referer": "https://app.example.com/settings"}, {}):
        r = await h.client.post("/auth/mfa/toggle", json=body, headers={**headers, **_csrf(h)})
        assert r.status_code == 200, (headers, r.text)


async def test_refresh_through_the_cookie(h: Harness) -> None:
    await h.signup()
    first = set_cookies(await _cookie_login(h))
    r = await h.client.post("/auth/refresh-token", json={})
    assert_error(r, 401, "REFRESH_TOKEN_INVALID", "refreshToken is required")  # header missing
    h.clock.advance(1)
    r = await h.client.post("/auth/refresh-token", headers=COOKIE, json={})
    assert r.status_code == 200
    assert r.json() == {"isRequiresMfa": False, "message": "Token refreshed successfully"}
    nxt = set_cookies(r)
    assert nxt["refreshToken"]["value"] != first["refreshToken"]["value"]
    assert nxt["accessToken"]["value"] != first["accessToken"]["value"]
    # a fresh CSRF token at every token write (issue #19 item 9), bound to the same session
    assert nxt["nest_auth_csrf"]["value"] != first["nest_auth_csrf"]["value"]
    assert (await h.client.get("/auth/user")).status_code == 200
    # a body token still wins over the cookie (and is rotated in cookie mode too)
    r = await h.client.post("/auth/refresh-token", headers=COOKIE,
                            json={"refreshToken": nxt["refreshToken"]["value"]})
    assert r.status_code == 200 and "accessToken" not in r.json()


async def test_logout_needs_csrf_and_clears_cookies(h: Harness) -> None:
    await h.signup()
    c = set_cookies(await _cookie_login(h))
    sid = claims(c["accessToken"]["value"])["sessionId"]
    assert_error(await h.client.post("/auth/logout"), 403, "CSRF_TOKEN_INVALID")
    assert await h.res.store.get(sid, h.clock.now()) is not None
    r = await h.client.post("/auth/logout", headers=_csrf(h))
    assert r.status_code == 200 and r.json() == {"message": "Logged out successfully"}
    cleared = set_cookies(r)
    for name in ("accessToken", "refreshToken"):
        assert cleared[name]["value"] == "" and cleared[name]["max-age"] == "0"
    assert await h.res.store.get(sid, h.clock.now()) is None
    assert "accessToken" not in h.client.cookies
    assert_error(await h.client.get("/auth/user"), 401, "NO_AUTH_PROVIDED")


async def test_logout_all_through_cookies(h: Harness) -> None:
    other = await h.user_token()
    await _cookie_login(h)
    assert_error(await h.client.post("/auth/logout-all"), 403, "CSRF_TOKEN_INVALID")
    r = await h.client.post("/auth/logout-all", headers=_csrf(h))
    assert r.status_code == 200
    assert set_cookies(r)["accessToken"]["max-age"] == "0"
    assert_error(await h.client.get("/auth/user", headers=bearer(other)), 401,
                 "SESSION_NOT_FOUND")


async def test_configured_cookie_mode(make_harness: MakeHarness) -> None:
    h = await make_harness(session={**PLAIN_HTTP, "access_token_type": "cookie"})
    await h.signup()
    r = await h.login()  # no x-access-token-type header needed
    assert r.json() == {"isRequiresMfa": False, "message": "Login successful"}
    access = h.client.cookies["accessToken"]
    r = await h.client.post("/auth/refresh-token", json={})
    assert r.status_code == 200, r.text
    h.client.cookies.clear()
    # the Authorization header is not read at all in configured cookie mode
    assert_error(await h.client.get("/auth/user", headers=bearer(access)), 401,
                 "NO_AUTH_PROVIDED")


async def test_configured_header_mode(make_harness: MakeHarness) -> None:
    h = await make_harness(session={**PLAIN_HTTP, "access_token_type": "header"})
    await h.signup()
    r = await h.client.post("/auth/login", headers=COOKIE,
                            json={"providerName": "email", "credentials": CREDS})
    body = r.json()
    assert "accessToken" in body and "accessToken" not in set_cookies(r)
    h.client.cookies.set("accessToken", body["accessToken"])
    assert_error(await h.client.get("/auth/user"), 401, "NO_AUTH_PROVIDED")
    assert (await h.client.get("/auth/user",
                               headers=bearer(body["accessToken"]))).status_code == 200


async def test_csrf_disabled(make_harness: MakeHarness) -> None:
    h = await make_harness(session=PLAIN_HTTP, security={"csrf": {"enabled": False}})
    await h.signup()
    c = set_cookies(await _cookie_login(h))
    assert "nest_auth_csrf" not in c
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": False})
    assert r.status_code == 200, r.text


async def test_cookies_are_secure_by_default(make_harness: MakeHarness) -> None:
    """Issue 12 item 7: every cookie authgate sets carries Secure unless configured off."""
    h = await make_harness()
    await h.signup()
    c = set_cookies(await _cookie_login(h, rememberMe=False))
    for name in ("accessToken", "refreshToken", "nest_auth_remember", "nest_auth_csrf"):
        assert "secure" in c[f"__Host-{name}"], name
    csrf = set_cookies(await h.client.get("/auth/csrf"))
    assert "secure" in csrf["__Host-nest_auth_csrf"]
    off = await make_harness(session=PLAIN_HTTP)
    await off.signup("bob@example.com")
    c = set_cookies(await off.client.post("/auth/login", headers=COOKIE, json={
        "providerName": "email",
        "credentials": {"email": "bob@example.com", "password": CREDS["password"]}}))
    assert "secure" not in c["accessToken"] and "secure" not in c["nest_auth_csrf"]


async def test_host_prefix_switch(make_harness: MakeHarness) -> None:
    """``session.cookie.host_prefix``: every cookie is set and read as ``__Host-<name>``
    (Secure, Path=/, no Domain), and the unprefixed names are no longer honoured."""
    h = await make_harness(session={"cookie": {"host_prefix": True}})
    h.client.base_url = httpx.URL("https://testserver")  # __Host- cookies need https
    await h.signup()
    c = set_cookies(await _cookie_login(h, rememberMe=False))
    for name in ("accessToken", "refreshToken", "nest_auth_remember", "nest_auth_csrf"):
        cookie = c[f"__Host-{name}"]
        assert "secure" in cookie and cookie["path"] == "/" and "domain" not in cookie
    assert not set(c) - {f"__Host-{n}" for n in ("accessToken", "refreshToken",
                                                  "nest_auth_remember", "nest_auth_csrf")}
    assert (await h.client.get("/auth/user")).status_code == 200
    csrf = {"x-csrf-token": h.client.cookies["__Host-nest_auth_csrf"]}
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": False}, headers=csrf)
    assert r.status_code == 200, r.text
    assert (await h.client.get("/auth/csrf")).json()["cookieName"] == "__Host-nest_auth_csrf"
    r = await h.client.post("/auth/refresh-token", headers=COOKIE, json={})
    assert r.status_code == 200, r.text
    # the unprefixed name (what a sibling subdomain could plant) is ignored
    access = h.client.cookies["__Host-accessToken"]
    h.client.cookies.clear()
    h.client.cookies.set("accessToken", access)
    assert_error(await h.client.get("/auth/user"), 401, "NO_AUTH_PROVIDED")


async def test_host_prefix_by_default_where_browsers_allow_it(make_harness: MakeHarness) -> None:
    """Issue 19 item 10: ``host_prefix: auto`` (the default) names the cookies ``__Host-…``
    whenever they are Secure with Path=/ and no Domain; plain names otherwise, and with
    ``host_prefix: false`` (the compatibility switch for clients reading upstream's names)."""
    names = ("accessToken", "refreshToken", "nest_auth_remember", "nest_auth_csrf")
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "__Host-"),
        ({"cookie": {"host_prefix": False}}, ""),
        (PLAIN_HTTP, ""),
        ({"cookie": {"domain": "example.com"}}, ""),
        ({"cookie": {"path": "/app"}}, ""),
    ]
    for i, (session, prefix) in enumerate(cases):
        h = await make_harness(session=session)
        email = f"u{i}@example.com"
        await h.signup(email)
        r = await h.client.post("/auth/login", headers=COOKIE, json={
            "providerName": "email", "credentials": {**CREDS, "email": email},
            "rememberMe": False})
        assert set(set_cookies(r)) == {prefix + n for n in names}, session
        body = (await h.client.get("/auth/csrf")).json()
        assert body["cookieName"] == prefix + "nest_auth_csrf"


def test_host_prefix_needs_secure_root_path_and_no_domain() -> None:
    from pydantic import ValidationError

    from authgate.config import load_settings

    for cookie in ({"secure": False}, {"path": "/app"}, {"domain": "example.com"}):
        with pytest.raises(ValidationError, match="host_prefix"):
            load_settings(session={"cookie": {"host_prefix": True, **cookie}})
