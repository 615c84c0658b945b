"""ASVS 4.0.3 V3 rows about the session tokens themselves, over HTTP on both databases:
3.1.1 never in a URL; 3.2.2 where each browser or client credential comes from and how much
randomness it carries; 3.2.3 and 3.4.5 the attributes and paths of every cookie authgate
sets; 3.2.4 approved algorithms only."""

from __future__ import annotations

import re
import secrets
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from pydantic import ValidationError

from authgate.config import JwtSettings, Settings
from tests.admin.conftest import CONSOLE, bootstrap, browser, sign_in
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims
from tests.http.test_social_codeflow import APP, flow_app, page_data, run_flow, start
from tests.idp import Idp
from tests.mfa.helpers import enable_mfa, pending_login

EMAIL = "alice@example.com"
COOKIE = {"x-access-token-type": "cookie"}
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "authgate" / "templates"


def cookies_of(*responses: httpx.Response) -> list[dict[str, str]]:
    """Every Set-Cookie of the responses: {"name", "value", <lower-case attribute>: value}."""
    out = []
    for r in responses:
        for raw in r.headers.get_list("set-cookie"):
            first, *attrs = [p.strip() for p in raw.split(";")]
            name, _, value = first.partition("=")
            entry = {"name": name, "value": value.strip('"')}
            for a in attrs:
                k, _, v = a.partition("=")
                entry[k.strip().lower()] = v.strip()
            out.append(entry)
    return out


async def _trusted_cookie_login(h: Harness) -> list[httpx.Response]:
    """A cookie-mode sign-in through the MFA step with ``trustDevice`` and remember-me off:
    the access, refresh, remember, CSRF and trust cookies, then logout (the clearing ones)."""
    u = await h.make_user(EMAIL, verified=True, totp=True, tokens=True)
    assert u.access_token
    await enable_mfa(h, u.access_token)
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(u.access_token))
    code = r.json()["codes"][0]
    pending = await pending_login(h)
    done = await h.client.post("/auth/mfa/verify-recovery-code",
                               json={"code": code, "trustDevice": True},
                               headers={**COOKIE, **bearer(pending["accessToken"])})
    assert done.status_code == 200, done.text
    login = await h.client.post("/auth/login", headers=COOKIE, json={
        "providerName": "email", "rememberMe": False,
        "credentials": {"email": EMAIL, "password": "correct horse battery"}})
    assert login.status_code == 200, login.text
    csrf = await h.client.get("/auth/csrf", headers=COOKIE)
    out = await h.client.post("/auth/logout", headers={"x-csrf-token": csrf.json()["csrfToken"]})
    assert out.status_code == 200, out.text
    return [done, login, csrf, out]


# 3.1.1 ---------------------------------------------------------------------------------
TOKENISH = re.compile(r"token|secret|password|passwd|otp|code|key|session|csrf|jwt", re.I)
"""Parameter names that could carry a credential."""
URL_PARAMS_ALLOWED = {
    # identifiers, not credentials: knowing one authenticates nothing
    ("path", "sessionId"), ("path", "keyId"), ("path", "passkeyId"),
}


async def test_no_route_takes_a_credential_in_its_url(h: Harness) -> None:
    """Walk the OpenAPI document: no query or path parameter names a token, code, password
    or key (ids of sessions and keys are names, not secrets)."""
    doc = (await h.client.get("/openapi.json")).json()
    seen = set()
    for ops in doc["paths"].values():
        for op in ops.values():
            for p in op.get("parameters", []):
                if p["in"] in ("query", "path"):
                    seen.add((p["in"], p["name"]))
    suspicious = {x for x in seen if TOKENISH.search(x[1])} - URL_PARAMS_ALLOWED
    assert suspicious == set()
    assert ("query", "returnTo") in seen and ("path", "sessionId") in seen  # the walk works


async def test_tokens_in_the_query_string_are_never_read(h: Harness) -> None:
    u = await h.make_user(EMAIL, tokens=True)
    assert u.access_token and u.refresh_token
    for name in ("accessToken", "access_token", "token", "authorization", "jwt"):
        r = await h.client.get("/auth/user", params={name: u.access_token})
        assert_error(r, 401, "NO_AUTH_PROVIDED")
        r = await h.client.get("/auth/user", params={name: f"Bearer {u.access_token}"})
        assert_error(r, 401, "NO_AUTH_PROVIDED")
    r = await h.client.post("/auth/refresh-token", params={"refreshToken": u.refresh_token},
                            json={})
    assert r.status_code in (400, 401) and "accessToken" not in r.text
    assert (await h.client.get("/auth/user", headers=bearer(u.access_token))).status_code == 200


async def test_the_code_flow_keeps_tokens_out_of_urls(make_harness: MakeHarness,
                                                      idp: Idp) -> None:
    """Start → provider → callback → the app's page: no URL on the way (the provider's
    redirect, the callback query, the page's ``returnTo``) carries a session token; cookie
    mode sets cookies, message mode posts a one-time code that is exchanged in a POST body."""
    h = await flow_app(make_harness, idp)
    first = await start(h, mode="cookie", origin=None, returnTo=APP + "/home")
    page = await run_flow(h, mode="cookie", origin=None, returnTo=APP + "/home")
    access = h.client.cookies.get("accessToken")
    refresh = h.client.cookies.get("refreshToken")
    assert access and refresh
    data = page_data(page)
    assert data["returnTo"] == APP + "/home"  # exactly what the app asked for
    for secret in (access, refresh, claims(access)["sessionId"]):
        assert secret not in page.text and secret not in str(page.request.url)
        assert secret not in first.headers["location"]
    message = await run_flow(h)
    one_time = page_data(message)["message"]["code"]
    assert one_time not in str(message.request.url)
    r = await h.client.post("/auth/oauth/exchange", json={"code": one_time})
    assert r.status_code == 200 and r.json()["accessToken"]


def test_no_email_or_sms_carries_a_link() -> None:
    """Messages carry codes typed by hand, never a link (a token in a link would sit in
    mail logs, browser history and Referer headers)."""
    files = sorted((TEMPLATES / "email").glob("*")) + sorted((TEMPLATES / "sms").glob("*"))
    assert len(files) > 20
    for f in files:
        text = f.read_text()
        assert not re.search(r"https?:|href|\$\{(link|url|token)", text, re.I), f.name
        assert set(re.findall(r"\$\{(\w+)\}", text)) <= {
            "app_name", "code", "expires_in", "when", "ip", "device", "failures", "window"}, f.name


# 3.2.2 ---------------------------------------------------------------------------------
class Spy:
    """Records what ``secrets`` and ``uuid.uuid4`` hand out and to which module (the real
    functions still produce every value)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, str, int | None, str]] = []
        for fn in ("token_urlsafe", "token_hex"):
            monkeypatch.setattr(secrets, fn, self._wrap(fn, getattr(secrets, fn)))
        real_uuid4 = uuid.uuid4

        def uuid4() -> uuid.UUID:
            out = real_uuid4()
            self.calls.append((sys._getframe(1).f_globals["__name__"], "uuid4", 16, str(out)))
            return out
        monkeypatch.setattr(uuid, "uuid4", uuid4)

    def _wrap(self, fn: str, real: Any) -> Any:
        def spy(nbytes: int | None = None) -> str:
            out: str = real(nbytes)
            self.calls.append((sys._getframe(1).f_globals["__name__"], fn, nbytes, out))
            return out
        return spy

    def source(self, value: str) -> tuple[str, str, int | None]:
        """(module, function, bytes of randomness) of the call that produced ``value``."""
        found = [(m, f, n) for m, f, n, out in self.calls if out and out in value]
        assert len(found) == 1, (value, found)
        return found[0]


async def test_where_each_credential_comes_from_and_its_entropy(
        make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Session ids: uuid4 (122 random bits from the OS CSPRNG); access and refresh tokens:
    JWTs naming that id, signed with ≥ 256-bit keys; CSRF tokens: 192-bit nonce + HMAC; API
    keys: 256-bit secret; trusted-device tokens: 256 bits. All from ``secrets``/``uuid4``,
    all ≥ 64 bits (ASVS 3.2.2), none repeated."""
    h = await make_harness(session={"cookie": {"secure": False}}, rate_limit={"enabled": False})
    spy = Spy(monkeypatch)
    responses = await _trusted_cookie_login(h)
    login = responses[1]
    jar = {c["name"]: c["value"] for c in cookies_of(login, responses[0])}
    sid = claims(jar["accessToken"])["sessionId"]
    assert spy.source(sid) == ("authgate.db", "uuid4", 16)
    assert uuid.UUID(sid).version == 4
    assert claims(jar["refreshToken"])["sessionId"] == sid
    for token in (jar["accessToken"], jar["refreshToken"]):
        assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert len(h.res.settings.jwt.secret.get_secret_value()) >= 32  # type: ignore[union-attr]
    nonce = jar["nest_auth_csrf"].split(".")[0]
    assert spy.source(nonce) == ("authgate.http.csrf", "token_urlsafe", 24)
    assert spy.source(jar["nest_auth_device_trust"]) == ("authgate.mfa.trust", "token_urlsafe",
                                                         32)
    token = (await h.login(EMAIL, headers={"nest_auth_device_trust":
                                           jar["nest_auth_device_trust"]})).json()["accessToken"]
    made = await h.client.post("/auth/api-keys", json={"name": "CI"}, headers=bearer(token))
    assert made.status_code == 201, made.text
    public, _, secret = made.json()["key"].partition(".")
    assert spy.source(secret) == ("authgate.apikeys.keys", "token_urlsafe", 32)
    assert spy.source(public)[:2] == ("authgate.apikeys.keys", "token_hex")
    # and they do not repeat: 20 more sessions, 20 new ids and CSRF nonces
    sids, nonces = {sid}, {nonce}
    for _ in range(20):
        r = await h.client.post("/auth/login", json={
            "providerName": "email",
            "credentials": {"email": EMAIL, "password": "correct horse battery"}},
            headers={**COOKIE, "nest_auth_device_trust": jar["nest_auth_device_trust"]})
        got = {c["name"]: c["value"] for c in cookies_of(r)}
        sids.add(claims(got["accessToken"])["sessionId"])
        nonces.add(got["nest_auth_csrf"].split(".")[0])
    assert len(sids) == 21 and len(nonces) == 21


async def test_code_flow_secrets_come_from_secrets(make_harness: MakeHarness, idp: Idp,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The browser binding cookie, ``state`` and the one-time exchange code: 256 bits each."""
    h = await flow_app(make_harness, idp)
    spy = Spy(monkeypatch)
    r = await start(h)
    binding = r.cookies["authgate_oauth"]
    state = re.search(r"state=([^&]+)", r.headers["location"])
    assert state is not None
    assert spy.source(binding) == ("authgate.federation.codeflow", "token_urlsafe", 32)
    assert spy.source(state.group(1)) == ("authgate.federation.codeflow", "token_urlsafe", 32)
    page = await run_flow(h)
    code = page_data(page)["message"]["code"]
    assert spy.source(code) == ("authgate.federation.codeflow", "token_urlsafe", 32)


# 3.2.3 and 3.4.5 -----------------------------------------------------------------------
SCRIPT_READABLE = {"nest_auth_csrf", "nest_auth_active_account", "nest_auth_admin_csrf"}
"""Read by page script by design: the CSRF double-submit tokens (a token alone is useless
without the HttpOnly session cookie it is bound to) and the multi-account pointer the
official SDK rewrites to switch accounts (names a user id, no credential)."""


def check_cookie(c: dict[str, str], *, path: str) -> None:
    base = c["name"].removeprefix("__Host-")
    assert "secure" in c, c
    assert c.get("samesite", "").lower() in ("lax", "strict"), c
    assert ("httponly" in c) == (base not in SCRIPT_READABLE), c
    assert c["path"] == path, c
    assert "domain" not in c, c
    if c["name"].startswith("__Host-"):
        assert path == "/"


async def test_every_session_cookie_is_secure_httponly_samesite(
        make_harness: MakeHarness) -> None:
    """Default settings (Secure on): the token, remember, CSRF and trust cookies, as set and
    as cleared, carry ``__Host-`` names, Secure, SameSite and HttpOnly (but the CSRF one)."""
    h = await make_harness(rate_limit={"enabled": False})
    found = cookies_of(*await _trusted_cookie_login(h))
    names = {c["name"].removeprefix("__Host-") for c in found}
    assert {"accessToken", "refreshToken", "nest_auth_remember", "nest_auth_csrf",
            "nest_auth_device_trust"} <= names
    for c in found:
        assert c["name"].startswith("__Host-"), c
        check_cookie(c, path="/")


async def test_multi_account_cookies(make_harness: MakeHarness) -> None:
    h = await make_harness(session={"allow_multiple_accounts": True},
                           rate_limit={"enabled": False})
    await h.make_user(EMAIL)
    r = await h.client.post("/auth/login", headers=COOKIE, json={
        "providerName": "email",
        "credentials": {"email": EMAIL, "password": "correct horse battery"}})
    found = cookies_of(r)
    assert {c["name"].removeprefix("__Host-").split("_")[0] for c in found} >= {
        "accessToken", "refreshToken"}
    assert any(c["name"] == "__Host-nest_auth_active_account" for c in found)
    for c in found:
        check_cookie(c, path="/")


async def test_admin_cookies_are_strict_on_the_console_path(make_harness: MakeHarness) -> None:
    h = await make_harness(**CONSOLE)
    await bootstrap(h)
    async with browser(h) as client:
        r = await sign_in(client)
        assert r.status_code == 201, r.text
        out = await client.post("/auth/admin/logout")
    found = cookies_of(r, out)
    assert {c["name"] for c in found} == {"nest_auth_admin", "nest_auth_admin_csrf"}
    for c in found:
        check_cookie(c, path="/auth/admin")
        assert c["samesite"].lower() == "strict"


async def test_code_flow_binding_cookie_is_scoped_to_its_callback(make_harness: MakeHarness,
                                                                  idp: Idp) -> None:
    h = await flow_app(make_harness, idp, session={"cookie": {"secure": True}})
    r = await start(h)
    [binding] = cookies_of(r)
    assert binding["name"] == "authgate_oauth"
    check_cookie(binding, path="/auth/callback/corp")
    assert binding["samesite"].lower() == "lax"  # the provider's redirect back must carry it


async def test_a_narrower_cookie_path_for_a_shared_origin(make_harness: MakeHarness) -> None:
    """A deployment sharing its origin with other apps narrows the token cookies with
    ``session.cookie.path`` (``__Host-`` needs ``/``, so the prefix steps aside)."""
    h = await make_harness(session={"cookie": {"path": "/app"}}, rate_limit={"enabled": False})
    await h.make_user(EMAIL)
    r = await h.client.post("/auth/login", headers=COOKIE, json={
        "providerName": "email",
        "credentials": {"email": EMAIL, "password": "correct horse battery"}})
    found = cookies_of(r)
    assert {c["name"] for c in found} >= {"accessToken", "refreshToken", "nest_auth_csrf"}
    for c in found:
        check_cookie(c, path="/app")


# 3.2.4 ---------------------------------------------------------------------------------
def test_only_approved_algorithms_can_be_configured() -> None:
    """JWTs: HS256/384/512, RS256, ES256, EdDSA — never ``none``, never a short secret;
    ID tokens of providers: RSA/ECDSA/EdDSA only (never HMAC or ``none``); TOTP: HMAC-SHA1/
    256/512 (RFC 6238)."""
    for alg in ("none", "HS1", "RS1", "foo"):
        with pytest.raises(ValidationError):
            JwtSettings(algorithm=alg)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        JwtSettings(secret="x" * 31)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Settings(social={"oidc": {"x": {"issuer": "https://x.example", "client_id": "c",
                                        "algorithms": ["HS256"]}}})
    with pytest.raises(ValidationError):
        Settings(mfa={"totp": {"algorithm": "MD5"}})


async def test_tokens_name_their_approved_algorithm(h: Harness) -> None:
    u = await h.make_user(EMAIL, tokens=True)
    assert u.access_token and u.refresh_token
    assert jwt.get_unverified_header(u.access_token)["alg"] == "HS256"
    assert jwt.get_unverified_header(u.refresh_token)["alg"] == "HS256"
    other_key = jwt.encode(claims(u.access_token), "k" * 64, algorithm="HS256")
    unsigned = jwt.encode(claims(u.access_token), None, algorithm="none")
    for forged in (other_key, unsigned):
        r = await h.client.get("/auth/user", headers=bearer(forged))
        assert r.status_code == 401, r.text
