"""The owner's data rights (ASVS 8.3.2; beyond the contract): ``GET /auth/account/export``
shows everything authgate holds about the caller and never a secret or another user's data;
``DELETE /auth/account`` removes the account and everything hanging off it, after the
password or a recent sign-in and a body confirmation, ends every session, tells the owner."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from authgate import background, events
from authgate.apikeys.models import ApiKey
from authgate.authz import service as authz
from authgate.federation.models import Identity
from authgate.identity.models import User, UserRole
from authgate.mfa import recovery_codes
from authgate.mfa.models import RecoveryCode, TotpDevice, TrustedDevice, WebauthnCredential
from authgate.sessions.models import SessionRow
from authgate.tenancy import service as tenancy
from authgate.tenancy.models import Membership
from authgate.tx import transaction
from tests.conftest import Harness, MakeHarness, bearer
from tests.factories import PASSWORD
from tests.helpers import STORES, assert_error, claims, set_cookies, stored_user
from tests.mfa.helpers import pending_login
from tests.servers import SmtpSink

EMAIL = "alice@example.com"
CONFIRM = {"confirm": "DELETE"}


async def _seed(h: Harness, uid: str, tag: str) -> dict[str, Any]:
    """Rows of every kind for ``uid``; returns the secrets among them."""
    now = h.clock.now()
    async with transaction(h.res.sessionmaker) as tx:
        codes = await recovery_codes.generate(h.res, tx, uid)
        tx.session.add(TrustedDevice(user_id=uid, token_hash=f"trust-hash-{tag}-0123456789",
                                     user_agent=f"Phone {tag}", ip_address="203.0.113.9",
                                     expires_at=now + timedelta(days=30), created_at=now))
        tx.session.add(WebauthnCredential(
            user_id=uid, credential_id=f"cred-id-{tag}-secretish", public_key=f"pk-{tag}-bytes",
            sign_count=3, name=f"YubiKey {tag}", transports="usb,nfc",
            aaguid="00000000-0000-0000-0000-000000000000", created_at=now))
        tx.session.add(Identity(user_id=uid, provider="google", subject=f"g-{tag}",
                                email=f"{tag}@gmail.example", email_verified=True,
                                meta={"name": tag}, created_at=now))
    hashes = [c for (c,) in (await _rows(h, RecoveryCode.code_hash, RecoveryCode.user_id, uid))]
    return {"codes": codes, "code_hashes": hashes}


async def _rows(h: Harness, column: Any, owner: Any, uid: str) -> list[Any]:
    async with h.res.readmaker() as s:
        return list((await s.execute(select(column).where(owner == uid))).all())


async def test_export_shows_everything_and_no_secret(make_harness: MakeHarness) -> None:
    h = await make_harness(tenant={"mode": "shared"}, rate_limit={"enabled": False})
    alice = await h.make_user(EMAIL, verified=True, totp=True, tokens=True)
    bob = await h.make_user("bob@example.com", totp=True, tokens=True)
    assert alice.access_token and bob.access_token
    secrets = await _seed(h, alice.id, "alice")
    await _seed(h, bob.id, "bob")
    r = await h.client.post("/auth/api-keys", json={"name": "CI"},
                            headers=bearer(alice.access_token))
    assert r.status_code == 201, r.text
    api_key = r.json()["key"]
    await h.client.post("/auth/api-keys", json={"name": "bob's"}, headers=bearer(bob.access_token))
    acme = await tenancy.create_tenant(h.res, name="Acme", slug="acme")
    await tenancy.add_member(h.res, alice.id, acme.id)
    editor = await authz.create_role(h.res, name="editor", tenant_id=acme.id)
    await authz.assign_role(h.res, alice.id, editor.id, tenant_id=acme.id)
    staff = await authz.create_role(h.res, name="staff", tenant_id=None)
    await authz.assign_role(h.res, alice.id, staff.id, tenant_id=None)
    other = await tenancy.create_tenant(h.res, name="Other", slug="other")
    await tenancy.add_member(h.res, bob.id, other.id)
    r = await h.client.post("/auth/login", json={"providerName": "email", "credentials": {
        "email": EMAIL, "password": "not the password at all"}})
    assert r.status_code == 401
    await background.drain(h.res)  # the audit trail is written behind the requests

    r = await h.client.get("/auth/account/export", headers=bearer(alice.access_token))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    out = r.json()
    assert out["profile"]["id"] == alice.id and out["profile"]["email"] == EMAIL
    assert out["profile"]["hasPassword"] is True and out["profile"]["emailVerifiedAt"]
    assert [x["name"] for x in out["roles"]] == ["staff"]
    assert [(t["name"], [x["name"] for x in t["roles"]]) for t in out["tenants"]] == [
        ("Acme", ["editor"])]
    assert [s["isCurrent"] for s in out["sessions"]] == [True]
    assert out["sessions"][0]["id"] == claims(alice.access_token)["sessionId"]
    assert [d["verified"] for d in out["mfa"]["totpDevices"]] == [True]
    assert out["mfa"]["recoveryCodes"] == {"total": len(secrets["codes"]),
                                           "unused": len(secrets["codes"])}
    assert [d["userAgent"] for d in out["mfa"]["trustedDevices"]] == ["Phone alice"]
    assert [(p["name"], p["transports"]) for p in out["passkeys"]] == [
        ("YubiKey alice", ["usb", "nfc"])]
    assert [(i["provider"], i["subject"]) for i in out["identities"]] == [("google", "g-alice")]
    assert [k["name"] for k in out["apiKeys"]] == ["CI"]
    assert out["apiKeys"][0]["publicKey"] == api_key.split(".")[0]
    activity = [(a["event"], a["outcome"]) for a in out["activity"]]
    assert activity[:2] == [("user.login_failed", "failure"), ("api_key.created", "success")]
    assert ("mfa.recovery_codes_generated", "success") in activity
    own = await h.client.get("/auth/activity?limit=100", headers=bearer(alice.access_token))
    assert out["activity"] == own.json()["data"]  # the same rows GET /auth/activity shows

    text = r.text
    user = await stored_user(h.res, alice.id)
    device_secret = (await _rows(h, TotpDevice.secret_enc, TotpDevice.user_id, alice.id))[0][0]
    key_hash = (await _rows(h, ApiKey.secret_hash, ApiKey.user_id, alice.id))[0][0]
    never = [user.password_hash, device_secret, alice.totp_secret, api_key.split(".")[1],
             key_hash, alice.access_token, alice.refresh_token, "trust-hash-alice",
             "pk-alice-bytes", "cred-id-alice", *secrets["codes"], *secrets["code_hashes"]]
    for secret in never:
        assert secret and secret not in text, secret
    for foreign in ("bob", bob.id, "Other", "g-bob", claims(bob.access_token)["sessionId"]):
        assert foreign not in text, foreign


async def test_export_refusals(h: Harness) -> None:
    assert_error(await h.client.get("/auth/account/export"), 401, "NO_AUTH_PROVIDED")
    u = await h.make_user(EMAIL, totp=True, mfa=True)
    pending = await pending_login(h)
    assert pending["isRequiresMfa"] is True
    assert_error(await h.client.get("/auth/account/export",
                                    headers=bearer(pending["accessToken"])), 401, "MFA_REQUIRED")
    assert u.id


def _owned_counts() -> list[tuple[Any, Any]]:
    return [(User.id, User.id), (SessionRow.id, SessionRow.user_id),
            (TotpDevice.id, TotpDevice.user_id), (RecoveryCode.id, RecoveryCode.user_id),
            (TrustedDevice.id, TrustedDevice.user_id),
            (WebauthnCredential.id, WebauthnCredential.user_id),
            (Identity.id, Identity.user_id), (ApiKey.id, ApiKey.user_id),
            (Membership.id, Membership.user_id), (UserRole.role_id, UserRole.user_id)]


async def _left(h: Harness, uid: str) -> dict[str, int]:
    out: dict[str, int] = {}
    async with h.res.readmaker() as s:
        for column, owner in _owned_counts():
            n = (await s.execute(select(func.count(column)).where(owner == uid))).scalar_one()
            out[str(column.table.name)] = n
    return out


@pytest.mark.parametrize("storage", STORES)
async def test_delete_removes_everything_and_ends_every_session(make_harness: MakeHarness,
                                                                storage: str) -> None:
    h = await make_harness(tenant={"mode": "shared"}, session={"storage": storage},
                           rate_limit={"enabled": False})
    alice = await h.make_user(EMAIL, verified=True, totp=True, tokens=True)
    bob = await h.make_user("bob@example.com", tokens=True)
    assert alice.access_token and bob.access_token
    await _seed(h, alice.id, "alice")
    await _seed(h, bob.id, "bob")
    other = await h.login(EMAIL)
    other_access = other.json()["accessToken"]
    r = await h.client.post("/auth/api-keys", json={"name": "CI"},
                            headers=bearer(alice.access_token))
    key = r.json()["key"]
    acme = await tenancy.create_tenant(h.res, name="Acme", slug="acme")
    await tenancy.add_member(h.res, alice.id, acme.id)
    staff = await authz.create_role(h.res, name="staff", tenant_id=None)
    await authz.assign_role(h.res, alice.id, staff.id, tenant_id=None)
    seen: list[events.Event] = []
    h.res.events.subscribe(events.USER_DELETED, seen.append)

    before = await _left(h, alice.id)
    assert all(before[t] >= 1 for t in before if t != "authgate_sessions" or storage == "database")
    # fields naming another account are ignored: the caller deletes only itself
    r = await h.client.request("DELETE", "/auth/account",
                               json={**CONFIRM, "userId": bob.id, "id": bob.id, "sub": bob.id},
                               headers=bearer(alice.access_token))
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Account deleted"}
    assert set(( await _left(h, alice.id)).values()) == {0}
    assert await h.res.store.list_for_user(alice.id, h.clock.now()) == []
    for token in (alice.access_token, other_access):
        r = await h.client.get("/auth/user", headers=bearer(token))
        assert r.status_code == 401
    r = await h.client.get("/auth/user", headers={"Authorization": f"ApiKey {key}"})
    assert r.status_code == 401
    assert_error(await h.login(EMAIL), 401, "INVALID_CREDENTIALS")
    assert [(e.user_id, e.data["email"], e.data["initiatedBy"]) for e in seen] == [
        (alice.id, EMAIL, "user")]
    # bob is untouched, and the tenant and role stay for their other members
    assert set((await _left(h, bob.id)).values()) != {0}
    assert (await h.client.get("/auth/user", headers=bearer(bob.access_token))).status_code == 200
    assert (await tenancy.get_tenant(h.res, acme.id)).name == "Acme"


async def test_delete_needs_the_confirmation(h: Harness) -> None:
    u = await h.make_user(EMAIL, tokens=True)
    assert u.access_token
    for body in ({}, {"confirm": "delete"}, {"confirm": True}, {"password": PASSWORD}):
        r = await h.client.request("DELETE", "/auth/account", json=body,
                                   headers=bearer(u.access_token))
        assert_error(r, 400, "INVALID_INPUT")
    assert (await h.client.get("/auth/user", headers=bearer(u.access_token))).status_code == 200


async def test_delete_refusals(h: Harness) -> None:
    r = await h.client.request("DELETE", "/auth/account", json=CONFIRM)
    assert_error(r, 401, "NO_AUTH_PROVIDED")
    await h.make_user(EMAIL, totp=True, mfa=True)
    pending = await pending_login(h)
    r = await h.client.request("DELETE", "/auth/account", json={**CONFIRM, "password": PASSWORD},
                               headers=bearer(pending["accessToken"]))
    assert_error(r, 401, "MFA_REQUIRED")
    r = await h.client.request("DELETE", "/auth/account", json={**CONFIRM, "password": "nope"},
                               headers=bearer(pending["accessToken"]))
    assert_error(r, 401, "MFA_REQUIRED")
    assert (await h.login(EMAIL)).status_code == 200  # the account is still there


async def test_wrong_password_deletes_nothing_and_counts_in_the_lockout(
        make_harness: MakeHarness) -> None:
    h = await make_harness(jwt={"access_token_expires_in": "1d"})
    u = await h.make_user(EMAIL, tokens=True)
    assert u.access_token
    r = await h.client.request("DELETE", "/auth/account", json={**CONFIRM, "password": "wrong"},
                               headers=bearer(u.access_token))
    assert_error(r, 400, "CURRENT_PASSWORD_INCORRECT")
    statuses = []
    for _ in range(12):
        r = await h.client.request("DELETE", "/auth/account",
                                   json={**CONFIRM, "password": "wrong"},
                                   headers=bearer(u.access_token))
        statuses.append(r.status_code)
    assert statuses[-1] == 429, statuses  # the account's lockout (or the change-password row)
    assert (await _left(h, u.id))["authgate_users"] == 1


async def test_stale_session_needs_the_password(make_harness: MakeHarness) -> None:
    """A stolen, older token cannot delete the account: past the step-up window the password
    is required (and enough)."""
    h = await make_harness(jwt={"access_token_expires_in": "1d"}, rate_limit={"enabled": False})
    u = await h.make_user(EMAIL, tokens=True)
    assert u.access_token
    h.clock.advance(timedelta(minutes=11))
    r = await h.client.request("DELETE", "/auth/account", json=CONFIRM,
                               headers=bearer(u.access_token))
    assert_error(r, 403, "REAUTH_REQUIRED")
    assert (await _left(h, u.id))["authgate_users"] == 1
    r = await h.client.request("DELETE", "/auth/account", json={**CONFIRM, "password": PASSWORD},
                               headers=bearer(u.access_token))
    assert r.status_code == 200, r.text
    assert (await _left(h, u.id))["authgate_users"] == 0


async def test_step_up_switched_off_still_needs_a_recent_sign_in(
        make_harness: MakeHarness) -> None:
    h = await make_harness(jwt={"access_token_expires_in": "1d"}, mfa={"reauth_window": None},
                           rate_limit={"enabled": False})
    u = await h.make_user(EMAIL, tokens=True)
    assert u.access_token
    h.clock.advance(timedelta(minutes=11))
    r = await h.client.request("DELETE", "/auth/account", json=CONFIRM,
                               headers=bearer(u.access_token))
    assert_error(r, 403, "REAUTH_REQUIRED")


async def test_account_without_a_password(make_harness: MakeHarness) -> None:
    """A social-only account deletes within the window; a password it does not have is wrong."""
    h = await make_harness(rate_limit={"enabled": False})
    u = await h.make_user(EMAIL, tokens=True)
    assert u.access_token
    async with transaction(h.res.sessionmaker) as tx:
        await tx.session.execute(User.__table__.update().where(User.id == u.id)
                                 .values(password_hash=None))
    await h.res.store.user_changed(u.id)
    r = await h.client.request("DELETE", "/auth/account", json={**CONFIRM, "password": PASSWORD},
                               headers=bearer(u.access_token))
    assert_error(r, 400, "CURRENT_PASSWORD_INCORRECT")
    r = await h.client.request("DELETE", "/auth/account", json=CONFIRM,
                               headers=bearer(u.access_token))
    assert r.status_code == 200, r.text


async def test_cookie_mode_needs_csrf_and_clears_the_cookies(make_harness: MakeHarness) -> None:
    h = await make_harness(session={"cookie": {"secure": False}}, rate_limit={"enabled": False})
    await h.make_user(EMAIL)
    r = await h.client.post("/auth/login", headers={"x-access-token-type": "cookie"}, json={
        "providerName": "email", "credentials": {"email": EMAIL, "password": PASSWORD}})
    assert r.status_code == 200, r.text
    r = await h.client.request("DELETE", "/auth/account", json=CONFIRM)
    assert_error(r, 403, "CSRF_TOKEN_INVALID")
    assert (await h.login(EMAIL)).status_code == 200
    r = await h.client.request("DELETE", "/auth/account", json=CONFIRM,
                               headers={"x-csrf-token": h.client.cookies["nest_auth_csrf"]})
    assert r.status_code == 200, r.text
    jar = set_cookies(r)
    assert jar["accessToken"]["max-age"] == "0" and jar["refreshToken"]["max-age"] == "0"


async def test_the_owner_is_told_at_the_old_address(make_harness: MakeHarness,
                                                    smtp_sink: SmtpSink) -> None:
    h = await make_harness(delivery={"smtp": smtp_sink.settings()},
                           notifications={"security_emails": True}, rate_limit={"enabled": False})
    u = await h.make_user(EMAIL, verified=True, tokens=True)
    assert u.access_token
    r = await h.client.request("DELETE", "/auth/account", json=CONFIRM,
                               headers={**bearer(u.access_token), "user-agent": "Deleter/1.0"})
    assert r.status_code == 200, r.text
    await background.drain(h.res)
    mails = smtp_sink.to(EMAIL)
    assert [m.subject for m in mails][-1:] == ["Your authgate account was deleted"], [
        m.subject for m in mails]
    assert "Deleter/1.0" in mails[-1].part("plain")


async def test_the_security_log_records_it_without_the_address(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="authgate.security")
    u = await h.make_user(EMAIL, phone="+14155550123", tokens=True)
    assert u.access_token
    r = await h.client.request("DELETE", "/auth/account", json=CONFIRM,
                               headers=bearer(u.access_token))
    assert r.status_code == 200, r.text
    logged = [json.loads(rec.getMessage().removeprefix("security ")) for rec in caplog.records
              if rec.name == "authgate.security"]
    deleted = [x for x in logged if x["event"] == events.USER_DELETED]
    assert [(x["userId"], x["outcome"], x.get("initiatedBy")) for x in deleted] == [
        (u.id, "success", "user")]
    assert "alice" not in json.dumps(deleted) and "4155550123" not in json.dumps(deleted)
