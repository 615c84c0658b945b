"""POST /auth/signup (contract §2.1): response shape, every refusal, and the unique
constraint deciding concurrent signups on both databases."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from authgate import events
from authgate.events import Event
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims, count_users, jwt_part, stored_user

PASSWORD = "correct horse battery"
ACCESS_CLAIMS = ["id", "sub", "sessionId", "roles", "tenantId", "isMfaEnabled",
                 "isMfaVerified", "type", "iat", "exp", "iss", "aud"]
"""No personal data by default (issue #19 item 15; ``jwt.personal_data_in_tokens``)."""
PERSONAL_CLAIMS = ["email", "phone", "emailVerifiedAt", "phoneVerifiedAt"]


async def test_signup_response_shape(h: Harness) -> None:
    seen: list[Event] = []
    h.res.events.subscribe(events.USER_CREATED, seen.append)
    r = await h.client.post("/auth/signup", json={"email": "New.User@Example.COM",
                                                  "password": PASSWORD, "metadata": {"x": 1}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["accessToken", "refreshToken", "isRequiresMfa", "message"]
    assert body["isRequiresMfa"] is False and body["message"] == "Signup successful"
    access = claims(body["accessToken"])
    assert list(access) == ACCESS_CLAIMS
    assert jwt_part(body["accessToken"], 0)["alg"] == "HS256"
    assert access["id"] == access["sub"] and access["type"] == "access"
    assert access["roles"] == [] and access["tenantId"] is None
    assert access["isMfaEnabled"] is False and access["isMfaVerified"] is False
    refresh = claims(body["refreshToken"])
    assert refresh["type"] == "refresh" and refresh["sessionId"] == access["sessionId"]
    user = await stored_user(h.res, access["sub"])
    assert user.email == "new.user@example.com" and user.meta == {}  # extra fields not stored
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert [e.user_id for e in seen] == [access["sub"]]
    r = await h.client.get("/auth/user", headers=bearer(body["accessToken"]))
    assert r.status_code == 200 and r.json()["email"] == "new.user@example.com"


async def test_personal_data_stays_out_of_tokens_unless_configured(
        make_harness: MakeHarness) -> None:
    """A token is readable by whoever holds it; the SDK reads sub, sessionId, tenantId and
    exp only. ``jwt.personal_data_in_tokens`` restores upstream's claims for hosts that
    read them."""
    h = await make_harness(phone_auth_enabled=True)
    r = await h.client.post("/auth/signup", json={"email": "New.User@Example.COM",
                                                  "phone": "+1 555 0100", "password": PASSWORD})
    token = r.json()["accessToken"]
    body = jwt_part(token, 1)
    assert not set(PERSONAL_CLAIMS) & set(body)
    assert "new.user" not in str(body) and "5550100" not in str(body)
    for login in (await h.login("new.user@example.com"), await h.client.post(
            "/auth/refresh-token", json={"refreshToken": r.json()["refreshToken"]})):
        assert login.status_code == 200, login.text
        assert not set(PERSONAL_CLAIMS) & set(claims(login.json()["accessToken"]))
    # the data is one request away, for the token's holder
    me = (await h.client.get("/auth/me", headers=bearer(token))).json()
    assert (me["email"], me["phone"]) == ("new.user@example.com", "+15550100")
    on = await make_harness(phone_auth_enabled=True, jwt={"personal_data_in_tokens": True})
    r = await on.client.post("/auth/signup", json={"email": "other@example.com",
                                                   "phone": "+1 555 0101", "password": PASSWORD})
    access = claims(r.json()["accessToken"])
    assert list(access) == [*ACCESS_CLAIMS[:3], *PERSONAL_CLAIMS, *ACCESS_CLAIMS[3:]]
    assert (access["email"], access["phone"], access["emailVerifiedAt"],
            access["phoneVerifiedAt"]) == ("other@example.com", "+15550101", None, None)


async def test_duplicate_email_case_insensitive(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit={"enabled": False})
    assert (await h.signup("dup@example.com")).status_code == 200
    for email in ("dup@example.com", "DUP@example.com", "  dup@Example.com "):
        r = await h.signup(email)
        assert_error(r, 400, "EMAIL_ALREADY_EXISTS", "Email already exists in this tenant")
    assert await count_users(h.res) == 1


async def test_concurrent_signups_create_exactly_one_account(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit={"enabled": False})
    results = await asyncio.gather(*[h.signup("race@example.com") for _ in range(12)])
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [400] * 11, [r.text for r in results]
    for r in results:
        if r.status_code == 400:
            assert_error(r, 400, "EMAIL_ALREADY_EXISTS")
    assert await count_users(h.res, "race@example.com") == 1


async def test_concurrent_signups_of_different_people(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit={"enabled": False})
    results = await asyncio.gather(*[h.signup(f"user{i}@example.com") for i in range(10)])
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert await count_users(h.res) == 10


async def test_registration_disabled(make_harness: MakeHarness) -> None:
    h = await make_harness(registration={"enabled": False})
    assert_error(await h.signup(), 403, "REGISTRATION_DISABLED", "Registration is disabled")
    assert await count_users(h.res) == 0


async def test_tenant_id_without_tenancy(h: Harness) -> None:
    r = await h.signup(tenantId="3f6c1c8e-3a0b-4a47-9d5e-0d4f9b9a1a11")
    assert_error(r, 400, "TENANT_NOT_ENABLED",
                 "tenantId provided but multi-tenancy is disabled on this deployment.")


@pytest.mark.parametrize("payload", [
    {"password": PASSWORD},
    {"password": PASSWORD, "email": None, "phone": None},
    {"password": PASSWORD, "phone": ""},
])
async def test_email_or_phone_required(h: Harness, payload: dict[str, Any]) -> None:
    r = await h.client.post("/auth/signup", json=payload)
    assert_error(r, 400, "EMAIL_OR_PHONE_REQUIRED", "Either email or phone must be provided")


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b", "@example.com", "a b@example.com",
                                   "a@@example.com", "x" * 65 + "@example.com"])
async def test_invalid_email(h: Harness, email: str) -> None:
    r = await h.client.post("/auth/signup", json={"email": email, "password": PASSWORD})
    assert_error(r, 400, "INVALID_INPUT", "email must be an email")


async def test_password_rules(h: Harness) -> None:
    r = await h.signup(password="short")
    assert_error(r, 400, "PASSWORD_TOO_SHORT", "Password must be at least 12 characters")
    r = await h.signup(password="p" * 129)
    assert_error(r, 400, "PASSWORD_TOO_LONG")
    r = await h.signup(password="")
    assert_error(r, 400, "INVALID_INPUT", "password should not be empty")
    r = await h.client.post("/auth/signup", json={"email": "a@example.com", "password": 12345678})
    assert_error(r, 400, "INVALID_INPUT", "password must be a string")
    assert await count_users(h.res) == 0


async def test_phone_signup(make_harness: MakeHarness) -> None:
    h = await make_harness()
    r = await h.client.post("/auth/signup", json={"phone": "+1 555 0100", "password": PASSWORD})
    assert_error(r, 400, "PROVIDER_NOT_FOUND", "Phone authentication is not enabled")
    h = await make_harness(phone_auth_enabled=True)
    r = await h.client.post("/auth/signup", json={"phone": "+1 555 0100", "password": PASSWORD})
    assert r.status_code == 200, r.text
    me = await h.client.get("/auth/me", headers=bearer(r.json()["accessToken"]))
    assert me.json()["phone"] == "+15550100"  # whitespace stripped
    r = await h.client.post("/auth/signup", json={"phone": "+15550100", "password": PASSWORD})
    assert_error(r, 400, "PHONE_ALREADY_EXISTS", "Phone number already exists in this tenant")


async def test_email_auth_disabled(make_harness: MakeHarness) -> None:
    h = await make_harness(email_auth_enabled=False)
    assert_error(await h.signup(), 400, "PROVIDER_NOT_FOUND")


async def test_no_auto_login(make_harness: MakeHarness) -> None:
    h = await make_harness(registration={"auto_login_after_signup": False})
    r = await h.signup()
    assert r.status_code == 200
    assert r.json() == {"message": "Signup successful", "accessToken": "", "refreshToken": "",
                        "isRequiresMfa": False}
    assert (await h.login()).status_code == 200


async def test_required_mfa_signup_is_pending(make_harness: MakeHarness) -> None:
    """W1 fixed: with mfa.required the signup tokens are MFA-gated even with no method."""
    h = await make_harness(mfa={"required": True, "methods": ["totp"]})
    r = await h.signup()
    body = r.json()
    assert list(body) == ["accessToken", "refreshToken", "isRequiresMfa", "mfaMethods", "message"]
    assert body["isRequiresMfa"] is True and body["mfaMethods"] == []
    token = body["accessToken"]
    assert claims(token)["isMfaEnabled"] is True and claims(token)["isMfaVerified"] is False
    assert_error(await h.client.get("/auth/user", headers=bearer(token)), 401, "MFA_REQUIRED")
    assert (await h.client.get("/auth/me", headers=bearer(token))).status_code == 200
