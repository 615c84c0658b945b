"""Multi-account cookie mode (contract §1.4/§1.5/§3.16, issue 18 §5): one browser signed into
two accounts switches between them by ``nest_auth_active_account``; ``GET /auth/accounts``
lists them; logging one out leaves the other."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Harness, MakeHarness
from tests.helpers import assert_error, claims, set_cookies, set_user

COOKIE = {"x-access-token-type": "cookie"}
MULTI = {"cookie": {"secure": False}, "allow_multiple_accounts": True}
ACTIVE = "nest_auth_active_account"


@pytest.fixture
async def h(make_harness: MakeHarness) -> Harness:
    return await make_harness(session=MULTI)


async def login(h: Harness, email: str, **extra: Any) -> httpx.Response:
    r = await h.client.post("/auth/login", headers=COOKIE, json={
        "providerName": "email",
        "credentials": {"email": email, "password": "correct horse battery"}, **extra})
    assert r.status_code == 200, r.text
    return r


def csrf(h: Harness) -> dict[str, str]:
    return {**COOKIE, "x-csrf-token": h.client.cookies["nest_auth_csrf"]}


def switch(h: Harness, account: str) -> None:
    """What the SDK's CookieAccountManager.switchAccount does: rewrite the readable cookie
    (the one the server set: same domain and path)."""
    set_cookie(h, ACTIVE, account)


def set_cookie(h: Harness, name: str, value: str) -> None:
    domains = {c.domain for c in h.client.cookies.jar}
    for domain in domains:
        h.client.cookies.delete(name, domain=domain)
    h.client.cookies.set(name, value, domain=next(iter(domains), ""), path="/")


async def whoami(h: Harness) -> str:
    r = await h.client.get("/auth/me", headers=COOKIE)
    assert r.status_code == 200, r.text
    return str(r.json()["email"])


async def two_accounts(h: Harness) -> tuple[str, str]:
    alice = await h.make_user("alice@example.com")
    bob = await h.make_user("bob@example.com")
    r = await login(h, "alice@example.com")
    c = set_cookies(r)
    assert set(c) >= {f"accessToken_{alice.id}", f"refreshToken_{alice.id}", ACTIVE}
    assert "accessToken" not in c and "refreshToken" not in c
    assert c[ACTIVE]["value"] == alice.id and "httponly" not in c[ACTIVE]
    assert c[ACTIVE]["max-age"] == str(7 * 86400)
    assert claims(c[f"accessToken_{alice.id}"]["value"])["sub"] == alice.id
    assert "httponly" in c[f"accessToken_{alice.id}"]
    r = await login(h, "bob@example.com")
    assert set_cookies(r)[ACTIVE]["value"] == bob.id
    return alice.id, bob.id


async def test_switch_between_two_accounts(h: Harness) -> None:
    alice, bob = await two_accounts(h)
    assert await whoami(h) == "bob@example.com"  # the last sign-in is active
    switch(h, alice)
    assert await whoami(h) == "alice@example.com"
    switch(h, bob)
    assert await whoami(h) == "bob@example.com"

    r = await h.client.get("/auth/accounts")
    assert r.status_code == 200
    assert sorted(r.json()["accounts"], key=lambda a: a["email"]) == [
        {"accountId": alice, "email": "alice@example.com", "phone": None, "tenantId": None,
         "isActive": False},
        {"accountId": bob, "email": "bob@example.com", "phone": None, "tenantId": None,
         "isActive": True},
    ]
    cfg = (await h.client.get("/auth/client-config")).json()
    assert cfg["multipleAccounts"] == {"enabled": True}


async def test_refresh_uses_the_active_accounts_cookie(h: Harness) -> None:
    alice, bob = await two_accounts(h)
    switch(h, alice)
    old = h.client.cookies[f"refreshToken_{alice}"]
    r = await h.client.post("/auth/refresh-token", headers=COOKIE)
    assert r.status_code == 200, r.text
    c = set_cookies(r)
    assert c[f"refreshToken_{alice}"]["value"] != old and c[ACTIVE]["value"] == alice
    assert f"refreshToken_{bob}" not in c
    assert await whoami(h) == "alice@example.com"


async def test_logout_of_one_leaves_the_other(h: Harness) -> None:
    alice, bob = await two_accounts(h)
    switch(h, alice)
    r = await h.client.post("/auth/logout", headers=csrf(h))
    assert r.status_code == 200
    c = set_cookies(r)
    for name in (f"accessToken_{alice}", f"refreshToken_{alice}", "accessToken", "refreshToken"):
        assert c[name]["value"] == "" and c[name]["max-age"] == "0", name
    assert c[ACTIVE]["value"] == bob  # the active account moves to the one left
    assert f"accessToken_{bob}" not in c
    assert await whoami(h) == "bob@example.com"
    listed = (await h.client.get("/auth/accounts")).json()["accounts"]
    assert [(a["accountId"], a["isActive"]) for a in listed] == [(bob, True)]
    # alice's session really ended: her old refresh token is refused
    r = await h.client.post("/auth/logout", headers=csrf(h))
    c = set_cookies(r)
    assert c[ACTIVE]["value"] == "" and c[ACTIVE]["max-age"] == "0"
    assert (await h.client.get("/auth/accounts")).json() == {"accounts": []}
    assert_error(await h.client.get("/auth/me", headers=COOKIE), 401, "NO_AUTH_PROVIDED")


async def test_logout_all_ends_only_that_users_sessions(h: Harness) -> None:
    alice, bob = await two_accounts(h)
    r = await h.client.post("/auth/logout-all", headers=csrf(h))  # bob is active
    assert r.status_code == 200
    assert set_cookies(r)[ACTIVE]["value"] == alice
    assert await whoami(h) == "alice@example.com"


async def test_accounts_lists_only_live_verified_cookies(h: Harness) -> None:
    alice, bob = await two_accounts(h)
    alice_refresh = h.client.cookies[f"refreshToken_{alice}"]
    # a cookie named after one account holding another's token, a forged token, garbage,
    # an ill-formed account id: none is listed
    set_cookie(h, "refreshToken_00000000-0000-0000-0000-000000000000", alice_refresh)
    head, payload, _ = alice_refresh.split(".")
    set_cookie(h, "refreshToken_forged", f"{head}.{payload}.c2lnbmF0dXJl")
    set_cookie(h, "refreshToken_x", "garbage")
    set_cookie(h, "refreshToken_a b", alice_refresh)
    listed = (await h.client.get("/auth/accounts")).json()["accounts"]
    assert sorted(a["accountId"] for a in listed) == sorted([alice, bob])
    # a suspended user, and a session ended elsewhere, drop out
    await set_user(h.res, bob, status="suspended")
    listed = (await h.client.get("/auth/accounts")).json()["accounts"]
    assert [a["accountId"] for a in listed] == [alice]
    await h.res.store.delete_for_user(alice)
    assert (await h.client.get("/auth/accounts")).json() == {"accounts": []}


async def test_an_active_account_without_its_cookie_falls_back(h: Harness) -> None:
    alice, _ = await two_accounts(h)
    switch(h, "no-such-account")
    assert_error(await h.client.get("/auth/me", headers=COOKIE), 401, "NO_AUTH_PROVIDED")
    switch(h, "../../etc")  # not an account id: ignored
    assert_error(await h.client.get("/auth/me", headers=COOKIE), 401, "NO_AUTH_PROVIDED")
    switch(h, alice)
    assert await whoami(h) == "alice@example.com"


async def test_switching_needs_no_csrf_bypass(h: Harness) -> None:
    """State-changing requests with the per-account cookie are CSRF-checked like the plain
    cookie (the active-account cookie is readable by page script, so is the CSRF cookie)."""
    await two_accounts(h)
    r = await h.client.post("/auth/logout-all", headers=COOKIE)
    assert_error(r, 403, "CSRF_TOKEN_INVALID")


async def test_off_by_default(make_harness: MakeHarness) -> None:
    h = await make_harness(session={"cookie": {"secure": False}})
    await h.make_user("alice@example.com")
    r = await login(h, "alice@example.com")
    c = set_cookies(r)
    assert "accessToken" in c and ACTIVE not in c
    assert not any(name.startswith("accessToken_") for name in c)
    assert (await h.client.get("/auth/accounts")).json() == {"accounts": []}
    assert (await h.client.get("/auth/client-config")).json()["multipleAccounts"] == {
        "enabled": False}
    # the active-account cookie means nothing outside multi-account mode
    set_cookie(h, ACTIVE, "whatever")
    assert (await h.client.get("/auth/me", headers=COOKIE)).status_code == 200


async def test_header_mode_is_unchanged(h: Harness) -> None:
    await h.make_user("alice@example.com")
    r = await h.client.post("/auth/login", json={
        "providerName": "email",
        "credentials": {"email": "alice@example.com", "password": "correct horse battery"}})
    assert "accessToken" in r.json() and not set_cookies(r)


async def test_mfa_step_in_multi_account_mode(h: Harness) -> None:
    from authgate.crypto import totp as rfc6238

    alice = await h.make_user("alice@example.com")
    mfa = await h.make_user("mfa@example.com", totp=True, mfa=True)
    await login(h, "alice@example.com")
    r = await login(h, "mfa@example.com")
    assert r.json()["isRequiresMfa"] is True
    assert set_cookies(r)[ACTIVE]["value"] == mfa.id
    assert mfa.totp_secret
    code = rfc6238.code_at(mfa.totp_secret, h.clock.now(), rfc6238.TotpParams())
    r = await h.client.post("/auth/mfa/verify", headers=csrf(h),
                            json={"method": "totp", "otp": code})
    assert r.status_code == 200, r.text
    assert set_cookies(r)[ACTIVE]["value"] == mfa.id
    assert await whoami(h) == "mfa@example.com"
    switch(h, alice.id)
    assert await whoami(h) == "alice@example.com"


async def test_one_csrf_token_serves_the_browsers_accounts_and_no_other(h: Harness) -> None:
    """The SDK switches accounts without a new CSRF token: a token bound to any account this
    browser holds passes; one bound to a session whose cookies the browser lacks does not."""
    alice, bob = await two_accounts(h)
    switch(h, alice)  # the CSRF cookie is bound to bob's session (the last sign-in)
    r = await h.client.post("/auth/mfa/toggle", headers=csrf(h), json={"enabled": False})
    assert r.status_code == 200, r.text
    await h.make_user("carol@example.com")
    async with httpx.AsyncClient(transport=h.client._transport,  # noqa: SLF001
                                 base_url=str(h.client.base_url)) as other:
        r = await other.post("/auth/login", headers=COOKIE, json={
            "providerName": "email",
            "credentials": {"email": "carol@example.com", "password": "correct horse battery"}})
        assert r.status_code == 200, r.text
        carols = other.cookies["nest_auth_csrf"]
    set_cookie(h, "nest_auth_csrf", carols)
    assert_error(await h.client.post("/auth/mfa/toggle", json={"enabled": False},
                                     headers=csrf(h)), 403, "CSRF_TOKEN_INVALID")
