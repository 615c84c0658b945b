"""Hostile input: SQL-ish, script-ish, CRLF, NUL, unpaired surrogates and oversized strings in
every text field of every JSON body; deeply nested and malformed JSON; invalid UTF-8. Each is
refused with a 400 envelope or stored verbatim and returned JSON-escaped, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims, user_id_of

JSON = {"Content-Type": "application/json"}
PASSWORD = "correct horse battery"
HOSTILE = {
    "sql": "x' OR '1'='1'; DROP TABLE authgate_users; --",
    "script": "<script>alert(document.cookie)</script>",
    "crlf": "a@b.co\r\nBcc: victim@example.com\r\n\r\nbody",
    "nul": "before\x00after",
    "surrogate": "lone\ud800half",
    "rtl": "\u202egnp.exe\u202c",
    "template": "{{7*7}}${jndi:ldap://127.0.0.1:1/a}",
    "long": "y" * 4097,
}


def raw_json(body: Any) -> bytes:
    """JSON with \\u escapes (so unpaired surrogates survive the trip, as a client can send)."""
    return json.dumps(body).encode()


async def post(h: Harness, path: str, body: Any, token: str | None = None,
               method: str = "POST") -> httpx.Response:
    headers = {**JSON, **(bearer(token) if token else {})}
    return await h.client.request(method, path, content=raw_json(body), headers=headers)


def assert_sane(r: httpx.Response, what: Any) -> None:
    assert r.status_code < 500, (what, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), what
    if r.status_code >= 400:
        body = r.json()
        assert set(body) == {"statusCode", "error", "message", "code"}, (what, body)


async def body_text_fields(h: Harness) -> list[tuple[str, str, list[str]]]:
    """(method, path, string properties) of every operation with a JSON body."""
    spec = (await h.client.get("/openapi.json")).json()
    comps = spec["components"]["schemas"]
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if not content:
                continue
            schema = content["schema"]
            ref = schema.get("$ref") or next(
                (x["$ref"] for x in schema.get("anyOf", []) if "$ref" in x), None)
            props = comps[ref.rsplit("/", 1)[1]]["properties"] if ref else {}
            out.append((method.upper(), path, list(props)))
    return out


async def test_hostile_strings_in_every_text_field(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit={"enabled": False}, phone_auth_enabled=True)
    token = await h.user_token()
    ops = await body_text_fields(h)
    assert len(ops) >= 10
    sent = 0
    for method, path, fields in ops:
        for field in fields:
            for name, value in HOSTILE.items():
                body: dict[str, Any] = {"email": "someone@example.com", "password": PASSWORD,
                                        field: value}
                if path == "/auth/login":
                    body = {"providerName": "email", "credentials": {
                        "email": value if field == "credentials" else "alice@example.com",
                        "password": value}, **({} if field == "credentials" else {field: value})}
                # logout with the token would end the session this test keeps
                r = await post(h, path, body, None if path == "/auth/logout" else token,
                               method)
                assert_sane(r, (path, field, name))
                sent += 1
    assert sent >= 300
    # after all that, the account and its session are intact
    assert (await h.client.get("/auth/user", headers=bearer(token))).status_code == 200
    assert (await h.login()).status_code == 200


@pytest.mark.parametrize("name", ["nul", "surrogate"])
async def test_unstorable_text_is_a_400_even_under_the_rate_limiter(h: Harness,
                                                                    name: str) -> None:
    """NUL (PostgreSQL text cannot hold it) and unpaired surrogates (not UTF-8) used to reach
    the database, argon2 and HMACs and come back as 500s."""
    value = HOSTILE[name]
    cases = [
        ("/auth/login", {"providerName": "email",
                         "credentials": {"email": f"a{value}@example.com", "password": "x"}}),
        ("/auth/login", {"providerName": "email",
                         "credentials": {"email": "a@example.com", "password": value}}),
        ("/auth/signup", {"email": "b@example.com", "phone": f"+1555{value}",
                          "password": PASSWORD}),
        ("/auth/signup", {"email": "c@example.com", "password": f"{PASSWORD}{value}"}),
        ("/auth/forgot-password", {"email": f"d{value}@example.com"}),
    ]
    for path, body in cases:
        r = await post(h, path, body)
        assert_error(r, 400, "INVALID_INPUT")
        assert "NUL characters or unpaired surrogates" in r.json()["message"], r.json()


async def test_sql_and_script_strings_are_stored_verbatim_and_escaped(
        make_harness: MakeHarness) -> None:
    h = await make_harness(phone_auth_enabled=True)
    email = "o'hara--<script>alert(1)</script>@example.com".lower()
    phone = "+1'OR'1'='1--"
    # a phone is normalised to E.164 first, so such a string never reaches the database
    r = await post(h, "/auth/signup", {"email": email, "phone": phone, "password": PASSWORD})
    assert_error(r, 400, "INVALID_PHONE_FORMAT")
    phone = "+15551234567"
    r = await post(h, "/auth/signup", {"email": email, "phone": phone, "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = r.json()["accessToken"]
    for path in ("/auth/user", "/auth/me"):
        got = await h.client.get(path, headers=bearer(token))
        assert got.headers["content-type"].startswith("application/json")
        assert got.json()["email"] == email and got.json()["phone"] == phone
    # the SQL did nothing: one user, and both identifiers sign in
    r = await post(h, "/auth/login", {"providerName": "email",
                                      "credentials": {"email": email, "password": PASSWORD}})
    assert r.status_code == 200, r.text
    r = await post(h, "/auth/login", {"providerName": "phone",
                                      "credentials": {"phone": phone, "password": PASSWORD}})
    assert r.status_code == 200, r.text
    r = await post(h, "/auth/login", {"providerName": "email", "credentials": {
        "email": "x' OR '1'='1", "password": "' OR '1'='1"}})
    assert_error(r, 401, "INVALID_CREDENTIALS")
    r = await post(h, "/auth/login", {"providerName": "phone", "credentials": {
        "phone": "+1' OR '1'='1", "password": "' OR '1'='1"}})
    assert_error(r, 400, "INVALID_PHONE_FORMAT")
    # a device name with markup comes back as the same characters inside a JSON string
    name = "<img src=x onerror=alert(1)>'\"\\"
    r = await post(h, "/auth/mfa/setup-totp", {"deviceName": name}, token)
    assert r.status_code == 200, r.text
    listed = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    assert [d["deviceName"] for d in listed.json()] == [name]
    assert b"\\\"\\\\" in listed.content  # quote and backslash escaped on the wire


@pytest.mark.parametrize("field", ["email", "phone"])
async def test_crlf_in_addresses_never_reaches_a_message(make_harness: MakeHarness,
                                                         field: str) -> None:
    h = await make_harness(phone_auth_enabled=True)
    await h.signup()
    value = ("alice@example.com\r\nBcc: victim@example.com" if field == "email"
             else "+15551234567\r\nX-Injected: 1")
    for path, body in [("/auth/signup", {field: value, "password": PASSWORD,
                                         **({"email": "z@example.com"} if field == "phone"
                                            else {})}),
                       ("/auth/forgot-password", {field: value}),
                       ("/auth/passwordless/send", {"identifier": value, "channel": field})]:
        r = await post(h, path, body)
        assert r.status_code < 500, (path, r.text)
        if r.status_code >= 400:
            assert r.json()["code"] in ("INVALID_INPUT", "PASSWORDLESS_DISABLED",
                                        "PROVIDER_NOT_FOUND", "EMAIL_OR_PHONE_REQUIRED",
                                        "INVALID_PHONE_FORMAT"), r.text
    outbox = h.res.settings.resolved_data_dir() / "outbox"
    for f in (outbox.rglob("*") if outbox.exists() else []):
        if f.is_file():
            assert b"victim@example.com" not in f.read_bytes() and b"X-Injected" not in \
                f.read_bytes(), f


async def test_deeply_nested_json(h: Harness) -> None:
    token = await h.user_token("nest@example.com")
    depth = 30_000  # ~60 KB: under the body cap, far past any parser's recursion limit
    for path in ("/auth/signup", "/auth/login", "/auth/mfa/toggle", "/auth/refresh-token"):
        for body in ([b"[" * depth + b"]" * depth, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
                      b'{"providerName":"email","credentials":{"email":' + b"[" * depth
                      + b"]" * depth + b',"password":"x"}}']):
            r = await h.client.post(path, content=body, headers={**JSON, **bearer(token)})
            assert_error(r, 400, "INVALID_INPUT")


ODD_BODIES = [
    b'{"email": "\xff\xfe@example.com", "password": "correct horse battery"}',
    b'{"email": "\xc0\xafa@example.com", "password": "correct horse battery"}',  # overlong
    b'\xef\xbb\xbf{"email": "bom@example.com"}',
    '{"email": "utf16@example.com"}'.encode("utf-16"),
    b'{"email": "a@example.com", "password": "' + b"\xed\xa0\x80" + b'"}',  # raw surrogate
    b'{"enabled": ' + b"9" * 5000 + b"}",  # beyond Python's int-parsing digit limit
    b'{"enabled": 1e999999}',
    b'{"email": NaN, "password": Infinity}',
]


async def test_invalid_utf8_and_odd_json(h: Harness) -> None:
    for raw in ODD_BODIES:
        for path in ("/auth/signup", "/auth/login", "/auth/mfa/toggle"):
            r = await h.client.post(path, content=raw, headers=JSON)
            assert r.status_code in (400, 401), (raw[:40], path, r.status_code, r.text)
            assert_sane(r, (raw[:40], path))


async def test_duplicate_keys_are_read_the_same_by_limiter_and_route(
        make_harness: MakeHarness) -> None:
    """If the limiter and the route disagreed on {"email": a, "email": b}, an attacker could
    spend a random account's budget while guessing the victim's password."""
    h = await make_harness(rate_limit={
        "login": {"per_ip": None, "per_account": {"limit": 2, "window": 60}},
        "lockout": {"enabled": False}})
    await h.signup("victim@example.com")
    for i in range(3):
        raw = (b'{"providerName":"email","credentials":{"email":"decoy' + str(i).encode()
               + b'@example.com","email":"victim@example.com","password":"guess"}}')
        r = await h.client.post("/auth/login", content=raw, headers=JSON)
        expected = (401, "INVALID_CREDENTIALS") if i < 2 else (429, "RATE_LIMITED")
        assert_error(r, *expected)


async def test_huge_header_values(h: Harness) -> None:
    token = await h.user_token()
    for headers in ({"User-Agent": "U" * 65_536}, {"X-Forwarded-For": "1.2.3.4, " * 5000},
                    {"Cookie": "accessToken=" + "c" * 65_536}):
        r = await h.client.get("/auth/user", headers={**bearer(token), **headers})
        assert r.status_code == 200, r.text
    agent = "<script>" + "U" * 10_000
    r = await h.client.post(
        "/auth/login", headers={**JSON, "User-Agent": agent},
        content=raw_json({"providerName": "email",
                          "credentials": {"email": "alice@example.com", "password": PASSWORD}}))
    assert r.status_code == 200, r.text
    # the session keeps exactly the first 512 characters (the size of the column)
    sid = claims(r.json()["accessToken"])["sessionId"]
    stored = await h.res.store.get(sid, h.clock.now())
    assert stored is not None
    assert stored.user_agent == agent[:512] == "<script>" + "U" * 504
    uid = await user_id_of(h.res, "alice@example.com")
    agents = sorted(str(s.user_agent) for s in await h.res.store.list_for_user(uid, h.clock.now()))
    assert agents == sorted([agent[:512], h.client.headers["user-agent"]])  # GETs store none
