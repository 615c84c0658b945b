"""Per-account rate-limit keys come from exactly the field the route reads (issue 12, item 1).

The reported attack: the limiter keyed a request on the first of ``credentials.email``,
``credentials.phone``, ``credentials.identifier``, ``email``, ``phone``, ``identifier`` in the
raw body, while verify-forgot-password-otp reads ``email``/``phone``; a random decoy
``credentials.email`` bought a fresh per-account bucket per request. Now each route declares
its account field(s) and the key is computed from the validated request model, so whatever
else a body carries, a request for the victim counts in the victim's bucket.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from authgate import background
from authgate.http.routes.password import ForgotPasswordIn, VerifyForgotPasswordOtpIn
from authgate.http.routes.passwordless import PasswordlessSendIn
from authgate.http.schemas import LoginIn, SignupIn
from authgate.throttling import rate
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error
from tests.servers import SmtpSink

PW = "correct horse battery"
PROXY = {"trusted_proxies": ["127.0.0.1"]}
HOUR = {"limit": 1, "window": 3600}


def _off() -> dict[str, Any]:
    return {"per_ip": None, "per_account": None, "per_account_long": None}


def limits(**buckets: dict[str, Any]) -> dict[str, Any]:
    """Every bucket and the lockout off except the rows given."""
    cfg: dict[str, Any] = {b: _off() for b in rate.BUCKETS}
    for name, rules in buckets.items():
        cfg[name] = {**_off(), **rules}
    cfg["lockout"] = {"enabled": False}
    cfg["issued_codes"] = None
    return cfg


def fresh_email() -> str:
    return f"v{secrets.token_hex(6)}@example.com"


def fresh_phone() -> str:
    return f"+1555{secrets.randbelow(10**7):07d}"


@dataclass(frozen=True)
class Route:
    """One body-keyed route: a request for ``victim`` and the fields the route reads (a
    decoy must not replace those: it would make the request one for somebody else)."""

    name: str
    path: str
    model: type[BaseModel]
    body: Callable[[str], dict[str, Any]]
    victim: Callable[[], str] = fresh_email
    credentials: frozenset[str] = frozenset()  # credentials.* keys the route reads


ROUTES = [
    Route("login", "/auth/login", LoginIn,
          lambda v: {"providerName": "email", "credentials": {"email": v, "password": PW}},
          credentials=frozenset({"email", "password"})),
    Route("login-phone", "/auth/login", LoginIn,
          lambda v: {"providerName": "phone", "credentials": {"phone": v, "password": PW}},
          victim=fresh_phone, credentials=frozenset({"phone", "password"})),
    Route("login-passwordless", "/auth/login", LoginIn,
          lambda v: {"providerName": "passwordless",
                     "credentials": {"identifier": v, "code": "000000", "channels": ["email"]}},
          credentials=frozenset({"identifier", "code", "channels"})),
    Route("login-passwordless-any-channel", "/auth/login", LoginIn,
          lambda v: {"providerName": "passwordless",
                     "credentials": {"identifier": v, "code": "000000"}},
          credentials=frozenset({"identifier", "code", "channels"})),
    Route("signup", "/auth/signup", SignupIn, lambda v: {"email": v, "password": PW}),
    Route("forgot-password", "/auth/forgot-password", ForgotPasswordIn,
          lambda v: {"email": v}),
    Route("verify-forgot", "/auth/verify-forgot-password-otp", VerifyForgotPasswordOtpIn,
          lambda v: {"email": v, "code": "000000"}),
    # by phone: a decoy "email" is an extra field here (the phone wins), not the account
    Route("verify-forgot-phone", "/auth/verify-forgot-password-otp",
          VerifyForgotPasswordOtpIn, lambda v: {"phone": v, "code": "000000"},
          victim=fresh_phone),
    Route("passwordless-send", "/auth/passwordless/send", PasswordlessSendIn,
          lambda v: {"identifier": v, "channel": "email"}),
]

# decoys: the names the old limiter looked at, and anything else, nested or not
_ADDRESS = st.one_of(st.emails(), st.from_regex(r"\+1555[0-9]{7}", fullmatch=True),
                     st.text(max_size=24))
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), _ADDRESS),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)
_NAMES = st.one_of(st.sampled_from(["email", "phone", "identifier", "credentials", "Email",
                                    "user", "account"]), st.text(max_size=10))
_NESTED = st.fixed_dictionaries({}, optional={"email": _ADDRESS, "phone": _ADDRESS,
                                              "identifier": _ADDRESS})
DECOYS = st.dictionaries(_NAMES, st.one_of(_ADDRESS, _NESTED, _JSON), max_size=5)
CREDENTIAL_DECOYS = st.dictionaries(
    st.one_of(st.sampled_from(["email", "phone", "identifier"]), st.text(max_size=10)),
    st.one_of(_ADDRESS, _JSON), max_size=4)
REPORTED = {"credentials": {"email": "decoy-1@example.com"}}


def decorate(route: Route, body: dict[str, Any], decoys: dict[str, Any],
             credential_decoys: dict[str, Any]) -> dict[str, Any]:
    out = dict(body)
    for key, value in decoys.items():
        if key not in route.model.model_fields:  # the fields the route reads stay its own
            out[key] = value
    if "credentials" in body:
        out["credentials"] = {**{k: v for k, v in credential_decoys.items()
                                 if k not in route.credentials}, **body["credentials"]}
    return out


@pytest.fixture
async def keyed(make_harness: MakeHarness) -> Harness:
    """Each body bucket allows one request per account an hour, and nothing else limits."""
    return await make_harness(
        rate_limit=limits(login=dict(per_account=HOUR), signup=dict(per_account=HOUR),
                          forgot_password=dict(per_account=HOUR),
                          otp_verify=dict(per_account=HOUR), send_code=dict(per_account=HOUR)),
        phone_auth_enabled=True, passwordless={"enabled": True})


async def _post(h: Harness, route: Route, body: dict[str, Any]) -> httpx.Response:
    r = await h.client.post(route.path, json=body)
    await background.drain(h.res)
    return r


def _validation_refused(r: httpx.Response) -> bool:
    """A body the route's model refuses never reaches a flow (so it needs no account)."""
    return r.status_code == 400 and r.json().get("code") == "INVALID_INPUT"


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(decoys=DECOYS, credential_decoys=CREDENTIAL_DECOYS)
@example(decoys=REPORTED, credential_decoys={"email": "decoy-2@example.com"})
@example(decoys={"email": "decoy-3@example.com", "phone": "+15550000000",
                 "identifier": "decoy-4@example.com"},
         credential_decoys={"phone": "+15550000001", "identifier": "decoy-5@example.com"})
async def test_no_body_escapes_the_victims_bucket(keyed: Harness, route: Route,
                                                  decoys: dict[str, Any],
                                                  credential_decoys: dict[str, Any]) -> None:
    # a plain request spends the victim's bucket: the decorated one is refused with it
    victim = route.victim()
    plain = route.body(victim)
    assert (await _post(keyed, route, plain)).status_code != 429
    r = await _post(keyed, route, decorate(route, plain, decoys, credential_decoys))
    if not _validation_refused(r):
        assert_error(r, 429, "RATE_LIMITED")
    # and the other way round: a decorated request spends the victim's bucket
    victim = route.victim()
    plain = route.body(victim)
    r = await _post(keyed, route, decorate(route, plain, decoys, credential_decoys))
    if not _validation_refused(r):
        assert r.status_code != 429, r.text
        assert_error(await _post(keyed, route, plain), 429, "RATE_LIMITED")


async def test_decoy_credentials_email_on_verify_forgot_still_gets_429(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    """The reported attack, step by step: the victim's reset-code budget is spent, and a
    random ``credentials.email`` no longer reaches the victim's live code."""
    h = await make_harness(rate_limit=limits(otp_verify=dict(
        per_account={"limit": 3, "window": 300})), delivery={"smtp": smtp_sink.settings()})
    assert (await h.signup("victim@example.com", PW)).status_code == 200
    assert (await h.client.post("/auth/forgot-password",
                                json={"email": "victim@example.com"})).status_code == 200
    await background.drain(h.res)
    code = smtp_sink.last_code("victim@example.com")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(3):
        r = await h.client.post("/auth/verify-forgot-password-otp",
                                json={"email": "victim@example.com", "code": wrong})
        assert_error(r, 400, "VERIFICATION_CODE_INVALID")
    for guess in (wrong, code):
        for n in range(3):
            r = await h.client.post("/auth/verify-forgot-password-otp", json={
                "email": "victim@example.com", "code": guess,
                "credentials": {"email": f"decoy{n}-{secrets.token_hex(4)}@example.com"}})
            assert_error(r, 429, "RATE_LIMITED")
    h.clock.advance(300)  # the code (5 tries, 4 left) still works once the window ends
    r = await h.client.post("/auth/verify-forgot-password-otp",
                            json={"email": "victim@example.com", "code": code})
    assert r.status_code == 200, r.text


async def test_verify_forgot_keys_on_the_address_the_flow_uses(keyed: Harness) -> None:
    """With both email and phone the flow uses the phone, so that is the key; an empty
    phone falls back to the email, as the flow does."""
    path = "/auth/verify-forgot-password-otp"
    phone, email = fresh_phone(), fresh_email()
    r = await keyed.client.post(path, json={"phone": phone, "code": "000000"})
    assert_error(r, 400, "VERIFICATION_CODE_INVALID")
    r = await keyed.client.post(path, json={"email": fresh_email(), "phone": phone,
                                            "code": "000000"})
    assert_error(r, 429, "RATE_LIMITED")
    r = await keyed.client.post(path, json={"email": email, "phone": "", "code": "000000"})
    assert_error(r, 400, "VERIFICATION_CODE_INVALID")
    r = await keyed.client.post(path, json={"email": f"  {email.upper()}", "code": "000000"})
    assert_error(r, 429, "RATE_LIMITED")  # normalised as the look-up normalises


async def test_codes_issued_are_capped_per_account_and_purpose(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    """However many clients ask, at most ``issued_codes`` codes of one purpose go to one
    account per window; the public flows stay silent about it, the signed-in ones say 429."""
    cfg = limits()
    cfg["issued_codes"] = {"limit": 3, "window": 86400}
    h = await make_harness(rate_limit=cfg, delivery={"smtp": smtp_sink.settings()},
                           passwordless={"enabled": True})
    token = (await h.signup("victim@example.com", PW)).json()["accessToken"]
    for n in range(5):
        r = await h.client.post("/auth/forgot-password", json={"email": "victim@example.com"},
                                headers={"X-Forwarded-For": f"203.0.113.{n}"})
        assert r.status_code == 200, r.text
        await background.drain(h.res)
        h.clock.advance(31)  # past the resend throttle
    assert len(smtp_sink.to("victim@example.com")) == 3
    # another purpose has its own count
    for _ in range(3):
        r = await h.client.post("/auth/send-email-verification", headers=bearer(token))
        assert r.status_code == 200, r.text
        h.clock.advance(31)
    r = await h.client.post("/auth/send-email-verification", headers=bearer(token))
    assert_error(r, 429, "RATE_LIMITED")
    assert 0 < int(r.headers["retry-after"]) <= 86400
    assert len(smtp_sink.to("victim@example.com")) == 6
    for _ in range(4):
        r = await h.client.post("/auth/passwordless/send",
                                json={"identifier": "victim@example.com", "channel": "email"})
        assert r.status_code == 200, r.text
        await background.drain(h.res)
        h.clock.advance(31)
    assert len(smtp_sink.to("victim@example.com")) == 9
    h.clock.advance(timedelta(days=1))
    assert (await h.client.post("/auth/forgot-password",
                                json={"email": "victim@example.com"})).status_code == 200
    await background.drain(h.res)
    assert len(smtp_sink.to("victim@example.com")) == 10


async def test_passwordless_login_is_under_the_long_window_and_the_lockout(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    """Guessing a passwordless code is guarded like a password: the otp_verify row (long
    window included) per account and client, and failures count in the lockout."""
    cfg = limits(otp_verify=dict(per_account_long={"limit": 3, "window": 86400}))
    h = await make_harness(rate_limit=cfg, delivery={"smtp": smtp_sink.settings()},
                           passwordless={"enabled": True}, security=PROXY)
    assert (await h.signup("victim@example.com", PW)).status_code == 200
    await h.client.post("/auth/passwordless/send",
                        json={"identifier": "victim@example.com", "channel": "email"})
    await background.drain(h.res)
    code = smtp_sink.last_code("victim@example.com")

    async def attempt(guess: str, ip: str = "203.0.113.1") -> httpx.Response:
        return await h.client.post("/auth/login", headers={"X-Forwarded-For": ip}, json={
            "providerName": "passwordless",
            "credentials": {"identifier": "victim@example.com", "code": guess}})

    for n in range(3):
        assert_error(await attempt(f"{n:06d}" if f"{n:06d}" != code else "999999"), 400,
                     "VERIFICATION_CODE_INVALID")
        h.clock.advance(600)  # past any short window: only the long one is left
    assert_error(await attempt(code), 429, "RATE_LIMITED")

    cfg = limits()
    cfg["lockout"] = {"enabled": True, "max_failures": 2, "account_max_failures": 100,
                      "lock_duration": 300}
    h2 = await make_harness(rate_limit=cfg, delivery={"smtp": smtp_sink.settings()},
                            passwordless={"enabled": True}, security=PROXY)
    assert (await h2.signup("other@example.com", PW)).status_code == 200
    for _ in range(2):
        r = await h2.client.post("/auth/login", headers={"X-Forwarded-For": "203.0.113.9"},
                                 json={"providerName": "passwordless", "credentials": {
                                     "identifier": "other@example.com", "code": "000000"}})
        assert_error(r, 400, "VERIFICATION_CODE_INVALID")
    # that client is now locked out of the account, for passwords too
    r = await h2.client.post("/auth/login", headers={"X-Forwarded-For": "203.0.113.9"}, json={
        "providerName": "email", "credentials": {"email": "other@example.com", "password": PW}})
    assert_error(r, 429, "ACCOUNT_LOCKED")
