"""Shared steps for the MFA tests: enrol an authenticator, make codes, finish a login."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from authgate.crypto import totp as otp
from authgate.mfa import totp as totp_flows
from authgate.sessions.service import Sessions, TokenPair
from tests.conftest import Harness, bearer
from tests.helpers import claims, set_user

PASSWORD = "correct horse battery"


def code(h: Harness, secret: str, steps: int = 0) -> str:
    """The code for the current time step of ``h``'s clock, shifted by ``steps``."""
    p = totp_flows.params(h.res)
    return otp.code_at_step(secret, otp.time_step(h.clock.now(), p) + steps, p)


def next_step(h: Harness) -> None:
    """Move the clock to one second into the next time step (a fresh, unused code)."""
    period = h.res.settings.mfa.totp.period
    now = h.clock.now().timestamp()
    h.clock.set(datetime.fromtimestamp((int(now) // period + 1) * period + 1, UTC))


def at_step_start(h: Harness) -> None:
    """Align the clock with the start of a step (+1 s) so ±1-step arithmetic is exact."""
    next_step(h)


async def enroll(h: Harness, token: str, **body: Any) -> str:
    """setup-totp + verify-totp-setup; returns the secret. Leaves the clock in a fresh step
    (the set-up code is burnt)."""
    r = await h.client.post("/auth/mfa/setup-totp", json=body, headers=bearer(token))
    assert r.status_code == 200, r.text
    secret: str = r.json()["secret"]
    r = await h.client.post("/auth/mfa/verify-totp-setup",
                            json={"otp": code(h, secret), "secret": secret},
                            headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Device setup successfully"}
    next_step(h)
    return secret


async def signup_token(h: Harness, email: str = "alice@example.com", *,
                       verified: bool = True) -> str:
    """Sign up; ``verified``: the address is proven (only then is email a second factor)."""
    r = await h.signup(email, PASSWORD)
    assert r.status_code == 200, r.text
    token: str = r.json()["accessToken"]
    if verified:
        await verify_contact(h, token)
    return token


async def verify_contact(h: Harness, token: str, *, email: bool = True,
                         phone: bool = False) -> None:
    """Mark the user's address (and/or phone) verified, as the verification routes do."""
    values: dict[str, Any] = {}
    if email:
        values["email_verified_at"] = h.clock.now()
    if phone:
        values["phone_verified_at"] = h.clock.now()
    await set_user(h.res, claims(token)["sub"], **values)


async def enable_mfa(h: Harness, token: str) -> None:
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert r.status_code == 200, r.text


async def pending_login(h: Harness, email: str = "alice@example.com",
                        headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = await h.client.post("/auth/login", headers=headers or {}, json={
        "providerName": "email", "credentials": {"email": email, "password": PASSWORD}})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def finish_with_totp(h: Harness, pending_access: str, totp_code: str) -> TokenPair:
    """The TOTP half of the MFA step through the functions ``POST /auth/mfa/verify`` uses."""
    principal = await Sessions(h.res).authenticate(pending_access, allow_mfa_pending=True)
    await totp_flows.check_totp_login(h.res, principal.user.id, totp_code)
    _, tokens = await Sessions(h.res).complete_mfa(principal, "totp")
    return tokens


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


async def status_of(h: Harness, token: str) -> dict[str, Any]:
    """``GET /auth/mfa/status``'s body (200 asserted)."""
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def count_hot_statements(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the hot-path statements from here on (``Database.hot_fetch_all``, through
    which ``hot_fetch_one`` goes too)."""
    calls = [0]
    real = h.res.db.hot_fetch_all

    async def counted(stmt: Any, params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        calls[0] += 1
        return await real(stmt, params)

    monkeypatch.setattr(h.res.db, "hot_fetch_all", counted)
    return calls
