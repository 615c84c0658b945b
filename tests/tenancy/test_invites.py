"""POST /auth/invite and POST /auth/invite/accept (contract §2.1, §3.1; W16, W17, W19)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from authgate.authz import service as authz
from authgate.tenancy import service as tenancy
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims
from tests.servers import SmsSink, SmtpSink

PW = "correct horse battery"
NEW_PW = "purple elephant stapler"
JWT = re.compile(r"(eyJ[\w-]+\.[\w-]+\.[\w-]+)")


async def _app(make_harness: MakeHarness, smtp_sink: SmtpSink, **overrides: Any) -> Harness:
    delivery: dict[str, Any] = {"smtp": smtp_sink.settings()}
    delivery.update(overrides.pop("delivery", {}))
    return await make_harness(app_name="Acme", delivery=delivery, **overrides)


def token_in(text: str) -> str:
    found = JWT.search(text)
    assert found, text
    return found.group(1)


async def inviter(h: Harness, tenant_id: str | None = None, email: str = "boss@example.com",
                  perms: tuple[str, ...] = ("users.invite",)) -> str:
    """An access token of a member holding ``perms`` in ``tenant_id`` (or outside tenants)."""
    u = await h.make_user(email, password=PW)
    if tenant_id is not None:
        await tenancy.add_member(h.res, u.id, tenant_id)
    await authz.ensure_permissions(h.res, list(perms))
    role = await authz.create_role(h.res, name=f"inviter-{email}", tenant_id=tenant_id,
                                   permissions=list(perms))
    await authz.assign_role(h.res, u.id, role.id, tenant_id=tenant_id)
    body: dict[str, Any] = {"providerName": "email",
                            "credentials": {"email": email, "password": PW}}
    if tenant_id is not None:
        body["tenantId"] = tenant_id
    r = await h.client.post("/auth/login", json=body)
    assert r.status_code == 200, r.text
    token: str = r.json()["accessToken"]
    return token


async def test_invite_new_user_accepts_and_signs_in(make_harness: MakeHarness,
                                                    smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    token = await inviter(h)
    r = await h.client.post("/auth/invite", headers=bearer(token),
                            json={"email": "New@Example.com", "metadata": {"team": "ops"},
                                  "role": "admin", "isMfaEnabled": True})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["message"] == "Invitation sent" and body["isNewUser"] is True
    assert set(body) == {"message", "userId", "isNewUser"}  # the token is never returned
    [mail] = smtp_sink.to("new@example.com")
    assert "invited to Acme" in mail.subject
    invite_token = token_in(mail.text)
    # no password yet: login fails like any wrong password
    login = {"providerName": "email",
             "credentials": {"email": "new@example.com", "password": NEW_PW}}
    assert_error(await h.client.post("/auth/login", json=login), 401, "INVALID_CREDENTIALS")
    assert_error(await h.client.post("/auth/invite/accept",
                                     json={"token": invite_token, "newPassword": "short"}),
                 400, "INVALID_INPUT")
    r = await h.client.post("/auth/invite/accept",
                            json={"token": invite_token, "newPassword": NEW_PW})
    assert r.status_code == 200 and r.json() == {"message": "Invitation accepted"}, r.text
    # single use
    assert_error(await h.client.post("/auth/invite/accept",
                                     json={"token": invite_token, "newPassword": NEW_PW}),
                 400, "PASSWORD_RESET_TOKEN_INVALID")
    r = await h.client.post("/auth/login", json=login)
    assert r.status_code == 200, r.text
    me = (await h.client.get("/auth/user", headers=bearer(r.json()["accessToken"]))).json()
    assert me["id"] == body["userId"] and me["emailVerifiedAt"] is not None
    assert me["metadata"] == {"team": "ops"} and me["isMfaEnabled"] is False
    # a second invitation of the now-registered user sends nothing and is not new
    r = await h.client.post("/auth/invite", headers=bearer(token),
                            json={"email": "new@example.com"})
    assert r.status_code == 201 and r.json()["isNewUser"] is False
    assert len(smtp_sink.to("new@example.com")) == 1


async def test_invite_token_redeems_at_reset_password_and_only_the_newest(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    token = await inviter(h)
    for _ in range(2):
        r = await h.client.post("/auth/invite", headers=bearer(token),
                                json={"email": "new@example.com"})
        assert r.status_code == 201, r.text
    first, second = (token_in(m.text) for m in smtp_sink.to("new@example.com"))
    assert_error(await h.client.post("/auth/reset-password",
                                     json={"token": first, "newPassword": NEW_PW}),
                 400, "PASSWORD_RESET_TOKEN_INVALID")
    r = await h.client.post("/auth/reset-password", json={"token": second, "newPassword": NEW_PW})
    assert r.status_code == 200, r.text


async def test_invite_race_accepts_once(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    token = await inviter(h)
    await h.client.post("/auth/invite", headers=bearer(token), json={"email": "n@example.com"})
    invite_token = token_in(smtp_sink.to("n@example.com")[0].text)
    rs = await asyncio.gather(*[h.client.post(
        "/auth/invite/accept", json={"token": invite_token, "newPassword": f"{NEW_PW} {i}"})
        for i in range(2)])
    assert sorted(r.status_code for r in rs) == [200, 400], [r.text for r in rs]


async def test_invite_guard_and_input_errors(make_harness: MakeHarness,
                                             smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    assert_error(await h.client.post("/auth/invite", json={"email": "x@example.com"}), 401,
                 "NO_AUTH_PROVIDED")
    plain = await h.session_token("plain@example.com")
    assert_error(await h.client.post("/auth/invite", headers=bearer(plain),
                                     json={"email": "x@example.com"}),
                 403, "NO_ROLES_ASSIGNED", "Access denied: No roles assigned for permission check")
    other = await inviter(h, email="reader@example.com", perms=("users.read",))
    assert_error(await h.client.post("/auth/invite", headers=bearer(other),
                                     json={"email": "x@example.com"}),
                 403, "MISSING_REQUIRED_PERMISSIONS",
                 "Access denied: Requires at least one of: users.invite")
    token = await inviter(h)
    assert_error(await h.client.post("/auth/invite", headers=bearer(token), json={}), 400,
                 "EMAIL_OR_PHONE_REQUIRED", "Either email or phone is required")
    assert_error(await h.client.post("/auth/invite", headers=bearer(token),
                                     json={"email": "not-an-email"}), 400, "INVALID_INPUT")
    assert_error(await h.client.post("/auth/invite", headers=bearer(token),
                                     json={"phone": "+15555550123"}), 400, "PROVIDER_NOT_FOUND")
    assert_error(await h.client.post("/auth/invite", headers=bearer(token), json={
        "email": "x@example.com", "tenantId": "8f4b5c1e-3c1a-4d3e-9b7a-0a1b2c3d4e5f"}),
        400, "TENANT_NOT_ENABLED")
    assert_error(await h.client.post("/auth/invite/accept", json={
        "token": "nope", "newPassword": NEW_PW}), 400, "PASSWORD_RESET_TOKEN_INVALID")
    # an access token is not an invitation
    assert_error(await h.client.post("/auth/invite/accept", json={
        "token": token, "newPassword": NEW_PW}), 400, "PASSWORD_RESET_TOKEN_INVALID",
        "Invalid token type")


async def test_invite_by_phone(make_harness: MakeHarness, smtp_sink: SmtpSink,
                               sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, phone_auth_enabled=True,
                   delivery={"sms": sms_sink.settings()})
    token = await inviter(h)
    r = await h.client.post("/auth/invite", headers=bearer(token), json={"phone": "+15555550123"})
    assert r.status_code == 201, r.text
    [sms] = sms_sink.to("+15555550123")
    invite_token = token_in(sms.form["Body"])
    r = await h.client.post("/auth/invite/accept", json={"token": invite_token,
                                                         "newPassword": NEW_PW})
    assert r.status_code == 200, r.text
    r = await h.client.post("/auth/login", json={"providerName": "phone", "credentials": {
        "phone": "+15555550123", "password": NEW_PW}})
    assert r.status_code == 200, r.text


async def test_require_invitation_closes_signup(make_harness: MakeHarness,
                                                smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink,
                   registration={"require_invitation": True},
                   passwordless={"enabled": True, "allow_sign_up": True})
    assert (await h.client.get("/auth/client-config")).json()["registration"] == {
        "enabled": True, "requireInvitation": True}
    assert_error(await h.signup("x@example.com"), 403, "REGISTRATION_DISABLED",
                 "Registration is by invitation only")
    from authgate import background

    r = await h.client.post("/auth/passwordless/send",
                            json={"identifier": "y@example.com", "channel": "email"})
    assert r.status_code == 200
    await background.drain(h.res)
    assert smtp_sink.to("y@example.com") == []  # no account was created, no code sent
    token = await inviter(h)
    r = await h.client.post("/auth/invite", headers=bearer(token),
                            json={"email": "x@example.com"})
    assert r.status_code == 201 and r.json()["isNewUser"] is True


async def test_invite_url_links_to_the_app(make_harness: MakeHarness,
                                           smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, registration={
        "invitation_url": "https://app.example/accept?token={token}"})
    token = await inviter(h)
    await h.client.post("/auth/invite", headers=bearer(token), json={"email": "n@example.com"})
    [mail] = smtp_sink.to("n@example.com")
    assert "https://app.example/accept?token=eyJ" in mail.text
    assert "https://app.example/accept?token=eyJ" in mail.html


# tenants (W17, W19) ----------------------------------------------------------------------
async def test_invite_into_tenants(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, tenant={"mode": "shared"})
    a = (await tenancy.create_tenant(h.res, name="Acme", slug="acme")).id
    b = (await tenancy.create_tenant(h.res, name="Beta", slug="beta")).id
    token = await inviter(h, a)
    # into the inviter's tenant by default
    r = await h.client.post("/auth/invite", headers=bearer(token),
                            json={"email": "n@example.com"})
    assert r.status_code == 201, r.text
    new_id = r.json()["userId"]
    assert [m.tenant_id for m in await tenancy.list_memberships(h.res, new_id)] == [a]
    # W19: users.invite held in a does not invite into b
    r = await h.client.post("/auth/invite", headers=bearer(token),
                            json={"email": "m@example.com", "tenantId": b})
    assert_error(r, 403, "MISSING_REQUIRED_PERMISSIONS",
                 "Access denied: Requires at least one of: users.invite")
    assert smtp_sink.to("m@example.com") == []
    # W17: an existing account invited into another tenant becomes a member there
    token_b = await inviter(h, b, email="boss-b@example.com")
    existing = await h.make_user("old@example.com", password=PW)
    r = await h.client.post("/auth/invite", headers=bearer(token_b),
                            json={"email": "old@example.com"})
    assert r.status_code == 201 and r.json() == {
        "message": "Invitation sent", "userId": existing.id, "isNewUser": False}
    assert [m.tenant_id for m in await tenancy.list_memberships(h.res, existing.id)] == [b]
    assert smtp_sink.to("old@example.com") == []  # has a password: nothing to redeem
    r = await h.client.post("/auth/login", json={
        "providerName": "email", "tenantId": b,
        "credentials": {"email": "old@example.com", "password": PW}})
    assert claims(r.json()["accessToken"])["tenantId"] == b
    # accepting into a tenant: the new member signs in there
    invite_token = token_in(smtp_sink.to("n@example.com")[0].text)
    assert claims(invite_token)["tenantId"] == a
    await h.client.post("/auth/invite/accept", json={"token": invite_token,
                                                     "newPassword": NEW_PW})
    r = await h.client.post("/auth/login", json={"providerName": "email", "credentials": {
        "email": "n@example.com", "password": NEW_PW}})
    assert claims(r.json()["accessToken"])["tenantId"] == a


async def test_invite_isolated_stays_in_the_inviters_tenant(make_harness: MakeHarness,
                                                            smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, tenant={"mode": "isolated"})
    a = (await tenancy.create_tenant(h.res, name="Acme", slug="acme")).id
    b = (await tenancy.create_tenant(h.res, name="Beta", slug="beta")).id
    r = await h.signup("boss@example.com", PW, tenantId=a)
    boss = claims(r.json()["accessToken"])["sub"]
    await authz.ensure_permissions(h.res, ["users.invite"])
    role = await authz.create_role(h.res, name="inviter", tenant_id=a,
                                   permissions=["users.invite"])
    await authz.assign_role(h.res, boss, role.id, tenant_id=a)  # reaches the session at once
    token = r.json()["accessToken"]
    assert_error(await h.client.post("/auth/invite", headers=bearer(token),
                                     json={"email": "n@example.com", "tenantId": b}),
                 403, "MISSING_REQUIRED_PERMISSIONS")
    r = await h.client.post("/auth/invite", headers=bearer(token),
                            json={"email": "boss@example.com"})
    assert r.json()["isNewUser"] is False  # the same address in its own tenant
    r = await h.client.post("/auth/invite", headers=bearer(token),
                            json={"email": "n@example.com"})
    assert r.status_code == 201 and r.json()["isNewUser"] is True
