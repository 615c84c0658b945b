"""POST /auth/login with Google, Apple, GitHub, Facebook and a configured OpenID Connect
provider (issue 14), against the real local identity provider of ``tests/idp.py``: ID-token
verification (audience, issuer, expiry, signature, unknown and rotated keys, nonce and its
replay), the providers' APIs for access tokens, the linking rules, the MFA step (W4),
provider outages, and the client-config blocks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import select

from authgate.federation.models import Identity
from authgate.identity.models import User
from tests.conftest import Harness, MakeHarness, bearer
from tests.factories import make_user
from tests.helpers import assert_error, claims, set_user
from tests.idp import CLIENT_ID, FB_APP_ID, GITHUB_CLIENT_ID, Idp
from tests.servers import free_port


async def social_app(make_harness: MakeHarness, idp: Idp, **extra: Any) -> Harness:
    social = idp.social_settings(**extra.pop("social", {}))
    return await make_harness(social=social, rate_limit={"enabled": False}, **extra)


def body(provider: str, token: str, create: bool | None = True, **creds: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"providerName": provider, "credentials": {"token": token, **creds}}
    if create is not None:
        out["createUserIfNotExists"] = create
    return out


async def user_by_email(h: Harness, email: str) -> User | None:
    async with h.res.readmaker() as s:
        return (await s.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def identities(h: Harness) -> list[Identity]:
    async with h.res.readmaker() as s:
        return list((await s.execute(select(Identity))).scalars().all())


# -- ID tokens -------------------------------------------------------------------------
@pytest.mark.parametrize("provider", ["google", "apple", "corp"])
async def test_id_token_creates_then_signs_in(make_harness: MakeHarness, idp: Idp,
                                              provider: str) -> None:
    h = await social_app(make_harness, idp)
    r = await h.client.post("/auth/login", json=body(provider, idp.id_token(name="Alice A")))
    assert r.status_code == 200, r.text
    assert r.json()["isRequiresMfa"] is False and r.json()["message"] == "Login successful"
    user_id = claims(r.json()["accessToken"])["sub"]
    row = await user_by_email(h, "alice@example.com")
    assert row is not None and row.id == user_id and row.password_hash is None
    assert row.email_verified_at is not None  # the provider verified it
    assert row.meta == {"name": "Alice A"}
    [ident] = await identities(h)
    assert (ident.provider, ident.subject, ident.user_id) == (provider, "idp-alice", user_id)
    # Linked now: the next login needs no createUserIfNotExists.
    again = await h.client.post("/auth/login", json=body(provider, idp.id_token(), create=None))
    assert again.status_code == 200, again.text
    assert claims(again.json()["accessToken"])["sub"] == user_id
    me = await h.client.get("/auth/user", headers=bearer(again.json()["accessToken"]))
    assert me.status_code == 200 and me.json()["email"] == "alice@example.com"


async def test_no_linked_user_without_create(make_harness: MakeHarness, idp: Idp) -> None:
    from authgate import events

    h = await social_app(make_harness, idp)
    await make_user(h, "alice@example.com", verified=True)
    failed: list[events.Event] = []
    h.res.events.subscribe(events.LOGIN_FAILED, failed.append)
    for create in (None, False):
        r = await h.client.post("/auth/login", json=body("google", idp.id_token(), create=create))
        assert_error(r, 401, "INVALID_CREDENTIALS")
    assert await identities(h) == []
    assert [(e.data["provider"], e.data["reasonCode"]) for e in failed] == [
        ("google", "INVALID_CREDENTIALS")] * 2


@pytest.mark.parametrize(("case", "token_args"), [
    ("wrong audience", {"aud": "someone-else"}),
    ("wrong audience list", {"aud": ["someone-else", "other"]}),
    ("several audiences, azp not ours", {"aud": [CLIENT_ID, "other"], "azp": "other"}),
    ("wrong issuer", {"iss": "https://evil.example"}),
    ("expired", {"exp_in": -3600, "iat_offset": -4000}),
    ("issued in the future", {"iat_offset": 3600}),
    ("no subject", {"sub": ""}),
])
async def test_id_token_claims_refused(make_harness: MakeHarness, idp: Idp, case: str,
                                       token_args: dict[str, Any]) -> None:
    h = await social_app(make_harness, idp)
    r = await h.client.post("/auth/login", json=body("google", idp.id_token(**token_args)))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR")
    assert await identities(h) == []


async def test_bad_signature_refused(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    forger = RSAKey.generate_key(2048, parameters={"kid": idp.key.kid})
    r = await h.client.post("/auth/login", json=body("google", idp.id_token(key=forger)))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR", "Invalid ID token: bad signature or format")
    good = idp.id_token()
    head, payload, sig = good.split(".")
    tampered = idp.id_token(sub="idp-mallory").split(".")[1]
    r = await h.client.post("/auth/login", json=body("google", f"{head}.{tampered}.{sig}"))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR")
    for junk in ("not-a-jwt", "a.b.c", head + ".." + sig):
        r = await h.client.post("/auth/login", json=body("google", junk))
        assert_error(r, 401, "OAUTH_PROVIDER_ERROR")


async def test_pinned_algorithms(make_harness: MakeHarness, idp: Idp) -> None:
    """An HMAC token keyed with the provider's public key (the classic confusion) and an
    unsigned one are refused: only the configured asymmetric algorithms are accepted."""
    import base64
    import json

    h = await social_app(make_harness, idp)
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    payload = idp.id_token().split(".")[1]
    unsigned = f"{b64({'alg': 'none', 'kid': idp.key.kid})}.{payload}."
    r = await h.client.post("/auth/login", json=body("google", unsigned))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR")
    import hashlib
    import hmac

    pem = idp.key.as_pem(private=False)  # what an attacker can read from the JWKS
    signing_input = f"{b64({'alg': 'HS256', 'kid': idp.key.kid})}.{payload}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    hmac_token = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    r = await h.client.post("/auth/login", json=body("google", hmac_token))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR")


async def test_unknown_kid_refreshes_once_then_refuses(make_harness: MakeHarness,
                                                       idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    assert (await h.client.post("/auth/login", json=body("google", idp.id_token()))
            ).status_code == 200
    assert idp.requests.count("/jwks") == 1
    stranger = RSAKey.generate_key(2048, parameters={"kid": "never-published"})
    h.clock.advance(timedelta(minutes=1))
    r = await h.client.post("/auth/login", json=body("google", idp.id_token(key=stranger)))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR", "Invalid ID token: signed by an unknown key")
    assert idp.requests.count("/jwks") == 2  # one refresh
    # A flood of made-up kids right after does not refetch (social.jwks_refresh_interval).
    for _ in range(3):
        r = await h.client.post("/auth/login", json=body("google", idp.id_token(key=stranger)))
        assert_error(r, 401, "OAUTH_PROVIDER_ERROR")
    assert idp.requests.count("/jwks") == 2


async def test_key_rotation_picked_up(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    assert (await h.client.post("/auth/login", json=body("google", idp.id_token()))
            ).status_code == 200
    idp.rotate()
    idp.retire()  # the provider now publishes only the new key
    h.clock.advance(timedelta(minutes=1))
    r = await h.client.post("/auth/login", json=body("google", idp.id_token()))
    assert r.status_code == 200, r.text
    assert idp.requests.count("/jwks") == 2


async def test_nonce_checked_and_single_use(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    token = idp.id_token(nonce="n-0123456789")
    r = await h.client.post("/auth/login", json=body("google", token, nonce="another-nonce"))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR", "Invalid ID token: nonce")
    r = await h.client.post("/auth/login", json=body("google", idp.id_token(),
                                                     nonce="n-0123456789"))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR", "Invalid ID token: nonce")  # token has none
    ok = await h.client.post("/auth/login", json=body("google", token, nonce="n-0123456789"))
    assert ok.status_code == 200, ok.text
    replay = await h.client.post("/auth/login", json=body("google", token, nonce="n-0123456789"))
    assert_error(replay, 401, "OAUTH_PROVIDER_ERROR",
                 "Invalid ID token: already used (replayed nonce)")
    replay = await h.client.post("/auth/login", json=body("google", token))
    assert_error(replay, 401, "OAUTH_PROVIDER_ERROR")


# -- linking rules ---------------------------------------------------------------------
async def test_unverified_email_never_links(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    owner = await make_user(h, "alice@example.com", verified=True)
    for verified in (False, "false", None):
        r = await h.client.post("/auth/login", json=body(
            "google", idp.id_token(sub="other-person", email_verified=verified)))
        assert_error(r, 401, "SOCIAL_EMAIL_NOT_VERIFIED")
    assert await identities(h) == []
    r = await h.client.post("/auth/login", json=body("google", idp.id_token(sub="owner")))
    assert r.status_code == 200 and claims(r.json()["accessToken"])["sub"] == owner.id


async def test_untrusted_provider_email_never_links(make_harness: MakeHarness,
                                                    idp: Idp) -> None:
    h = await social_app(make_harness, idp, social={
        "oidc": {"corp": idp.settings(trust_email_verified=False)}})
    await make_user(h, "alice@example.com", verified=True)
    r = await h.client.post("/auth/login", json=body("corp", idp.id_token()))
    assert_error(r, 401, "SOCIAL_EMAIL_NOT_VERIFIED")


async def test_linking_rule_can_be_relaxed(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp, social={
        "require_verified_email_for_linking": False})
    owner = await make_user(h, "alice@example.com", verified=True)
    r = await h.client.post("/auth/login", json=body("google", idp.id_token(email_verified=False)))
    assert r.status_code == 200 and claims(r.json()["accessToken"])["sub"] == owner.id


async def test_pre_registered_account_loses_its_password(make_harness: MakeHarness,
                                                         idp: Idp) -> None:
    """Someone signed up with the victim's address (never verified) and a password they
    know; the real owner then signs in with a provider that verified the address: the
    account becomes the owner's, and the squatter's password and sessions stop working."""
    h = await social_app(make_harness, idp)
    squatter = await make_user(h, "alice@example.com", verified=False, tokens=True)
    assert squatter.access_token is not None
    r = await h.client.post("/auth/login", json=body("google", idp.id_token()))
    assert r.status_code == 200 and claims(r.json()["accessToken"])["sub"] == squatter.id
    row = await user_by_email(h, "alice@example.com")
    assert row is not None and row.password_hash is None and row.email_verified_at is not None
    assert_error(await h.login(), 401, "INVALID_CREDENTIALS")
    gone = await h.client.get("/auth/user", headers=bearer(squatter.access_token))
    assert gone.status_code == 401
    ok = await h.client.get("/auth/user", headers=bearer(r.json()["accessToken"]))
    assert ok.status_code == 200


async def test_verified_account_keeps_its_password(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    await make_user(h, "alice@example.com", verified=True)
    assert (await h.client.post("/auth/login", json=body("google", idp.id_token()))
            ).status_code == 200
    assert (await h.login()).status_code == 200


async def test_registration_disabled(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp, registration={"enabled": False})
    r = await h.client.post("/auth/login", json=body("google", idp.id_token()))
    assert_error(r, 403, "REGISTRATION_DISABLED")


async def test_inactive_account(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    r = await h.client.post("/auth/login", json=body("google", idp.id_token()))
    await set_user(h.res, claims(r.json()["accessToken"])["sub"], status="suspended")
    r = await h.client.post("/auth/login", json=body("google", idp.id_token()))
    assert_error(r, 401, "ACCOUNT_INACTIVE")


async def test_concurrent_first_sign_ins_make_one_account(make_harness: MakeHarness,
                                                          idp: Idp) -> None:
    import asyncio

    h = await social_app(make_harness, idp)
    results = await asyncio.gather(*[
        h.client.post("/auth/login", json=body("google", idp.id_token())) for _ in range(4)])
    assert [r.status_code for r in results] == [200] * 4, [r.text for r in results]
    assert len({claims(r.json()["accessToken"])["sub"] for r in results}) == 1
    assert len(await identities(h)) == 1


async def test_tenant_id_refused_without_tenancy(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    r = await h.client.post("/auth/login", json={
        **body("google", idp.id_token()), "tenantId": "8f14e45f-ceea-467f-a0e6-2a8b1b0d3c4e"})
    assert_error(r, 400, "TENANT_NOT_ENABLED")


# -- the MFA step (W4) -----------------------------------------------------------------
@pytest.mark.parametrize("provider", ["google", "github"])
async def test_mfa_user_goes_through_the_mfa_step(make_harness: MakeHarness, idp: Idp,
                                                  provider: str) -> None:
    h = await social_app(make_harness, idp)
    user = await make_user(h, "alice@example.com", verified=True, totp=True, mfa=True)
    if provider == "google":
        payload = body("google", idp.id_token())
    else:
        token = idp.access_token(sub="42")
        idp.github_emails[token] = [{"email": "alice@example.com", "primary": True,
                                     "verified": True}]
        payload = body("github", token)
    r = await h.client.post("/auth/login", json=payload)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["isRequiresMfa"] is True and out["mfaMethods"] == ["totp"]
    assert claims(out["accessToken"])["sub"] == user.id
    assert_error(await h.client.get("/auth/user", headers=bearer(out["accessToken"])),
                 401, "MFA_REQUIRED")


# -- access tokens through the providers' APIs ------------------------------------------
async def test_google_access_token(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    token = idp.access_token(sub="g-1", email="alice@example.com")
    r = await h.client.post("/auth/login", json=body("google", token, type="accessToken"))
    assert r.status_code == 200, r.text
    [ident] = await identities(h)
    assert (ident.provider, ident.subject, ident.email_verified) == ("google", "g-1", True)
    other_app = idp.access_token(sub="g-1", email="alice@example.com", aud="another-app")
    r = await h.client.post("/auth/login", json=body("google", other_app, type="accessToken"))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR", "This access token was issued to another app")
    r = await h.client.post("/auth/login", json=body("google", "at-unknown", type="accessToken"))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR")


async def test_github(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    token = idp.access_token(sub="4242", name="Octo Cat")
    idp.github_emails[token] = [
        {"email": "old@example.com", "primary": False, "verified": True},
        {"email": "Alice@Example.com", "primary": True, "verified": True}]
    r = await h.client.post("/auth/login", json=body("github", token))
    assert r.status_code == 200, r.text
    [ident] = await identities(h)
    assert (ident.subject, ident.email) == ("4242", "alice@example.com")
    assert "/github/applications/gh-client-id/token" in idp.requests  # the app check ran
    row = await user_by_email(h, "alice@example.com")
    assert row is not None and row.meta["name"] == "Octo Cat"


@pytest.mark.parametrize("emails", [
    [],
    [{"email": "a@example.com", "primary": True, "verified": False}],
    [{"email": "a@example.com", "primary": False, "verified": True}],
])
async def test_github_without_a_verified_primary_email(make_harness: MakeHarness, idp: Idp,
                                                       emails: list[dict[str, Any]]) -> None:
    h = await social_app(make_harness, idp)
    token = idp.access_token(sub="4242")
    idp.github_emails[token] = emails
    r = await h.client.post("/auth/login", json=body("github", token))
    assert_error(r, 401, "OAUTH_EMAIL_NOT_PUBLIC")


async def test_github_token_of_another_app(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    token = idp.access_token(sub="4242", app="another-oauth-app")
    idp.github_emails[token] = [{"email": "a@example.com", "primary": True, "verified": True}]
    r = await h.client.post("/auth/login", json=body("github", token))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR")
    r = await h.client.post("/auth/login", json=body("github", "gho_unknown"))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR")
    r = await h.client.post("/auth/login", json=body("github", token, type="idToken"))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR", "This provider signs in with an accessToken")


async def test_facebook(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    token = idp.access_token(sub="fb-7", email="bob@example.com", name="Bob")
    r = await h.client.post("/auth/login", json=body("facebook", token))
    assert r.status_code == 200, r.text
    row = await user_by_email(h, "bob@example.com")
    assert row is not None and row.email_verified_at is None  # Facebook does not say
    assert row.meta == {"name": "Bob", "firstName": "Alice", "lastName": "Example"}
    # It never links to an existing account by itself.
    await make_user(h, "carol@example.com", verified=True)
    other = idp.access_token(sub="fb-8", email="carol@example.com")
    assert_error(await h.client.post("/auth/login", json=body("facebook", other)),
                 401, "SOCIAL_EMAIL_NOT_VERIFIED")
    foreign = idp.access_token(sub="fb-9", email="d@example.com", app="999")
    assert_error(await h.client.post("/auth/login", json=body("facebook", foreign)),
                 401, "OAUTH_PROVIDER_ERROR", "This access token was issued to another app")
    assert_error(await h.client.post("/auth/login", json=body("facebook", "EAAB-unknown")),
                 401, "OAUTH_PROVIDER_ERROR")


async def test_apple_string_email_verified_and_no_access_tokens(make_harness: MakeHarness,
                                                                idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    await make_user(h, "alice@example.com", verified=True)
    r = await h.client.post("/auth/login", json=body("apple", idp.id_token(email_verified="true")))
    assert r.status_code == 200, r.text
    r = await h.client.post("/auth/login", json=body("apple", "x", type="accessToken"))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR", "This provider signs in with an idToken")


# -- hostile or incomplete credentials ---------------------------------------------------
@pytest.mark.parametrize(("credentials", "status", "code"), [
    ({}, 400, "MISSING_REQUIRED_FIELDS"),
    ({"token": ""}, 400, "MISSING_REQUIRED_FIELDS"),
    ({"token": 42}, 400, "INVALID_INPUT"),
    ({"token": ["a"]}, 400, "INVALID_INPUT"),
    ({"token": "x" * 20000}, 400, "INVALID_INPUT"),
    ({"token": "a.b.c", "type": "samlResponse"}, 400, "INVALID_INPUT"),
    ({"token": "a.b.c", "nonce": 7}, 400, "INVALID_INPUT"),
])
async def test_bad_credentials(make_harness: MakeHarness, idp: Idp, credentials: dict[str, Any],
                               status: int, code: str) -> None:
    h = await social_app(make_harness, idp)
    r = await h.client.post("/auth/login", json={"providerName": "google",
                                                 "credentials": credentials})
    assert_error(r, status, code)
    assert idp.requests == []  # refused before asking the provider


@pytest.mark.parametrize("provider", ["google", "apple", "github", "facebook", "corp"])
async def test_unconfigured_providers_are_invalid(h: Harness, provider: str) -> None:
    r = await h.client.post("/auth/login", json=body(provider, "t"))
    assert_error(r, 401, "INVALID_PROVIDER")


# -- the provider down or slow -----------------------------------------------------------
async def test_provider_down(make_harness: MakeHarness, idp: Idp) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    h = await make_harness(social={"google": {"issuer": dead, "client_id": CLIENT_ID},
                                   "github": {"client_id": GITHUB_CLIENT_ID,
                                              "api_url": dead + "/github"}})
    r = await h.client.post("/auth/login", json=body("google", idp.id_token()))
    assert_error(r, 503, "OAUTH_PROVIDER_UNAVAILABLE")
    r = await h.client.post("/auth/login", json=body("github", "gho_x"))
    assert_error(r, 503, "OAUTH_PROVIDER_UNAVAILABLE")


async def test_provider_slow_is_bounded(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp, social={"timeout": 0.2})
    idp.delay = 1.0
    r = await h.client.post("/auth/login", json=body("google", idp.id_token()))
    assert_error(r, 503, "OAUTH_PROVIDER_UNAVAILABLE")
    assert idp.requests == ["/.well-known/openid-configuration"] * 2  # one retry, no more


async def test_provider_errors(make_harness: MakeHarness, idp: Idp) -> None:
    h = await social_app(make_harness, idp)
    idp.fail = True
    r = await h.client.post("/auth/login", json=body("corp", idp.id_token()))
    assert_error(r, 503, "OAUTH_PROVIDER_UNAVAILABLE")
    idp.fail = False
    bad_issuer = await social_app(make_harness, idp, social={
        "oidc": {"corp": idp.settings(issuer=idp.issuer + "/")}})  # discovery says otherwise
    r = await bad_issuer.client.post("/auth/login", json=body("corp", idp.id_token()))
    assert_error(r, 401, "OAUTH_PROVIDER_ERROR")


# -- client-config ---------------------------------------------------------------------
async def test_client_config_blocks(make_harness: MakeHarness, idp: Idp, h: Harness) -> None:
    default = (await h.client.get("/auth/client-config")).json()
    for name in ("google", "facebook", "apple", "github"):
        assert default[name] == {"enabled": False}
    assert default["customProviders"] == []
    s = await social_app(make_harness, idp)
    cfg = (await s.client.get("/auth/client-config")).json()
    assert cfg["google"] == {"enabled": True, "clientId": CLIENT_ID}
    assert cfg["apple"] == {"enabled": True, "clientId": CLIENT_ID}
    assert cfg["github"] == {"enabled": True, "clientId": GITHUB_CLIENT_ID}
    assert cfg["facebook"] == {"enabled": True, "appId": FB_APP_ID}
    assert cfg["customProviders"] == ["corp"]
    assert "secret" not in str(cfg).lower()


# -- tenants ---------------------------------------------------------------------------
async def test_shared_tenants_auto_join_with_create(make_harness: MakeHarness, idp: Idp) -> None:
    from authgate.tenancy import service as tenancy

    h = await social_app(make_harness, idp, tenant={"mode": "shared"})
    acme = (await tenancy.create_tenant(h.res, name="Acme", slug="acme")).id
    beta = (await tenancy.create_tenant(h.res, name="Beta", slug="beta")).id
    r = await h.client.post("/auth/login", json={**body("google", idp.id_token()),
                                                 "tenantId": acme})
    assert r.status_code == 200, r.text
    user_id = claims(r.json()["accessToken"])["sub"]
    assert claims(r.json()["accessToken"]).get("tenantId") == acme
    # Not a member of beta: refused without createUserIfNotExists, joined with it.
    r = await h.client.post("/auth/login", json={**body("google", idp.id_token(), create=None),
                                                 "tenantId": beta})
    assert_error(r, 403, "ACCESS_DENIED")
    r = await h.client.post("/auth/login", json={**body("google", idp.id_token()),
                                                 "tenantId": beta})
    assert r.status_code == 200, r.text
    tenants = {m.tenant_id for m in await tenancy.list_memberships(h.res, user_id)}
    assert tenants == {acme, beta}
    # A membership an admin deactivated is not revived by a social login.
    await tenancy.add_member(h.res, user_id, beta, status="inactive")
    r = await h.client.post("/auth/login", json={**body("google", idp.id_token()),
                                                 "tenantId": beta})
    assert_error(r, 403, "ACCESS_DENIED")


async def test_isolated_tenants_keep_identities_apart(make_harness: MakeHarness,
                                                      idp: Idp) -> None:
    from authgate.tenancy import service as tenancy

    h = await social_app(make_harness, idp, tenant={"mode": "isolated"})
    acme = (await tenancy.create_tenant(h.res, name="Acme", slug="acme")).id
    beta = (await tenancy.create_tenant(h.res, name="Beta", slug="beta")).id
    assert_error(await h.client.post("/auth/login", json=body("google", idp.id_token())),
                 400, "TENANT_ID_REQUIRED")
    ids = set()
    for tenant in (acme, beta):
        r = await h.client.post("/auth/login", json={**body("google", idp.id_token()),
                                                     "tenantId": tenant})
        assert r.status_code == 200, r.text
        ids.add(claims(r.json()["accessToken"])["sub"])
    assert len(ids) == 2  # one account per tenant for the same provider account
    assert {i.tenant_scope for i in await identities(h)} == {acme, beta}
