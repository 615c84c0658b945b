"""``GET /.well-known/jwks.json`` and ``authgate.verifier`` against a real authgate over HTTP
(uvicorn on a loopback port): the published keys per algorithm, the verifier accepting real
tokens and refusing forged or misused ones, unknown ``kid``s (one refetch, then refusal),
a key rotation seen by the server and by a running verifier, authgate unreachable, HS* (404
with a code), and the verifier working in a process without the server's dependencies.

The route does not touch the database: these tests run on SQLite only (a file per server
directory, migrated at start-up)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from joserfc.jwk import JWKRegistry

from authgate.app import create_app
from authgate.config import Settings
from authgate.verifier import JwksUnavailable, TokenVerifier, UnknownKey
from tests.browser import serve_app
from tests.conftest import CHEAP_HASH, TEST_SECRET, bearer
from tests.helpers import assert_error, claims, jwt_part
from tests.signing_keys import key_pair, pem, private_key, raw_token

ISSUER, AUDIENCE = "https://auth.example.test", "orders-api"
PASSWORD = "correct horse battery"
JWKS = "/.well-known/jwks.json"


class CountJwks:
    """ASGI wrapper counting the requests for the key set (what a verifier fetched)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.fetches = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == JWKS:
            self.fetches += 1
        await self.app(scope, receive, send)


@dataclass
class Served:
    url: str
    counter: CountJwks

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS

    def signup(self, email: str = "alice@example.com") -> dict[str, Any]:
        r = httpx.post(self.url + "/auth/signup", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def login(self, email: str = "alice@example.com") -> dict[str, Any]:
        r = httpx.post(self.url + "/auth/login", json={
            "providerName": "email", "credentials": {"email": email, "password": PASSWORD}})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def user_status(self, token: str) -> int:
        return httpx.get(self.url + "/auth/user", headers=bearer(token)).status_code


def _listening(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@contextmanager
def served(directory: Path, port: int = 0, **jwt_cfg: Any) -> Iterator[Served]:
    """authgate with these ``jwt`` settings on a loopback port (the same SQLite file for
    every server of one directory: a redeploy keeps the sessions)."""
    jwt_cfg = {"issuer": ISSUER, "audience": AUDIENCE, "secret": TEST_SECRET, **jwt_cfg}
    settings = Settings(database_url=f"sqlite+aiosqlite:///{directory / 'authgate.db'}",
                        dev_mode=True, data_dir=directory, password_hash=CHEAP_HASH,
                        jwt=jwt_cfg)
    counter = CountJwks(create_app(settings))
    sock = _listening(port)
    with serve_app(counter, sock):
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", counter)


class Clock:
    """The verifier's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(url: str, clock: Clock | None = None, **options: Any) -> TokenVerifier:
    return TokenVerifier(url, issuer=ISSUER, audience=AUDIENCE, clock=clock or time.monotonic,
                         **options)


def resign(token: str, key: Any, alg: str, header: dict[str, Any] | None = None,
           **changes: Any) -> str:
    """The token's claims, changed, signed again with ``key`` (None: claim removed)."""
    payload = {k: v for k, v in {**claims(token), **changes}.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers=header)


@pytest.mark.parametrize(("alg", "max_age", "expected_age"), [
    ("RS256", None, 900), ("ES256", "2m", 120), ("EdDSA", None, 900),
])
def test_jwks_publishes_the_signing_key(tmp_path: Path, alg: str, max_age: str | None,
                                        expected_age: int) -> None:
    pair = key_pair(tmp_path, alg)
    cfg: dict[str, Any] = {"algorithm": alg, "private_key_file": pair.private_file}
    if max_age:
        cfg["jwks_max_age"] = max_age
    with served(tmp_path, **cfg) as srv:
        r = httpx.get(srv.jwks_url)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.headers["cache-control"] == f"public, max-age={expected_age}"
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["x-content-type-options"] == "nosniff"
        keys = r.json()["keys"]
        assert len(keys) == 1
        jwk = keys[0]
        kty = {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}[alg]
        assert jwk["kty"] == kty and jwk["alg"] == alg and jwk["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)  # nothing private
        independent = JWKRegistry.import_key(pem(pair.key.public_key()), kty)
        assert jwk["kid"] == independent.thumbprint() == pair.kid  # RFC 7638
        # every token names it; the key set alone verifies it
        body = srv.signup()
        token = body["accessToken"]
        assert jwt_part(token, 0) == {"alg": alg, "typ": "JWT", "kid": jwk["kid"]}
        got = verifier(srv.jwks_url).verify(token)
        assert got["sub"] == claims(token)["sub"] and got["sessionId"] == claims(token)["sessionId"]
        # the refreshed token too; the SDK's claims are where they were
        r = httpx.post(srv.url + "/auth/refresh-token",
                       json={"refreshToken": body["refreshToken"]})
        assert r.status_code == 200, r.text
        fresh = r.json()["accessToken"]
        assert jwt_part(fresh, 0)["kid"] == jwk["kid"]
        assert {"sub", "sessionId", "exp"} <= set(verifier(srv.jwks_url).verify(fresh))
        # public, never rate limited
        statuses = {httpx.get(srv.jwks_url).status_code for _ in range(40)}
        assert statuses == {200}


def test_hs_algorithms_publish_nothing(tmp_path: Path) -> None:
    with served(tmp_path, secret=TEST_SECRET) as srv:
        r = httpx.get(srv.jwks_url)
        assert_error(r, 404, "JWKS_NOT_AVAILABLE")
        assert r.headers["cache-control"] == "no-store"
        token = srv.signup()["accessToken"]
        assert "kid" not in jwt_part(token, 0)
        with pytest.raises(JwksUnavailable):
            verifier(srv.jwks_url).verify(token)


def test_verifier_refuses_forged_expired_and_misused_tokens(tmp_path: Path) -> None:
    pair = key_pair(tmp_path, "ES256")
    with served(tmp_path, algorithm="ES256", private_key_file=pair.private_file) as srv:
        body = srv.signup()
        token = body["accessToken"]
        v = verifier(srv.jwks_url)
        assert v.verify(token)["type"] == "access"
        kid = pair.kid
        head = {"kid": kid}
        now = int(time.time())
        header_b64, payload_b64, sig = token.split(".")
        tampered_claims = {**claims(token), "sub": "someone-else"}
        tampered = ".".join([header_b64, jwt.utils.base64url_encode(
            json.dumps(tampered_claims).encode()).decode(), sig])
        foreign = private_key("ES256")
        public_pem = pem(pair.key.public_key())
        refused: dict[str, tuple[str, type[Exception]]] = {
            "tampered payload": (tampered, jwt.InvalidSignatureError),
            "expired": (resign(token, pair.key, "ES256", head, iat=now - 3600, exp=now - 60),
                        jwt.ExpiredSignatureError),
            "other audience": (resign(token, pair.key, "ES256", head, aud="billing-api"),
                               jwt.InvalidAudienceError),
            "other issuer": (resign(token, pair.key, "ES256", head, iss="https://evil.test"),
                             jwt.InvalidIssuerError),
            "alg none": (raw_token({"alg": "none", "kid": kid}, claims(token), None, "none"),
                         jwt.InvalidAlgorithmError),
            "HS256 keyed with the public key": (
                raw_token({"alg": "HS256", "typ": "JWT", "kid": kid}, claims(token),
                          public_pem, "HS256"), jwt.InvalidAlgorithmError),
            "HS256 keyed with the public key, no kid": (
                raw_token({"alg": "HS256", "typ": "JWT"}, claims(token), public_pem, "HS256"),
                jwt.InvalidAlgorithmError),
            "another key claiming our kid": (resign(token, foreign, "ES256", head),
                                             jwt.InvalidSignatureError),
            "another key embedded in the header": (resign(token, foreign, "ES256", {
                "jwk": json.loads(jwt.algorithms.ECAlgorithm.to_jwk(foreign.public_key()))}),
                jwt.InvalidSignatureError),
            "a refresh token": (body["refreshToken"], jwt.InvalidTokenError),
            "not an access token": (resign(token, pair.key, "ES256", head, type="refresh"),
                                    jwt.InvalidTokenError),
            "no session": (resign(token, pair.key, "ES256", head, sessionId=None),
                           jwt.MissingRequiredClaimError),
            "no exp": (resign(token, pair.key, "ES256", head, exp=None),
                       jwt.MissingRequiredClaimError),
            "issued in the future": (resign(token, pair.key, "ES256", head, iat=now + 120),
                                     jwt.ImmatureSignatureError),
            "iat not a number": (resign(token, pair.key, "ES256", head, iat="yesterday"),
                                 jwt.InvalidIssuedAtError),
            "kid not a string": (raw_token({"alg": "ES256", "kid": 7}, claims(token), pair.key,
                                           "ES256"), jwt.InvalidTokenError),
            "garbage": ("not.a.token", jwt.DecodeError),
            "too long": ("a" * 9000, jwt.DecodeError),
        }
        for name, (bad, error) in refused.items():
            with pytest.raises(error):
                v.verify(bad)
            assert srv.user_status(bad) == 401, name  # authgate agrees
        for other in (TokenVerifier(srv.jwks_url, issuer=ISSUER, audience="billing-api"),
                      TokenVerifier(srv.jwks_url, issuer="authgate", audience=AUDIENCE)):
            with pytest.raises(jwt.InvalidTokenError):
                other.verify(token)
        pinned_elsewhere = TokenVerifier(srv.jwks_url, issuer=ISSUER, audience=AUDIENCE,
                                         algorithms=["RS256"])
        with pytest.raises(JwksUnavailable):  # no key it may use: a misconfiguration (503)
            pinned_elsewhere.verify(token)
        assert v.verify(token)["sub"] == claims(token)["sub"]  # still fine after all that
        # this host's clock 30 s behind authgate's: a token issued "in the future" is fine
        assert v.verify(resign(token, pair.key, "ES256", head, iat=now + 30))
        assert srv.user_status(resign(token, pair.key, "ES256", head, iat=now + 30)) == 200


def test_unknown_kid_refetches_at_most_once_per_interval(tmp_path: Path) -> None:
    pair = key_pair(tmp_path, "ES256")
    with served(tmp_path, algorithm="ES256", private_key_file=pair.private_file) as srv:
        token = srv.signup()["accessToken"]
        clock = Clock()
        v = verifier(srv.jwks_url, clock, cache_seconds=300, refetch_interval=30)
        v.verify(token)
        assert srv.counter.fetches == 1
        stranger = private_key("ES256")
        for i in range(5):  # made-up key ids: one refetch, then refusals without a request
            with pytest.raises(UnknownKey):
                v.verify(resign(token, stranger, "ES256", {"kid": f"made-up-{i}"}))
        assert srv.counter.fetches == 2
        v.verify(token)  # known keys are unaffected
        clock.now += 31
        with pytest.raises(UnknownKey):
            v.verify(resign(token, stranger, "ES256", {"kid": "later"}))
        assert srv.counter.fetches == 3
        clock.now += 299
        v.verify(token)  # within cache_seconds of the last fetch: no request
        assert srv.counter.fetches == 3
        clock.now += 2
        v.verify(token)  # the cached set expired
        assert srv.counter.fetches == 4


def test_rotation_previous_key_verifies_until_removed(tmp_path: Path) -> None:
    """Deploy 1 signs with A; deploy 2 signs with B and keeps A as previous; deploy 3 drops
    A. authgate and a verifier that runs through all three agree at every step."""
    a, b = key_pair(tmp_path, "ES256", "a"), key_pair(tmp_path, "EdDSA", "b")
    probe = _listening()
    port = probe.getsockname()[1]
    probe.close()  # each deploy binds it again
    clock = Clock()
    v = TokenVerifier(f"http://127.0.0.1:{port}{JWKS}", issuer=ISSUER, audience=AUDIENCE,
                      clock=clock, cache_seconds=300, refetch_interval=30)
    with served(tmp_path, port, algorithm="ES256", private_key_file=a.private_file) as srv:
        token_a = srv.signup()["accessToken"]
        legacy = resign(token_a, a.key, "ES256")  # minted before tokens had a kid
        assert "kid" not in jwt_part(legacy, 0)
        assert srv.user_status(token_a) == srv.user_status(legacy) == 200
        assert v.verify(token_a)["sub"] == v.verify(legacy)["sub"]

    with served(tmp_path, port, algorithm="EdDSA", private_key_file=b.private_file,
                previous_public_key_files=[a.public_file]) as srv:
        assert [k["kid"] for k in httpx.get(srv.jwks_url).json()["keys"]] == [b.kid, a.kid]
        token_b = srv.login()["accessToken"]
        assert jwt_part(token_b, 0)["kid"] == b.kid
        assert srv.user_status(token_a) == srv.user_status(token_b) == 200
        assert srv.user_status(legacy) == 401  # no kid means the current key: now B
        clock.now += 31  # the verifier still holds deploy 1's set: B is an unknown kid
        before = srv.counter.fetches
        assert v.verify(token_b)["sub"] == claims(token_b)["sub"]
        assert srv.counter.fetches == before + 1  # refetched once, and B was there
        assert v.verify(token_a)["sub"] == claims(token_a)["sub"]

    with served(tmp_path, port, algorithm="EdDSA", private_key_file=b.private_file) as srv:
        assert [k["kid"] for k in httpx.get(srv.jwks_url).json()["keys"]] == [b.kid]
        assert_error(httpx.get(srv.url + "/auth/user", headers=bearer(token_a)), 401,
                     "INVALID_TOKEN")
        assert srv.user_status(token_b) == 200
        assert v.verify(token_a)  # a verifier's cached set: until it expires (documented)
        clock.now += 301
        with pytest.raises(UnknownKey):
            v.verify(token_a)
        assert v.verify(token_b)
        with pytest.raises(UnknownKey):
            verifier(srv.jwks_url).verify(token_a)


def test_verifier_keeps_a_recent_key_set_while_authgate_is_unreachable(tmp_path: Path) -> None:
    pair = key_pair(tmp_path, "RS256")
    clock = Clock()
    with served(tmp_path, algorithm="RS256", private_key_file=pair.private_file) as srv:
        token = srv.signup()["accessToken"]
        v = verifier(srv.jwks_url, clock, cache_seconds=300, refetch_interval=30,
                     stale_if_error=600, timeout=2)
        v.verify(token)
        url = srv.jwks_url
    with pytest.raises(JwksUnavailable):  # nothing fetched yet, nothing to fall back on
        verifier(url).verify(token)
    clock.now += 301  # expired: the refetch fails, the set fetched 301 s ago is kept
    assert v.verify(token)["sub"] == claims(token)["sub"]
    clock.now += 500  # 801 s: the retry fails too
    assert v.verify(token)
    clock.now += 100  # 901 s > cache_seconds + stale_if_error
    with pytest.raises(JwksUnavailable):
        v.verify(token)


VERIFY_WITHOUT_SERVER_DEPENDENCIES = r'''
import importlib.abc, json, sys

BLOCKED = ("fastapi", "starlette", "sqlalchemy", "pydantic", "pydantic_settings", "uvicorn",
           "httpx", "redis", "asyncpg", "aiosqlite", "argon2", "typer", "jinja2")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is a server dependency")
        return None

sys.meta_path.insert(0, Block())
from authgate.verifier import TokenVerifier

url, token, issuer, audience = sys.argv[1:5]
claims = TokenVerifier(url, issuer=issuer, audience=audience).verify(token)
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(BLOCKED))
print(json.dumps({"sub": claims["sub"], "loaded": loaded}))
'''


def test_verifier_runs_without_the_server_dependencies(tmp_path: Path) -> None:
    """Another service imports only ``authgate.verifier`` (and PyJWT): no FastAPI, pydantic,
    SQLAlchemy… even installed, a finder refusing them proves none is needed."""
    pair = key_pair(tmp_path, "ES256")
    with served(tmp_path, algorithm="ES256", private_key_file=pair.private_file) as srv:
        token = srv.signup()["accessToken"]
        script = tmp_path / "other_service.py"
        script.write_text(VERIFY_WITHOUT_SERVER_DEPENDENCIES)
        r = subprocess.run([sys.executable, str(script), srv.jwks_url, token, ISSUER, AUDIENCE],
                           capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out == {"sub": claims(token)["sub"], "loaded": []}


def test_verifier_refuses_unsafe_options() -> None:
    for algorithms in (["HS256"], ["none"], ["ES256", "HS512"], []):
        with pytest.raises(ValueError, match="algorithms"):
            TokenVerifier("https://a.test/jwks", issuer="i", audience="a", algorithms=algorithms)
    with pytest.raises(ValueError, match="refetch_interval"):
        TokenVerifier("https://a.test/jwks", issuer="i", audience="a", refetch_interval=-1)
    with pytest.raises(jwt.PyJWKClientError):  # file://, ftp://: never
        TokenVerifier("file:///etc/passwd", issuer="i", audience="a")
