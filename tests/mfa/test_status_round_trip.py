"""GET /auth/mfa/status reads the MFA rows with the session (a rider of the session load,
``sessions.store``): one statement on the database session store, the same answer on every
store. The database and memory stores cache nothing (a change shows at the next request);
the Redis store keeps the rows until ``user_changed``, which every write to them calls
after its commit (``tests/mfa/test_status_cache.py`` has one test per write)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update

from authgate.db import new_id
from authgate.mfa import policy
from authgate.mfa.models import RecoveryCode, TotpDevice
from authgate.sessions.service import Sessions
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import STORES, add_totp_device
from tests.mfa.helpers import count_hot_statements


@pytest.fixture(params=STORES)
async def store_h(request: pytest.FixtureRequest, make_harness: MakeHarness) -> Harness:
    return await make_harness(session={"storage": request.param})



async def _codes(h: Harness, user_id: str, *, unused: int, used: int) -> None:
    now = h.clock.now()
    async with h.res.sessionmaker() as s:
        s.add_all(RecoveryCode(id=new_id(), user_id=user_id, code_hash=new_id(), created_at=now,
                               used_at=now if i < used else None)
                  for i in range(unused + used))
        await s.commit()


async def test_status_is_one_statement_on_the_database_store_and_alike_on_every_store(
        store_h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = store_h
    u = await h.make_user(totp=True, tokens=True)
    assert u.access_token is not None
    now = h.clock.now()
    await add_totp_device(h.res, u.id, verified=False, name="Tablet",
                          expires_at=now + timedelta(minutes=5))
    await add_totp_device(h.res, u.id, verified=False, name="Gone",
                          expires_at=now - timedelta(minutes=1))  # an expired set-up
    await _codes(h, u.id, unused=1, used=1)
    calls = count_hot_statements(h, monkeypatch)
    r = await h.client.get("/auth/mfa/status", headers=bearer(u.access_token))
    assert r.status_code == 200, r.text
    # the session read and the MFA rows: one statement with the database store; the Redis
    # and memory stores hold the session elsewhere, so the rows are their one statement
    assert calls[0] == 1
    body = r.json()
    assert sorted(d["deviceName"] for d in body["totpDevices"]) == ["Phone", "Tablet"]
    assert body["hasRecoveryCode"] is True and body["verifiedMethods"] == ["totp"]
    # the rows read with the session give the very status the separate read gives
    principal = await Sessions(h.res).authenticate(
        u.access_token, allow_mfa_pending=True, rider=policy.status_rider(h.res))
    assert principal.rider is not None
    assert (await policy.status(h.res, principal.user, principal.rider)
            == await policy.status(h.res, principal.user))


async def test_status_shows_a_change_at_once(store_h: Harness) -> None:
    h = store_h
    u = await h.make_user(totp=True, tokens=True)
    assert u.access_token is not None
    await _codes(h, u.id, unused=1, used=0)

    async def status() -> dict[str, Any]:
        assert u.access_token is not None
        r = await h.client.get("/auth/mfa/status", headers=bearer(u.access_token))
        assert r.status_code == 200, r.text
        return dict(r.json())

    first = await status()
    assert first["hasRecoveryCode"] is True and len(first["totpDevices"]) == 1
    async with h.res.db.writer.begin() as conn:  # no invalidation of any kind
        await conn.execute(update(RecoveryCode).where(RecoveryCode.user_id == u.id)
                           .values(used_at=h.clock.now()))
        await conn.execute(delete(TotpDevice).where(TotpDevice.user_id == u.id))
    if h.res.settings.session.storage == "redis":
        # the rows are cached until the invalidation every write of the app makes
        assert await status() == first
        await h.res.store.user_changed(u.id)
    after = await status()
    assert after["hasRecoveryCode"] is False and after["totpDevices"] == []
    assert after["verifiedMethods"] == []


async def test_a_user_without_any_mfa_rows(store_h: Harness) -> None:
    h = store_h
    u = await h.make_user(tokens=True)
    assert u.access_token is not None
    r = await h.client.get("/auth/mfa/status", headers=bearer(u.access_token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["totpDevices"] == [] and body["hasRecoveryCode"] is False
    assert body["verifiedMethods"] == [] and body["isEnabled"] is False
