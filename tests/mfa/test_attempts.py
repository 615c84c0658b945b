"""The shared MFA failure counter: fixed window per user, in Redis or in the database,
blocking even the right code once over the limit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from authgate.errors import AuthError, Code
from authgate.mfa import totp as totp_flows
from authgate.throttling import attempts
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import REDIS_TOPOLOGIES
from tests.mfa.helpers import code, enable_mfa, enroll, next_step, pending_login, signup_token
from tests.redis_topologies import topology_url

LONG_TOKENS = {"access_token_expires_in": "1d"}
# These tests exercise the account's budget from one long-lived pending session: lift the
# session's own lifetime and allowances (tested in test_pending_session.py).
ACCOUNT_ONLY = {"session": {"mfa_pending_lifetime": "1d"},
                "mfa": {"session_max_attempts": 100, "client_max_attempts": 100}}


@pytest.fixture(params=["redis", "database", *REDIS_TOPOLOGIES])
async def hc(request: pytest.FixtureRequest, make_harness: MakeHarness, backend: str
             ) -> Harness:
    """A harness whose counters live in Redis (the machine's, a cluster, behind Sentinel),
    or in the database (no Redis configured)."""
    if request.param in REDIS_TOPOLOGIES:
        if backend == "sqlite":
            pytest.skip("Redis topologies do not depend on the database: the PostgreSQL run "
                        "has them")
        h = await make_harness(jwt=LONG_TOKENS, redis_url=topology_url(request, request.param),
                               **ACCOUNT_ONLY)
        assert h.res.redis is not None
    elif request.param == "redis":
        h = await make_harness(jwt=LONG_TOKENS, **ACCOUNT_ONLY)
        assert h.res.redis is not None
    else:
        h = await make_harness(jwt=LONG_TOKENS, redis_url=None, **ACCOUNT_ONLY)
        assert h.res.redis is None
    return h


async def test_fixed_window_counting(hc: Harness) -> None:
    res = hc.res
    for n in range(1, 6):
        assert (await attempts.check_and_count(res, "mfa", "u1")).count == n
    with pytest.raises(AuthError) as err:
        await attempts.check_and_count(res, "mfa", "u1")
    assert err.value.code == Code.MFA_TOO_MANY_ATTEMPTS and err.value.retry_after == 900
    assert await attempts.blocked_for(res, "mfa", "u1") == 900
    # Other subjects and scopes are independent.
    assert (await attempts.check_and_count(res, "mfa", "u2")).count == 1
    assert (await attempts.check_and_count(res, "other", "u1")).count == 1
    hc.clock.advance(timedelta(minutes=10))
    with pytest.raises(AuthError) as err:
        await attempts.check_and_count(res, "mfa", "u1")
    assert err.value.retry_after == 300
    hc.clock.advance(timedelta(minutes=5))  # the window is over: a fresh one starts
    assert await attempts.blocked_for(res, "mfa", "u1") is None
    assert (await attempts.check_and_count(res, "mfa", "u1")).count == 1
    await attempts.clear(res, "mfa", "u1")
    assert (await attempts.check_and_count(res, "mfa", "u1")).count == 1
    # Explicit limits and codes for other callers (e.g. the one-time-code engine).
    with pytest.raises(AuthError) as err:
        for _ in range(3):
            await attempts.check_and_count(res, "otp", "u1", limit=2,
                                           window=timedelta(seconds=30),
                                           code=Code.TOO_MANY_ATTEMPTS)
    assert err.value.code == Code.TOO_MANY_ATTEMPTS and err.value.retry_after == 30


async def test_concurrent_attempts_each_get_their_own_count(hc: Harness) -> None:
    counts = await asyncio.gather(*(attempts.count(hc.res, "mfa", "racer") for _ in range(20)))
    assert sorted(a.count for a in counts) == list(range(1, 21))


async def test_recovery_code_limit_blocks_the_right_code_until_the_window_ends(
        hc: Harness) -> None:
    token = await signup_token(hc)
    await enroll(hc, token)
    await enable_mfa(hc, token)
    r = await hc.client.post("/auth/mfa/generate-recovery-code", headers=bearer(token))
    good = r.json()["codes"][0]
    pending = (await pending_login(hc))["accessToken"]
    for _ in range(5):
        r = await hc.client.post("/auth/mfa/verify-recovery-code",
                                 json={"code": "AAAA-AAAA-AAAA-AAAA"}, headers=bearer(pending))
        assert r.status_code == 401 and r.json()["code"] == "MFA_RECOVERY_CODE_INVALID"
    r = await hc.client.post("/auth/mfa/verify-recovery-code", json={"code": good},
                             headers=bearer(pending))
    assert r.status_code == 429 and r.json()["code"] == "MFA_TOO_MANY_ATTEMPTS"
    assert r.headers["Retry-After"] == "900"
    hc.clock.advance(timedelta(minutes=14, seconds=59))
    r = await hc.client.post("/auth/mfa/verify-recovery-code", json={"code": good},
                             headers=bearer(pending))
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    hc.clock.advance(timedelta(seconds=1))
    r = await hc.client.post("/auth/mfa/verify-recovery-code", json={"code": good},
                             headers=bearer(pending))
    assert r.status_code == 200, r.text  # the blocked tries did not burn the code


async def test_totp_limit_is_shared_with_recovery_codes_and_cleared_by_success(
        hc: Harness) -> None:
    token = await signup_token(hc)
    secret = await enroll(hc, token)
    await enable_mfa(hc, token)
    pending = (await pending_login(hc))["accessToken"]
    uid = (await hc.client.get("/auth/verify-session", headers=bearer(pending))).json()["userId"]
    wrong = f"{(int(code(hc, secret)) + 1) % 1_000_000:06d}"

    async def totp(c: str) -> Code | None:
        try:
            await totp_flows.check_totp_login(hc.res, uid, c)
        except AuthError as err:
            return err.code
        return None

    # A user's own typos are forgiven by a success.
    for _ in range(4):
        assert await totp(wrong) == Code.MFA_CODE_INVALID
    assert await totp(code(hc, secret)) is None
    next_step(hc)
    wrong = f"{(int(code(hc, secret)) + 1) % 1_000_000:06d}"
    for _ in range(3):
        assert await totp(wrong) == Code.MFA_CODE_INVALID
    for _ in range(2):  # recovery-code misses count in the same budget
        r = await hc.client.post("/auth/mfa/verify-recovery-code",
                                 json={"code": "AAAA-AAAA-AAAA-AAAA"}, headers=bearer(pending))
        assert r.status_code == 401
    assert await totp(code(hc, secret)) == Code.MFA_TOO_MANY_ATTEMPTS
    hc.clock.advance(timedelta(minutes=15))
    assert await totp(code(hc, secret)) is None
