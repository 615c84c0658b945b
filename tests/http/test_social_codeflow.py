"""The server-side authorization-code flow (issue 14): start → the local provider →
``GET /auth/callback/{provider}`` → a one-time result for the opener (or cookies), with
PKCE, ``state`` bound to the browser, nonce, and the callback page's postMessage targets."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.conftest import Harness, MakeHarness, bearer
from tests.factories import make_user
from tests.helpers import assert_error, claims
from tests.idp import CLIENT_ID, Idp

APP = "https://app.example.com"


async def flow_app(make_harness: MakeHarness, idp: Idp, **extra: Any) -> Harness:
    social = idp.social_settings(callback_origins=[APP], **extra.pop("social", {}))
    session = {"cookie": {"secure": False}, **extra.pop("session", {})}
    return await make_harness(social=social, rate_limit={"enabled": False}, session=session,
                              **extra)


def page_data(r: httpx.Response) -> dict[str, Any]:
    """The JSON the callback page embeds (what its script posts, and to whom)."""
    assert r.headers["content-type"].startswith("text/html")
    m = re.search(r'<script type="application/json" id="authgate-callback">(.*?)</script>',
                  r.text, re.S)
    assert m is not None, r.text
    return dict(json.loads(m.group(1)))


async def start(h: Harness, provider: str = "corp", **params: Any) -> httpx.Response:
    query = {"mode": "message", "origin": APP, **params}
    return await h.client.get(f"/auth/oauth/{provider}/start",
                              params={k: v for k, v in query.items() if v is not None})


async def at_provider(url: str) -> str:
    """The browser at the provider: it signs the user in and redirects back."""
    async with httpx.AsyncClient() as browser:
        r = await browser.get(url)
    assert r.status_code == 302, r.text
    return r.headers["location"]


async def callback(h: Harness, location: str) -> httpx.Response:
    parts = urlsplit(location)
    assert parts.netloc == "testserver"
    return await h.client.get(f"{parts.path}?{parts.query}")


async def run_flow(h: Harness, provider: str = "corp", **params: Any) -> httpx.Response:
    r = await start(h, provider, **params)
    assert r.status_code == 302, r.text
    return await callback(h, await at_provider(r.headers["location"]))


async def test_message_mode_end_to_end(make_harness: MakeHarness, idp: Idp) -> None:
    h = await flow_app(make_harness, idp)
    r = await start(h)
    assert r.status_code == 302 and r.headers["cache-control"] == "no-store"
    to = urlsplit(r.headers["location"])
    q = {k: v[0] for k, v in parse_qs(to.query).items()}
    assert f"{to.scheme}://{to.netloc}{to.path}" == f"{idp.issuer}/authorize"
    assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["redirect_uri"] == "http://testserver/auth/callback/corp"
    assert q["state"].startswith("ag.") and q["nonce"] and q["scope"] == "openid email profile"
    binding = r.cookies.get("authgate_oauth")
    assert binding and "httponly" in r.headers["set-cookie"].lower()

    page = await callback(h, await at_provider(r.headers["location"]))
    assert page.status_code == 200, page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    data = page_data(page)
    assert data["origins"] == [APP]  # only the opener the flow was started for
    msg = data["message"]
    assert msg["type"] == "nest-auth-sso-callback" and msg["success"] is True
    assert msg["provider"] == "corp" and msg["mode"] == "message"
    # PKCE: the provider got the verifier matching the challenge it was shown.
    [sent] = idp.token_requests
    assert create_s256_code_challenge(sent["code_verifier"]) == q["code_challenge"]

    r = await h.client.post("/auth/oauth/exchange", json={"code": msg["code"]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["isRequiresMfa"] is False and out["message"] == "Login successful"
    me = await h.client.get("/auth/user", headers=bearer(out["accessToken"]))
    assert me.status_code == 200 and me.json()["email"] == "alice@example.com"
    # The result is single-use.
    again = await h.client.post("/auth/oauth/exchange", json={"code": msg["code"]})
    assert_error(again, 400, "OAUTH_STATE_INVALID")


async def test_state_is_single_use_and_tamper_proof(make_harness: MakeHarness,
                                                    idp: Idp) -> None:
    h = await flow_app(make_harness, idp)
    r = await start(h)
    location = await at_provider(r.headers["location"])
    parts = urlsplit(location)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    tampered = await h.client.get(parts.path, params={**q, "state": q["state"] + "x"})
    assert tampered.status_code == 400
    data = page_data(tampered)
    assert data["message"]["error"] == "OAUTH_STATE_INVALID" and "code" not in data["message"]
    ok = await h.client.get(parts.path, params=q)
    assert ok.status_code == 200 and page_data(ok)["message"]["success"] is True
    replay = await h.client.get(parts.path, params=q)
    assert replay.status_code == 400
    assert page_data(replay)["message"]["error"] == "OAUTH_STATE_INVALID"


async def test_state_bound_to_the_starting_browser(make_harness: MakeHarness,
                                                   idp: Idp) -> None:
    """An attacker starts a flow and sends the victim the callback link: the victim's
    browser lacks the flow's binding cookie, so nothing signs in (login CSRF)."""
    h = await flow_app(make_harness, idp)
    r = await start(h)
    location = await at_provider(r.headers["location"])
    h.client.cookies.clear()
    victim = await callback(h, location)
    assert victim.status_code == 400
    assert page_data(victim)["message"]["error"] == "OAUTH_STATE_INVALID"
    assert "accessToken" not in victim.cookies


async def test_state_of_another_provider(make_harness: MakeHarness, idp: Idp) -> None:
    h = await flow_app(make_harness, idp)
    r = await start(h, "corp")
    location = await at_provider(r.headers["location"])
    wrong = await h.client.get(urlsplit(location).path.replace("corp", "google") + "?"
                               + urlsplit(location).query)
    assert wrong.status_code == 400
    assert page_data(wrong)["message"]["error"] == "OAUTH_STATE_INVALID"


async def test_state_expires(make_harness: MakeHarness, idp: Idp) -> None:
    from datetime import timedelta

    h = await flow_app(make_harness, idp)
    r = await start(h)
    location = await at_provider(r.headers["location"])
    h.clock.advance(timedelta(minutes=11))
    late = await callback(h, location)
    assert late.status_code == 400
    assert page_data(late)["message"]["error"] == "OAUTH_STATE_INVALID"


async def test_cookie_mode_signs_in(make_harness: MakeHarness, idp: Idp) -> None:
    h = await flow_app(make_harness, idp)
    page = await run_flow(h, mode="cookie", origin=None, returnTo=APP + "/home")
    assert page.status_code == 200, page.text
    data = page_data(page)
    assert data["returnTo"] == APP + "/home" and data["origins"] == []
    assert data["message"] == {"type": "nest-auth-sso-callback", "provider": "corp",
                               "success": True, "mode": "cookie", "isRequiresMfa": False}
    assert page.cookies.get("accessToken")
    me = await h.client.get("/auth/user")  # the cookie jar now holds the session
    assert me.status_code == 200 and me.json()["email"] == "alice@example.com"


async def test_mfa_user_goes_through_the_mfa_step(make_harness: MakeHarness, idp: Idp) -> None:
    h = await flow_app(make_harness, idp)
    user = await make_user(h, "alice@example.com", verified=True, totp=True, mfa=True)
    page = await run_flow(h)
    code = page_data(page)["message"]["code"]
    r = await h.client.post("/auth/oauth/exchange", json={"code": code})
    assert r.status_code == 200, r.text
    assert r.json()["isRequiresMfa"] is True and r.json()["mfaMethods"] == ["totp"]
    assert claims(r.json()["accessToken"])["sub"] == user.id
    assert_error(await h.client.get("/auth/user", headers=bearer(r.json()["accessToken"])),
                 401, "MFA_REQUIRED")
    cookie_page = await run_flow(h, mode="cookie", origin=APP)
    msg = page_data(cookie_page)["message"]
    assert msg["isRequiresMfa"] is True and msg["mfaMethods"] == ["totp"]
    assert_error(await h.client.get("/auth/user"), 401, "MFA_REQUIRED")


async def test_refusals_after_the_flow_reach_the_opener(make_harness: MakeHarness,
                                                        idp: Idp) -> None:
    h = await flow_app(make_harness, idp)
    await make_user(h, "alice@example.com", verified=True)
    idp.user.email_verified = False  # the provider did not verify the address
    page = await run_flow(h)
    assert page.status_code == 401
    data = page_data(page)
    assert data["origins"] == [APP]
    assert data["message"]["error"] == "SOCIAL_EMAIL_NOT_VERIFIED"
    # The provider's own refusal (the user pressed "deny").
    r = await start(h)
    state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
    denied = await h.client.get("/auth/callback/corp",
                                params={"state": state, "error": "access_denied"})
    assert denied.status_code == 401
    assert page_data(denied)["message"]["error"] == "OAUTH_PROVIDER_ERROR"
    # Without createUserIfNotExists a stranger is not signed up.
    idp.user.email, idp.user.sub = "new@example.com", "idp-new"
    page = await run_flow(h, createUserIfNotExists="false")
    assert page_data(page)["message"]["error"] == "INVALID_CREDENTIALS"


async def test_a_bad_code_is_refused(make_harness: MakeHarness, idp: Idp) -> None:
    h = await flow_app(make_harness, idp)
    r = await start(h)
    state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
    bad = await h.client.get("/auth/callback/corp", params={"state": state, "code": "forged"})
    assert bad.status_code == 401
    assert page_data(bad)["message"]["error"] == "OAUTH_PROVIDER_ERROR"


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"origin": "https://evil.example"}, 400, "INVALID_INPUT"),
    ({"origin": None}, 400, "INVALID_INPUT"),  # message mode needs the opener's origin
    ({"returnTo": "https://evil.example/x"}, 400, "INVALID_INPUT"),
    ({"returnTo": APP + ".evil.example/x"}, 400, "INVALID_INPUT"),
    ({"mode": "implicit"}, 400, "INVALID_INPUT"),
])
async def test_start_refuses(make_harness: MakeHarness, idp: Idp, params: dict[str, Any],
                             status: int, code: str) -> None:
    h = await flow_app(make_harness, idp)
    r = await h.client.get("/auth/oauth/corp/start",
                           params={k: v for k, v in {"mode": "message", "origin": APP,
                                                     **params}.items() if v is not None})
    assert_error(r, status, code)


@pytest.mark.parametrize("provider", ["apple", "facebook", "nope"])
async def test_start_needs_a_code_flow_provider(make_harness: MakeHarness, idp: Idp,
                                                provider: str) -> None:
    h = await flow_app(make_harness, idp)
    assert_error(await start(h, provider), 401, "INVALID_PROVIDER")


async def test_cookie_mode_needs_cookie_sessions(make_harness: MakeHarness, idp: Idp) -> None:
    h = await flow_app(make_harness, idp, session={"access_token_type": "header"})
    assert_error(await start(h, mode="cookie"), 400, "INVALID_INPUT")


async def test_upstream_callback_posts_only_to_configured_origins(
        make_harness: MakeHarness, idp: Idp, h: Harness) -> None:
    """Upstream's client-side flow: the query is relayed to the opener, but to the
    configured origins only (upstream: ``*``)."""
    r = await h.client.get("/auth/callback/google", params={"code": "c0de", "state": "sdk-1"})
    assert r.status_code == 200
    data = page_data(r)
    assert data["origins"] == []  # nothing configured: posted nowhere
    assert data["message"] == {"type": "nest-auth-sso-callback", "code": "c0de",
                               "state": "sdk-1"}
    s = await flow_app(make_harness, idp)
    r = await s.client.get("/auth/callback/google",
                           params={"code": "c0de", "x": "</script><script>alert(1)</script>"})
    data = page_data(r)
    assert data["origins"] == [APP]
    assert "</script><script>" not in r.text  # escaped inside the JSON
    assert data["message"]["x"] == "</script><script>alert(1)</script>"


async def test_exchange_refuses_unknown_codes(make_harness: MakeHarness, idp: Idp) -> None:
    h = await flow_app(make_harness, idp)
    for code in ("", "x" * 600, "unknown"):
        assert_error(await h.client.post("/auth/oauth/exchange", json={"code": code}),
                     400, "OAUTH_STATE_INVALID")


async def test_github_code_flow(make_harness: MakeHarness, idp: Idp) -> None:
    """GitHub is OAuth without OpenID Connect: the code buys an access token (PKCE
    checked), whose owner and primary verified email come from the API."""
    h = await flow_app(make_harness, idp)
    r = await start(h, "github")
    q = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}
    assert q["scope"] == "read:user user:email" and "nonce" not in q
    page = await callback(h, await at_provider(r.headers["location"]))
    assert page.status_code == 200, page.text
    code = page_data(page)["message"]["code"]
    out = await h.client.post("/auth/oauth/exchange", json={"code": code})
    assert out.status_code == 200, out.text
    me = await h.client.get("/auth/user", headers=bearer(out.json()["accessToken"]))
    assert me.json()["email"] == "alice@example.com"
    [sent] = idp.token_requests
    assert create_s256_code_challenge(sent["code_verifier"]) == q["code_challenge"]
    # A provider-side refusal of the code (GitHub answers 200 with an error) is refused.
    r = await start(h, "github")
    state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
    bad = await h.client.get("/auth/callback/github", params={"state": state, "code": "nope"})
    assert bad.status_code == 401
    assert page_data(bad)["message"]["error"] == "OAUTH_PROVIDER_ERROR"
