"""POST /auth/login (contract §2.1): provider and credential checks, indistinguishable
failures, inactive accounts, argon2 parameter upgrades and the MFA-required answer."""

from __future__ import annotations

import re
from typing import Any

import pytest

from authgate import events
from authgate.crypto.passwords import PasswordHasher, Verdict
from authgate.events import Event
from tests.conftest import CHEAP_HASH, Harness, MakeHarness, bearer
from tests.helpers import (
    add_totp_device,
    answer_headers,
    assert_error,
    claims,
    set_user,
    stored_user,
)

PASSWORD = "correct horse battery"


def _login_body(**creds: Any) -> dict[str, Any]:
    return {"providerName": "email", "credentials": creds}


async def test_login_success(h: Harness) -> None:
    signup = (await h.signup()).json()
    seen: list[Event] = []
    h.res.events.subscribe(events.LOGGED_IN, seen.append)
    r = await h.client.post("/auth/login", json=_login_body(email="ALICE@example.com",
                                                             password=PASSWORD))
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["accessToken", "refreshToken", "isRequiresMfa", "message"]
    assert body["message"] == "Login successful" and body["isRequiresMfa"] is False
    access = claims(body["accessToken"])
    assert access["sub"] == claims(signup["accessToken"])["sub"]
    assert access["sessionId"] != claims(signup["accessToken"])["sessionId"]  # a new session
    assert [e.user_id for e in seen] == [access["sub"]]
    assert (await h.client.get("/auth/user", headers=bearer(body["accessToken"]))).status_code == 200


@pytest.mark.parametrize("provider", [None, "", "google", "passwordless", "phone", "EMAIL"])
async def test_invalid_provider(h: Harness, provider: str | None) -> None:
    await h.signup()
    payload: dict[str, Any] = {"credentials": {"email": "alice@example.com",
                                               "password": PASSWORD}}
    if provider is not None:
        payload["providerName"] = provider
    r = await h.client.post("/auth/login", json=payload)
    assert_error(r, 401, "INVALID_PROVIDER",
                 "Invalid authentication providerName or provider is not enabled")


@pytest.mark.parametrize(("credentials", "message"), [
    ("alice@example.com", "credentials must be an object"),
    (["alice@example.com", PASSWORD], "credentials must be an object"),
    (None, "credentials must be an object"),
    (42, "credentials must be an object"),
])
async def test_credentials_must_be_an_object(h: Harness, credentials: Any, message: str) -> None:
    r = await h.client.post("/auth/login", json={"providerName": "email",
                                                 "credentials": credentials})
    assert_error(r, 400, "INVALID_INPUT", message)


async def test_credentials_missing(h: Harness) -> None:
    r = await h.client.post("/auth/login", json={"providerName": "email"})
    assert_error(r, 400, "INVALID_INPUT", "credentials should not be null or undefined")


@pytest.mark.parametrize("creds", [
    {}, {"email": "alice@example.com"}, {"password": PASSWORD},
    {"email": "", "password": PASSWORD}, {"email": "alice@example.com", "password": ""},
    {"email": None, "password": PASSWORD},
])
async def test_missing_required_fields(h: Harness, creds: dict[str, Any]) -> None:
    r = await h.client.post("/auth/login", json=_login_body(**creds))
    assert_error(r, 400, "MISSING_REQUIRED_FIELDS", "Missing email, password required fields")


async def test_credential_values_must_be_strings(h: Harness) -> None:
    r = await h.client.post("/auth/login", json=_login_body(email=["a"], password=PASSWORD))
    assert_error(r, 400, "INVALID_INPUT", "credentials.email must be a string")
    r = await h.client.post("/auth/login", json=_login_body(email="a@b.co", password=12345678))
    assert_error(r, 400, "INVALID_INPUT", "credentials.password must be a string")


async def test_unknown_email_and_wrong_password_look_the_same(h: Harness) -> None:
    await h.signup()
    failed: list[Event] = []
    h.res.events.subscribe(events.LOGIN_FAILED, failed.append)
    unknown = await h.login("nobody@example.com")
    wrong = await h.login(password="incorrect horse battery")
    assert_error(unknown, 401, "INVALID_CREDENTIALS", "Invalid credentials")
    assert unknown.content == wrong.content
    assert answer_headers(unknown) == answer_headers(wrong)
    assert [e.user_id is None for e in failed] == [True, False]


class CountingHasher(PasswordHasher):
    """The real hasher, counting verifications (and those against no stored hash)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.verifications = 0
        self.without_hash = 0

    async def check(self, stored: str | None, password: str) -> Verdict:
        self.verifications += 1
        self.without_hash += stored is None
        return await super().check(stored, password)


async def test_unknown_email_still_runs_argon2(h: Harness) -> None:
    await h.signup()
    old = h.res.hasher
    counting = CountingHasher(**CHEAP_HASH)
    h.res.hasher = counting
    old.close()
    assert_error(await h.login("nobody@example.com"), 401, "INVALID_CREDENTIALS")
    assert (counting.verifications, counting.without_hash) == (1, 1)
    assert_error(await h.login(password="incorrect horse battery"), 401, "INVALID_CREDENTIALS")
    assert (counting.verifications, counting.without_hash) == (2, 1)
    # the dummy hash really is a hash of something else: it never verifies a password
    assert counting.verify_sync(None, "authgate-dummy-password-for-timing") is False


async def test_suspended_user(h: Harness) -> None:
    token = await h.user_token()
    await set_user(h.res, claims(token)["sub"], status="suspended")
    assert_error(await h.login(), 401, "ACCOUNT_INACTIVE",
                 "Your account is suspended, please contact support")
    # the wrong password reveals nothing about the account's state
    assert_error(await h.login(password="incorrect horse battery"), 401, "INVALID_CREDENTIALS")


async def test_tenant_id_without_tenancy(h: Harness) -> None:
    await h.signup()
    r = await h.login(tenantId="3f6c1c8e-3a0b-4a47-9d5e-0d4f9b9a1a11")
    assert_error(r, 400, "TENANT_NOT_ENABLED")


async def test_remember_me_must_be_boolean(h: Harness) -> None:
    await h.signup()
    assert_error(await h.login(rememberMe="yes"), 400, "INVALID_INPUT",
                 "rememberMe must be a boolean value")


def _params(stored: str) -> tuple[int, int, int]:
    m = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", stored)
    assert m, stored
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


async def test_hash_is_upgraded_when_parameters_change(make_harness: MakeHarness) -> None:
    first = await make_harness()
    token = await first.user_token()
    uid = claims(token)["sub"]
    before = (await stored_user(first.res, uid)).password_hash
    assert before is not None and _params(before) == (8, 1, 1)
    assert (await first.login()).status_code == 200  # same parameters: left alone
    assert (await stored_user(first.res, uid)).password_hash == before

    stronger = await make_harness(password_hash={"time_cost": 2, "memory_cost_kib": 16,
                                                 "parallelism": 2})
    assert_error(await stronger.login(password="wrong horse battery"), 401,
                 "INVALID_CREDENTIALS")
    assert (await stored_user(first.res, uid)).password_hash == before  # not on failure
    assert (await stronger.login()).status_code == 200
    after = (await stored_user(first.res, uid)).password_hash
    assert after is not None and after != before and _params(after) == (16, 2, 2)
    assert (await stronger.login()).status_code == 200
    assert (await stored_user(first.res, uid)).password_hash == after  # upgraded once


async def test_phone_login(make_harness: MakeHarness) -> None:
    h = await make_harness(phone_auth_enabled=True)
    r = await h.client.post("/auth/signup", json={"phone": "+15550100", "password": PASSWORD})
    assert r.status_code == 200
    r = await h.client.post("/auth/login", json={
        "providerName": "phone", "credentials": {"phone": "+1 555 0100", "password": PASSWORD}})
    assert r.status_code == 200, r.text
    r = await h.client.post("/auth/login", json={
        "providerName": "phone", "credentials": {"phone": "+15550100"}})
    assert_error(r, 400, "MISSING_REQUIRED_FIELDS", "Missing phone, password required fields")


async def test_login_with_mfa_enabled_is_pending(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"default_method": "totp",
                                "allow_weak_methods_with_strong": True})
    token = await h.user_token()
    await add_totp_device(h.res, claims(token)["sub"])
    await set_user(h.res, claims(token)["sub"], is_mfa_enabled=True,
                   email_verified_at=h.clock.now())
    r = await h.login()
    body = r.json()
    assert list(body) == ["accessToken", "refreshToken", "isRequiresMfa", "mfaMethods",
                          "defaultMfaMethod", "message"]
    assert body["isRequiresMfa"] is True
    assert body["mfaMethods"] == ["email", "totp"] and body["defaultMfaMethod"] == "totp"
    assert claims(body["accessToken"])["isMfaVerified"] is False
    pending = bearer(body["accessToken"])
    assert_error(await h.client.get("/auth/user", headers=pending), 401, "MFA_REQUIRED")
    for path in ("/auth/me", "/auth/verify-session", "/auth/mfa/status"):  # M routes
        assert (await h.client.get(path, headers=pending)).status_code == 200, path


async def test_must_change_password_flag_is_reported(h: Harness) -> None:
    token = await h.user_token()
    await set_user(h.res, claims(token)["sub"], must_change_password=True)
    body = (await h.login()).json()
    assert list(body) == ["accessToken", "refreshToken", "isRequiresMfa", "mustChangePassword",
                          "message"]
    assert body["mustChangePassword"] is True
