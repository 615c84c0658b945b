"""The app's one ASGI layer (``http/edge.py``): request ids, the request log, and the hot
routes' lanes (``http/fastlane.py``) answering exactly as the framework would."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from authgate.app import create_app
from authgate.http import deps
from authgate.http.edge import Edge, lanes_for
from authgate.http.routing import HOT_PATHS
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import user_id_of

EMAIL = "alice@example.com"
HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def request_lines(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="authgate.requests")
    return caplog


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "authgate.requests"]


def json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    out = []
    for rec in records(caplog):
        message = rec.getMessage()
        assert "\n" not in message
        line = json.loads(message)
        assert line["time"] == rec.request["time"].isoformat(  # type: ignore[attr-defined]
            timespec="microseconds").replace("+00:00", "Z")
        out.append(line)
    return out


async def test_every_response_carries_a_new_request_id(h: Harness) -> None:
    token = await h.session_token()
    answers = [await h.client.get("/auth/user", headers=bearer(token)),
               await h.client.get("/auth/user"),  # 401 from the lane's error path
               await h.client.get("/auth/nowhere"),  # 404 from the framework
               await h.client.post("/auth/login", content=b"x" * 10,
                                   headers={"content-type": "text/plain"})]  # 415, the guard
    ids = [r.headers["x-request-id"] for r in answers]
    assert all(HEX32.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert [r.status_code for r in answers] == [200, 401, 404, 415]


async def test_a_request_id_from_the_client_is_not_believed(h: Harness) -> None:
    r = await h.client.get("/auth/client-config", headers={"x-request-id": "chosen-by-me"})
    assert r.status_code == 200
    assert HEX32.fullmatch(r.headers["x-request-id"])


async def test_a_trusted_proxys_request_id_is_kept_when_it_looks_like_an_id(
        make_harness: MakeHarness) -> None:
    h = await make_harness(security={"trusted_proxies": ["127.0.0.0/8"]})  # the test client
    kept = "3f2b8c1e-7d4a-4c7b-9a55-1c2d3e4f5a6b"
    r = await h.client.get("/auth/client-config", headers={"x-request-id": kept})
    assert r.headers["x-request-id"] == kept
    for hostile in ("has space", "x" * 129, "new\tline", "a\"b", ""):
        r = await h.client.get("/auth/client-config", headers={"x-request-id": hostile})
        assert HEX32.fullmatch(r.headers["x-request-id"]), hostile


async def test_request_log_json_line(make_harness: MakeHarness,
                                     request_lines: pytest.LogCaptureFixture) -> None:
    h = await make_harness(logging={"format": "json"})
    token = await h.session_token()
    uid = await user_id_of(h.res, EMAIL)
    request_lines.clear()
    ok = await h.client.get("/auth/user?access_token=should-not-appear", headers=bearer(token))
    refused = await h.client.get("/auth/user", headers=bearer("not-a-token"))
    missing = await h.client.get(f"/auth/users/{token}")  # a secret in an unmatched path
    got = json_lines(request_lines)
    assert len(got) == 3
    first = got[0]
    assert first["requestId"] == ok.headers["x-request-id"]
    assert first["time"].endswith("Z")
    assert {k: v for k, v in first.items() if k not in ("time", "requestId", "latencyMs")} == {
        "method": "GET", "route": "/auth/user", "status": 200, "userId": uid,
        "ip": "127.0.0.1"}
    assert isinstance(first["latencyMs"], float) and first["latencyMs"] >= 0
    assert got[1]["status"] == 401 and got[1]["code"] == "INVALID_TOKEN"
    assert got[1]["userId"] is None and got[1]["requestId"] == refused.headers["x-request-id"]
    assert got[2]["status"] == 404 and got[2]["route"] is None
    assert got[2]["requestId"] == missing.headers["x-request-id"]
    text = " ".join(r.getMessage() for r in records(request_lines))
    assert "should-not-appear" not in text and token not in text and "access_token" not in text


async def test_request_log_text_line_for_people(make_harness: MakeHarness,
                                                request_lines: pytest.LogCaptureFixture) -> None:
    h = await make_harness(logging={"format": "text"})
    token = await h.session_token()
    uid = await user_id_of(h.res, EMAIL)
    request_lines.clear()
    r = await h.client.get("/auth/user", headers=bearer(token))
    [line] = [rec.getMessage() for rec in records(request_lines)]
    rid = r.headers["x-request-id"]
    assert re.fullmatch(rf"GET /auth/user 200 \d+\.\d+ms user={uid} ip=127\.0\.0\.1 id={rid}",
                        line), line


async def test_the_format_follows_the_mode_unless_set() -> None:
    from authgate.config import LoggingSettings

    assert LoggingSettings().resolved_format(True) == "text"
    assert LoggingSettings().resolved_format(False) == "json"
    assert LoggingSettings(format="json").resolved_format(True) == "json"


async def test_request_log_off_builds_nothing(make_harness: MakeHarness,
                                              request_lines: pytest.LogCaptureFixture) -> None:
    h = await make_harness(logging={"requests": False})
    r = await h.client.get("/auth/client-config")
    assert r.status_code == 200 and HEX32.fullmatch(r.headers["x-request-id"])
    assert records(request_lines) == []


async def test_a_security_event_and_its_request_share_the_id(
        make_harness: MakeHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="authgate.requests")
    caplog.set_level(logging.INFO, logger="authgate.security")
    h = await make_harness(logging={"format": "json"})
    await h.make_user(EMAIL, password="correct horse battery")
    caplog.clear()
    r = await h.login(password="wrong horse battery staple")
    assert r.status_code == 401
    rid = r.headers["x-request-id"]
    security = [rec.security for rec in caplog.records  # type: ignore[attr-defined]
                if rec.name == "authgate.security"]
    assert [s["requestId"] for s in security if s["event"] == "user.login_failed"] == [rid]
    assert [line["requestId"] for line in json_lines(caplog)] == [rid]
    denied = await h.client.get("/auth/user")  # ACCESS_DENIED from a GET lane
    security = [rec.security for rec in caplog.records  # type: ignore[attr-defined]
                if rec.name == "authgate.security" and rec.security["event"] == "access.denied"]
    assert security[-1]["requestId"] == denied.headers["x-request-id"]


def test_every_hot_route_has_a_lane() -> None:
    """A hot route that grew a shape the lanes cannot run would silently lose its speed."""
    from authgate.config import Settings
    from tests.conftest import TEST_SECRET

    app = create_app(Settings(jwt={"secret": TEST_SECRET}, dev_mode=True))
    lanes = lanes_for(app, app.state.gate.routes, HOT_PATHS, "/auth")
    hot = {("/auth" + p) for p in HOT_PATHS}
    declared = {(m, r.path) for r in app.state.gate.routes if r.path in hot
                for m in r.methods if m != "HEAD"}
    assert set(lanes) == declared and len(declared) >= len(HOT_PATHS)
    assert isinstance(app.build_middleware_stack(), Edge)


CASES: list[tuple[str, str, Any, str | None]] = [
    # method, path, body (bytes or JSON), auth: "token" | "bad" | None
    ("GET", "/auth/user", None, "token"),
    ("GET", "/auth/user", None, None),
    ("GET", "/auth/user", None, "bad"),
    ("GET", "/auth/verify-session", None, "token"),
    ("GET", "/auth/me", None, "token"),
    ("GET", "/auth/mfa/status", None, "token"),
    ("GET", "/auth/mfa/status", None, None),
    ("POST", "/auth/mfa/toggle", {"enabled": False}, "token"),
    ("POST", "/auth/mfa/toggle", {"enabled": "yes"}, "token"),
    ("POST", "/auth/mfa/toggle", {"enabled": False, "extra": 1}, "token"),
    ("POST", "/auth/mfa/toggle", b"{not json", "token"),
    ("POST", "/auth/mfa/toggle", b"", "token"),
    ("POST", "/auth/mfa/toggle", [1, 2], "token"),
    ("POST", "/auth/mfa/toggle", {"enabled": False}, None),
    ("POST", "/auth/mfa/toggle", b"[" * 100_000 + b"]" * 100_000, "token"),
    ("POST", "/auth/refresh-token", {"refreshToken": "nope"}, None),
    ("POST", "/auth/refresh-token", None, None),
    ("POST", "/auth/refresh-token", {"refreshToken": 5}, None),
    # bodies read straight into the model (fastlane._validated) or refused by that reading
    ("POST", "/auth/mfa/toggle", b'{"enabled":true,"enabled":false}', "token"),
    ("POST", "/auth/mfa/toggle", b'{"enabled":false,"x":NaN}', "token"),
    ("POST", "/auth/mfa/toggle", b'{"enabled":false,"x":"\\ud800"}', "token"),
    ("POST", "/auth/mfa/toggle", b'\xef\xbb\xbf{"enabled":false}', "token"),
    ("POST", "/auth/mfa/toggle", '{"enabled":false}'.encode("utf-16"), "token"),
    ("POST", "/auth/mfa/toggle", b' {"enabled" : false}\n', "token"),
    ("POST", "/auth/mfa/toggle", b'{"enabled":false} x', "token"),
    ("POST", "/auth/mfa/toggle", b'{"enabled":false,"x":"\xff"}', "token"),
    ("POST", "/auth/mfa/toggle", b"null", "token"),
    ("POST", "/auth/refresh-token", {"refreshToken": None}, None),
    ("POST", "/auth/refresh-token", {"refreshToken": "a\u0000b"}, None),
    ("POST", "/auth/refresh-token", {"refreshToken": "x" * 4097}, None),
    ("POST", "/auth/refresh-token", b'{"refreshToken":"\\ud83d\\ude00"}', None),
]


def _override(app: FastAPI) -> None:
    """Any dependency override sends every request through the framework (FastAPI applies
    overrides; the lanes do not): an override of nothing the routes use."""
    async def unused() -> None:
        return None

    app.dependency_overrides[unused] = unused


@pytest.mark.parametrize(("method", "path", "body", "auth"), CASES)
async def test_a_lane_answers_as_the_framework_does(
        h: Harness, method: str, path: str, body: Any, auth: str | None) -> None:
    token = await h.session_token()
    headers = {"content-type": "application/json"}
    if auth == "token":
        headers |= bearer(token)
    elif auth == "bad":
        headers |= bearer("x.y.z")
    content = body if isinstance(body, bytes) else (
        json.dumps(body).encode() if body is not None else b"")

    async def ask() -> httpx.Response:
        return await h.client.request(method, path, content=content, headers=headers)

    app: FastAPI = h.client._transport.app  # type: ignore[attr-defined]
    lane = await ask()
    _override(app)
    try:
        framework = await ask()
    finally:
        app.dependency_overrides.clear()
    assert lane.status_code == framework.status_code, (lane.text, framework.text)
    assert lane.content == framework.content
    drop = {"x-request-id", "content-length"} if b"expiresAt" in lane.content else {
        "x-request-id"}
    assert ({k: v for k, v in lane.headers.items() if k not in drop}
            == {k: v for k, v in framework.headers.items() if k not in drop})


async def test_dependency_overrides_reach_the_hot_routes(h: Harness) -> None:
    """A host (or a test) overriding the guard of a hot route gets its override."""
    from authgate.sessions.service import Principal

    real = await h.make_user(EMAIL, tokens=True)
    app: FastAPI = h.client._transport.app  # type: ignore[attr-defined]
    guard = deps.MfaCompleted.__metadata__[0].dependency
    assert real.access_token is not None
    seen: list[Principal] = []

    async def as_someone(request: Request) -> Principal:
        principal = await guard(request)
        seen.append(principal)
        return principal

    app.dependency_overrides[guard] = as_someone
    try:
        r = await h.client.get("/auth/user", headers=bearer(real.access_token))
    finally:
        app.dependency_overrides.clear()
    assert r.status_code == 200 and len(seen) == 1


async def test_draining_closes_connections_on_lane_answers_too(make_harness: MakeHarness) -> None:
    h = await make_harness()
    token = await h.session_token()
    gate = h.client._transport.app.state.gate  # type: ignore[attr-defined]
    assert "connection" not in (await h.client.get("/auth/user", headers=bearer(token))).headers
    gate.begin_drain()
    try:
        r = await h.client.get("/auth/user", headers=bearer(token))
        assert r.status_code == 200 and r.headers["connection"] == "close"
        r = await h.client.get("/auth/client-config")
        assert r.headers["connection"] == "close"
    finally:
        gate.drain.since = None  # the pooled app serves the next test normally


async def test_a_forwarded_address_cannot_forge_text_fields(
        make_harness: MakeHarness, request_lines: pytest.LogCaptureFixture) -> None:
    h = await make_harness(logging={"format": "text"},
                           security={"trusted_proxies": ["127.0.0.0/8"]})
    await h.client.get("/auth/client-config",
                       headers={"x-forwarded-for": "1.2.3.4 user=admin id=forged"})
    [line] = [rec.getMessage() for rec in records(request_lines)]
    assert re.fullmatch(r'GET /auth/client-config 200 \S+ms ip="1\.2\.3\.4 user=admin '
                        r'id=forged" id=[0-9a-f]{32}', line), line


async def test_the_standalone_app_asks_telemetry_once(h: Harness) -> None:
    """No OpenTelemetry provider was configured when the app started: FastAPI's native
    telemetry is off for the process instead of asked on every request."""
    app: FastAPI = h.client._transport.app  # type: ignore[attr-defined]
    config = app._native_telemetry.config  # type: ignore[attr-defined]
    assert (config["tracing"], config["metrics"], config["logs"]) == (False, False, False)
    assert FastAPI()._native_telemetry.config["tracing"] is True  # type: ignore[attr-defined]


async def test_a_hosts_middleware_sees_the_hot_routes_too(tmp_path: Path) -> None:
    """A host app that mounts authgate and adds middleware of its own (CORS here) gets it
    on every route: the lanes step aside, the framework runs the hot routes."""
    from fastapi.middleware.cors import CORSMiddleware

    from authgate.app import AuthGate
    from authgate.config import Settings
    from tests.conftest import TEST_SECRET

    gate = AuthGate(Settings(jwt={"secret": TEST_SECRET}, dev_mode=True, data_dir=tmp_path,
                             database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"))
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)
    app.add_middleware(CORSMiddleware, allow_origins=["https://app.example.com"],
                       allow_headers=["authorization"])
    stack = app.build_middleware_stack()
    assert isinstance(stack, Edge) and stack.lanes == {}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        r = await c.get("/auth/user", headers={"origin": "https://app.example.com"})
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert HEX32.fullmatch(r.headers["x-request-id"])


_BODIES = [
    b'{"enabled":true}', b'{"enabled":false,"enabled":true}', b'{"enabled":1}',
    b'{"enabled":"true"}', b'{"enabled":null}', b'{}', b'[]', b'null', b'true',
    b'{"enabled":false,"extra":{"a":[1,2.5,NaN,Infinity]}}', b'{"enabled":false,"x":1e400}',
    b'{"refreshToken":"abc"}', b'{"refreshToken":null}', b'{"refreshToken":"\\u00e9\\ud83d\\ude00"}',
    b'{"refreshToken":"a\\u0000"}', b'{"refreshToken":5}', b'{"refreshToken":"' + b"y" * 4096 + b'"}',
    b'{"code":"123456"}', b'{"otp":"123456","code":null}', b'{"code":["1"]}',
    '{"code":"\u00e9"}'.encode(), b'{"code":"1"} ',
]


def test_bodies_read_straight_into_the_model_are_what_the_framework_reads() -> None:
    """``fastlane._validated`` validates the bytes in pydantic-core's JSON mode; for the
    model kinds it is used on, whatever it accepts FastAPI's reading (``json.loads``, then
    python-mode validation) accepts too, with the same model."""
    from pydantic import BaseModel, Field, StrictBool, StrictStr, TypeAdapter, ValidationError
    from pydantic import field_validator as validator

    from authgate.http import fastlane, schemas

    direct = [schemas.ToggleMfaIn, schemas.RefreshIn, schemas.LogoutIn, schemas._CodeIn]
    for model in direct:
        adapter = TypeAdapter(model)
        assert fastlane._json_mode_agrees(adapter.core_schema), model
        for raw in _BODIES:
            try:
                fast = adapter.validate_json(raw)
            except ValidationError:
                continue
            slow = adapter.validate_python(json.loads(raw), from_attributes=True)
            assert fast.model_dump() == slow.model_dump(), raw
            assert fast.model_fields_set == slow.model_fields_set, raw

    class Lax(BaseModel):
        flag: bool

    class Number(BaseModel):
        n: int

    class Kept(BaseModel, extra="allow"):
        s: StrictStr

    class After(BaseModel):
        s: StrictStr

        @validator("s")
        @classmethod
        def _v(cls, v: str) -> str:
            return v

    class Either(BaseModel):
        v: StrictStr | StrictBool = Field(...)

    for model in (Lax, Number, Kept, After, Either):  # left to the framework's path
        assert not fastlane._json_mode_agrees(TypeAdapter(model).core_schema), model
