"""Token attacks over HTTP, against every authenticated route and the refresh route: each one
is a 401 with a stable code, never a 5xx, never access.

tests/crypto/test_tokens.py already covers the codec (alg none, wrong key, tampered,
truncated, oversized, HS/RS confusion with real key pairs, refresh-vs-access) and
tests/http/test_sessions.py suspension/deletion; here: the variants they do not (alg spelling,
algorithm downgrade/upgrade with the real secret, key-URL headers, claims that are validly
signed but wrong, clock attacks, another deployment's tokens, hostile header bytes), swept
across all secured operations of the OpenAPI file, plus password change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from authgate.crypto.keys import derive
from tests.conftest import TEST_SECRET, Harness, MakeHarness, bearer
from tests.helpers import STORES, assert_error, claims

KEY = TEST_SECRET.encode()
# The one answer to each attack of ``attacks`` that is not INVALID_TOKEN (a token that does
# not verify): a verified token naming no live session, a verified token whose user does not
# own it (answered like a deleted user, docs/DIFFERENCES.md), two tokens in one header.
ATTACK_CODES = {"unknown session": "SESSION_NOT_FOUND",
                "SQL in the session id": "SESSION_NOT_FOUND",
                "another user's id on this session": "USER_NOT_FOUND",
                "two tokens": "INVALID_AUTH_FORMAT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], key: bytes | None,
          digest: Any = hashlib.sha256) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if key is None:
        return signing_input + "."
    return f"{signing_input}.{_b64(hmac.new(key, signing_input.encode(), digest).digest())}"


async def secured_operations(h: Harness) -> list[tuple[str, str]]:
    spec = (await h.client.get("/openapi.json")).json()
    return [(m.upper(), p.replace("{deviceId}", "00000000-0000-4000-8000-000000000000"))
            for p, ops in spec["paths"].items() for m, op in ops.items()
            if op.get("security") and {} not in op["security"]  # not optional-auth logout
            and any("access-token" in s for s in op["security"])]  # end-user tokens only


async def call(h: Harness, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body = {} if method in ("POST", "PUT", "PATCH", "DELETE") else None
    return await h.client.request(method, path, headers=headers, json=body)


def attacks(access: str, refresh: str) -> dict[str, str]:
    c = claims(access)
    sig = access.rsplit(".", 1)[1]
    out = {f"alg {alg}": forge({"alg": alg, "typ": "JWT"}, c, None)
           for alg in ("none", "None", "NONE", "nOnE")}
    out["alg none keeping the signature"] = forge({"alg": "none"}, c, None) + sig
    out["HS512 with the real secret"] = forge({"alg": "HS512"}, c, KEY, hashlib.sha512)
    out["HS384 with the real secret"] = forge({"alg": "HS384"}, c, KEY, hashlib.sha384)
    out["RS256 header, HMAC signature"] = forge({"alg": "RS256", "typ": "JWT"}, c, KEY)
    out["attacker key announced by jku/kid"] = jwt.encode(
        c, "attacker-key-" * 4, algorithm="HS256",
        headers={"jku": "http://127.0.0.1:9/jwks.json", "kid": "../../../../dev/null"})
    out["signature stripped"] = access.rsplit(".", 1)[0] + "."
    out["refresh key used for access"] = jwt.encode(c, derive(KEY, "refresh-jwt"),
                                                    algorithm="HS256")
    out["wrong audience"] = jwt.encode({**c, "aud": "another-service"}, KEY, algorithm="HS256")
    out["no audience"] = jwt.encode({k: v for k, v in c.items() if k != "aud"}, KEY,
                                    algorithm="HS256")
    out["wrong issuer"] = jwt.encode({**c, "iss": "https://evil.example"}, KEY,
                                     algorithm="HS256")
    out["type refresh"] = jwt.encode({**c, "type": "refresh"}, KEY, algorithm="HS256")
    out["no type"] = jwt.encode({k: v for k, v in c.items() if k != "type"}, KEY,
                                algorithm="HS256")
    out["no exp"] = jwt.encode({k: v for k, v in c.items() if k != "exp"}, KEY,
                               algorithm="HS256")
    out["exp as a string"] = jwt.encode({**c, "exp": str(c["exp"])}, KEY, algorithm="HS256")
    out["unknown session"] = jwt.encode({**c, "sessionId": "0" * 36}, KEY, algorithm="HS256")
    out["sessionId as an object"] = jwt.encode({**c, "sessionId": {"$ne": ""}}, KEY,
                                               algorithm="HS256")
    out["SQL in the session id"] = jwt.encode({**c, "sessionId": "' OR '1'='1"}, KEY,
                                              algorithm="HS256")
    out["another user's id on this session"] = jwt.encode(
        {**c, "sub": "11111111-1111-4111-8111-111111111111",
         "id": "11111111-1111-4111-8111-111111111111"}, KEY, algorithm="HS256")
    out["huge but validly signed"] = jwt.encode({**c, "pad": "x" * 9000}, KEY, algorithm="HS256")
    out["100 KB of token"] = "e" * 100_000
    out["the refresh token"] = refresh
    out["two tokens"] = f"{access} {access}"
    return out


async def test_every_secured_route_refuses_every_attack(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit={"enabled": False})
    r = (await h.signup()).json()
    access, refresh = r["accessToken"], r["refreshToken"]
    ops = await secured_operations(h)
    assert len(ops) >= 10
    every = attacks(access, refresh)
    # every attack on a few routes with different guards, a spread of attacks on every route
    deep = [op for op in ops if op[1] in ("/auth/user", "/auth/mfa/verify",
                                          "/auth/mfa/setup-totp", "/auth/change-password")]
    wide = ["alg none", "HS512 with the real secret", "wrong audience", "type refresh",
            "another user's id on this session", "huge but validly signed", "the refresh token"]
    plan = [(name, op) for name in every for op in deep]
    plan += [(name, op) for name in wide for op in ops if op not in deep]
    for name, (method, path) in plan:
        got = await call(h, method, path, bearer(every[name]))
        assert_error(got, 401, ATTACK_CODES.get(name, "INVALID_TOKEN"))
    assert len(plan) >= 200
    # nothing above disturbed the real session
    assert (await h.client.get("/auth/user", headers=bearer(access))).status_code == 200


@pytest.mark.parametrize(("raw", "code"), [
    (b"Bearer", "INVALID_AUTH_FORMAT"),  # the scheme without a token
    (b"Bearer ", "INVALID_AUTH_FORMAT"),
    (b"Bearer  x.y.z", "INVALID_TOKEN"),  # surrounding blanks trimmed, then a bad JWT
    (b"Bearer x.y.z extra", "INVALID_AUTH_FORMAT"),  # a token never holds a space
    (b"Bearer \x00\x01", "INVALID_TOKEN"),
    (b"Bearer \xff\xfe\xfd", "INVALID_TOKEN"),
    ("Bearer ключ".encode(), "INVALID_TOKEN"),
    (b"Bearer\tx.y.z", "NO_AUTH_PROVIDED"),  # split on a space only: scheme "Bearer\tx.y.z"
])
async def test_hostile_authorization_header_bytes(h: Harness, raw: bytes, code: str) -> None:
    """Contract §1.4/§1.9: the header is split on one space; an unknown scheme counts as no
    header; a Bearer token that does not verify is INVALID_TOKEN."""
    got = await h.client.get("/auth/user", headers=[(b"authorization", raw)])
    assert_error(got, 401, code)


async def test_other_schemes_and_repeated_headers(h: Harness) -> None:
    access = await h.user_token()
    for value in (f"Basic {access}", f"Token {access}"):
        assert_error(await h.client.get("/auth/user", headers={"Authorization": value}),
                     401, "NO_AUTH_PROVIDED")
    # ApiKey is a scheme of its own (contract §1.4): a JWT is no API key
    assert_error(await h.client.get("/auth/user", headers={"Authorization": f"ApiKey {access}"}),
                 401, "INVALID_API_KEY_FORMAT")
    # Two Authorization headers: the first one is the header (as Node's HTTP parser, which
    # drops repeated Authorization headers), never "whichever parses".
    got = await h.client.get("/auth/user", headers=[(b"authorization", b"Bearer garbage"),
                                                    (b"authorization", f"Bearer {access}".encode())])
    assert_error(got, 401, "INVALID_TOKEN")
    got = await h.client.get("/auth/user", headers=[(b"authorization", f"Bearer {access}".encode()),
                                                    (b"authorization", b"Bearer garbage")])
    assert got.status_code == 200 and got.json()["id"] == claims(access)["sub"], got.text
    got = await h.client.get("/auth/user", headers=[(b"authorization", b"Basic dXNlcjpwdw=="),
                                                    (b"authorization", f"Bearer {access}".encode())])
    assert_error(got, 401, "NO_AUTH_PROVIDED")  # the first is another scheme: no token at all


async def test_expired_and_not_yet_valid(h: Harness) -> None:
    access = await h.user_token()
    h.clock.advance(timedelta(minutes=15) - timedelta(seconds=1))
    assert (await h.client.get("/auth/user", headers=bearer(access))).status_code == 200
    h.clock.advance(1)
    assert_error(await h.client.get("/auth/user", headers=bearer(access)), 401, "TOKEN_EXPIRED")
    # a token minted "in the future" (a server with a fast clock, or a forger) is refused
    r = await h.login()
    future = r.json()["accessToken"]
    h.clock.advance(-120)
    assert_error(await h.client.get("/auth/user", headers=bearer(future)), 401, "INVALID_TOKEN")
    h.clock.advance(120)
    assert (await h.client.get("/auth/user", headers=bearer(future))).status_code == 200


async def test_another_deployments_tokens(make_harness: MakeHarness) -> None:
    ours = await make_harness()
    theirs = await make_harness(jwt={"secret": "another-deployment-secret-0123456789-xyz"})
    r = (await theirs.signup("mallory@example.com")).json()
    assert_error(await ours.client.get("/auth/user", headers=bearer(r["accessToken"])),
                 401, "INVALID_TOKEN")
    got = await ours.client.post("/auth/refresh-token", json={"refreshToken": r["refreshToken"]})
    assert_error(got, 401, "REFRESH_TOKEN_EXPIRED")


async def test_refresh_route_attacks(h: Harness) -> None:
    r = (await h.signup()).json()
    access, refresh = r["accessToken"], r["refreshToken"]
    rc = claims(refresh)
    bad = {
        "alg none": forge({"alg": "none"}, rc, None),
        "signed with the access key": jwt.encode(rc, KEY, algorithm="HS256"),
        "HS512 with the refresh key": forge({"alg": "HS512"}, rc, derive(KEY, "refresh-jwt"),
                                            hashlib.sha512),
        "generation bumped": jwt.encode({**rc, "gen": rc["gen"] + 1}, "x" * 32,
                                        algorithm="HS256"),
        "purpose token": jwt.encode({"userId": rc["sub"], "type": "password-reset"},
                                    derive(derive(KEY, "refresh-jwt"), "password-reset"),
                                    algorithm="HS256"),
        "the access token": access,
        "huge": "r" * 4000,
    }
    # contract §refresh: a JWT that does not verify, for any reason, is REFRESH_TOKEN_EXPIRED
    for name, token in bad.items():
        got = await h.client.post("/auth/refresh-token", json={"refreshToken": token})
        assert got.json().get("code") == "REFRESH_TOKEN_EXPIRED", (name, got.text)
        assert_error(got, 401, "REFRESH_TOKEN_EXPIRED", "Invalid or expired refresh token")
    # one that verifies but names no session is REFRESH_TOKEN_INVALID
    no_session = jwt.encode({k: v for k, v in rc.items() if k != "sessionId"},
                            derive(KEY, "refresh-jwt"), algorithm="HS256")
    got = await h.client.post("/auth/refresh-token", json={"refreshToken": no_session})
    assert_error(got, 401, "REFRESH_TOKEN_INVALID", "Invalid refresh token payload")
    # the genuine token still rotates: none of the attempts revoked the session
    got = await h.client.post("/auth/refresh-token", json={"refreshToken": refresh})
    assert got.status_code == 200, got.text


@pytest.fixture(params=STORES)
def storage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_password_change_ends_the_other_sessions(make_harness: MakeHarness,
                                                       storage: str) -> None:
    h = await make_harness(session={"storage": storage})
    stolen = (await h.signup()).json()  # the attacker's copy of an old session
    mine = (await h.login()).json()
    r = await h.client.post("/auth/change-password", headers=bearer(mine["accessToken"]), json={
        "currentPassword": "correct horse battery", "newPassword": "a brand new passphrase 9"})
    assert r.status_code == 200, r.text
    assert_error(await h.client.get("/auth/user", headers=bearer(stolen["accessToken"])),
                 401, "SESSION_NOT_FOUND")
    got = await h.client.post("/auth/refresh-token",
                              json={"refreshToken": stolen["refreshToken"]})
    assert_error(got, 401, "SESSION_NOT_FOUND")
    assert (await h.client.get("/auth/user", headers=bearer(mine["accessToken"]))).status_code \
        == 200
    assert_error(await h.login(), 401, "INVALID_CREDENTIALS")
