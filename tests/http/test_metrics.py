"""``GET /metrics`` (issue 16 §2): off by default; with ``metrics.enabled`` the Prometheus
series fed by the request hook (route templates, statuses, latency, error codes) and by the
event bus (logins, MFA steps, refresh reuse); ``metrics.token`` guards it."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from authgate import background
from authgate.crypto.passwords import PasswordHasher
from authgate.errors import ServiceUnavailable
from tests.conftest import REDIS_URL, Harness, MakeHarness, bearer
from tests.helpers import assert_error
from tests.security.test_faults import TcpProxy, _target, _via
from tests.servers import SmtpSink

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


async def test_mfa_challenges_and_verifications_by_method(make_harness: MakeHarness,
                                                         smtp_sink: SmtpSink) -> None:
    h = await make_harness(metrics={"enabled": True, "token": TOKEN},
                           delivery={"smtp": smtp_sink.settings()})
    u = await h.make_user("alice@example.com", verified=True, tokens=True)
    assert u.access_token is not None
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True},
                            headers=bearer(u.access_token))
    assert r.status_code == 200, r.text
    pending = (await h.login("alice@example.com")).json()["accessToken"]
    for _ in range(2):
        h.clock.advance(120)  # past the resend throttle
        r = await h.client.post("/auth/mfa/challenge", json={"method": "email"},
                                headers=bearer(pending))
        assert r.status_code == 200, r.text
    code = smtp_sink.messages[-1].code
    r = await h.client.post("/auth/mfa/verify", json={"method": "email", "otp": "000000"
                            if code != "000000" else "111111"}, headers=bearer(pending))
    assert r.status_code == 400
    r = await h.client.post("/auth/mfa/verify", json={"method": "email", "otp": code},
                            headers=bearer(pending))
    assert r.status_code == 200, r.text
    text = await _scrape(h)
    assert _value(text, 'authgate_mfa_challenges_total{method="email"}') == 2
    assert _value(text, 'authgate_mfa_verifications_total{method="email",'
                        'outcome="failure"}') == 1
    assert _value(text, 'authgate_mfa_verifications_total{method="email",'
                        'outcome="success"}') == 1
    assert code not in text


# password hashing (issue 16 §2) -------------------------------------------------------------
async def test_password_hashing_series(make_harness: MakeHarness) -> None:
    h = await make_harness(metrics={"enabled": True, "token": TOKEN})
    before = await _scrape(h)
    assert (await h.signup()).status_code == 200  # one hash
    assert (await h.login()).status_code == 200  # one verification
    assert (await h.login(password="wrong password")).status_code == 401  # and another
    text = await _scrape(h)

    def grew(series: str) -> float:
        return _value(text, series) - _value(before, series)

    assert grew('authgate_password_hash_duration_seconds_count{operation="hash"}') >= 1
    assert grew('authgate_password_hash_duration_seconds_count{operation="verify"}') >= 2
    assert grew('authgate_password_hash_duration_seconds_sum{operation="verify"}') > 0
    assert grew("authgate_password_hash_wait_seconds_count") >= 3
    assert _value(text, "authgate_password_hash_queue_depth") == 0  # nothing in flight now


class _Recorder:
    def __init__(self) -> None:
        self.depths: list[int] = []
        self.done: list[tuple[str, float, float]] = []

    def hash_queue(self, depth: int) -> None:
        self.depths.append(depth)

    def hashed(self, operation: str, seconds: float, waited: float) -> None:
        self.done.append((operation, seconds, waited))


async def test_the_queue_depth_counts_hashes_waiting_for_the_one_hashing_thread() -> None:
    """Four verifications at once on one hashing thread: the depth climbs to 4 and returns
    to 0; the later ones waited about as long as the ones before them ran."""
    hasher = PasswordHasher(time_cost=1, memory_cost_kib=4096, parallelism=1, workers=1)
    try:
        stored = hasher.hash_sync("correct horse battery")
        seen = _Recorder()
        hasher.observer = seen
        verdicts = await asyncio.gather(*(hasher.check(stored, "correct horse battery")
                                          for _ in range(4)))
        assert all(v.ok for v in verdicts)
        assert max(seen.depths) == 4 and seen.depths[-1] == 0
        assert [op for op, _, _ in seen.done] == ["verify"] * 4
        ran = [s for _, s, _ in seen.done]
        waits = sorted(w for _, _, w in seen.done)
        assert all(s > 0 for s in ran)
        assert waits[-1] >= sum(sorted(ran)[:3]) * 0.5  # the last one queued behind three
        await hasher.hash("another password")
        assert seen.done[-1][0] == "hash"
    finally:
        hasher.close()


async def test_metrics_off_the_hasher_reports_nothing(h: Harness) -> None:
    assert h.res.metrics is None and h.res.hasher.observer is None
    assert (await h.login()).status_code in (200, 401)


# database and Redis failures ---------------------------------------------------------------
@pytest.fixture
async def proxy() -> AsyncIterator[Callable[[tuple[str, int]], Awaitable[TcpProxy]]]:
    """A TCP proxy that outlives the harness using it (request it before ``make_harness``),
    so the app can still clean up through it."""
    opened: list[TcpProxy] = []

    async def _open(target: tuple[str, int]) -> TcpProxy:
        opened.append(await TcpProxy(*target).__aenter__())
        return opened[-1]

    yield _open
    for p in opened:
        await p.__aexit__(None, None, None)


async def test_redis_outage_counted_by_backend(proxy: Any, make_harness: MakeHarness) -> None:
    cut = await proxy(_target(REDIS_URL, 6379))
    h = await make_harness(metrics={"enabled": True, "token": TOKEN},
                           redis_url=_via(REDIS_URL, cut), session={"storage": "redis"})
    token = await h.user_token()
    before = await _scrape(h)
    cut.cut("reset")
    assert_error(await h.client.get("/auth/user", headers=bearer(token)), 503,
                 "SERVICE_UNAVAILABLE")
    assert_error(await h.login(), 503, "SERVICE_UNAVAILABLE")  # rate-limit counters
    cut.restore()
    text = await _scrape(h)

    def grew(series: str) -> float:
        return _value(text, series) - _value(before, series)

    assert grew('authgate_backend_errors_total{backend="redis"}') == 2
    assert grew('authgate_errors_total{code="SERVICE_UNAVAILABLE"}') == 2
    assert grew('authgate_backend_errors_total{backend="database"}') == 0


async def test_database_outage_counted_by_backend(proxy: Any, make_harness: MakeHarness,
                                                  backend: str, database_url: str) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL outage (the SQLite file cannot go away)")
    cut = await proxy(_target(database_url, 5432))
    h = await make_harness(metrics={"enabled": True, "token": TOKEN},
                           database_url=_via(database_url, cut), rate_limit={"enabled": False})
    token = await h.user_token()
    before = await _scrape(h)
    cut.cut("reset")
    assert_error(await h.client.get("/auth/user", headers=bearer(token)), 503,
                 "SERVICE_UNAVAILABLE")
    assert_error(await h.login(), 503, "SERVICE_UNAVAILABLE")
    cut.restore()
    text = await _scrape(h)
    assert (_value(text, 'authgate_backend_errors_total{backend="database"}')
            - _value(before, 'authgate_backend_errors_total{backend="database"}')) == 2


async def test_background_failures_are_counted_too(make_harness: MakeHarness) -> None:
    """Work after the response (a code being sent) answers nobody: its database or Redis
    failure would otherwise show nowhere but a log line."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    h = await make_harness(metrics={"enabled": True, "token": TOKEN})
    before = await _scrape(h)

    async def database_down() -> None:
        raise ServiceUnavailable("Database unavailable", backend="database")

    async def redis_down() -> None:
        try:
            raise RedisConnectionError("connection refused")
        except RedisConnectionError as exc:
            raise RuntimeError("wrapped") from exc

    async def unrelated() -> None:
        raise ValueError("not a backing service")

    for work in (database_down(), redis_down(), unrelated()):
        background.spawn(h.res, work, name="test")
    await background.drain(h.res)
    text = await _scrape(h)
    for name, n in (("database", 1), ("redis", 1), ("other", 0)):
        series = f'authgate_backend_errors_total{{backend="{name}"}}'
        assert _value(text, series) - _value(before, series) == n


# the Grafana dashboard --------------------------------------------------------------------
DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "authgate.json"
_SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
             "histogram": ("_bucket", "_count", "_sum", "_created")}


async def test_the_grafana_dashboard_charts_real_series_only(make_harness: MakeHarness) -> None:
    h = await make_harness(metrics={"enabled": True})
    assert h.res.metrics is not None
    families = {f.name: f.type for f in h.res.metrics.registry.collect()}
    series = {name + s for name, kind in families.items() for s in _SUFFIXES[kind]}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs and all(p["datasource"]["type"] == "prometheus" for p in dashboard["panels"])
    named = {m for e in exprs for m in re.findall(r"\bauthgate_[a-z_]+\b", e)}
    assert named, "no authgate series charted"
    assert named <= series, f"not exposed by authgate: {sorted(named - series)}"
    charted = {f for f in families if any(n.startswith(f) for n in named)}
    assert charted == set(families), f"not charted: {sorted(set(families) - charted)}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
