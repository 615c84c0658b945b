"""POST /auth/mfa/toggle and GET /auth/mfa/status (contract §2.5, §3.9, §3.10): strict body,
every guard failure, every policy refusal, idempotency and concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, select

from authgate import events
from authgate.db import new_id
from authgate.events import Event
from authgate.http.schemas import iso
from authgate.mfa import policy
from authgate.mfa import store as mfa_store
from authgate.mfa.models import RecoveryCode, TotpDevice, TrustedDevice
from authgate.sessions.service import Sessions
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import (
    STORES,
    add_totp_device,
    assert_error,
    claims,
    delete_user,
    set_user,
    stored_user,
)

TOTP_ONLY = {"methods": ["totp"]}


async def _toggle(h: Harness, token: str, enabled: Any) -> Any:
    return await h.client.post("/auth/mfa/toggle", json={"enabled": enabled},
                               headers=bearer(token))


async def _status(h: Harness, token: str) -> dict[str, Any]:
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_enable_and_disable(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa=TOTP_ONLY)
    token = await h.session_token()
    uid = claims(token)["sub"]
    await add_totp_device(h.res, uid)
    seen: list[Event] = []
    h.res.events.subscribe("*", seen.append)
    r = await _toggle(h, token, True)
    assert r.status_code == 200 and r.json() == {"message": "MFA enabled successfully"}
    assert (await stored_user(h.res, uid)).is_mfa_enabled is True
    assert (await _status(h, token))["isEnabled"] is True
    r = await _toggle(h, token, True)  # idempotent
    assert r.status_code == 200 and r.json() == {"message": "MFA enabled successfully"}
    r = await _toggle(h, token, False)
    assert r.status_code == 200 and r.json() == {"message": "MFA disabled successfully"}
    r = await _toggle(h, token, False)
    assert r.status_code == 200 and r.json() == {"message": "MFA disabled successfully"}
    assert (await stored_user(h.res, uid)).is_mfa_enabled is False
    names = [e.name for e in seen if e.name.startswith("mfa.")]
    assert names == [events.MFA_ENABLED, events.MFA_DISABLED]  # one per real change
    assert seen[0].data == {"method": "totp"}


async def test_a_repeated_toggle_writes_nothing(h: Harness) -> None:
    token = await h.session_token()
    uid = claims(token)["sub"]
    await set_user(h.res, uid, email_verified_at=h.clock.now())
    assert (await _toggle(h, token, True)).status_code == 200
    stamped = (await stored_user(h.res, uid)).updated_at
    h.clock.advance(60)
    assert (await _toggle(h, token, True)).status_code == 200
    assert (await stored_user(h.res, uid)).updated_at == stamped
    assert (await _toggle(h, token, False)).status_code == 200
    assert (await stored_user(h.res, uid)).updated_at == h.clock.now()


@pytest.mark.parametrize(("payload", "message"), [
    ({"enabled": "yes"}, "enabled must be a boolean value"),
    ({"enabled": "true"}, "enabled must be a boolean value"),
    ({"enabled": 1}, "enabled must be a boolean value"),
    ({"enabled": 0}, "enabled must be a boolean value"),
    ({"enabled": None}, "enabled must be a boolean value"),
    ({"enabled": []}, "enabled must be a boolean value"),
    ({"enabled": {}}, "enabled must be a boolean value"),
    ({}, "enabled should not be null or undefined"),
    ({"Enabled": True}, "enabled should not be null or undefined"),
    (True, "Request body must be a JSON object"),
    ([True], "Request body must be a JSON object"),
])
async def test_body_must_be_a_strict_boolean(h: Harness, payload: Any, message: str) -> None:
    token = await h.session_token()
    r = await h.client.post("/auth/mfa/toggle", json=payload, headers=bearer(token))
    assert_error(r, 400, "INVALID_INPUT", message)
    assert (await stored_user(h.res, claims(token)["sub"])).is_mfa_enabled is False


async def test_missing_body_is_invalid_input(h: Harness) -> None:
    token = await h.session_token()
    r = await h.client.post("/auth/mfa/toggle", headers={**bearer(token),
                                                         "Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_INPUT")


async def test_guard_failures(h: Harness) -> None:
    token = await h.session_token()
    url = "/auth/mfa/toggle"
    body = {"enabled": False}
    assert_error(await h.client.post(url, json=body), 401, "NO_AUTH_PROVIDED",
                 "No authentication provided")
    for header in ("Bearer", "Bearer   ", f"Bearer {token} extra", "bearer a b"):
        r = await h.client.post(url, json=body, headers={"Authorization": header})
        assert_error(r, 401, "INVALID_AUTH_FORMAT")
    for other_scheme in ("Basic dXNlcjpwYXNz", "Token abc"):  # not ours: as if absent
        r = await h.client.post(url, json=body, headers={"Authorization": other_scheme})
        assert_error(r, 401, "NO_AUTH_PROVIDED")
    r = await h.client.post(url, json=body, headers=bearer("not.a.jwt"))
    assert_error(r, 401, "INVALID_TOKEN", "Invalid or expired token")
    r = await h.client.post(url, json=body, headers={"Authorization": f"bEaReR {token}"})
    assert r.status_code == 200, r.text  # the scheme is case-insensitive


async def test_expired_token(h: Harness) -> None:
    token = await h.session_token()
    h.clock.advance(timedelta(minutes=15))
    assert_error(await _toggle(h, token, False), 401, "TOKEN_EXPIRED", "Token has expired")


async def test_revoked_session(h: Harness) -> None:
    token = await h.session_token()
    assert (await h.client.post("/auth/logout", headers=bearer(token))).status_code == 200
    assert_error(await _toggle(h, token, False), 401, "SESSION_NOT_FOUND")


async def test_deleted_user(h: Harness) -> None:
    token = await h.session_token()
    await delete_user(h.res, claims(token)["sub"])
    assert_error(await _toggle(h, token, False), 401, "USER_NOT_FOUND")


async def test_suspended_user(h: Harness) -> None:
    token = await h.session_token()
    await set_user(h.res, claims(token)["sub"], status="suspended")
    assert_error(await _toggle(h, token, False), 401, "ACCOUNT_INACTIVE")


async def test_app_mfa_disabled(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"enabled": False})
    token = await h.session_token()
    for value in (True, False):
        assert_error(await _toggle(h, token, value), 403, "MFA_NOT_ENABLED",
                     "MFA is not enabled for the application")


async def test_toggle_not_allowed(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"allow_user_toggle": False})
    token = await h.session_token()
    for value in (True, False):
        assert_error(await _toggle(h, token, value), 403, "MFA_TOGGLING_NOT_ALLOWED",
                     "MFA toggle is not allowed")
    assert (await _status(h, token))["canToggle"] is False


async def test_toggle_not_allowed_when_mfa_is_required(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"required": True})
    pending = await h.session_token()
    # W1 fixed: the signup session of a required-MFA app is pending, not a full session
    assert_error(await _toggle(h, pending, False), 401, "MFA_REQUIRED")
    principal = await Sessions(h.res).authenticate(pending, allow_mfa_pending=True)
    _, tokens = await Sessions(h.res).complete_mfa(principal, "email")
    assert_error(await _toggle(h, tokens.access_token, False), 403,
                 "MFA_TOGGLING_NOT_ALLOWED")
    status = await _status(h, tokens.access_token)
    assert status["required"] is True and status["isEnabled"] is True
    assert status["canToggle"] is False


async def test_cannot_enable_without_a_verified_method(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa=TOTP_ONLY)
    token = await h.session_token()
    uid = claims(token)["sub"]
    assert_error(await _toggle(h, token, True), 403, "MFA_CANNOT_ENABLE_WITHOUT_METHOD",
                 "Cannot enable MFA without at least one verified method")
    await add_totp_device(h.res, uid, verified=False)  # a set-up never confirmed
    assert_error(await _toggle(h, token, True), 403, "MFA_CANNOT_ENABLE_WITHOUT_METHOD")
    assert (await _toggle(h, token, False)).status_code == 200  # disabling needs nothing
    await add_totp_device(h.res, uid, verified=True)
    assert (await _toggle(h, token, True)).status_code == 200


async def test_email_counts_as_a_method_only_when_verified(h: Harness) -> None:
    """Issue #12 item 2: an unproven address is no second factor (it may be anybody's)."""
    assert "email" in h.res.channels
    token = await h.session_token()
    assert (await _status(h, token))["verifiedMethods"] == []
    assert_error(await _toggle(h, token, True), 403, "MFA_CANNOT_ENABLE_WITHOUT_METHOD")
    await set_user(h.res, claims(token)["sub"], email_verified_at=h.clock.now())
    assert (await _status(h, token))["verifiedMethods"] == ["email"]
    assert (await _toggle(h, token, True)).status_code == 200


async def test_mfa_pending_token_is_refused(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa=TOTP_ONLY)
    token = await h.session_token()
    await add_totp_device(h.res, claims(token)["sub"])
    assert (await _toggle(h, token, True)).status_code == 200
    login = await h.login()
    assert login.json()["isRequiresMfa"] is True and login.json()["mfaMethods"] == ["totp"]
    pending = login.json()["accessToken"]
    assert_error(await _toggle(h, pending, False), 401, "MFA_REQUIRED",
                 "Multi-factor authentication is required")
    assert (await _status(h, pending))["isEnabled"] is True  # status is an M route


async def test_concurrent_toggles_end_consistent(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa=TOTP_ONLY)
    token = await h.session_token()
    uid = claims(token)["sub"]
    await add_totp_device(h.res, uid)
    results = await asyncio.gather(*[_toggle(h, token, i % 2 == 0) for i in range(16)])
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    flag = (await stored_user(h.res, uid)).is_mfa_enabled
    assert (await _status(h, token))["isEnabled"] is flag
    user = await h.client.get("/auth/user", headers=bearer(token))
    assert user.json()["isMfaEnabled"] is flag
    results = await asyncio.gather(*[_toggle(h, token, True) for _ in range(8)])
    assert all(r.status_code == 200 for r in results)
    assert (await stored_user(h.res, uid)).is_mfa_enabled is True


@pytest.mark.parametrize("store", STORES)
async def test_a_toggle_that_changes_nothing_is_answered_from_the_session_read(
        make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch, store: str) -> None:
    """On the database store the toggle's facts come with the session (``toggle_rider``):
    a toggle they show to change nothing makes no statement of its own, and one they show
    to change something (or to be refused) answers as the conditional write does. Every
    store answers the same."""
    h = await make_harness(mfa=TOTP_ONLY, session={"storage": store})
    token = await h.session_token()
    uid = claims(token)["sub"]
    st = policy._statements(h.res)
    own = {id(st.toggle_pg), id(st.toggle_state)}
    ran: list[int] = []
    real = h.res.db.hot_fetch_all

    async def spy(stmt: Any, params: dict[str, Any]) -> Any:
        ran.append(id(stmt))
        return await real(stmt, params)

    def began(*_: Any) -> None:
        ran.append(0)  # a transaction on the writer (SQLite's write)

    async def toggle(enabled: bool) -> tuple[Any, bool]:
        """The answer, and whether the toggle ran a statement of its own."""
        ran.clear()
        writer = h.res.db.writer.sync_engine
        event.listen(writer, "begin", began)
        try:
            with monkeypatch.context() as m:
                m.setattr(h.res.db, "hot_fetch_all", spy)
                r = await _toggle(h, token, enabled)
        finally:
            event.remove(writer, "begin", began)
        return r, bool((own | {0}) & set(ran))

    async def flag() -> bool:
        return bool((await stored_user(h.res, uid)).is_mfa_enabled)

    database = store == "database"
    r, wrote = await toggle(False)  # off already, no trust token: nothing to do
    assert r.status_code == 200 and r.json() == {"message": "MFA disabled successfully"}
    assert not wrote if database else wrote
    assert_error((await toggle(True))[0], 403, "MFA_CANNOT_ENABLE_WITHOUT_METHOD")
    await add_totp_device(h.res, uid)
    r, wrote = await toggle(True)
    assert r.status_code == 200 and wrote and await flag()
    r, wrote = await toggle(True)  # on already, with a method
    assert r.status_code == 200 and (not wrote if database else wrote)
    async with h.res.sessionmaker() as s:  # the device removed behind the toggle's back
        await s.execute(delete(TotpDevice).where(TotpDevice.user_id == uid))
        await s.commit()
    r, wrote = await toggle(True)
    assert_error(r, 403, "MFA_CANNOT_ENABLE_WITHOUT_METHOD")
    assert not wrote if database else wrote
    assert await flag()  # the refusal wrote nothing
    r, wrote = await toggle(False)
    assert r.status_code == 200 and wrote and not await flag()
    # off already, but a trust token outlived the flag: "off" still ends it
    now = h.clock.now()
    async with h.res.sessionmaker() as s:
        s.add(TrustedDevice(id=new_id(), user_id=uid, token_hash="live", created_at=now,
                            expires_at=now + timedelta(days=30)))
        await s.commit()
    r, wrote = await toggle(False)
    assert r.status_code == 200 and wrote
    async with h.res.sessionmaker() as s:
        assert (await s.execute(select(TrustedDevice.revoked_at))).scalar_one() == now
    r, wrote = await toggle(False)  # nothing left to end
    assert r.status_code == 200 and (not wrote if database else wrote)


async def test_the_toggle_decides_from_its_facts_as_its_statement_does(
        make_harness: MakeHarness) -> None:
    """``mfa_store.settled`` (Python, on the facts read with the session) and the statement's
    ``allowed`` (SQL, under the write) are one rule written twice: every combination of
    the methods' known facts and their rows answers the same."""
    h = await make_harness(mfa={"methods": ["totp", "email"]})
    st = policy._statements(h.res)
    uid = claims(await h.session_token())["sub"]
    for device in (False, True):
        if device:
            await add_totp_device(h.res, uid)
        facts = await h.res.db.hot_fetch_one(st.toggle_facts, {"uid": uid})
        for enabled in (False, True):
            for can in [(a, b) for a in (False, True) for b in (False, True)]:
                params = {"uid": uid, "enabled": enabled,
                          **{f"can_{i}": c for i, c in enumerate(can)}}
                async with h.res.db.reader.connect() as conn:
                    want = bool((await conn.execute(st.allowed, params)).mappings().one()[
                        "allowed"])
                got = mfa_store.settled(st, enabled=enabled, flag=enabled, can=can,
                                        row=facts)
                assert got is not None and got.allowed is want, (device, enabled, can)


# status ----------------------------------------------------------------------------
STATUS_KEYS = ["isEnabled", "verifiedMethods", "configuredMethods", "allowUserToggle",
               "allowMethodSelection", "totpDevices", "hasRecoveryCode", "required",
               "canToggle"]


async def test_status_defaults(h: Harness) -> None:
    token = await h.session_token()
    await set_user(h.res, claims(token)["sub"], email_verified_at=h.clock.now())
    st = await _status(h, token)
    assert list(st) == STATUS_KEYS
    assert st == {
        "isEnabled": False, "verifiedMethods": ["email"], "configuredMethods": ["totp", "email"],
        "allowUserToggle": True, "allowMethodSelection": True, "totpDevices": [],
        "hasRecoveryCode": False, "required": False, "canToggle": True,
    }


async def test_status_with_devices_and_recovery_codes(h: Harness) -> None:
    token = await h.session_token()
    uid = claims(token)["sub"]
    created = h.clock.now()
    verified = await add_totp_device(h.res, uid, name="Pixel")
    h.clock.advance(5)
    pending = await add_totp_device(h.res, uid, verified=False, name="New phone",
                                    expires_at=h.clock.now() + timedelta(minutes=15))
    await add_totp_device(h.res, uid, verified=False, name="Abandoned",
                          expires_at=h.clock.now() - timedelta(seconds=1))
    async with h.res.sessionmaker() as s:
        s.add(RecoveryCode(id=new_id(), user_id=uid, code_hash="h" * 64, created_at=created))
        await s.commit()
    st = await _status(h, token)
    assert st["verifiedMethods"] == ["totp"]
    assert st["hasRecoveryCode"] is True
    assert st["totpDevices"] == [
        {"id": pending, "deviceName": "New phone", "method": "totp", "lastUsedAt": None,
         "createdAt": iso(created + timedelta(seconds=5)), "verified": False},
        {"id": verified, "deviceName": "Pixel", "method": "totp", "lastUsedAt": None,
         "createdAt": iso(created), "verified": True},
    ]


async def test_status_sees_only_the_callers_rows_and_unused_codes(h: Harness) -> None:
    token = await h.session_token()
    uid = claims(token)["sub"]
    other = await h.session_token("bob@example.com")
    other_id = claims(other)["sub"]
    await add_totp_device(h.res, other_id, name="Bob's phone")
    now = h.clock.now()
    async with h.res.sessionmaker() as s:
        s.add(RecoveryCode(id=new_id(), user_id=other_id, code_hash="b" * 64, created_at=now))
        s.add(RecoveryCode(id=new_id(), user_id=uid, code_hash="a" * 64, created_at=now,
                           used_at=now))
        await s.commit()
    st = await _status(h, token)
    assert st["totpDevices"] == [] and st["hasRecoveryCode"] is False
    assert st["verifiedMethods"] == []  # an unverified address
    st = await _status(h, other)
    assert [d["deviceName"] for d in st["totpDevices"]] == ["Bob's phone"]
    assert st["hasRecoveryCode"] is True


async def test_status_when_app_mfa_is_off(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"enabled": False, "allow_method_selection": False})
    token = await h.session_token()
    await add_totp_device(h.res, claims(token)["sub"])
    await set_user(h.res, claims(token)["sub"], is_mfa_enabled=True)
    assert await _status(h, token) == {
        "isEnabled": False, "verifiedMethods": [], "configuredMethods": [],
        "allowUserToggle": False, "allowMethodSelection": False, "totpDevices": [],
        "hasRecoveryCode": False, "required": False, "canToggle": False,
    }


async def test_status_needs_authentication(h: Harness) -> None:
    assert_error(await h.client.get("/auth/mfa/status"), 401, "NO_AUTH_PROVIDED")
