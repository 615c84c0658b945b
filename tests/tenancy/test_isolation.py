"""Isolated mode is a security property: the same address in two tenants is two accounts, and
no route that takes or implies a tenant reaches the other one (signup, login, refresh,
forgot / verify / reset, passwordless send and login, invite, switch-tenant, /auth/me)."""

from __future__ import annotations

from typing import Any

from authgate import background
from authgate.tenancy import service as tenancy
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims
from tests.servers import SmtpSink

EMAIL = "same@example.com"
PW_A, PW_B = "alpha horse battery", "bravo horse battery"


async def _two_accounts(make_harness: MakeHarness, smtp_sink: SmtpSink,
                        **extra: Any) -> tuple[Harness, str, str, dict[str, Any], dict[str, Any]]:
    h = await make_harness(tenant={"mode": "isolated"}, rate_limit={"enabled": False},
                           delivery={"smtp": smtp_sink.settings()}, **extra)
    a = (await tenancy.create_tenant(h.res, name="A", slug="a")).id
    b = (await tenancy.create_tenant(h.res, name="B", slug="b")).id
    ra = (await h.signup(EMAIL, PW_A, tenantId=a)).json()
    rb = (await h.signup(EMAIL, PW_B, tenantId=b)).json()
    return h, a, b, ra, rb


def _login(email: str, password: str, tenant: str) -> dict[str, Any]:
    return {"providerName": "email", "tenantId": tenant,
            "credentials": {"email": email, "password": password}}


async def test_sessions_and_tokens_stay_in_their_tenant(make_harness: MakeHarness,
                                                       smtp_sink: SmtpSink) -> None:
    h, a, b, ra, rb = await _two_accounts(make_harness, smtp_sink)
    me_a = (await h.client.get("/auth/me", headers=bearer(ra["accessToken"]))).json()
    me_b = (await h.client.get("/auth/me", headers=bearer(rb["accessToken"]))).json()
    assert me_a["id"] != me_b["id"] and me_a["email"] == me_b["email"] == EMAIL
    # a login names its tenant: the other tenant's password does not open it
    assert_error(await h.client.post("/auth/login", json=_login(EMAIL, PW_B, a)), 401,
                 "INVALID_CREDENTIALS")
    # refresh keeps the tenant; a refresh token of A never yields a token of B
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": ra["refreshToken"]})
    assert claims(r.json()["accessToken"])["tenantId"] == a
    assert claims(r.json()["accessToken"])["sub"] == me_a["id"]
    # an extra tenantId in the body of an authenticated route changes nothing
    r = await h.client.post("/auth/send-email-verification", headers=bearer(ra["accessToken"]),
                            json={"tenantId": b})
    assert r.status_code == 200, r.text
    [mail] = smtp_sink.to(EMAIL)
    r = await h.client.post("/auth/verify-email", headers=bearer(rb["accessToken"]),
                            json={"code": mail.code, "tenantId": a})
    assert_error(r, 400, "VERIFICATION_CODE_INVALID")  # A's code does not verify B


async def test_password_reset_stays_in_its_tenant(make_harness: MakeHarness,
                                                 smtp_sink: SmtpSink) -> None:
    h, a, b, _, _ = await _two_accounts(make_harness, smtp_sink)
    assert_error(await h.client.post("/auth/forgot-password", json={"email": EMAIL}), 400,
                 "TENANT_ID_REQUIRED")
    r = await h.client.post("/auth/forgot-password", json={"email": EMAIL, "tenantId": a})
    assert r.status_code == 200
    await background.drain(h.res)
    [mail] = smtp_sink.to(EMAIL)
    # A's code is not B's
    r = await h.client.post("/auth/verify-forgot-password-otp",
                            json={"email": EMAIL, "tenantId": b, "code": mail.code})
    assert_error(r, 400, "VERIFICATION_CODE_INVALID")
    r = await h.client.post("/auth/verify-forgot-password-otp",
                            json={"email": EMAIL, "tenantId": a, "code": mail.code})
    reset = r.json()["resetToken"]
    assert claims(reset)["tenantId"] == a
    new_pw = "charlie horse battery"
    r = await h.client.post("/auth/reset-password", json={"token": reset, "newPassword": new_pw})
    assert r.status_code == 200, r.text
    assert (await h.client.post("/auth/login", json=_login(EMAIL, new_pw, a))).status_code == 200
    # B's password is untouched
    assert_error(await h.client.post("/auth/login", json=_login(EMAIL, new_pw, b)), 401,
                 "INVALID_CREDENTIALS")
    assert (await h.client.post("/auth/login", json=_login(EMAIL, PW_B, b))).status_code == 200


async def test_passwordless_stays_in_its_tenant(make_harness: MakeHarness,
                                               smtp_sink: SmtpSink) -> None:
    h, a, b, _, rb = await _two_accounts(make_harness, smtp_sink,
                                         passwordless={"enabled": True, "allow_sign_up": True})
    r = await h.client.post("/auth/passwordless/send",
                            json={"identifier": EMAIL, "channel": "email", "tenantId": a})
    assert r.status_code == 200
    await background.drain(h.res)
    [mail] = smtp_sink.to(EMAIL)
    login: dict[str, Any] = {"providerName": "passwordless",
                             "credentials": {"identifier": EMAIL, "code": mail.code,
                                             "channels": ["email"]}}
    assert_error(await h.client.post("/auth/login", json={**login, "tenantId": b}), 400,
                 "VERIFICATION_CODE_INVALID")
    r = await h.client.post("/auth/login", json={**login, "tenantId": a})
    assert r.status_code == 200, r.text
    assert claims(r.json()["accessToken"])["tenantId"] == a
    assert claims(r.json()["accessToken"])["sub"] != claims(rb["accessToken"])["sub"]
    # auto sign-up creates the account in the named tenant only
    c = (await tenancy.create_tenant(h.res, name="C", slug="c")).id
    await h.client.post("/auth/passwordless/send",
                        json={"identifier": EMAIL, "channel": "email", "tenantId": c})
    await background.drain(h.res)
    code = smtp_sink.to(EMAIL)[-1].code
    r = await h.client.post("/auth/login", json={**login, "tenantId": c,
                                                 "credentials": {**login["credentials"],
                                                                 "code": code}})
    assert claims(r.json()["accessToken"])["tenantId"] == c


async def test_signup_extras_grant_nothing(make_harness: MakeHarness,
                                           smtp_sink: SmtpSink) -> None:
    """Privilege escalation through the request body: roles, permissions, a tenant scope or
    metadata sent to signup are ignored."""
    h = await make_harness(tenant={"mode": "shared"}, delivery={"smtp": smtp_sink.settings()})
    a = (await tenancy.create_tenant(h.res, name="A", slug="a")).id
    r = await h.signup("eve@example.com", tenantId=a, roles=[{"name": "admin"}],
                       permissions=["users.invite"], isPlatformAccess=True,
                       metadata={"roles": ["admin"]}, tenant_scope="x")
    assert r.status_code == 200, r.text
    c = claims(r.json()["accessToken"])
    assert c["roles"] == [] and c["tenantId"] == a
    me = (await h.client.get("/auth/me", headers=bearer(r.json()["accessToken"]))).json()
    assert (me["roles"], me["permissions"], me["metadata"]) == ([], [], {})
    assert_error(await h.client.post("/auth/invite", headers=bearer(r.json()["accessToken"]),
                                     json={"email": "x@example.com"}),
                 403, "NO_ROLES_ASSIGNED")
