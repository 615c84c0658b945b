"""Abuse limits: the rate-limit table (per IP, per account, shared counters), X-Forwarded-For
trust, and account lockout (contract §1.10 with W3/W15 fixed)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from authgate.mfa import trust
from authgate.sessions.service import ClientMeta
from authgate.throttling import rate
from authgate.tx import transaction
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import REDIS_TOPOLOGIES, assert_error, user_id_of
from tests.redis_topologies import topology_url

PASSWORD = "correct horse battery"
PROXY = {"trusted_proxies": ["127.0.0.1"]}  # the ASGI test client's peer address


def only(bucket: str, **rules: Any) -> dict[str, Any]:
    """rate_limit settings with every other bucket (and lockout) out of the way."""
    off: dict[str, Any] = {"per_ip": None, "per_account": None, "per_account_long": None}
    cfg: dict[str, Any] = {b: dict(off) for b in rate.BUCKETS}
    cfg[bucket] = {**off, **rules}
    cfg["lockout"] = {"enabled": False}
    return cfg


def rule(limit: int, seconds: int = 60) -> dict[str, Any]:
    return {"limit": limit, "window": seconds}


def from_ip(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def login(h: Harness, email: str = "alice@example.com", password: str = "wrong password",
                ip: str | None = None) -> Any:
    return await h.client.post("/auth/login", headers=from_ip(ip) if ip else None, json={
        "providerName": "email", "credentials": {"email": email, "password": password}})


# counter backends: Redis when configured, else the database table ----------------------
@pytest.fixture(params=["redis", "database", *REDIS_TOPOLOGIES])
def counters(request: pytest.FixtureRequest, backend: str) -> dict[str, Any]:
    if request.param != "database" and backend == "sqlite":
        pytest.skip("Redis counters do not depend on the database: the PostgreSQL run has them")
    if request.param in REDIS_TOPOLOGIES:  # a cluster, or a master behind Sentinel
        return {"redis_url": topology_url(request, request.param)}
    return {} if request.param == "redis" else {"redis_url": None}


async def test_per_ip_limit_then_window_reset(make_harness: MakeHarness,
                                              counters: dict[str, Any]) -> None:
    h = await make_harness(rate_limit=only("login", per_ip=rule(3, 60)), **counters)
    for _ in range(3):
        assert_error(await login(h), 401, "INVALID_CREDENTIALS")
    r = await login(h, password=PASSWORD)  # even the right password: the limit comes first
    assert_error(r, 429, "RATE_LIMITED", "Too many requests. Please try again later.")
    assert r.headers["retry-after"] == "60"
    h.clock.advance(45)
    r = await login(h)
    assert_error(r, 429, "RATE_LIMITED")
    assert r.headers["retry-after"] == "15"
    h.clock.advance(15)
    assert_error(await login(h), 401, "INVALID_CREDENTIALS")


async def test_per_account_limit_spans_ips(make_harness: MakeHarness,
                                           counters: dict[str, Any]) -> None:
    h = await make_harness(rate_limit=only("login", per_account=rule(3)), security=PROXY,
                           **counters)
    for i in range(3):
        assert_error(await login(h, ip=f"203.0.113.{i}"), 401, "INVALID_CREDENTIALS")
    # a fourth address, and the address spelt with different case/spaces in the body
    assert_error(await login(h, ip="198.51.100.7"), 429, "RATE_LIMITED")
    assert_error(await login(h, email="  ALICE@Example.com ", ip="198.51.100.8"), 429,
                 "RATE_LIMITED")
    # another account is untouched
    assert_error(await login(h, email="bob@example.com", ip="198.51.100.7"), 401,
                 "INVALID_CREDENTIALS")


async def test_long_window_per_account(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit=only("login", per_account=rule(2, 60),
                                           per_account_long=rule(3, 3600)), security=PROXY)
    got = []
    for _minute in range(4):
        for _ in range(2):
            got.append((await login(h, ip=f"203.0.113.{len(got)}")).status_code)
        h.clock.advance(60)
    # 2 a minute, but only 3 an hour in all
    assert got == [401, 401, 401, 429, 429, 429, 429, 429]
    r = await login(h)
    assert r.status_code == 429 and 3000 < int(r.headers["retry-after"]) <= 3600 - 240


async def test_requests_refused_per_ip_do_not_spend_the_account(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit=only("login", per_ip=rule(2), per_account=rule(3)),
                           security=PROXY)
    statuses = [(await login(h, ip="203.0.113.1")).status_code for _ in range(6)]
    assert statuses == [401, 401, 429, 429, 429, 429]
    # the noisy address spent 2 of the account's 3: one more from elsewhere, then 429
    assert (await login(h, ip="203.0.113.2")).status_code == 401
    assert_error(await login(h, ip="203.0.113.3"), 429, "RATE_LIMITED")


async def test_forwarded_for_is_ignored_without_trusted_proxies(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit=only("login", per_ip=rule(2)))
    assert (await login(h, ip="203.0.113.1")).status_code == 401
    assert (await login(h, ip="203.0.113.2")).status_code == 401
    # rotating the header does not give a fresh bucket: the peer is what counts
    assert_error(await login(h, ip="203.0.113.3"), 429, "RATE_LIMITED")


async def test_forwarded_for_from_a_trusted_proxy(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit=only("login", per_ip=rule(2)), security=PROXY)
    for _ in range(2):
        assert (await login(h, ip="203.0.113.1")).status_code == 401
    assert_error(await login(h, ip="203.0.113.1"), 429, "RATE_LIMITED")
    assert (await login(h, ip="203.0.113.2")).status_code == 401
    # a client-supplied hop before the real one is not believed: the rightmost untrusted
    # address (the one our proxy saw) is the client
    assert_error(await login(h, ip="10.9.9.9, 203.0.113.1"), 429, "RATE_LIMITED")
    assert_error(await login(h, ip="203.0.113.1, 127.0.0.1"), 429, "RATE_LIMITED")
    # IPv6 clients are counted per /64
    assert (await login(h, ip="2001:db8:1:2::1")).status_code == 401
    assert (await login(h, ip="2001:db8:1:2::ffff")).status_code == 401
    assert_error(await login(h, ip="2001:db8:1:2:aaaa::3"), 429, "RATE_LIMITED")
    assert (await login(h, ip="2001:db8:1:3::1")).status_code == 401


async def test_no_client_address_means_no_shared_ip_bucket(make_harness: MakeHarness) -> None:
    """Behind a Unix socket there is no peer address: lumping every such request into one
    "unknown" bucket would let one client lock everybody out, so only per-account rows and
    the lockout apply."""
    h = await make_harness(rate_limit=only("login", per_ip=rule(1), per_account=rule(3)))
    app = h.client._transport.app  # type: ignore[attr-defined]  # the harness's own app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=None),
                                 base_url="http://testserver") as anon:
        body = {"providerName": "email",
                "credentials": {"email": "x@example.com", "password": "wrong password"}}
        codes = [(await anon.post("/auth/login", json=body)).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]  # the account row still counts
        body["credentials"]["email"] = "y@example.com"
        assert (await anon.post("/auth/login", json=body)).status_code == 401
    # a client with an address is limited per IP as usual
    assert (await login(h)).status_code == 401
    assert_error(await login(h), 429, "RATE_LIMITED")


async def test_signup_limits(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit=only("signup", per_ip=rule(3), per_account=rule(1)),
                           security=PROXY)
    r = await h.client.post("/auth/signup", headers=from_ip("203.0.113.1"),
                            json={"email": "new@example.com", "password": PASSWORD})
    assert r.status_code == 200, r.text
    # the same address again (already exists or not, the account bucket is spent)
    r = await h.client.post("/auth/signup", headers=from_ip("203.0.113.2"),
                            json={"email": "NEW@example.com", "password": PASSWORD})
    assert_error(r, 429, "RATE_LIMITED")
    for i in range(2):
        r = await h.client.post("/auth/signup", headers=from_ip("203.0.113.1"),
                                json={"email": f"u{i}@example.com", "password": PASSWORD})
        assert r.status_code == 200, r.text
    r = await h.client.post("/auth/signup", headers=from_ip("203.0.113.1"),
                            json={"email": "u9@example.com", "password": PASSWORD})
    assert_error(r, 429, "RATE_LIMITED")
    # malformed bodies are counted too (the limiter runs before validation)
    r = await h.client.post("/auth/signup", headers=from_ip("203.0.113.1"), json={"x": 1})
    assert_error(r, 429, "RATE_LIMITED")


async def test_refresh_limited_per_session(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit=only("refresh", per_account=rule(2)))
    a = (await h.signup()).json()["refreshToken"]
    b = (await h.signup("bob@example.com")).json()["refreshToken"]
    for _ in range(2):
        r = await h.client.post("/auth/refresh-token", json={"refreshToken": a})
        assert r.status_code == 200, r.text
        a = r.json()["refreshToken"]
    assert_error(await h.client.post("/auth/refresh-token", json={"refreshToken": a}), 429,
                 "RATE_LIMITED")
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": b})
    assert r.status_code == 200, r.text
    # garbage tokens have no session: only the per-IP row (off here) applies
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": "x.y.z"})
    assert r.status_code == 401


async def test_disabled_table_counts_nothing(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit={"enabled": False, "login": {"per_ip": rule(1)},
                                       "lockout": {"max_failures": 1}})
    for _ in range(5):
        assert_error(await login(h), 401, "INVALID_CREDENTIALS")


def test_unknown_bucket_is_a_programming_error() -> None:
    from authgate.http.rate_limits import rate_limit

    with pytest.raises(ValueError, match="unknown rate-limit bucket"):
        rate_limit("logn")


async def test_rate_limited_routes_document_429(h: Harness) -> None:
    spec = (await h.client.get("/openapi.json")).json()
    for path in ("/auth/login", "/auth/signup", "/auth/refresh-token"):
        resp = spec["paths"][path]["post"]["responses"]["429"]
        assert "Retry-After" in resp["headers"]
    assert "429" not in spec["paths"]["/auth/me"]["get"]["responses"]


# lockout ---------------------------------------------------------------------------------
def lockout(max_failures: int = 3, window: int = 900, lock: int = 600,
            account_max: int | None = None) -> dict[str, Any]:
    """Lockout on, the table off; the account-wide threshold defaults to the per-client one
    (the tests below are about the account-wide lock unless they say otherwise)."""
    cfg = only("login")
    cfg["lockout"] = {"enabled": True, "max_failures": max_failures, "window": window,
                      "lock_duration": lock,
                      "account_max_failures": account_max or max_failures}
    return cfg


async def test_lockout_after_failures_from_any_ip_then_expiry(
        make_harness: MakeHarness, counters: dict[str, Any]) -> None:
    h = await make_harness(rate_limit=lockout(3), security=PROXY, **counters)
    await h.signup()
    for i in range(3):
        assert_error(await login(h, ip=f"203.0.113.{i}"), 401, "INVALID_CREDENTIALS")
    r = await login(h, password=PASSWORD, ip="198.51.100.1")  # the owner, right password
    assert_error(r, 429, "ACCOUNT_LOCKED", "Account temporarily locked after too many failed "
                                           "attempts. Please try again later.")
    assert r.headers["retry-after"] == "600"
    # hammering during the lock neither counts nor extends it
    for _ in range(5):
        h.clock.advance(60)
        assert_error(await login(h), 429, "ACCOUNT_LOCKED")
    r = await login(h)
    assert r.headers["retry-after"] == "300"
    h.clock.advance(300)
    r = await login(h, password=PASSWORD)
    assert r.status_code == 200, r.text


async def test_success_resets_the_failure_count(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit=lockout(3))
    await h.signup()
    for _ in range(5):
        for _ in range(2):
            assert_error(await login(h), 401, "INVALID_CREDENTIALS")
        assert (await login(h, password=PASSWORD)).status_code == 200


async def test_next_cycle_starts_from_zero_after_a_lock(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit=lockout(3, window=3600, lock=60))
    await h.signup()
    for _ in range(3):
        assert_error(await login(h), 401, "INVALID_CREDENTIALS")
    assert_error(await login(h), 429, "ACCOUNT_LOCKED")
    h.clock.advance(60)
    # the failures that caused the lock are forgotten: three fresh tries, then locked again
    for _ in range(3):
        assert_error(await login(h), 401, "INVALID_CREDENTIALS")
    assert_error(await login(h, password=PASSWORD), 429, "ACCOUNT_LOCKED")


async def test_unknown_accounts_lock_like_real_ones(make_harness: MakeHarness) -> None:
    """Lockout must not tell an attacker which emails exist."""
    h = await make_harness(rate_limit=lockout(2))
    await h.signup()
    seen: dict[str, list[tuple[int, str]]] = {}
    for email in ("alice@example.com", "nobody@example.com"):
        seen[email] = []
        for _ in range(4):
            r = await login(h, email=email)
            seen[email].append((r.status_code, r.json()["code"]))
    assert seen["alice@example.com"] == seen["nobody@example.com"] == [
        (401, "INVALID_CREDENTIALS")] * 2 + [(429, "ACCOUNT_LOCKED")] * 2


async def test_password_reset_unlock(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit=lockout(2))
    await h.signup()
    await h.signup("bob@example.com")
    for email in ("alice@example.com", "bob@example.com"):
        for _ in range(2):
            await login(h, email=email)
        assert_error(await login(h, email=email, password=PASSWORD), 429, "ACCOUNT_LOCKED")
    await rate.unlock_account(h.res, await user_id_of(h.res, "alice@example.com"))
    assert (await login(h, password=PASSWORD)).status_code == 200
    assert_error(await login(h, email="bob@example.com", password=PASSWORD), 429,
                 "ACCOUNT_LOCKED")


@pytest.mark.parametrize("n", [40])
async def test_parallel_wrong_passwords_cannot_exceed_the_limit(
        make_harness: MakeHarness, counters: dict[str, Any], n: int) -> None:
    h = await make_harness(rate_limit=lockout(5), security=PROXY, **counters)
    await h.signup()
    rs = await asyncio.gather(*[login(h, ip=f"203.0.113.{i}") for i in range(n)])
    codes = [r.json()["code"] for r in rs]
    assert all(r.status_code in (401, 429) for r in rs), [r.text for r in rs]
    # at most max_failures passwords were ever checked; everything else was refused unread
    assert codes.count("INVALID_CREDENTIALS") <= 5
    assert codes.count("ACCOUNT_LOCKED") >= n - 5
    assert set(codes) <= {"INVALID_CREDENTIALS", "ACCOUNT_LOCKED"}
    assert_error(await login(h, password=PASSWORD), 429, "ACCOUNT_LOCKED")


async def test_passwordless_login_is_limited_per_account_across_ips(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(rate_limit=only("login", per_account=rule(3)), security=PROXY,
                           passwordless={"enabled": True})

    async def attempt(ip: str, identifier: str = "alice@example.com") -> Any:
        return await h.client.post("/auth/login", headers=from_ip(ip), json={
            "providerName": "passwordless",
            "credentials": {"identifier": identifier, "code": "000000", "channels": ["email"]}})

    for i in range(3):
        assert_error(await attempt(f"203.0.113.{i}"), 400, "VERIFICATION_CODE_INVALID")
    assert_error(await attempt("198.51.100.7"), 429, "RATE_LIMITED")
    assert_error(await attempt("198.51.100.8", " Alice@Example.com"), 429, "RATE_LIMITED")
    assert_error(await attempt("198.51.100.9", "bob@example.com"), 400,
                 "VERIFICATION_CODE_INVALID")


# lockout per (account, client), trusted devices, back-off (issue 12, item 3) --------------
async def _trust_token(h: Harness, email: str = "alice@example.com") -> str:
    uid = await user_id_of(h.res, email)
    async with transaction(h.res.sessionmaker) as tx:
        token = await trust.issue_trust(h.res, tx, uid, ClientMeta(ip="198.51.100.1"))
    assert token is not None
    return token


async def test_strangers_cannot_lock_the_owners_trusted_device(make_harness: MakeHarness,
                                                               counters: dict[str, Any]) -> None:
    h = await make_harness(rate_limit=lockout(3, account_max=5), security=PROXY, **counters)
    await h.signup()
    device = {h.settings.mfa.trust_device_storage_name: await _trust_token(h)}
    # a third party from many addresses: each address may fail a few times...
    for i in range(5):
        assert_error(await login(h, ip=f"203.0.113.{i}"), 401, "INVALID_CREDENTIALS")
    # ...until the account is locked for every client without the owner's device
    assert_error(await login(h, ip="203.0.113.99"), 429, "ACCOUNT_LOCKED")
    assert_error(await login(h, password=PASSWORD, ip="198.51.100.1"), 429, "ACCOUNT_LOCKED")
    # a foreign or made-up trust token does not help
    await h.signup("bob@example.com")
    r = await h.client.post("/auth/login", headers={
        **from_ip("198.51.100.1"),
        h.settings.mfa.trust_device_storage_name: await _trust_token(h, "bob@example.com")},
        json={"providerName": "email",
              "credentials": {"email": "alice@example.com", "password": PASSWORD}})
    assert_error(r, 429, "ACCOUNT_LOCKED")
    # the owner's known device gets in, by header or by cookie
    r = await h.client.post("/auth/login", headers={**from_ip("198.51.100.1"), **device}, json={
        "providerName": "email", "credentials": {"email": "alice@example.com",
                                                 "password": PASSWORD}})
    assert r.status_code == 200, r.text
    name = h.settings.mfa.trust_device_storage_name
    h.client.cookies.set(h.settings.session.cookie.named(name), device[name])
    try:
        assert (await login(h, password=PASSWORD, ip="198.51.100.1")).status_code == 200
        # ...but it is still limited on its own counter
        for _ in range(3):
            assert_error(await login(h, ip="198.51.100.1"), 401, "INVALID_CREDENTIALS")
        assert_error(await login(h, password=PASSWORD, ip="198.51.100.1"), 429,
                     "ACCOUNT_LOCKED")
    finally:
        h.client.cookies.clear()


async def test_one_client_is_locked_out_alone_and_backs_off(make_harness: MakeHarness,
                                                            counters: dict[str, Any]) -> None:
    cfg = lockout(2, lock=60, account_max=1000)
    cfg["lockout"]["max_lock_duration"] = 200
    h = await make_harness(rate_limit=cfg, security=PROXY, **counters)
    await h.signup()
    durations = []
    for _ in range(4):
        for _ in range(2):
            assert_error(await login(h, ip="203.0.113.7"), 401, "INVALID_CREDENTIALS")
        r = await login(h, password=PASSWORD, ip="203.0.113.7")
        assert_error(r, 429, "ACCOUNT_LOCKED")
        durations.append(int(r.headers["retry-after"]))
        # the owner elsewhere is not locked out (an IPv6 neighbour in the same /64 would be)
        assert (await login(h, password=PASSWORD, ip="198.51.100.1")).status_code == 200
        h.clock.advance(durations[-1] - 1)
        assert_error(await login(h, password=PASSWORD, ip="203.0.113.7"), 429, "ACCOUNT_LOCKED")
        h.clock.advance(1)
    assert durations == [60, 120, 200, 200]  # doubling, capped at max_lock_duration
    # a success from that client clears its history: the next lock is short again
    assert (await login(h, password=PASSWORD, ip="203.0.113.7")).status_code == 200
    for _ in range(2):
        await login(h, ip="203.0.113.7")
    assert (await login(h, ip="203.0.113.7")).headers["retry-after"] == "60"


async def test_password_reset_lifts_every_per_client_lock(make_harness: MakeHarness,
                                                          counters: dict[str, Any]) -> None:
    h = await make_harness(rate_limit=lockout(2, account_max=1000), security=PROXY, **counters)
    await h.signup()
    for ip in ("203.0.113.1", "2001:db8:1:2::1"):
        for _ in range(2):
            await login(h, ip=ip)
        assert_error(await login(h, password=PASSWORD, ip=ip), 429, "ACCOUNT_LOCKED")
    await rate.unlock_account(h.res, await user_id_of(h.res, "alice@example.com"))
    for ip in ("203.0.113.1", "2001:db8:1:2::1"):
        assert (await login(h, password=PASSWORD, ip=ip)).status_code == 200


async def test_unknown_accounts_lock_like_real_ones_whatever_the_spelling(
        make_harness: MakeHarness) -> None:
    """Spellings that would find one account share its lock, for unknown accounts too
    (else the lockout tells which numbers exist)."""
    h = await make_harness(rate_limit=lockout(2), phone_auth_enabled=True)
    assert (await h.client.post("/auth/signup", json={
        "phone": "+15551234567", "password": PASSWORD})).status_code == 200

    async def phone_login(phone: str) -> tuple[int, str]:
        r = await h.client.post("/auth/login", json={
            "providerName": "phone", "credentials": {"phone": phone, "password": "wrong pw"}})
        return r.status_code, r.json()["code"]

    seen = {}
    for digits in ("5551234567", "5550000000"):
        spaced = f"+1 {digits[:3]} {digits[3:6]} {digits[6:]}"
        seen[digits] = [await phone_login(spaced), await phone_login(f"+1{digits}"),
                        await phone_login(f" +1{digits}\t")]
    assert seen["5551234567"] == seen["5550000000"] == [
        (401, "INVALID_CREDENTIALS"), (401, "INVALID_CREDENTIALS"), (429, "ACCOUNT_LOCKED")]


async def test_account_export_limited_per_account(make_harness: MakeHarness) -> None:
    """The export reads every table an account owns: a stolen session gets a few a window,
    and spends only its own account's budget."""
    h = await make_harness(rate_limit=only("account_export", per_account=rule(2, 3600)))
    a = (await h.signup()).json()["accessToken"]
    b = (await h.signup("bob@example.com")).json()["accessToken"]
    for _ in range(2):
        r = await h.client.get("/auth/account/export", headers=bearer(a))
        assert r.status_code == 200, r.text
    r = await h.client.get("/auth/account/export", headers=bearer(a))
    assert_error(r, 429, "RATE_LIMITED")
    assert 0 < int(r.headers["Retry-After"]) <= 3600
    r = await h.client.get("/auth/account/export", headers=bearer(b))
    assert r.status_code == 200, r.text
