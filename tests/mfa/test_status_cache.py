"""GET /auth/mfa/status on the Redis session store: the MFA rows (the status rider) are
cached beside the user snapshot and come with the session in one MGET; every write that
changes them drops them after its commit (``mfa.changed.rows_changed`` or
``user_changed``), so the status after a change shows it. One test per write path."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import String, bindparam, delete, literal_column, select

from authgate.admin import support
from authgate.admin import users as admin_users
from authgate.admin.actor import Operator
from authgate.mfa.models import TotpDevice
from authgate.sessions import redis_store
from authgate.sessions.redis_store import RedisSessionStore
from authgate.sessions.store import cacheable
from tests.conftest import Harness, MakeHarness, bearer
from tests.mfa.helpers import (
    PASSWORD,
    code,
    count_hot_statements,
    next_step,
    pending_login,
    status_of,
)
from tests.mfa.test_passkeys import ORIGIN, WEBAUTHN, _register
from tests.webauthn_authenticator import SoftAuthenticator

METHODS = ["totp", "email", "webauthn"]
_UID = bindparam("uid", type_=String)


@pytest.fixture
async def h(make_harness: MakeHarness) -> Harness:
    return await make_harness(
        session={"storage": "redis"}, jwt={"access_token_expires_in": "1d"},
        mfa={"methods": METHODS, "recovery_code_count": 1}, webauthn=WEBAUTHN)


def _store(h: Harness) -> RedisSessionStore:
    assert isinstance(h.res.store, RedisSessionStore)
    return h.res.store


async def _cached(h: Harness, user_id: str) -> bytes | None:
    store = _store(h)
    raw: bytes | None = await store._r.get(store._rk(user_id))
    return raw




async def _warm(h: Harness, token: str, user_id: str) -> dict[str, Any]:
    """The status, with its rows then cached (the next read would be served from Redis)."""
    body = await status_of(h, token)
    assert await _cached(h, user_id) is not None
    assert await status_of(h, token) == body
    return body


# the codec ---------------------------------------------------------------------------------------
def test_the_codec_restores_the_rows_exactly() -> None:
    plus2 = timezone(timedelta(hours=2))
    rows = [
        {"id": "a", "verified": True, "n": 3, "at": datetime(2026, 1, 2, 3, 4, 5, 678901, UTC),
         "local": datetime(2026, 1, 2, 3, 4, 5, tzinfo=plus2), "naive": datetime(2026, 1, 2),
         "none": None, "no": False},
        {"id": "b", "verified": False, "n": 0, "at": None, "local": None, "naive": None,
         "none": None, "no": True},
    ]
    back = redis_store._decode_rows(redis_store._encode_rows("t:1", rows), "t:1")
    assert back == rows
    assert back is not None
    assert [type(v) for v in back[0].values()] == [type(v) for v in rows[0].values()]
    assert back[0]["at"].utcoffset() == timedelta(0)
    assert back[0]["local"].utcoffset() == timedelta(hours=2)
    assert back[0]["naive"].tzinfo is None
    assert redis_store._decode_rows(redis_store._encode_rows("t:1", []), "t:1") == []
    # another rider's rows, a claim, no key: nothing cached for this rider
    assert redis_store._decode_rows(redis_store._encode_rows("t:2", rows), "t:1") is None
    assert redis_store._decode_rows(b"claim:0123", "t:1") is None
    assert redis_store._decode_rows(None, "t:1") is None
    with pytest.raises(TypeError):  # not restorable exactly: the rows stay live
        redis_store._encode_rows("t:1", [{"x": 1.5}])


# one round trip ----------------------------------------------------------------------------------
async def test_the_status_is_one_mget_once_cached(h: Harness,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    u = await h.make_user(totp=True, tokens=True)
    assert u.access_token is not None
    calls = count_hot_statements(h, monkeypatch)
    first = await status_of(h, u.access_token)
    assert calls[0] == 1  # the rows, read and cached
    assert await status_of(h, u.access_token) == first
    assert calls[0] == 1  # from the session's MGET
    assert [d["deviceName"] for d in first["totpDevices"]] == ["Phone"]
    assert first["verifiedMethods"] == ["totp"]
    r = await h.client.get("/auth/user", headers=bearer(u.access_token))
    assert r.status_code == 200 and calls[0] == 1


async def test_rows_read_across_a_change_are_not_cached(h: Harness) -> None:
    """The fill claims the key before the read; the change's invalidation after its
    commit removes the claim, so rows read before the commit are never cached."""
    u = await h.make_user(totp=True, tokens=True)
    assert u.access_token is not None
    store = _store(h)
    real = store._load_rider
    assert real is not None

    async def racing(rider: Any, user_id: str) -> Sequence[Mapping[str, Any]]:
        rows = await real(rider, user_id)  # read before the commit below
        async with h.res.db.writer.begin() as conn:
            await conn.execute(delete(TotpDevice).where(TotpDevice.user_id == user_id))
        await store.user_changed(user_id)
        return rows

    store._load_rider = racing
    before = await status_of(h, u.access_token)
    assert len(before["totpDevices"]) == 1  # what it read
    store._load_rider = real
    assert await _cached(h, u.id) is None
    after = await status_of(h, u.access_token)
    assert after["totpDevices"] == [] and after["verifiedMethods"] == []


async def test_only_riders_marked_cacheable_are_cached(h: Harness) -> None:
    u = await h.make_user(tokens=True)
    assert u.access_token is not None
    store = _store(h)
    now = h.clock.now()
    sid = (await store.list_for_user(u.id, now))[0].id
    live = select(literal_column("'x'").label("v")).where(_UID.is_not(None))
    loaded = await store.load(sid, u.id, now, rider=live)
    assert loaded is not None and loaded.rider is None  # the caller runs it
    assert await _cached(h, u.id) is None
    kept = cacheable(live, "test")
    loaded = await store.load(sid, u.id, now, rider=kept)
    assert loaded is not None and [dict(r) for r in loaded.rider or ()] == [{"v": "x"}]
    assert await _cached(h, u.id) is not None
    # another cacheable rider finds the first one's rows: read live, nothing overwritten
    other = cacheable(select(literal_column("'y'").label("v")).where(_UID.is_not(None)),
                      "other")
    loaded = await store.load(sid, u.id, now, rider=other)
    assert loaded is not None and [dict(r) for r in loaded.rider or ()] == [{"v": "y"}]
    loaded = await store.load(sid, u.id, now, rider=kept)
    assert loaded is not None and [dict(r) for r in loaded.rider or ()] == [{"v": "x"}]


# every write that changes the status -------------------------------------------------------------
async def test_totp_set_up_and_its_verification(h: Harness) -> None:
    u = await h.make_user(verified=True, tokens=True)
    token = u.access_token
    assert token is not None
    assert (await _warm(h, token, u.id))["totpDevices"] == []
    r = await h.client.post("/auth/mfa/setup-totp", json={"deviceName": "Laptop"},
                            headers=bearer(token))
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    pending = await status_of(h, token)
    assert [(d["deviceName"], d["verified"]) for d in pending["totpDevices"]] == [
        ("Laptop", False)]
    assert "totp" not in pending["verifiedMethods"]
    await _warm(h, token, u.id)
    r = await h.client.post("/auth/mfa/verify-totp-setup",
                            json={"otp": code(h, secret), "secret": secret},
                            headers=bearer(token))
    assert r.status_code == 200, r.text
    done = await status_of(h, token)
    assert [(d["deviceName"], d["verified"]) for d in done["totpDevices"]] == [
        ("Laptop", True)]
    assert done["verifiedMethods"][0] == "totp"


async def test_a_totp_step_shows_its_last_use(h: Harness) -> None:
    u = await h.make_user(verified=True, totp=True, mfa=True)
    assert u.totp_secret is not None
    pending = (await pending_login(h, "alice@example.com"))["accessToken"]
    before = await _warm(h, pending, u.id)
    assert before["totpDevices"][0]["lastUsedAt"] is None
    r = await h.client.post("/auth/mfa/verify", json={
        "method": "totp", "otp": code(h, u.totp_secret)}, headers=bearer(pending))
    assert r.status_code == 200, r.text
    after = await status_of(h, r.json()["accessToken"])
    assert after["totpDevices"][0]["lastUsedAt"] is not None


async def test_device_removal_by_the_owner_and_by_an_admin(h: Harness) -> None:
    u = await h.make_user(verified=True, totp=True, tokens=True)
    token = u.access_token
    assert token is not None
    await _warm(h, token, u.id)
    r = await h.client.delete(f"/auth/mfa/devices/{u.device_id}", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert (await status_of(h, token))["totpDevices"] == []
    v = await h.make_user("bob@example.com", verified=True, totp=True, tokens=True)
    assert v.access_token is not None and v.device_id is not None
    await _warm(h, v.access_token, v.id)
    await admin_users.delete_totp_device(h.res, Operator("test"), v.id, v.device_id)
    after = await status_of(h, v.access_token)
    assert after["totpDevices"] == [] and "totp" not in after["verifiedMethods"]


async def test_recovery_codes_generated_consumed_and_reset_totp(h: Harness) -> None:
    u = await h.make_user(verified=True, totp=True, tokens=True)
    token = u.access_token
    assert token is not None
    assert (await _warm(h, token, u.id))["hasRecoveryCode"] is False
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(token))
    assert r.status_code == 200, r.text
    [first] = r.json()["codes"]
    assert (await status_of(h, token))["hasRecoveryCode"] is True
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert r.status_code == 200, r.text
    # consumed by the MFA step (the only code: none left)
    pending = (await pending_login(h, "alice@example.com"))["accessToken"]
    await _warm(h, pending, u.id)
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": first},
                            headers=bearer(pending))
    assert r.status_code == 200, r.text
    fresh = r.json()["accessToken"]
    assert (await status_of(h, fresh))["hasRecoveryCode"] is False
    # reset-totp: spends a code and removes every device
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(fresh))
    assert r.status_code == 200, r.text
    [second] = r.json()["codes"]
    before = await _warm(h, fresh, u.id)
    assert before["hasRecoveryCode"] is True and before["totpDevices"]
    r = await h.client.post("/auth/mfa/reset-totp", json={"code": second},
                            headers=bearer(fresh))
    assert r.status_code == 200, r.text
    after = await status_of(h, fresh)
    assert after["totpDevices"] == [] and after["hasRecoveryCode"] is False


async def test_passkeys_registered_renamed_and_removed(h: Harness) -> None:
    u = await h.make_user(verified=True, tokens=True)
    token = u.access_token
    assert token is not None
    assert "webauthn" not in (await _warm(h, token, u.id))["verifiedMethods"]
    r = await _register(h, token, SoftAuthenticator(ORIGIN))
    assert r.status_code == 200, r.text
    pid = r.json()["id"]
    assert "webauthn" in (await status_of(h, token))["verifiedMethods"]
    await _warm(h, token, u.id)
    r = await h.client.patch(f"/auth/passkeys/{pid}", json={"name": "Work"},
                             headers=bearer(token))
    assert r.status_code == 200, r.text
    assert await _cached(h, u.id) is None  # dropped (the status shows no passkey names)
    await _warm(h, token, u.id)
    r = await h.client.delete(f"/auth/passkeys/{pid}", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert "webauthn" not in (await status_of(h, token))["verifiedMethods"]


async def test_the_toggle(h: Harness) -> None:
    u = await h.make_user(verified=True, totp=True, tokens=True)
    token = u.access_token
    assert token is not None
    assert (await _warm(h, token, u.id))["isEnabled"] is False
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert (await status_of(h, token))["isEnabled"] is True


async def test_operator_reset_mfa_and_account_deletion_drop_the_rows(h: Harness) -> None:
    u = await h.make_user(verified=True, totp=True, mfa=True, tokens=True)
    assert u.access_token is not None
    next_step(h)
    await _warm(h, u.access_token, u.id)
    await support.reset_mfa(h.res, Operator("test"), support.UserRef(u.id))
    assert await _cached(h, u.id) is None
    r = await h.login("alice@example.com", PASSWORD)
    assert r.status_code == 200, r.text
    token = r.json()["accessToken"]
    after = await status_of(h, token)
    assert after["totpDevices"] == [] and after["isEnabled"] is False
    await _warm(h, token, u.id)
    r = await h.client.request("DELETE", "/auth/account", json={"confirm": "DELETE"},
                               headers=bearer(token))
    assert r.status_code == 200, r.text
    assert await _cached(h, u.id) is None


async def test_the_importer_drops_the_rows_of_the_users_it_touched(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user already here (a previous run) gains an authenticator from the source: the
    status shows it once the import has committed. The source is built in memory (the
    real nest-auth peer's import is ``tests/importer``)."""
    from authgate.crypto import totp as rfc6238
    from authgate.importer import nest_auth

    u = await h.make_user(verified=True, tokens=True)
    assert u.access_token is not None
    assert (await _warm(h, u.access_token, u.id))["totpDevices"] == []
    device = {"id": str(uuid.uuid4()), "userId": u.id, "verified": True,
              "secret": rfc6238.generate_secret(), "deviceName": "Old phone",
              "lastUsedAt": None, "createdAt": h.clock.now()}
    source = nest_auth._Source(users=[{"id": u.id, "email": u.email}], identities={},
                               secrets=[device], codes=[], left_behind={})

    async def read(url: str) -> nest_auth._Source:
        return source

    monkeypatch.setattr(nest_auth, "_read", read)
    report = await nest_auth.import_nest_auth(h.res, "postgresql://unused/db")
    assert report.present["users"] == 1 and report.imported["totp devices"] == 1
    after = await status_of(h, u.access_token)
    assert [d["deviceName"] for d in after["totpDevices"]] == ["Old phone"]
    assert after["verifiedMethods"][0] == "totp"
