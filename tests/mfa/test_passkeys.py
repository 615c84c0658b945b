"""Passkeys (WebAuthn) over HTTP on both databases: registration, list/rename/remove, the
MFA step and passwordless sign-in, driven by a software authenticator that makes real
"none"-attestation registrations and ES256 assertions (``tests/webauthn_authenticator``),
and the hostile cases: wrong origin, wrong RP id, replayed or expired challenges, a counter
going backwards, tampered client data, someone else's credential or challenge."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from authgate.config import Settings
from authgate.events import Event
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims, set_user, stored_user
from tests.webauthn_authenticator import SoftAuthenticator, b64u, unb64u

ORIGIN = "http://localhost:8000"
PASSWORD = "correct horse battery"
WEBAUTHN = {"rp_id": "localhost", "origins": [ORIGIN], "passwordless": True}
METHODS = ["totp", "email", "webauthn"]


async def _app(make_harness: MakeHarness, *, mfa: dict[str, Any] | None = None,
               **webauthn: Any) -> Harness:
    return await make_harness(
        jwt={"access_token_expires_in": "1d"},
        mfa={"methods": METHODS, **(mfa or {})}, webauthn={**WEBAUTHN, **webauthn})


def _events(h: Harness) -> list[Event]:
    seen: list[Event] = []
    h.res.events.subscribe("*", seen.append)
    return seen


async def _options(h: Harness, token: str) -> dict[str, Any]:
    r = await h.client.post("/auth/passkeys/register-options", headers=bearer(token))
    assert r.status_code == 200, r.text
    options: dict[str, Any] = r.json()["options"]
    return options


async def _register(h: Harness, token: str, auth: SoftAuthenticator, *,
                    name: str | None = None, **create: Any) -> httpx.Response:
    options = await _options(h, token)
    body: dict[str, Any] = {"credential": auth.create(options, **create)}
    if name is not None:
        body["name"] = name
    return await h.client.post("/auth/passkeys/register", json=body, headers=bearer(token))


async def _user_with_passkey(h: Harness, email: str = "alice@example.com", *,
                             mfa: bool = True) -> tuple[str, SoftAuthenticator]:
    """A verified user with a registered passkey (and MFA on): (user id, authenticator)."""
    u = await h.make_user(email, verified=True, tokens=True)
    assert u.access_token is not None
    auth = SoftAuthenticator(ORIGIN)
    r = await _register(h, u.access_token, auth)
    assert r.status_code == 200, r.text
    if mfa:
        r = await h.client.post("/auth/mfa/toggle", json={"enabled": True},
                                headers=bearer(u.access_token))
        assert r.status_code == 200, r.text
    return u.id, auth


async def _pending(h: Harness, email: str = "alice@example.com") -> dict[str, Any]:
    r = await h.login(email, PASSWORD)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["isRequiresMfa"] is True
    return body


async def _mfa_options(h: Harness, token: str) -> dict[str, Any]:
    r = await h.client.post("/auth/mfa/challenge", json={"method": "webauthn"},
                            headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Passkey challenge created"
    options: dict[str, Any] = r.json()["options"]
    return options


async def _mfa_verify(h: Harness, token: str, assertion: dict[str, Any]) -> httpx.Response:
    return await h.client.post("/auth/mfa/verify", json={
        "method": "webauthn", "otp": json.dumps(assertion)}, headers=bearer(token))


async def _login_options(h: Harness) -> dict[str, Any]:
    r = await h.client.post("/auth/passkeys/login-options")
    assert r.status_code == 200, r.text
    options: dict[str, Any] = r.json()["options"]
    return options


async def _passkey_login(h: Harness, assertion: Any) -> httpx.Response:
    return await h.client.post("/auth/login", json={
        "providerName": "passkey", "credentials": {"credential": assertion}})


# registration ----------------------------------------------------------------------------------
async def test_register_list_rename_remove(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    seen = _events(h)
    u = await h.make_user(verified=True, tokens=True)
    token = u.access_token
    assert token is not None
    options = await _options(h, token)
    assert options["rp"] == {"id": "localhost", "name": "authgate"}
    assert unb64u(options["user"]["id"]) == u.id.encode()
    assert options["user"]["name"] == "alice@example.com"
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert len(unb64u(options["challenge"])) == 32
    auth = SoftAuthenticator(ORIGIN)
    r = await h.client.post("/auth/passkeys/register", json={
        "credential": auth.create(options), "name": "  My   laptop "}, headers=bearer(token))
    assert r.status_code == 200, r.text
    made = r.json()
    assert made["name"] == "My laptop" and made["transports"] == ["internal"]
    assert made["lastUsedAt"] is None and made["backedUp"] is False
    assert [e.data for e in seen if e.name == "mfa.device_added"] == [
        {"deviceId": made["id"], "deviceName": "My laptop", "method": "webauthn"}]
    # the next options exclude it; an unnamed second one gets a numbered name
    options = await _options(h, token)
    assert [c["id"] for c in options["excludeCredentials"]] == [b64u(auth.only)]
    second = SoftAuthenticator(ORIGIN)
    h.clock.advance(1)  # listed oldest first
    r = await h.client.post("/auth/passkeys/register", json={
        "credential": second.create(options)}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["name"] == "Passkey 2", r.text
    r = await h.client.get("/auth/passkeys", headers=bearer(token))
    assert r.status_code == 200
    assert [p["name"] for p in r.json()] == ["My laptop", "Passkey 2"]
    # rename
    r = await h.client.patch(f"/auth/passkeys/{made['id']}", json={"name": "Work"},
                             headers=bearer(token))
    assert r.status_code == 200 and r.json()["name"] == "Work", r.text
    # the status lists the method
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert "webauthn" in r.json()["verifiedMethods"]
    # remove
    r = await h.client.delete(f"/auth/passkeys/{made['id']}", headers=bearer(token))
    assert r.status_code == 200 and r.json() == {"message": "Passkey removed successfully"}
    r = await h.client.get("/auth/passkeys", headers=bearer(token))
    assert [p["name"] for p in r.json()] == ["Passkey 2"]
    assert [e.data for e in seen if e.name == "mfa.device_removed"] == [
        {"deviceId": made["id"], "method": "webauthn"}]


async def test_other_users_passkeys_are_not_found(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    await _user_with_passkey(h, "bob@example.com", mfa=False)
    bob_token = (await h.make_user("carol@example.com", tokens=True)).access_token
    assert bob_token is not None
    # carol sees none of bob's and cannot rename or remove them
    async with h.res.sessionmaker() as s:
        from sqlalchemy import select

        from authgate.mfa.models import WebauthnCredential
        bobs = (await s.execute(select(WebauthnCredential.id))).scalars().all()
    r = await h.client.get("/auth/passkeys", headers=bearer(bob_token))
    assert r.json() == []
    for pid in (bobs[0], "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        r = await h.client.patch(f"/auth/passkeys/{pid}", json={"name": "mine"},
                                 headers=bearer(bob_token))
        assert_error(r, 404, "PASSKEY_NOT_FOUND", "Passkey not found")
        r = await h.client.delete(f"/auth/passkeys/{pid}", headers=bearer(bob_token))
        assert_error(r, 404, "PASSKEY_NOT_FOUND", "Passkey not found")


@pytest.mark.parametrize("attack", ["origin", "rp_id", "uv_required", "type", "challenge"])
async def test_registration_refused(make_harness: MakeHarness, attack: str) -> None:
    h = await _app(make_harness, user_verification="required" if attack == "uv_required"
                   else "preferred")
    token = await h.session_token()
    auth = SoftAuthenticator(ORIGIN)
    options = await _options(h, token)
    if attack == "origin":
        cred = auth.create(options, origin="http://localhost:8001")
    elif attack == "rp_id":
        cred = auth.create(options, rp_id="evil.example")
    elif attack == "uv_required":
        cred = auth.create(options, uv=False)
    elif attack == "type":  # an assertion's client data where a registration belongs
        cred = auth.create(options)
        data = json.loads(unb64u(cred["response"]["clientDataJSON"]))
        data["type"] = "webauthn.get"
        cred["response"]["clientDataJSON"] = b64u(json.dumps(data).encode())
    else:  # a challenge this server never issued
        cred = auth.create(options, challenge=b64u(b"x" * 32))
    r = await h.client.post("/auth/passkeys/register", json={"credential": cred},
                            headers=bearer(token))
    if attack == "challenge":
        assert_error(r, 400, "PASSKEY_CHALLENGE_INVALID")
    else:
        assert_error(r, 400, "PASSKEY_REGISTRATION_FAILED", "The passkey could not be verified")
    r = await h.client.get("/auth/passkeys", headers=bearer(token))
    assert r.json() == []


async def test_registration_challenge_is_single_use_short_lived_and_bound(
        make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    token = await h.session_token()
    auth = SoftAuthenticator(ORIGIN)
    options = await _options(h, token)
    cred = auth.create(options)
    # another user (and another session of the same user) cannot spend it
    other = await h.session_token("bob@example.com")
    r = await h.client.post("/auth/passkeys/register", json={"credential": cred},
                            headers=bearer(other))
    assert_error(r, 400, "PASSKEY_CHALLENGE_INVALID",
                 "The passkey challenge is unknown, used or expired")
    r = await h.client.post("/auth/passkeys/register", json={"credential": cred},
                            headers=bearer(token))
    assert r.status_code == 200, r.text
    # replayed: spent
    r = await h.client.post("/auth/passkeys/register", json={"credential": cred},
                            headers=bearer(token))
    assert_error(r, 400, "PASSKEY_CHALLENGE_INVALID")
    # expired
    options = await _options(h, token)
    h.clock.advance(timedelta(minutes=5, seconds=1))
    r = await h.client.post("/auth/passkeys/register", json={
        "credential": SoftAuthenticator(ORIGIN).create(options)}, headers=bearer(token))
    assert_error(r, 400, "PASSKEY_CHALLENGE_INVALID")


async def test_a_registered_credential_cannot_be_registered_again(
        make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    _, auth = await _user_with_passkey(h, mfa=False)
    token = await h.session_token("bob@example.com")
    r = await _register(h, token, SoftAuthenticator(ORIGIN), credential_id=auth.only)
    assert_error(r, 409, "PASSKEY_ALREADY_REGISTERED", "This passkey is already registered")


async def test_registration_limit(make_harness: MakeHarness) -> None:
    h = await _app(make_harness, max_credentials=1)
    token = await h.session_token()
    options = await _options(h, token)  # issued while there was room
    assert (await _register(h, token, SoftAuthenticator(ORIGIN))).status_code == 200
    r = await h.client.post("/auth/passkeys/register-options", headers=bearer(token))
    assert_error(r, 400, "PASSKEY_LIMIT_REACHED")
    r = await h.client.post("/auth/passkeys/register", json={
        "credential": SoftAuthenticator(ORIGIN).create(options)}, headers=bearer(token))
    assert_error(r, 400, "PASSKEY_LIMIT_REACHED")


@pytest.mark.parametrize("body", [{}, {"credential": "x"}, {"credential": {}},
                                  {"credential": {"response": {"clientDataJSON": "!!"}}},
                                  {"credential": {"response": {"clientDataJSON": 5}}}])
async def test_malformed_registrations(make_harness: MakeHarness, body: Any) -> None:
    h = await _app(make_harness)
    token = await h.session_token()
    await _options(h, token)
    r = await h.client.post("/auth/passkeys/register", json=body, headers=bearer(token))
    if "credential" not in body or not isinstance(body["credential"], dict):
        assert_error(r, 400, "INVALID_INPUT")
    else:
        assert_error(r, 400, "PASSKEY_REGISTRATION_FAILED")


async def test_pending_sessions_cannot_manage_passkeys(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    await _user_with_passkey(h)
    pending = (await _pending(h))["accessToken"]
    for method, path in (("POST", "/auth/passkeys/register-options"),
                         ("GET", "/auth/passkeys")):
        r = await h.client.request(method, path, headers=bearer(pending))
        assert_error(r, 401, "MFA_REQUIRED")


async def test_removing_the_last_factor_turns_mfa_off_and_needs_step_up(
        make_harness: MakeHarness) -> None:
    h = await _app(make_harness, mfa={"reauth_window": "10m"})
    u = await h.make_user(tokens=True)  # email unverified: the passkey is the only method
    assert u.access_token is not None
    token = u.access_token
    r = await _register(h, token, SoftAuthenticator(ORIGIN))
    pid = r.json()["id"]
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert r.status_code == 200, r.text
    h.clock.advance(timedelta(minutes=11))
    r = await h.client.delete(f"/auth/passkeys/{pid}", headers=bearer(token))
    assert_error(r, 403, "REAUTH_REQUIRED")
    h.clock.advance(timedelta(minutes=-11))
    r = await h.client.delete(f"/auth/passkeys/{pid}", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert (await stored_user(h.res, u.id)).is_mfa_enabled is False


async def test_registering_needs_step_up(make_harness: MakeHarness) -> None:
    """Issue #19 item 5: a new factor outlives the token that enrolled it, so a stolen,
    older token cannot add its own passkey (default window: 10 minutes)."""
    h = await _app(make_harness)
    u = await h.make_user(verified=True, tokens=True)
    assert u.access_token is not None
    auth = SoftAuthenticator(ORIGIN)
    options = await _options(h, u.access_token)  # within the window
    h.clock.advance(timedelta(minutes=11))
    r = await h.client.post("/auth/passkeys/register-options", headers=bearer(u.access_token))
    assert_error(r, 403, "REAUTH_REQUIRED")
    r = await h.client.post("/auth/passkeys/register", headers=bearer(u.access_token),
                            json={"credential": auth.create(options)})
    assert_error(r, 403, "REAUTH_REQUIRED")
    r = await h.client.get("/auth/passkeys", headers=bearer(u.access_token))
    assert r.status_code == 200 and r.json() == []


async def test_passkeys_off_by_default(h: Harness) -> None:
    token = await h.session_token()
    for method, path in (("POST", "/auth/passkeys/register-options"),
                         ("GET", "/auth/passkeys"), ("POST", "/auth/passkeys/login-options")):
        r = await h.client.request(method, path, headers=bearer(token))
        assert_error(r, 403, "PASSKEYS_NOT_ENABLED")
    r = await _passkey_login(h, {})
    assert_error(r, 401, "INVALID_PROVIDER")
    r = await h.client.post("/auth/mfa/challenge", json={"method": "webauthn"},
                            headers=bearer(token))
    assert r.status_code in (400, 403)


def test_settings_require_rp_id_and_origins() -> None:
    with pytest.raises(ValueError, match="webauthn.rp_id and webauthn.origins"):
        Settings(mfa={"methods": ["totp", "webauthn"]})
    with pytest.raises(ValueError, match="webauthn.rp_id and webauthn.origins"):
        Settings(webauthn={"passwordless": True, "rp_id": "example.com"})
    with pytest.raises(ValueError, match="is not an origin"):
        Settings(webauthn={"origins": ["example.com"]})
    with pytest.raises(ValueError, match="only over https"):
        Settings(webauthn={"origins": ["http://app.example.com"]})
    Settings(webauthn={"origins": ["http://localhost:3000", "http://127.0.0.1", "https://a.b"]})
    Settings(mfa={"methods": ["webauthn"]},
             webauthn={"rp_id": "example.com", "origins": ["https://app.example.com"]})


# the MFA step ----------------------------------------------------------------------------------
async def test_mfa_step_with_a_passkey(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    seen = _events(h)
    _, auth = await _user_with_passkey(h)
    body = await _pending(h)
    assert body["mfaMethods"] == ["totp", "webauthn"][1:] or "webauthn" in body["mfaMethods"]
    token = body["accessToken"]
    options = await _mfa_options(h, token)
    assert options["rpId"] == "localhost"
    assert options["userVerification"] == "preferred"
    assert [c["id"] for c in options["allowCredentials"]] == [b64u(auth.only)]
    r = await _mfa_verify(h, token, auth.get(options))
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["isRequiresMfa"] is False and done["accessToken"]
    r = await h.client.get("/auth/user", headers=bearer(done["accessToken"]))
    assert r.status_code == 200
    verified = [e for e in seen if e.name == "mfa.verified"]
    assert verified and verified[-1].data["method"] == "webauthn"
    r = await h.client.get("/auth/passkeys", headers=bearer(done["accessToken"]))
    assert r.json()[0]["lastUsedAt"] is not None


async def test_webauthn_is_offered_only_where_configured(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    await _user_with_passkey(h)
    # the same database, an app that does not configure the method
    plain = await make_harness(jwt={"access_token_expires_in": "1d"}, webauthn=WEBAUTHN)
    r = await plain.login("alice@example.com", PASSWORD)
    token = r.json()["accessToken"]
    assert "webauthn" not in (r.json().get("mfaMethods") or [])
    r = await plain.client.post("/auth/mfa/challenge", json={"method": "webauthn"},
                                headers=bearer(token))
    assert_error(r, 400, "MFA_METHOD_NOT_AVAILABLE")
    r = await plain.client.post("/auth/mfa/verify", json={"method": "webauthn", "otp": "{}"},
                                headers=bearer(token))
    assert_error(r, 400, "MFA_METHOD_NOT_AVAILABLE")


async def test_challenge_for_a_user_without_passkeys(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    await h.make_user(verified=True, mfa=True)
    token = (await _pending(h))["accessToken"]
    r = await h.client.post("/auth/mfa/challenge", json={"method": "webauthn"},
                            headers=bearer(token))
    assert_error(r, 400, "MFA_METHOD_NOT_AVAILABLE")


@pytest.mark.parametrize("attack", ["origin", "rp_id", "tampered", "no_uv_when_required",
                                    "foreign_credential", "foreign_challenge", "garbage"])
async def test_mfa_step_refuses(make_harness: MakeHarness, attack: str) -> None:
    uv = "required" if attack == "no_uv_when_required" else "preferred"
    h = await _app(make_harness, user_verification=uv,
                   mfa={"session_max_attempts": 100, "client_max_attempts": 100})
    seen = _events(h)
    _, auth = await _user_with_passkey(h)
    _, bobs = await _user_with_passkey(h, "bob@example.com")
    token = (await _pending(h))["accessToken"]
    options = await _mfa_options(h, token)
    otp: Any
    if attack == "origin":
        otp = auth.get(options, origin="https://evil.example")
    elif attack == "rp_id":
        otp = auth.get(options, rp_id="evil.example")
    elif attack == "tampered":  # signed over the real client data, another one sent
        otp = auth.get(options)
        data = json.loads(unb64u(otp["response"]["clientDataJSON"]))
        data["origin"] = "https://evil.example"
        otp["response"]["clientDataJSON"] = b64u(json.dumps(data).encode())
    elif attack == "no_uv_when_required":
        otp = auth.get(options, uv=False)
    elif attack == "foreign_credential":  # bob's passkey over alice's challenge
        otp = bobs.get(options, credential=bobs.only)
    elif attack == "foreign_challenge":  # a challenge issued to bob's pending session
        bob_token = (await _pending(h, "bob@example.com"))["accessToken"]
        otp = bobs.get(await _mfa_options(h, bob_token))
        otp = {**otp, "id": b64u(auth.only)}
    else:
        otp = "not json"
    r = await h.client.post("/auth/mfa/verify", json={
        "method": "webauthn", "otp": otp if isinstance(otp, str) else json.dumps(otp)},
        headers=bearer(token))
    if attack == "foreign_challenge":
        assert_error(r, 400, "PASSKEY_CHALLENGE_INVALID")
    elif attack == "garbage":
        assert_error(r, 401, "PASSKEY_INVALID", "The passkey response is not JSON")
    else:
        assert_error(r, 401, "PASSKEY_INVALID", "Invalid passkey")
    failed = [e for e in seen if e.name == "mfa.failed"]
    assert failed and failed[-1].data["method"] == "webauthn"
    # the right answer to a fresh challenge still works: nothing was spent but the challenge
    r = await _mfa_verify(h, token, auth.get(await _mfa_options(h, token)))
    assert r.status_code == 200, r.text


async def test_mfa_assertion_replayed(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    _, auth = await _user_with_passkey(h)
    token = (await _pending(h))["accessToken"]
    assertion = auth.get(await _mfa_options(h, token))
    assert (await _mfa_verify(h, token, assertion)).status_code == 200
    token2 = (await _pending(h))["accessToken"]
    r = await _mfa_verify(h, token2, assertion)
    assert_error(r, 400, "PASSKEY_CHALLENGE_INVALID")
    # expired
    options = await _mfa_options(h, token2)
    h.clock.advance(timedelta(minutes=5, seconds=1))
    assert_error(await _mfa_verify(h, token2, auth.get(options)), 400,
                 "PASSKEY_CHALLENGE_INVALID")


async def test_counter_going_backwards_is_refused_and_reported(
        make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    seen = _events(h)
    uid, auth = await _user_with_passkey(h)
    token = (await _pending(h))["accessToken"]
    r = await _mfa_verify(h, token, auth.get(await _mfa_options(h, token), sign_count=10))
    assert r.status_code == 200, r.text
    for count in (10, 9, 0):  # standing still, going back, or dropping to 0
        token = (await _pending(h))["accessToken"]
        r = await _mfa_verify(h, token, auth.get(await _mfa_options(h, token),
                                                 sign_count=count))
        assert_error(r, 401, "PASSKEY_CLONE_DETECTED")
    clones = [e for e in seen if e.name == "passkey.clone_detected"]
    assert [(e.user_id, e.data["storedCount"], e.data["presentedCount"]) for e in clones] == [
        (uid, 10, 10), (uid, 10, 9), (uid, 10, 0)]
    r = await _mfa_verify(h, token, auth.get(await _mfa_options(h, token), sign_count=11))
    assert r.status_code == 200, r.text


async def test_authenticators_that_do_not_count(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    _, auth = await _user_with_passkey(h)
    auth.counts = False
    for _ in range(2):
        token = (await _pending(h))["accessToken"]
        r = await _mfa_verify(h, token, auth.get(await _mfa_options(h, token)))
        assert r.status_code == 200, r.text


# passwordless ----------------------------------------------------------------------------------
async def test_passwordless_sign_in(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    seen = _events(h)
    uid, auth = await _user_with_passkey(h)  # MFA on: the passkey counts as both factors
    options = await _login_options(h)
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    r = await _passkey_login(h, auth.get(options))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["isRequiresMfa"] is False and claims(body["accessToken"])["sub"] == uid
    r = await h.client.get("/auth/user", headers=bearer(body["accessToken"]))
    assert r.status_code == 200 and r.json()["id"] == uid
    assert [e.data.get("provider") for e in seen if e.name == "user.logged_in"] == ["passkey"]
    r = await h.client.get("/auth/client-config")
    assert r.json()["passkey"] == {"enabled": True}


@pytest.mark.parametrize("attack", ["no_uv", "other_user_handle", "replay", "origin", "rp_id",
                                    "unknown_credential", "mfa_challenge", "missing",
                                    "not_an_object"])
async def test_passwordless_refuses(make_harness: MakeHarness, attack: str) -> None:
    h = await _app(make_harness)
    seen = _events(h)
    _, auth = await _user_with_passkey(h)
    bob_id, _ = await _user_with_passkey(h, "bob@example.com")
    options = await _login_options(h)
    cred: Any
    status, code = 401, "PASSKEY_INVALID"
    if attack == "no_uv":
        cred = auth.get(options, uv=False)
    elif attack == "other_user_handle":
        cred = auth.get(options, user_handle=bob_id.encode())
    elif attack == "replay":
        cred = auth.get(options)
        assert (await _passkey_login(h, cred)).status_code == 200
        status, code = 400, "PASSKEY_CHALLENGE_INVALID"
    elif attack == "origin":
        cred = auth.get(options, origin="https://evil.example")
    elif attack == "rp_id":
        cred = auth.get(options, rp_id="evil.example")
    elif attack == "unknown_credential":
        stranger = SoftAuthenticator(ORIGIN)
        stranger.create({"rp": {"id": "localhost"}, "user": {"id": b64u(b"x")},
                         "challenge": b64u(b"c")})
        cred = stranger.get(options)
    elif attack == "mfa_challenge":  # a challenge issued for alice's MFA step
        token = (await _pending(h))["accessToken"]
        cred = auth.get(await _mfa_options(h, token))
        status, code = 400, "PASSKEY_CHALLENGE_INVALID"
    elif attack == "missing":
        cred = None
        status, code = 400, "MISSING_REQUIRED_FIELDS"
    else:
        cred = ["not", "an", "object"]
    r = await _passkey_login(h, cred)
    assert_error(r, status, code)
    if attack not in ("missing", "replay"):
        assert any(e.name == "user.login_failed" for e in seen)


async def test_passwordless_inactive_account(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    uid, auth = await _user_with_passkey(h)
    await set_user(h.res, uid, status="inactive")
    r = await _passkey_login(h, auth.get(await _login_options(h)))
    assert_error(r, 401, "ACCOUNT_INACTIVE")


async def test_passwordless_off_keeps_the_mfa_method(make_harness: MakeHarness) -> None:
    h = await _app(make_harness, passwordless=False)
    _, auth = await _user_with_passkey(h)
    assert_error(await h.client.post("/auth/passkeys/login-options"), 403,
                 "PASSKEYS_NOT_ENABLED", "Passkey sign-in is not enabled")
    assert_error(await _passkey_login(h, {}), 401, "INVALID_PROVIDER")
    token = (await _pending(h))["accessToken"]
    r = await _mfa_verify(h, token, auth.get(await _mfa_options(h, token)))
    assert r.status_code == 200, r.text


# races, limits, trust ----------------------------------------------------------------------------
async def test_one_assertion_raced_by_two_sessions_wins_once(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    _, auth = await _user_with_passkey(h)
    first = (await _pending(h))["accessToken"]
    second = (await _pending(h))["accessToken"]
    assertion = auth.get(await _mfa_options(h, first))  # the challenge is bound to the user
    results = await asyncio.gather(_mfa_verify(h, first, assertion),
                                   _mfa_verify(h, second, assertion))
    assert sorted(r.status_code for r in results) == [200, 400], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 400)
    assert_error(loser, 400, "PASSKEY_CHALLENGE_INVALID")


async def test_wrong_assertions_spend_the_mfa_attempts(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)  # mfa.session_max_attempts: 3 per pending session
    _, auth = await _user_with_passkey(h)
    token = (await _pending(h))["accessToken"]
    for _ in range(3):
        r = await _mfa_verify(h, token, auth.get(await _mfa_options(h, token),
                                                 origin="https://evil.example"))
        assert_error(r, 401, "PASSKEY_INVALID")
    r = await _mfa_verify(h, token, auth.get(await _mfa_options(h, token)))
    assert_error(r, 429, "MFA_TOO_MANY_ATTEMPTS")  # even the right one, the 4th of 3


async def test_trust_device_after_a_passkey_step(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    _, auth = await _user_with_passkey(h)
    token = (await _pending(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify", json={
        "method": "webauthn", "otp": json.dumps(auth.get(await _mfa_options(h, token))),
        "trustDevice": True}, headers=bearer(token))
    assert r.status_code == 200, r.text
    trust = r.json()["trustToken"]
    r = await h.client.post("/auth/login", json={
        "providerName": "email",
        "credentials": {"email": "alice@example.com", "password": PASSWORD}},
        headers={h.settings.mfa.trust_device_storage_name: trust})
    assert r.status_code == 200 and r.json()["isRequiresMfa"] is False, r.text


async def test_passkey_login_with_a_tenant_while_tenancy_is_off(
        make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    _, auth = await _user_with_passkey(h)
    r = await h.client.post("/auth/login", json={
        "providerName": "passkey", "tenantId": "acme",
        "credentials": {"credential": auth.get(await _login_options(h))}})
    assert_error(r, 400, "TENANT_NOT_ENABLED")


async def test_a_user_keeps_five_open_challenges(make_harness: MakeHarness) -> None:
    h = await _app(make_harness)
    token = await h.session_token()
    issued = []
    for _ in range(6):
        issued.append(await _options(h, token))
        h.clock.advance(1)
    auth = SoftAuthenticator(ORIGIN)
    r = await h.client.post("/auth/passkeys/register", json={
        "credential": auth.create(issued[0])}, headers=bearer(token))
    assert_error(r, 400, "PASSKEY_CHALLENGE_INVALID")  # the oldest made room
    r = await h.client.post("/auth/passkeys/register", json={
        "credential": auth.create(issued[1])}, headers=bearer(token))
    assert r.status_code == 200, r.text


async def test_enrolment_under_mfa_required(make_harness: MakeHarness) -> None:
    """``mfa.required`` and no usable method yet: the pending session may register a passkey
    (as it may set up an authenticator), then finishes the MFA step with it."""
    h = await _app(make_harness, mfa={"required": True})
    await h.make_user()  # email unverified: no method at the MFA step
    body = await _pending(h)
    assert body["mfaMethods"] == []
    token = body["accessToken"]
    auth = SoftAuthenticator(ORIGIN)
    r = await _register(h, token, auth)
    assert r.status_code == 200, r.text
    r = await _mfa_verify(h, token, auth.get(await _mfa_options(h, token)))
    assert r.status_code == 200 and r.json()["isRequiresMfa"] is False, r.text
    # with a method enrolled, the next pending session may not register another
    token = (await _pending(h))["accessToken"]
    r = await h.client.post("/auth/passkeys/register-options", headers=bearer(token))
    assert_error(r, 401, "MFA_REQUIRED")
