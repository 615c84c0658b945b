"""API keys (issue 18 §4): the owner's routes, ``Authorization: ApiKey <public>.<secret>`` on
host routes, and the library routes a key must never reach."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import select

from authgate.apikeys.models import ApiKey
from authgate.http.deps import current_principal, require
from authgate.sessions.service import Principal
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, delete_user, grant_permissions, set_user


def apikey(key: str) -> dict[str, str]:
    return {"Authorization": f"ApiKey {key}"}


def add_host_routes(h: Harness) -> None:
    """Host-app routes on the harness app, guarded by the public dependencies."""
    app: FastAPI = h.client._transport.app  # type: ignore[attr-defined]
    admin = Depends(require(roles=("admin",)))
    reports = Depends(require(permissions=("reports.read",)))
    sessions_only = Depends(require(api_keys=False))
    anyone = Depends(current_principal)

    @app.get("/host/whoami")
    async def whoami(p: Principal = anyone) -> dict[str, Any]:
        return {"id": p.user.id, "apiKeyId": p.api_key_id, "type": p.claims.get("type")}

    @app.get("/host/admin")
    async def admin_only(p: Principal = admin) -> str:
        return p.user.id

    @app.get("/host/reports")
    async def reports_only(p: Principal = reports) -> str:
        return p.user.id

    @app.post("/host/sessions-only")
    async def session_route(p: Principal = sessions_only) -> str:
        return p.user.id


async def new_key(h: Harness, token: str, **body: Any) -> dict[str, Any]:
    r = await h.client.post("/auth/api-keys", json={"name": "ci", **body}, headers=bearer(token))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def stored(h: Harness, key_id: str) -> ApiKey:
    async with h.res.sessionmaker() as s:
        return (await s.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar_one()


async def test_create_list_and_use_from_curl(h: Harness) -> None:
    add_host_routes(h)
    u = await h.make_user(tokens=True)
    assert u.access_token
    made = await new_key(h, u.access_token, description="deploys", expiresInDays=30)
    public, _, secret = made["key"].partition(".")
    assert public == made["publicKey"] and public.startswith("agk_") and len(secret) >= 43
    now = h.clock.now()
    assert made | {"key": None, "id": None} == {
        "id": None, "key": None, "name": "ci", "description": "deploys", "publicKey": public,
        "tenantId": None, "isActive": True,
        "expiresAt": (now + timedelta(days=30)).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "lastUsedAt": None, "revokedAt": None,
        "createdAt": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    row = await stored(h, made["id"])
    assert secret not in {row.secret_hash, row.public_key} and len(row.secret_hash) == 64
    assert all(secret not in str(v) for v in vars(row).values())

    listed = (await h.client.get("/auth/api-keys", headers=bearer(u.access_token))).json()
    assert [k["id"] for k in listed] == [made["id"]]
    assert "key" not in listed[0] and all(secret not in str(v) for v in listed[0].values())

    r = await h.client.get("/host/whoami", headers=apikey(made["key"]))
    assert r.status_code == 200, r.text
    assert r.json() == {"id": u.id, "apiKeyId": made["id"], "type": "api-key"}
    # the scheme name is case-insensitive, as Bearer is
    r = await h.client.get("/host/whoami", headers={"Authorization": f"apikey {made['key']}"})
    assert r.status_code == 200


async def test_last_used_is_stamped_after_the_response_and_throttled(h: Harness) -> None:
    from authgate import background

    add_host_routes(h)
    u = await h.make_user(tokens=True)
    assert u.access_token
    made = await new_key(h, u.access_token)
    first = h.clock.now()
    assert (await h.client.get("/host/whoami", headers=apikey(made["key"]))).status_code == 200
    await background.drain(h.res)
    assert (await stored(h, made["id"])).last_used_at == first
    h.clock.advance(timedelta(seconds=20))  # within api_keys.last_used_interval: no write
    for _ in range(3):
        assert (await h.client.get("/host/whoami", headers=apikey(made["key"]))).status_code == 200
    assert background.pending(h.res) == 0
    assert (await stored(h, made["id"])).last_used_at == first
    h.clock.advance(timedelta(minutes=1))
    assert (await h.client.get("/host/whoami", headers=apikey(made["key"]))).status_code == 200
    await background.drain(h.res)
    assert (await stored(h, made["id"])).last_used_at == h.clock.now()
    listed = (await h.client.get("/auth/api-keys", headers=bearer(u.access_token))).json()
    assert listed[0]["lastUsedAt"] is not None


@pytest.mark.parametrize("header", [
    "ApiKey", "ApiKey ", "ApiKey nodot", "ApiKey .secret", "ApiKey agk_abc.",
    "ApiKey agk_a.b.c", "ApiKey agk_a.b c", "ApiKey agk_a.s%cret", "ApiKey " + "a" * 200 + ".b",
])
async def test_malformed_keys(h: Harness, header: str) -> None:
    add_host_routes(h)
    r = await h.client.get("/host/whoami", headers={"Authorization": header})
    assert_error(r, 401, "INVALID_API_KEY_FORMAT")
    # the library's routes say the same about a malformed key
    assert_error(await h.client.get("/auth/me", headers={"Authorization": header}), 401,
                 "INVALID_API_KEY_FORMAT")


async def test_tampered_unknown_and_swapped_keys(h: Harness) -> None:
    add_host_routes(h)
    alice = await h.make_user("alice@example.com", tokens=True)
    bob = await h.make_user("bob@example.com", tokens=True)
    assert alice.access_token and bob.access_token
    a = (await new_key(h, alice.access_token))["key"]
    b = (await new_key(h, bob.access_token))["key"]
    a_pub, _, a_secret = a.partition(".")
    b_pub, _, b_secret = b.partition(".")
    flipped = a_secret[:-1] + ("A" if a_secret[-1] != "A" else "B")
    for bad in (f"{a_pub}.{flipped}", f"{a_pub}.{a_secret[:-1]}", f"{a_pub}.{b_secret}",
                f"{b_pub}.{a_secret}", f"agk_{'0' * 24}.{a_secret}", f"{a_pub}x.{a_secret}"):
        assert_error(await h.client.get("/host/whoami", headers=apikey(bad)), 401,
                     "INVALID_API_KEY", "Invalid API key")
    assert (await h.client.get("/host/whoami", headers=apikey(a))).json()["id"] == alice.id
    assert (await h.client.get("/host/whoami", headers=apikey(b))).json()["id"] == bob.id


async def test_revoke(h: Harness) -> None:
    add_host_routes(h)
    alice = await h.make_user("alice@example.com", tokens=True)
    bob = await h.make_user("bob@example.com", tokens=True)
    assert alice.access_token and bob.access_token
    made = await new_key(h, alice.access_token)
    # another user's key id answers like an unknown one, and stays usable
    assert_error(await h.client.delete(f"/auth/api-keys/{made['id']}",
                                       headers=bearer(bob.access_token)),
                 404, "API_KEY_NOT_FOUND", "API key not found")
    assert_error(await h.client.delete("/auth/api-keys/no-such-key",
                                       headers=bearer(alice.access_token)),
                 404, "API_KEY_NOT_FOUND")
    assert (await h.client.get("/host/whoami", headers=apikey(made["key"]))).status_code == 200
    for _ in range(2):  # revoking twice is fine
        r = await h.client.delete(f"/auth/api-keys/{made['id']}",
                                  headers=bearer(alice.access_token))
        assert r.status_code == 200 and r.json() == {"message": "API key revoked"}
    assert_error(await h.client.get("/host/whoami", headers=apikey(made["key"])), 401,
                 "INVALID_API_KEY")
    listed = (await h.client.get("/auth/api-keys", headers=bearer(alice.access_token))).json()
    assert listed[0]["isActive"] is False and listed[0]["revokedAt"] is not None
    assert (await h.client.get("/auth/api-keys", headers=bearer(bob.access_token))).json() == []


async def test_expiry(make_harness: MakeHarness) -> None:
    h = await make_harness(api_keys={"max_lifetime": "90d"})
    add_host_routes(h)
    u = await h.make_user(tokens=True)
    assert u.access_token
    token = u.access_token
    soon = await new_key(h, token, expiresAt=(h.clock.now() + timedelta(hours=1)).isoformat())
    default = await new_key(h, token)  # max_lifetime gives a key without expiresAt one
    assert default["expiresAt"] is not None
    assert (await h.client.get("/host/whoami", headers=apikey(soon["key"]))).status_code == 200
    h.clock.advance(timedelta(hours=1))
    assert_error(await h.client.get("/host/whoami", headers=apikey(soon["key"])), 401,
                 "INVALID_API_KEY")
    assert (await h.client.get("/host/whoami", headers=apikey(default["key"]))).status_code == 200
    token = (await h.login()).json()["accessToken"]  # the first session's access token expired
    listed = {k["id"]: k for k in
              (await h.client.get("/auth/api-keys", headers=bearer(token))).json()}
    assert listed[soon["id"]]["isActive"] is False and listed[default["id"]]["isActive"] is True

    now = h.clock.now()
    for body, message in (
        ({"expiresAt": (now - timedelta(seconds=1)).isoformat()}, "expiresAt must be in the future"),
        ({"expiresAt": (now + timedelta(days=91)).isoformat()},
         "expiresAt is later than the longest key lifetime allowed"),
        ({"expiresInDays": 91}, "expiresAt is later than the longest key lifetime allowed"),
        ({"expiresAt": (now + timedelta(days=1)).isoformat(), "expiresInDays": 1},
         "Give expiresAt or expiresInDays, not both"),
    ):
        r = await h.client.post("/auth/api-keys", json={"name": "x", **body},
                                headers=bearer(token))
        assert_error(r, 400, "INVALID_INPUT", message)
    for body in ({"name": ""}, {}, {"name": 5}, {"name": "x", "expiresInDays": 0},
                 {"name": "x", "expiresAt": "2030-01-01T00:00:00"},  # no zone
                 {"name": "x", "expiresAt": "soon"}, {"name": "x" * 101}):
        r = await h.client.post("/auth/api-keys", json=body, headers=bearer(token))
        assert_error(r, 400, "INVALID_INPUT")


async def test_a_key_dies_with_its_user(h: Harness) -> None:
    add_host_routes(h)
    u = await h.make_user(tokens=True)
    assert u.access_token
    made = await new_key(h, u.access_token)
    await set_user(h.res, u.id, status="suspended")
    assert_error(await h.client.get("/host/whoami", headers=apikey(made["key"])), 401,
                 "ACCOUNT_INACTIVE", "User is not active")
    await set_user(h.res, u.id, status="active")
    assert (await h.client.get("/host/whoami", headers=apikey(made["key"]))).status_code == 200
    await delete_user(h.res, u.id)
    assert_error(await h.client.get("/host/whoami", headers=apikey(made["key"])), 401,
                 "INVALID_API_KEY")


LIBRARY_ROUTES = [
    ("GET", "/auth/me", None), ("GET", "/auth/user", None), ("GET", "/auth/verify-session", None),
    ("POST", "/auth/change-password", {"currentPassword": "x", "newPassword": "y" * 12}),
    ("POST", "/auth/logout-all", None), ("GET", "/auth/mfa/status", None),
    ("POST", "/auth/mfa/toggle", {"enabled": False}), ("POST", "/auth/mfa/setup-totp", None),
    ("GET", "/auth/mfa/devices", None), ("POST", "/auth/mfa/generate-recovery-code", None),
    ("POST", "/auth/send-email-verification", None),
    ("GET", "/auth/api-keys", None), ("POST", "/auth/api-keys", {"name": "more"}),
    ("DELETE", "/auth/api-keys/some-id", None),
    ("GET", "/auth/account/export", None),
    ("DELETE", "/auth/account", {"confirm": "DELETE", "password": "correct horse battery"}),
]


async def test_a_key_never_reaches_the_library_routes(h: Harness) -> None:
    u = await h.make_user(tokens=True)
    assert u.access_token
    made = await new_key(h, u.access_token)
    for method, path, body in LIBRARY_ROUTES:
        r = await h.client.request(method, path, json=body, headers=apikey(made["key"]))
        assert_error(r, 401, "INVALID_AUTH_TYPE",
                     "API keys are not accepted here: sign in to use this route")
    # logout with a key is an anonymous logout: nothing ends, the key and session live on
    r = await h.client.post("/auth/logout", headers=apikey(made["key"]))
    assert r.status_code == 200
    assert (await h.client.get("/auth/me", headers=bearer(u.access_token))).status_code == 200
    assert len((await h.client.get("/auth/api-keys", headers=bearer(u.access_token))).json()) == 1


async def test_roles_and_permissions_are_live_for_keys(h: Harness) -> None:
    add_host_routes(h)
    u = await h.make_user(tokens=True)
    assert u.access_token
    key = (await new_key(h, u.access_token))["key"]
    assert_error(await h.client.get("/host/admin", headers=apikey(key)), 403,
                 "NO_ROLES_ASSIGNED")
    assert_error(await h.client.get("/host/reports", headers=apikey(key)), 403,
                 "NO_ROLES_ASSIGNED")
    await grant_permissions(h.res, u.id, "viewer")
    assert_error(await h.client.get("/host/reports", headers=apikey(key)), 403,
                 "MISSING_REQUIRED_PERMISSIONS")
    await grant_permissions(h.res, u.id, "admin", "reports.read")
    # no session to refresh: the key carries the user's roles as they are now
    assert (await h.client.get("/host/admin", headers=apikey(key))).json() == u.id
    assert (await h.client.get("/host/reports", headers=apikey(key))).json() == u.id
    assert_error(await h.client.post("/host/sessions-only", headers=apikey(key)), 401,
                 "INVALID_AUTH_TYPE")
    assert (await h.client.post("/host/sessions-only",
                                headers=bearer(u.access_token))).json() == u.id


async def test_host_gates_apply_to_keys(make_harness: MakeHarness) -> None:
    h = await make_harness(enforce_must_change_password=True,
                           registration={"require_verified_email": True})
    add_host_routes(h)
    u = await h.make_user(tokens=True, verified=True)
    assert u.access_token
    key = (await new_key(h, u.access_token))["key"]
    await set_user(h.res, u.id, must_change_password=True)
    assert_error(await h.client.get("/host/whoami", headers=apikey(key)), 403,
                 "MUST_CHANGE_PASSWORD")
    await set_user(h.res, u.id, must_change_password=False, email_verified_at=None)
    assert_error(await h.client.get("/host/whoami", headers=apikey(key)), 403,
                 "EMAIL_NOT_VERIFIED")


async def test_creating_needs_a_completed_mfa_step_and_a_recent_sign_in(
        make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"reauth_window": "5m"})
    pending = await h.make_user("mfa@example.com", totp=True, mfa=True, tokens=True)
    assert pending.access_token and pending.requires_mfa
    r = await h.client.post("/auth/api-keys", json={"name": "x"},
                            headers=bearer(pending.access_token))
    assert_error(r, 401, "MFA_REQUIRED")
    u = await h.make_user(tokens=True)
    assert u.access_token
    await new_key(h, u.access_token)
    h.clock.advance(timedelta(minutes=6))
    r = await h.client.post("/auth/api-keys", json={"name": "x"}, headers=bearer(u.access_token))
    assert_error(r, 403, "REAUTH_REQUIRED")
    assert_error(await h.client.post("/auth/api-keys", json={"name": "x"}), 401,
                 "NO_AUTH_PROVIDED")


async def test_per_user_cap_holds_under_a_race(make_harness: MakeHarness) -> None:
    h = await make_harness(api_keys={"max_per_user": 2})
    u = await h.make_user(tokens=True)
    assert u.access_token
    token = u.access_token
    answers = await asyncio.gather(*[
        h.client.post("/auth/api-keys", json={"name": f"k{i}"}, headers=bearer(token))
        for i in range(4)])
    assert sorted(r.status_code for r in answers) == [201, 201, 403, 403]
    refused = next(r for r in answers if r.status_code == 403)
    assert_error(refused, 403, "API_KEY_LIMIT_REACHED")
    first = next(r for r in answers if r.status_code == 201).json()
    await h.client.delete(f"/auth/api-keys/{first['id']}", headers=bearer(token))
    await new_key(h, token)  # a revoked key frees its place


async def test_switched_off(make_harness: MakeHarness) -> None:
    h = await make_harness(api_keys={"enabled": False})
    add_host_routes(h)
    u = await h.make_user(tokens=True)
    assert u.access_token
    assert_error(await h.client.get("/auth/api-keys", headers=bearer(u.access_token)), 404,
                 "NOT_FOUND")
    assert_error(await h.client.get("/host/whoami", headers=apikey("agk_a.b")), 401,
                 "INVALID_API_KEY")


async def test_cookie_only_deployments_ignore_the_header(make_harness: MakeHarness) -> None:
    h = await make_harness(session={"access_token_type": "cookie"})
    add_host_routes(h)
    assert_error(await h.client.get("/host/whoami", headers=apikey("agk_a.b")), 401,
                 "NO_AUTH_PROVIDED")


async def test_openapi_documents_the_routes(h: Harness) -> None:
    doc = (await h.client.get("/openapi.json")).json()
    paths = doc["paths"]
    assert set(paths["/auth/api-keys"]) == {"get", "post"}
    assert set(paths["/auth/api-keys/{keyId}"]) == {"delete"}
    assert "201" in paths["/auth/api-keys"]["post"]["responses"]


def _unused() -> None:  # keep imports honest for linters
    _ = (httpx, datetime, UTC)


async def test_a_key_acts_in_its_tenant_and_stops_with_the_membership(
        make_harness: MakeHarness) -> None:
    from authgate.tenancy import service as tenancy

    h = await make_harness(tenant={"mode": "shared"})
    add_host_routes(h)
    u = await h.make_user()
    acme = await tenancy.create_tenant(h.res, name="Acme", slug="acme")
    other = await tenancy.create_tenant(h.res, name="Other", slug="other")
    await tenancy.add_member(h.res, u.id, acme.id)
    await tenancy.add_member(h.res, u.id, other.id)
    r = await h.login(tenantId=acme.id)
    assert r.status_code == 200, r.text
    made = await new_key(h, r.json()["accessToken"])
    assert made["tenantId"] == acme.id
    r = await h.client.get("/host/whoami", headers=apikey(made["key"]))
    assert r.status_code == 200, r.text
    # out of the tenant: the key stops (the user's other tenant does not keep it alive)
    assert await tenancy.remove_member(h.res, u.id, acme.id)
    assert_error(await h.client.get("/host/whoami", headers=apikey(made["key"])), 401,
                 "INVALID_API_KEY")
