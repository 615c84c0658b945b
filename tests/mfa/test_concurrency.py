"""Concurrent use of one secret: exactly one request wins (W11, W2), on both databases.
Request rate limits are off here: these tests are about the database race alone."""

from __future__ import annotations

import asyncio

from authgate.errors import AuthError, Code
from tests.conftest import MakeHarness, bearer
from tests.mfa.helpers import (
    code,
    enable_mfa,
    enroll,
    finish_with_totp,
    pending_login,
    signup_token,
)

TEN_PENDING = {"max_pending_sessions_per_user": 10}


async def test_one_recovery_code_used_ten_times_in_parallel(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"max_attempts": 50}, rate_limit={"enabled": False},
                           session=TEN_PENDING)
    token = await signup_token(h)
    await enroll(h, token)
    await enable_mfa(h, token)
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(token))
    good = r.json()["codes"][0]
    pendings = [(await pending_login(h))["accessToken"] for _ in range(10)]
    results = await asyncio.gather(*(
        h.client.post("/auth/mfa/verify-recovery-code", json={"code": good},
                      headers=bearer(p)) for p in pendings))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [401] * 9, [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 401} == {
        "MFA_RECOVERY_CODE_INVALID"}


async def test_one_recovery_code_raced_on_one_session(make_harness: MakeHarness) -> None:
    # Default limit (5): surplus requests are refused by the counter; still one winner.
    h = await make_harness(rate_limit={"enabled": False})
    token = await signup_token(h)
    await enroll(h, token)
    await enable_mfa(h, token)
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(token))
    good = r.json()["codes"][0]
    pending = (await pending_login(h))["accessToken"]
    results = await asyncio.gather(*(
        h.client.post("/auth/mfa/verify-recovery-code", json={"code": good},
                      headers=bearer(pending)) for _ in range(10)))
    assert [r.status_code for r in results].count(200) == 1, [r.text for r in results]
    assert all(r.status_code in (200, 401, 429) for r in results)


async def test_one_totp_code_used_in_parallel(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"max_attempts": 50}, rate_limit={"enabled": False},
                           session=TEN_PENDING)
    token = await signup_token(h)
    secret = await enroll(h, token)
    await enable_mfa(h, token)
    pendings = [(await pending_login(h))["accessToken"] for _ in range(10)]
    c = code(h, secret)
    results = await asyncio.gather(*(finish_with_totp(h, p, c) for p in pendings),
                                   return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1, results
    assert {e.code for e in losses if isinstance(e, AuthError)} == {Code.MFA_CODE_INVALID}
    assert all(isinstance(e, AuthError) for e in losses)
    r = await h.client.get("/auth/user", headers=bearer(wins[0].access_token))
    assert r.status_code == 200
