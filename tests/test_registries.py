"""Adding an MFA method or a login provider needs no edit outside its own module: a fourth
MFA method and a fourth login provider, registered from this file only, work through
status, the toggle, login, the MFA challenge and verify, and client-config."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from pydantic import ValidationError
from sqlalchemy import ColumnElement, Table, exists

from authgate.accounts.providers.base import string_account
from authgate.config import Settings
from authgate.crypto.keys import equal
from authgate.errors import AuthError, Code
from authgate.identity import store as users
from authgate.identity.models import User
from authgate.identity.snapshot import UserSnapshot
from authgate.registry import login_providers, mfa_methods
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta
from authgate.tx import readonly
from tests.conftest import Harness, MakeHarness, base_settings, bearer
from tests.helpers import assert_error, claims, set_user

_U = cast(Table, User.__table__)
_KEY = b"static-code-test-key"


def static_code(user_id: str) -> str:
    return hmac.new(_KEY, user_id.encode(), hashlib.sha256).hexdigest()[:8]


@dataclass(frozen=True)
class StaticCode:
    """A fake fourth MFA method: a per-user code, "sent" to a list; usable when the
    database says the account has a phone number (a SQL fact, composed into the status
    read and the toggle's one statement)."""

    name: str = "static"
    login_rank: int = 40
    status_rank: int = 40
    delivers: bool = True
    strong: bool = False  # a code "sent" somewhere: steps aside for an authenticator
    sent: list[tuple[str, str]] = field(default_factory=list, compare=False, hash=False)

    def ready(self, res: Resources) -> bool:
        return True

    def usable(self, res: Resources, user: UserSnapshot) -> bool:
        return True

    def usable_sql(self, user_id: ColumnElement[str]) -> ColumnElement[bool] | None:
        return exists().where(_U.c.id == user_id, _U.c.phone.is_not(None))

    async def send_challenge(self, res: Resources, user: UserSnapshot) -> None:
        self.sent.append((user.id, static_code(user.id)))

    async def verify(self, res: Resources, user: UserSnapshot, code: str) -> UserSnapshot:
        if not equal(code, static_code(user.id)):
            raise AuthError(Code.MFA_CODE_INVALID)
        return user


@dataclass(frozen=True)
class StaticToken:
    """A fake fourth login provider that is a second factor itself (owes no MFA step)."""

    name: str = "static-token"
    amr: tuple[str, ...] = ("hwk",)
    owes_mfa: bool = False
    config_key: str = "staticToken"

    def enabled(self, settings: Settings) -> bool:
        return True

    def client_config(self, settings: Settings) -> dict[str, Any]:
        return {"enabled": True}

    def rate_limit_accounts(self, credentials: dict[str, Any], settings: Settings) -> list[str]:
        return string_account(credentials, "email", "email", settings)

    async def authenticate(self, res: Resources, credentials: dict[str, Any], *,
                           tenant_id: str | None, client: ClientMeta,
                           create_user: bool = False) -> UserSnapshot:
        email, token = credentials.get("email"), credentials.get("token")
        if not isinstance(email, str) or not isinstance(token, str):
            raise AuthError(Code.MISSING_REQUIRED_FIELDS)
        async with readonly(res.readmaker) as s:
            user = await users.by_email(s, email)
        if user is None or not equal(token, static_code(user.id)):
            raise AuthError(Code.INVALID_CREDENTIALS)
        return users.snapshot(user)


@pytest.fixture
def static_method() -> Iterator[StaticCode]:
    method = mfa_methods.register(StaticCode())
    try:
        yield method
    finally:
        mfa_methods.unregister(method.name)


@pytest.fixture
def static_provider() -> Iterator[StaticToken]:
    provider = login_providers.register(StaticToken())
    try:
        yield provider
    finally:
        login_providers.unregister(provider.name)


async def _signed_up(h: Harness, email: str, **extra: Any) -> tuple[str, str]:
    r = await h.signup(email, **extra)
    assert r.status_code == 200, r.text
    token: str = r.json()["accessToken"]
    # a verified address: only then is email a second factor
    await set_user(h.res, claims(token)["sub"], email_verified_at=h.clock.now())
    return token, claims(token)["sub"]


async def _status(h: Harness, token: str) -> dict[str, Any]:
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_settings_accept_only_registered_methods(static_method: StaticCode) -> None:
    s = base_settings("sqlite+aiosqlite:///:memory:",
                      mfa={"methods": ["totp", "static"], "default_method": "static"})
    assert s.mfa.methods == ("totp", "static") and s.mfa.default_method == "static"
    for bad in ({"methods": ["totp", "pigeon"]}, {"default_method": "pigeon"}):
        with pytest.raises(ValidationError) as info:
            base_settings("sqlite+aiosqlite:///:memory:", mfa=bad)
        assert "unknown MFA method 'pigeon'" in str(info.value)
        assert "static" in str(info.value)  # the message lists what is registered


async def test_a_fourth_mfa_method_from_a_test_only(
        make_harness: MakeHarness, static_method: StaticCode) -> None:
    h = await make_harness(mfa={"methods": ["totp", "email", "static"]})
    # status: usable only with a phone on file (its SQL fact), listed after the built-ins
    token, uid = await _signed_up(h, "nophone@example.com")
    st = await _status(h, token)
    assert st["configuredMethods"] == ["totp", "email", "static"]
    assert st["verifiedMethods"] == ["email"]
    token, uid = await _signed_up(h, "static@example.com", phone="+15550100")
    st = await _status(h, token)
    assert st["verifiedMethods"] == ["email", "static"]

    # toggle + login: the user's methods in login order, the fake one last
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert r.status_code == 200, r.text
    login = await h.login("static@example.com")
    body = login.json()
    assert body["isRequiresMfa"] is True
    assert body["mfaMethods"] == ["email", "static"]
    pending = body["accessToken"]

    # challenge: the method's own delivery; verify: its own check
    r = await h.client.post("/auth/mfa/challenge", json={"method": "static"},
                            headers=bearer(pending))
    assert r.status_code == 200 and r.json() == {"message": "MFA code sent successfully"}
    assert static_method.sent == [(uid, static_code(uid))]
    r = await h.client.post("/auth/mfa/verify", json={"method": "static", "otp": "00000000"},
                            headers=bearer(pending))
    assert_error(r, 401, "MFA_CODE_INVALID")
    r = await h.client.post("/auth/mfa/verify",
                            json={"method": "static", "otp": static_code(uid)},
                            headers=bearer(pending))
    assert r.status_code == 200, r.text
    upgraded = r.json()
    assert upgraded["isRequiresMfa"] is False
    r = await h.client.get("/auth/user", headers=bearer(upgraded["accessToken"]))
    assert r.status_code == 200 and r.json()["id"] == uid


async def test_the_fourth_method_alone_allows_enabling(
        make_harness: MakeHarness, static_method: StaticCode) -> None:
    """The toggle's one statement composes the registered method's SQL fact: with only the
    fake method configured, a phone on file (and nothing else) allows enabling."""
    h = await make_harness(mfa={"methods": ["static"], "default_method": "static"})
    token, uid = await _signed_up(h, "alone@example.com")
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert_error(r, 403, "MFA_CANNOT_ENABLE_WITHOUT_METHOD")
    await set_user(h.res, uid, phone="+15550101")
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert (await _status(h, token))["isEnabled"] is True
    body = (await h.login("alone@example.com")).json()
    assert body["mfaMethods"] == ["static"] and body["defaultMfaMethod"] == "static"
    # a method the app does not configure is refused at verify, as the built-ins are
    r = await h.client.post("/auth/mfa/verify", json={"method": "totp", "otp": "123456"},
                            headers=bearer(body["accessToken"]))
    assert_error(r, 400, "MFA_METHOD_NOT_AVAILABLE")


async def test_unregistered_method_is_unknown_again(make_harness: MakeHarness) -> None:
    method = mfa_methods.register(StaticCode())
    mfa_methods.unregister(method.name)
    h = await make_harness()
    token, _ = await _signed_up(h, "gone@example.com")
    r = await h.client.post("/auth/mfa/verify", json={"method": "static", "otp": "x"},
                            headers=bearer(token))
    assert_error(r, 400, "INVALID_INPUT",
                 "method must be one of the following values: email, sms, totp, webauthn")


async def test_a_fourth_login_provider_from_a_test_only(
        make_harness: MakeHarness, static_provider: StaticToken) -> None:
    h = await make_harness()
    token, uid = await _signed_up(h, "provider@example.com")
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert r.status_code == 200, r.text
    config = (await h.client.get("/auth/client-config")).json()
    assert config["staticToken"] == {"enabled": True}
    assert config["emailAuth"] == {"enabled": True}

    def login(tok: str) -> Any:
        return h.client.post("/auth/login", json={
            "providerName": "static-token",
            "credentials": {"email": "provider@example.com", "token": tok}})

    assert_error(await login("wrong"), 401, "INVALID_CREDENTIALS")
    r = await login(static_code(uid))
    assert r.status_code == 200, r.text
    body = r.json()
    # a provider that is a second factor itself: no MFA step, even with MFA on
    assert body["isRequiresMfa"] is False
    assert claims(body["accessToken"])["sub"] == uid
    r = await h.client.get("/auth/user", headers=bearer(body["accessToken"]))
    assert r.status_code == 200, r.text
    # the password provider still owes the step
    assert (await h.login("provider@example.com")).json()["isRequiresMfa"] is True


async def test_unregistered_provider_is_refused(make_harness: MakeHarness) -> None:
    provider = login_providers.register(StaticToken())
    login_providers.unregister(provider.name)
    h = await make_harness()
    r = await h.client.post("/auth/login", json={
        "providerName": "static-token", "credentials": {"email": "a@example.com"}})
    assert_error(r, 401, "INVALID_PROVIDER")
    assert "staticToken" not in (await h.client.get("/auth/client-config")).json()
