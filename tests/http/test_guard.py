"""The guarded read routes (contract §2.1: me, user, verify-session, client-config) and the
guard's skip flags (M pending MFA, P forced password change, E unverified email)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx

from authgate.http.schemas import iso
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims, grant_permissions, set_user, stored_user


async def test_me(h: Harness) -> None:
    token = await h.user_token()
    uid = claims(token)["sub"]
    r = await h.client.get("/auth/me", headers=bearer(token))
    assert r.status_code == 200
    assert r.json() == {
        "id": uid, "email": "alice@example.com", "phone": None, "emailVerifiedAt": None,
        "phoneVerifiedAt": None, "isMfaEnabled": False, "metadata": {},
        "mustChangePassword": False, "roles": [], "permissions": [],
    }
    await grant_permissions(h.res, uid, "editor", "posts.write", "posts.read")
    token = (await h.login()).json()["accessToken"]
    body = (await h.client.get("/auth/me", headers=bearer(token))).json()
    assert [(r["name"], r["guard"]) for r in body["roles"]] == [("editor", "web")]
    assert list(body["roles"][0]) == ["id", "name", "guard"]
    assert body["permissions"] == ["posts.read", "posts.write"]
    assert [r["name"] for r in claims(token)["roles"]] == ["editor"]
    assert "permissions" not in claims(token)  # contract §5.1: not in the token


async def test_user_row_has_no_secrets(h: Harness) -> None:
    token = await h.user_token()
    uid = claims(token)["sub"]
    verified = h.clock.now()
    await set_user(h.res, uid, email_verified_at=verified, meta={"plan": "pro"})
    r = await h.client.get("/auth/user", headers=bearer(token))
    assert r.status_code == 200
    body = r.json()
    stored = await stored_user(h.res, uid)
    assert body == {
        "id": uid, "email": "alice@example.com", "emailVerifiedAt": iso(verified),
        "phone": None, "phoneVerifiedAt": None, "isActive": True, "mustChangePassword": False,
        "metadata": {"plan": "pro"}, "isMfaEnabled": False, "mfaRecoveryCode": None,
        "createdAt": iso(stored.created_at), "updatedAt": iso(stored.updated_at),
    }
    assert stored.password_hash and stored.password_hash not in r.text
    assert "argon2" not in r.text and "hash" not in r.text.lower()


async def test_verify_session(h: Harness) -> None:
    token = await h.user_token()
    r = await h.client.get("/auth/verify-session", headers=bearer(token))
    assert r.status_code == 200
    issued = h.clock.now().replace(microsecond=0)
    assert r.json() == {"valid": True, "userId": claims(token)["sub"],
                        "expiresAt": iso(issued + timedelta(days=7))}
    assert_error(await h.client.get("/auth/verify-session"), 401, "NO_AUTH_PROVIDED")
    r = await h.client.post("/auth/logout", headers=bearer(token))
    assert r.status_code == 200 and r.json() == {"message": "Logged out successfully"}, r.text
    assert_error(await h.client.get("/auth/verify-session", headers=bearer(token)),
                 401, "SESSION_NOT_FOUND")


async def test_client_config_defaults(h: Harness) -> None:
    r = await h.client.get("/auth/client-config")
    assert r.status_code == 200
    assert r.json() == {
        "tenants": {"enabled": False, "mode": "isolated"},
        "multipleAccounts": {"enabled": False},
        "roleGuards": ["web"],
        "emailAuth": {"enabled": True},
        "phoneAuth": {"enabled": False},
        "passwordless": {"enabled": False, "allowSignUp": False},
        "google": {"enabled": False}, "facebook": {"enabled": False},
        "apple": {"enabled": False}, "github": {"enabled": False},
        "customProviders": [],
        "registration": {"enabled": True, "requireInvitation": False},
        "mfa": {"enabled": True, "methods": ["totp", "email"], "allowUserToggle": True,
                "allowMethodSelection": True},
        "platformAccess": {"enabled": False},
        "accessTokenType": "header",
    }


async def test_client_config_follows_settings(make_harness: MakeHarness) -> None:
    h = await make_harness(
        phone_auth_enabled=True, registration={"enabled": False},
        mfa={"enabled": False, "methods": ["email", "sms"], "allow_user_toggle": False},
        session={"access_token_type": "cookie"})
    body = (await h.client.get("/auth/client-config")).json()
    assert body["phoneAuth"] == {"enabled": True}
    assert body["registration"] == {"enabled": False, "requireInvitation": False}
    assert body["mfa"] == {"enabled": False, "methods": ["email", "sms"],
                           "allowUserToggle": False, "allowMethodSelection": True}
    assert body["accessTokenType"] == "cookie"


async def test_forced_password_change_gate(make_harness: MakeHarness) -> None:
    h = await make_harness(enforce_must_change_password=True)
    token = await h.user_token()
    uid = claims(token)["sub"]
    await set_user(h.res, uid, must_change_password=True)
    auth = bearer(token)
    for method, path in (("GET", "/auth/me"), ("POST", "/auth/logout-all")):  # not P
        r = await h.client.request(method, path, headers=auth)
        assert_error(r, 403, "MUST_CHANGE_PASSWORD",
                     "You must change your password before continuing")
    # P routes answer, and say why the user is held
    await _p_and_e_routes_answer(h, auth, uid, must_change=True)
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": False}, headers=auth)
    assert r.status_code == 200 and r.json() == {"message": "MFA disabled successfully"}, r.text
    # the refused logout-all ended nothing: the session is still there until logout
    r = await h.client.post("/auth/logout", headers=auth)
    assert r.status_code == 200 and r.json() == {"message": "Logged out successfully"}, r.text
    assert_error(await h.client.get("/auth/user", headers=auth), 401, "SESSION_NOT_FOUND")


async def test_flag_without_enforcement_blocks_nothing(h: Harness) -> None:
    token = await h.user_token()
    await set_user(h.res, claims(token)["sub"], must_change_password=True)
    r = await h.client.get("/auth/me", headers=bearer(token))
    assert r.status_code == 200 and r.json()["mustChangePassword"] is True


async def test_unverified_email_gate_spares_library_routes(make_harness: MakeHarness) -> None:
    h = await make_harness(registration={"require_verified_email": True})
    token = await h.user_token()
    uid = claims(token)["sub"]
    auth = bearer(token)
    other = (await h.login()).json()["accessToken"]
    r = await h.client.get("/auth/me", headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["emailVerifiedAt"]) == (uid, None)
    await _p_and_e_routes_answer(h, auth, uid, must_change=False)
    r = await h.client.post("/auth/logout-all", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Logged out from all devices successfully"}
    for t in (token, other):  # every session of the user ended
        assert_error(await h.client.get("/auth/user", headers=bearer(t)),
                     401, "SESSION_NOT_FOUND")


async def _p_and_e_routes_answer(h: Harness, auth: dict[str, str], uid: str, *,
                                 must_change: bool) -> None:
    """/auth/user, /auth/verify-session and /auth/mfa/status answer the held user."""
    r = await h.client.get("/auth/user", headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["emailVerifiedAt"], r.json()["mustChangePassword"]) == (
        uid, None, must_change)
    r = await h.client.get("/auth/verify-session", headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["valid"], r.json()["userId"]) == (True, uid)
    r = await h.client.get("/auth/mfa/status", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["isEnabled"] is False


async def test_require_roles_and_permissions(database_url: str, make_harness: MakeHarness,
                                             tmp_path: Path) -> None:
    """``gate.require`` on host routes: role checks, any-of and all-of permissions."""
    from fastapi import Depends, FastAPI

    from authgate.app import AuthGate
    from authgate.clock import FrozenClock
    from authgate.sessions.service import Principal
    from tests.conftest import base_settings

    gate = AuthGate(base_settings(database_url, data_dir=tmp_path), clock=FrozenClock())
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)

    need_admin = Depends(gate.require(roles=("admin",)))
    need_both = Depends(gate.require(permissions=("a.read", "a.write"), any_of=False))

    @app.get("/admin")
    async def admin(p: Principal = need_admin) -> str:
        return p.user.id

    @app.get("/both")
    async def both(p: Principal = need_both) -> str:
        return p.user.id

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post("/auth/signup", json={"email": "r@example.com",
                                                   "password": "correct horse battery"})
            token = r.json()["accessToken"]
            uid = claims(token)["sub"]
            assert_error(await c.get("/admin", headers=bearer(token)), 403,
                         "NO_ROLES_ASSIGNED", "Access denied: No roles assigned")
            res = app.state.authgate
            await grant_permissions(res, uid, "viewer", "a.read")
            login = {"providerName": "email", "credentials": {
                "email": "r@example.com", "password": "correct horse battery"}}
            token = (await c.post("/auth/login", json=login)).json()["accessToken"]
            assert_error(await c.get("/admin", headers=bearer(token)), 403,
                         "MISSING_REQUIRED_ROLES", "Access denied: Missing required roles: admin")
            assert_error(await c.get("/both", headers=bearer(token)), 403,
                         "MISSING_REQUIRED_PERMISSIONS",
                         "Access denied: Missing required permissions: a.write")
            await grant_permissions(res, uid, "admin", "a.write")
            token = (await c.post("/auth/login", json=login)).json()["accessToken"]
            for path in ("/admin", "/both"):
                r = await c.get(path, headers=bearer(token))
                assert (r.status_code, r.json()) == (200, uid), (path, r.text)
