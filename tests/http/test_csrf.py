"""Issue #19 item 9 (ASVS 3.5.3, 4.2.2, 13.2.3): the CSRF token is minted afresh at every
token write and bound to the session; cookie-authenticated writes from another site are
refused by their ``Sec-Fetch-Site``/``Origin`` by default."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Harness, MakeHarness
from tests.helpers import assert_error, claims, set_cookies

COOKIE = {"x-access-token-type": "cookie"}
PLAIN_HTTP = {"cookie": {"secure": False}}
TOGGLE = "/auth/mfa/toggle"
OFF = {"enabled": False}


@pytest.fixture
async def h(make_harness: MakeHarness) -> Harness:
    return await make_harness(session=PLAIN_HTTP, rate_limit={"enabled": False})


async def _login(h: Harness, email: str = "alice@example.com") -> dict[str, dict[str, str]]:
    r = await h.client.post("/auth/login", headers=COOKIE, json={
        "providerName": "email",
        "credentials": {"email": email, "password": "correct horse battery"}})
    assert r.status_code == 200, r.text
    return set_cookies(r)


def _plant(h: Harness, value: str) -> None:
    h.client.cookies.delete("nest_auth_csrf")
    h.client.cookies.set("nest_auth_csrf", value)


def _csrf(h: Harness, token: str | None = None) -> dict[str, str]:
    return {"x-csrf-token": token or h.client.cookies["nest_auth_csrf"]}


async def test_a_planted_csrf_cookie_does_not_survive_login(h: Harness) -> None:
    await h.make_user()
    _plant(h, "planted-by-a-sibling-subdomain")
    c = await _login(h)
    assert c["nest_auth_csrf"]["value"] != "planted-by-a-sibling-subdomain"
    # the attacker's value, echoed in the header and forced back into the cookie, is refused
    _plant(h, "planted-by-a-sibling-subdomain")
    r = await h.client.post(TOGGLE, json=OFF, headers=_csrf(h))
    assert_error(r, 403, "CSRF_TOKEN_INVALID")
    _plant(h, c["nest_auth_csrf"]["value"])
    assert (await h.client.post(TOGGLE, json=OFF, headers=_csrf(h))).status_code == 200


async def test_a_token_of_another_session_is_refused(h: Harness) -> None:
    await h.make_user()
    await h.make_user("bob@example.com")
    bob = (await _login(h, "bob@example.com"))["nest_auth_csrf"]["value"]
    h.client.cookies.clear()
    alice = await _login(h)
    # bob's token in both places (a double submit that matches) does not fit alice's session
    _plant(h, bob)
    assert_error(await h.client.post(TOGGLE, json=OFF, headers=_csrf(h, bob)), 403,
                 "CSRF_TOKEN_INVALID")
    # nor does an unbound one of the right shape
    _plant(h, "x" * 32)
    assert_error(await h.client.post(TOGGLE, json=OFF, headers=_csrf(h)), 403,
                 "CSRF_TOKEN_INVALID")
    _plant(h, alice["nest_auth_csrf"]["value"])
    assert (await h.client.post(TOGGLE, json=OFF, headers=_csrf(h))).status_code == 200


async def test_every_token_write_mints_a_fresh_bound_token(h: Harness) -> None:
    await h.make_user()
    first = (await _login(h))["nest_auth_csrf"]["value"]
    h.clock.advance(1)
    r = await h.client.post("/auth/refresh-token", headers=COOKIE, json={})
    second = set_cookies(r)["nest_auth_csrf"]["value"]
    assert second != first
    assert (await h.client.post(TOGGLE, json=OFF, headers=_csrf(h))).status_code == 200


async def test_get_csrf_binds_to_the_callers_session(h: Harness) -> None:
    anonymous = (await h.client.get("/auth/csrf")).json()["csrfToken"]
    await h.make_user()
    await _login(h)
    r = await h.client.get("/auth/csrf")
    token = r.json()["csrfToken"]
    assert set_cookies(r)["nest_auth_csrf"]["value"] == token
    assert (await h.client.post(TOGGLE, json=OFF, headers=_csrf(h, token))).status_code == 200
    # a token handed out before sign-in fits no session
    _plant(h, anonymous)
    assert_error(await h.client.post(TOGGLE, json=OFF, headers=_csrf(h, anonymous)), 403,
                 "CSRF_TOKEN_INVALID")


@pytest.mark.parametrize(("headers", "verdict"), [
    ({"sec-fetch-site": "cross-site", "origin": "https://evil.example"}, "CSRF_ORIGIN_REJECTED"),
    ({"sec-fetch-site": "same-site", "origin": "https://sub.testserver"},
     "CSRF_ORIGIN_REJECTED"),
    ({"sec-fetch-site": "same-origin", "origin": "http://testserver"}, None),
    ({"sec-fetch-site": "none"}, None),
    ({"origin": "https://evil.example"}, "CSRF_ORIGIN_REJECTED"),
    ({"origin": "null"}, "CSRF_ORIGIN_REJECTED"),
    ({"referer": "https://evil.example/page"}, "CSRF_ORIGIN_REJECTED"),
    ({"origin": "http://testserver"}, None),
    ({"referer": "http://testserver/settings"}, None),
    ({}, None),  # no browser's cross-site write: the token check alone
])
async def test_origin_checks_by_default(h: Harness, headers: dict[str, str],
                                        verdict: str | None) -> None:
    await h.make_user()
    await _login(h)
    r = await h.client.post(TOGGLE, json=OFF, headers={**headers, **_csrf(h)})
    if verdict is None:
        assert r.status_code == 200, r.text
    else:
        assert_error(r, 403, verdict, "Cross-site request blocked (origin not allowed).")


async def test_listed_origins_may_write_from_another_site(make_harness: MakeHarness) -> None:
    h = await make_harness(session=PLAIN_HTTP, security={"csrf": {
        "allowed_origins": ["https://app.example.com"]}})
    await h.make_user()
    await _login(h)
    ok: dict[str, Any] = {"sec-fetch-site": "cross-site", "origin": "https://app.example.com"}
    assert (await h.client.post(TOGGLE, json=OFF, headers={**ok, **_csrf(h)})).status_code == 200
    bad = {"sec-fetch-site": "cross-site", "origin": "https://evil.example"}
    assert_error(await h.client.post(TOGGLE, json=OFF, headers={**bad, **_csrf(h)}), 403,
                 "CSRF_ORIGIN_REJECTED")


async def test_origin_check_switch_restores_upstreams_rule(make_harness: MakeHarness) -> None:
    """``security.csrf.check_origin: false``: the origin is checked only against a listed
    ``allowed_origins`` (contract §1.6); the bound token is still required."""
    h = await make_harness(session=PLAIN_HTTP, security={"csrf": {"check_origin": False}})
    await h.make_user()
    c = await _login(h)
    cross = {"sec-fetch-site": "cross-site", "origin": "https://evil.example"}
    assert (await h.client.post(TOGGLE, json=OFF,
                                headers={**cross, **_csrf(h)})).status_code == 200
    assert claims(c["accessToken"]["value"])["type"] == "access"
    assert_error(await h.client.post(TOGGLE, json=OFF, headers=cross), 403, "CSRF_TOKEN_INVALID")


async def test_bearer_requests_are_not_csrf_checked(h: Harness) -> None:
    """CSRF is about ambient credentials: a request carrying its token in a header is not
    refused for its origin."""
    u = await h.make_user(tokens=True)
    assert u.access_token is not None
    r = await h.client.post(TOGGLE, json=OFF, headers={
        "authorization": f"Bearer {u.access_token}", "sec-fetch-site": "cross-site",
        "origin": "https://evil.example"})
    assert r.status_code == 200, r.text
