"""GET/POST /auth/identities and DELETE /auth/identities/{id} (issue 14): the owner's linked
provider accounts, explicit linking (whatever the emails), and unlinking that never removes
the last way to sign in."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tests.conftest import Harness, MakeHarness, bearer
from tests.factories import make_user
from tests.helpers import assert_error, claims
from tests.idp import Idp


async def app(make_harness: MakeHarness, idp: Idp, **extra: Any) -> Harness:
    return await make_harness(social=idp.social_settings(), rate_limit={"enabled": False},
                              **extra)


async def social_token(h: Harness, idp: Idp, sub: str = "idp-alice",
                       email: str = "alice@example.com") -> str:
    r = await h.client.post("/auth/login", json={
        "providerName": "google", "createUserIfNotExists": True,
        "credentials": {"token": idp.id_token(sub=sub, email=email)}})
    assert r.status_code == 200, r.text
    return str(r.json()["accessToken"])


def link_body(provider: str, token: str, **creds: Any) -> dict[str, Any]:
    return {"providerName": provider, "credentials": {"token": token, **creds}}


async def test_list_link_and_sign_in_with_the_link(make_harness: MakeHarness, idp: Idp) -> None:
    h = await app(make_harness, idp)
    owner = await make_user(h, "bob@example.com", verified=True, tokens=True)
    auth = bearer(owner.access_token or "")
    assert (await h.client.get("/auth/identities", headers=auth)).json() == {"identities": []}
    # Explicit linking: the owner proves both sides, so the emails need not match.
    r = await h.client.post("/auth/identities", headers=auth,
                            json=link_body("google", idp.id_token(email="bob.work@corp.example",
                                                                  email_verified=False)))
    assert r.status_code == 201, r.text
    linked = r.json()
    assert linked["provider"] == "google" and linked["email"] == "bob.work@corp.example"
    assert linked["emailVerified"] is False and set(linked) == {
        "id", "provider", "email", "emailVerified", "details", "createdAt", "lastUsedAt"}
    listed = (await h.client.get("/auth/identities", headers=auth)).json()["identities"]
    assert [i["id"] for i in listed] == [linked["id"]]
    # Linking the same identity again answers the same link.
    again = await h.client.post("/auth/identities", headers=auth,
                                json=link_body("google", idp.id_token()))
    assert again.status_code == 201 and again.json()["id"] == linked["id"]
    # The provider now signs in as the owner, without createUserIfNotExists.
    r = await h.client.post("/auth/login", json={"providerName": "google",
                                                 "credentials": {"token": idp.id_token()}})
    assert r.status_code == 200 and claims(r.json()["accessToken"])["sub"] == owner.id


async def test_identity_of_another_user(make_harness: MakeHarness, idp: Idp) -> None:
    h = await app(make_harness, idp)
    alice = await social_token(h, idp)
    bob = await make_user(h, "bob@example.com", verified=True, tokens=True)
    r = await h.client.post("/auth/identities", headers=bearer(bob.access_token or ""),
                            json=link_body("google", idp.id_token()))
    assert_error(r, 409, "IDENTITY_ALREADY_LINKED")
    [ident] = (await h.client.get("/auth/identities", headers=bearer(alice))).json()["identities"]
    # Bob can neither see nor unlink Alice's identity.
    assert (await h.client.get("/auth/identities", headers=bearer(bob.access_token or ""))
            ).json() == {"identities": []}
    r = await h.client.delete(f"/auth/identities/{ident['id']}",
                              headers=bearer(bob.access_token or ""))
    assert_error(r, 404, "IDENTITY_NOT_FOUND")


async def test_link_refusals(make_harness: MakeHarness, idp: Idp) -> None:
    h = await app(make_harness, idp)
    owner = await make_user(h, "bob@example.com", verified=True, tokens=True)
    auth = bearer(owner.access_token or "")
    assert_error(await h.client.post("/auth/identities", headers=auth,
                                     json=link_body("email", "x")), 401, "INVALID_PROVIDER")
    assert_error(await h.client.post("/auth/identities", headers=auth,
                                     json=link_body("google", idp.id_token(aud="other"))),
                 401, "OAUTH_PROVIDER_ERROR")
    assert_error(await h.client.post("/auth/identities", headers=auth,
                                     json={"providerName": "google", "credentials": {}}),
                 400, "MISSING_REQUIRED_FIELDS")
    assert_error(await h.client.post("/auth/identities",
                                     json=link_body("google", idp.id_token())),
                 401, "NO_AUTH_PROVIDED")


async def test_unlink_never_removes_the_last_way_in(make_harness: MakeHarness,
                                                    idp: Idp) -> None:
    h = await app(make_harness, idp)
    token = await social_token(h, idp)  # a social-only account: no password
    auth = bearer(token)
    [first] = (await h.client.get("/auth/identities", headers=auth)).json()["identities"]
    assert_error(await h.client.delete(f"/auth/identities/{first['id']}", headers=auth),
                 409, "LAST_SIGN_IN_METHOD")
    second = await h.client.post("/auth/identities", headers=auth,
                                 json=link_body("corp", idp.id_token(sub="corp-alice")))
    assert second.status_code == 201
    r = await h.client.delete(f"/auth/identities/{first['id']}", headers=auth)
    assert r.status_code == 200 and r.json() == {"message": "Identity unlinked"}
    assert_error(await h.client.delete(f"/auth/identities/{first['id']}", headers=auth),
                 404, "IDENTITY_NOT_FOUND")
    assert_error(await h.client.delete(f"/auth/identities/{second.json()['id']}",
                                       headers=auth), 409, "LAST_SIGN_IN_METHOD")
    # The unlinked provider no longer signs in as this account.
    r = await h.client.post("/auth/login", json={"providerName": "google",
                                                 "credentials": {"token": idp.id_token()}})
    assert_error(r, 401, "INVALID_CREDENTIALS")


async def test_password_or_passwordless_is_a_way_in(make_harness: MakeHarness,
                                                    idp: Idp) -> None:
    h = await app(make_harness, idp)
    owner = await make_user(h, "bob@example.com", verified=True, tokens=True)
    auth = bearer(owner.access_token or "")
    linked = await h.client.post("/auth/identities", headers=auth,
                                 json=link_body("google", idp.id_token()))
    r = await h.client.delete(f"/auth/identities/{linked.json()['id']}", headers=auth)
    assert r.status_code == 200  # the password remains
    p = await app(make_harness, idp, passwordless={"enabled": True})
    token = await social_token(p, idp)  # verified email, passwordless on: a way in
    [ident] = (await p.client.get("/auth/identities", headers=bearer(token))).json()["identities"]
    r = await p.client.delete(f"/auth/identities/{ident['id']}", headers=bearer(token))
    assert r.status_code == 200


async def test_concurrent_unlinks_keep_one(make_harness: MakeHarness, idp: Idp) -> None:
    h = await app(make_harness, idp)
    token = await social_token(h, idp)
    auth = bearer(token)
    await h.client.post("/auth/identities", headers=auth,
                        json=link_body("corp", idp.id_token(sub="corp-alice")))
    ids = [i["id"] for i in (await h.client.get("/auth/identities", headers=auth)
                             ).json()["identities"]]
    results = await asyncio.gather(*[h.client.delete(f"/auth/identities/{i}", headers=auth)
                                     for i in ids])
    assert sorted(r.status_code for r in results) == [200, 409]
    assert len((await h.client.get("/auth/identities", headers=auth)).json()["identities"]) == 1


async def test_not_for_mfa_pending_sessions(make_harness: MakeHarness, idp: Idp) -> None:
    h = await app(make_harness, idp)
    user = await make_user(h, "bob@example.com", verified=True, totp=True, mfa=True,
                           tokens=True)
    assert user.requires_mfa
    auth = bearer(user.access_token or "")
    assert_error(await h.client.get("/auth/identities", headers=auth), 401, "MFA_REQUIRED")
    assert_error(await h.client.post("/auth/identities", headers=auth,
                                     json=link_body("google", idp.id_token())),
                 401, "MFA_REQUIRED")
    assert_error(await h.client.delete("/auth/identities/x", headers=auth), 401, "MFA_REQUIRED")


async def test_step_up_window(make_harness: MakeHarness, idp: Idp) -> None:
    h = await app(make_harness, idp, mfa={"reauth_window": 300})
    owner = await make_user(h, "bob@example.com", verified=True, tokens=True)
    h.clock.advance(timedelta(minutes=6))
    auth = bearer(owner.access_token or "")
    assert_error(await h.client.post("/auth/identities", headers=auth,
                                     json=link_body("google", idp.id_token())),
                 403, "REAUTH_REQUIRED")
    assert_error(await h.client.delete("/auth/identities/x", headers=auth),
                 403, "REAUTH_REQUIRED")
