"""``GET /metrics`` (issue 16 §2): off by default; with ``metrics.enabled`` the Prometheus
series fed by the request hook (route templates, statuses, latency, error codes) and by the
event bus (logins, MFA steps, refresh reuse); ``metrics.token`` guards it."""

from __future__ import annotations

import re

from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error

TOKEN = "scrape-token-0123456789abcdef"


def _value(text: str, series: str) -> float:
    m = re.search(rf"^{re.escape(series)} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def _scrape(h: Harness) -> str:
    r = await h.client.get("/metrics", headers=bearer(TOKEN))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


async def test_off_by_default(h: Harness) -> None:
    r = await h.client.get("/metrics")
    assert_error(r, 404, "NOT_FOUND")
    assert "/metrics" not in (await h.client.get("/openapi.json")).json()["paths"]


async def test_token_required(make_harness: MakeHarness) -> None:
    h = await make_harness(metrics={"enabled": True, "token": TOKEN})
    assert_error(await h.client.get("/metrics"), 401, "NO_AUTH_PROVIDED")
    assert_error(await h.client.get("/metrics", headers=bearer(TOKEN + "x")), 401,
                 "INVALID_TOKEN")
    assert_error(await h.client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}),
                 401, "INVALID_TOKEN")
    assert "/metrics" in (await h.client.get("/openapi.json")).json()["paths"]


async def test_open_without_a_token(make_harness: MakeHarness) -> None:
    h = await make_harness(metrics={"enabled": True})
    r = await h.client.get("/metrics")
    assert r.status_code == 200 and "authgate_http_requests_total" in r.text


async def test_series_from_requests_and_events(make_harness: MakeHarness) -> None:
    h = await make_harness(metrics={"enabled": True, "token": TOKEN},
                           rate_limit={"login": {"per_account": {"limit": 3, "window": "1m"}}})
    before = await _scrape(h)
    token = await h.user_token()
    for _ in range(2):
        assert (await h.client.get("/auth/user", headers=bearer(token))).status_code == 200
    assert (await h.login()).status_code == 200
    assert (await h.login(password="wrong password")).status_code == 401
    r = await h.login(password="wrong password")
    assert r.status_code in (401, 429)
    r = await h.login(password="wrong password")
    assert_error(r, 429, "RATE_LIMITED")
    r = await h.client.post("/auth/mfa/verify", headers=bearer(token),
                            json={"method": "totp", "otp": "000000"})
    assert r.status_code >= 400
    await h.client.get("/auth/no-such-route")
    text = await _scrape(h)

    def grew(series: str) -> float:
        return _value(text, series) - _value(before, series)

    assert grew('authgate_http_requests_total{method="GET",route="/auth/user",status="200"}') == 2
    assert grew('authgate_http_requests_total{method="POST",route="/auth/login",'
                'status="200"}') == 1
    assert grew('authgate_http_requests_total{method="GET",route="unmatched",'
                'status="404"}') == 1
    assert grew('authgate_http_request_duration_seconds_count{route="/auth/user"}') == 2
    assert grew('authgate_errors_total{code="RATE_LIMITED"}') >= 1
    assert grew('authgate_errors_total{code="INVALID_CREDENTIALS"}') >= 1
    assert grew('authgate_logins_total{outcome="success"}') == 1
    assert grew('authgate_logins_total{outcome="failure"}') >= 1
    assert "secret" not in text.lower() and "alice" not in text


async def test_refresh_reuse_counted(make_harness: MakeHarness) -> None:
    h = await make_harness(metrics={"enabled": True, "token": TOKEN},
                           jwt={"refresh_reuse_grace": "1s"})
    r = await h.signup()
    refresh = r.json()["refreshToken"]
    assert (await h.client.post("/auth/refresh-token",
                                json={"refreshToken": refresh})).status_code == 200
    h.clock.advance(5)
    assert (await h.client.post("/auth/refresh-token",
                                json={"refreshToken": refresh})).status_code == 401
    text = await _scrape(h)
    assert _value(text, "authgate_refresh_reuse_detections_total") == 1
