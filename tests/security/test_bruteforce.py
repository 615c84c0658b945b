"""Brute-forcing a 6-digit code is cut off long before success is likely.

The attacker knows the password (the threat a second factor exists for), rotates client IPs
(a botnet behind our trusted proxy), signs in again whenever the MFA-pending token expires,
and sends guesses as fast as the server answers, for hours of simulated time. We count the
guesses the server actually evaluated (answered "wrong code" rather than refused unread) and
compute the attacker's chance of success from them: with ``k`` codes valid at any instant,
P = 1 - (1 - k/10^6)^guesses. Never a correct code is sent, so the count is not cut short by luck.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import httpx

from authgate.errors import Code
from tests.conftest import Harness, MakeHarness, bearer
from tests.mfa.helpers import code as totp_code
from tests.mfa.helpers import enable_mfa, enroll, signup_token
from tests.servers import SmtpSink

PASSWORD = "correct horse battery"
EMAIL = "alice@example.com"
PROXY = {"trusted_proxies": ["127.0.0.1"]}
SPACE = 10**6


def success_probability(guesses: int, valid_at_once: int) -> float:
    return 1 - (1 - valid_at_once / SPACE) ** guesses


def hours_to_even_odds(guesses_per_hour: float, valid_at_once: int) -> float:
    return (math.log(2) / -math.log(1 - valid_at_once / SPACE)) / guesses_per_hour


class Attacker:
    def __init__(self, h: Harness) -> None:
        self.h = h
        self.requests = self.evaluated = self.refused = self.logins = 0
        self.pending = ""
        self._ip = 0

    def ip(self) -> dict[str, str]:
        self._ip += 1
        return {"X-Forwarded-For": f"198.51.{self._ip // 250 % 250}.{self._ip % 250 + 1}"}

    async def login(self) -> None:
        r = await self.h.client.post("/auth/login", headers=self.ip(), json={
            "providerName": "email", "credentials": {"email": EMAIL, "password": PASSWORD}})
        self.requests += 1
        if r.status_code == 429:  # the login limiter: wait it out like everything else
            self.h.clock.advance(int(r.headers["retry-after"]))
            return
        assert r.status_code == 200 and r.json()["isRequiresMfa"], r.text
        self.pending = r.json()["accessToken"]
        self.logins += 1

    async def guess(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """One guess; advances the clock as a relentless attacker would."""
        if not self.pending:
            await self.login()
            if not self.pending:
                return httpx.Response(0)
        r = await self.h.client.post(path, json=body,
                                     headers={**bearer(self.pending), **self.ip()})
        self.requests += 1
        code = r.json().get("code")
        if r.status_code == 429:
            self.refused += 1
            self.h.clock.advance(int(r.headers["retry-after"]))
        elif code in (Code.TOKEN_EXPIRED, Code.SESSION_NOT_FOUND):
            self.pending = ""
        else:
            assert r.status_code in (400, 401), r.text
            assert code in (Code.MFA_CODE_INVALID, Code.VERIFICATION_CODE_INVALID,
                            Code.VERIFICATION_CODE_EXPIRED), r.text
            if code != Code.VERIFICATION_CODE_EXPIRED:
                self.evaluated += 1
            self.h.clock.advance(1)
        return r


async def test_totp_bruteforce_over_a_day(make_harness: MakeHarness) -> None:
    h = await make_harness(security=PROXY)  # every limit at its default
    token = await signup_token(h, EMAIL)
    secret = await enroll(h, token)
    await enable_mfa(h, token)
    attacker = Attacker(h)
    start, period = h.clock.now(), timedelta(hours=24)
    guess = 0
    for _ in range(5000):  # bounded; ends on simulated time
        if h.clock.now() - start >= period:
            break
        valid = {totp_code(h, secret, s) for s in (-1, 0, 1)}
        while f"{guess:06d}" in valid:
            guess += 1
        await attacker.guess("/auth/mfa/verify", {"method": "totp", "otp": f"{guess:06d}"})
        guess += 1
    else:
        raise AssertionError("the simulation did not reach its end time")
    hours = period.total_seconds() / 3600
    p = success_probability(attacker.evaluated, valid_at_once=3)  # ±1 time step
    years = hours_to_even_odds(attacker.evaluated / hours, valid_at_once=3) / (24 * 365)
    print(f"\nTOTP brute force, {hours:.0f} h simulated: {attacker.requests} requests, "
          f"{attacker.evaluated} guesses evaluated, {attacker.refused} refused, "
          f"{attacker.logins} sign-ins; P(success) = {p:.1e}; even odds after {years:.1f} "
          f"years of non-stop guessing")
    assert attacker.refused > 0 and attacker.evaluated > 0
    # what got through is what the table allows in a day, however the attacker spreads it
    daily = h.settings.rate_limit.mfa_verify.per_account_long
    assert daily is not None and attacker.evaluated <= daily.limit
    assert p < 1e-3
    assert years > 10


async def test_emailed_code_bruteforce_per_code_and_per_hour(make_harness: MakeHarness,
                                                            smtp_sink: SmtpSink) -> None:
    h = await make_harness(security=PROXY, delivery={"smtp": smtp_sink.settings()})
    token = await signup_token(h, EMAIL)
    await enable_mfa(h, token)  # email is the method (the relay above carries the codes)
    attacker = Attacker(h)
    start, period = h.clock.now(), timedelta(hours=2)
    codes_sent = 0
    guess = 0
    for _ in range(3000):  # bounded; ends on simulated time
        if h.clock.now() - start >= period:
            break
        if codes_sent == 0 or attacker.evaluated % 5 == 0:  # ask for a fresh code often
            await attacker.login()
            if not attacker.pending:
                continue
            r = await h.client.post("/auth/mfa/challenge", json={"method": "email"},
                                    headers={**bearer(attacker.pending), **attacker.ip()})
            attacker.requests += 1
            if r.status_code == 200:
                codes_sent += 1
            elif r.status_code == 429:
                h.clock.advance(int(r.headers["retry-after"]))
                continue
        current = smtp_sink.last_code(EMAIL) if smtp_sink.to(EMAIL) else ""
        while f"{guess:06d}" == current:
            guess += 1
        await attacker.guess("/auth/mfa/verify", {"method": "email", "otp": f"{guess % SPACE:06d}"})
        guess += 1
    else:
        raise AssertionError("the simulation did not reach its end time")
    hours = period.total_seconds() / 3600
    p = success_probability(attacker.evaluated, valid_at_once=1)
    print(f"\nemailed-code brute force, {hours:.0f} h simulated: {codes_sent} codes sent, "
          f"{attacker.requests} requests, {attacker.evaluated} guesses evaluated; "
          f"P(success) = {p:.1e}")
    assert codes_sent > 0 and attacker.evaluated > 0
    assert p < 1e-3
