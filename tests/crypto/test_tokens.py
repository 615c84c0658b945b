"""JWT mechanics: every malformed, forged or misused token is a 401 code, never a crash; the
asymmetric algorithms work end to end with key files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from authgate.crypto.keys import derive
from authgate.crypto.tokens import MAX_TOKEN_BYTES, TokenCodec
from authgate.errors import AuthError, Code
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims, jwt_part

ROOT = b"root-secret-for-unit-tests-0123456789abcdef"
NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
ACCESS = {"id": "u1", "sub": "u1", "sessionId": "s1", "email": "a@b.co"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """Build a JWT by hand (PyJWT refuses to produce the forgeries we need)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if key is None:
        return signing_input + "."
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def hs_codec(**kw: Any) -> TokenCodec:
    args: dict[str, Any] = {
        "root_secret": ROOT, "algorithm": "HS256", "signing_key": ROOT, "verify_key": ROOT,
        "issuer": "authgate", "audience": "authgate", "access_ttl": timedelta(minutes=15),
        "refresh_ttl": timedelta(days=7),
    }
    args.update(kw)
    return TokenCodec(**args)


def rsa_pem() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def expect(code: Code, fn: Any, *args: Any) -> None:
    with pytest.raises(AuthError) as info:
        fn(*args)
    assert info.value.code == code


# access tokens ----------------------------------------------------------------------
def test_access_round_trip_carries_contract_claims() -> None:
    c = hs_codec()
    tok = c.issue_access(ACCESS, NOW)
    got = c.decode_access(tok, NOW)
    assert got["sub"] == "u1" and got["sessionId"] == "s1" and got["type"] == "access"
    assert got["iss"] == "authgate" and got["aud"] == "authgate"
    assert got["exp"] - got["iat"] == 900
    assert jwt_part(tok, 0)["alg"] == "HS256"


def test_access_expiry_is_exact() -> None:
    c = hs_codec()
    tok = c.issue_access(ACCESS, NOW)
    c.decode_access(tok, NOW + timedelta(seconds=899))
    expect(Code.TOKEN_EXPIRED, c.decode_access, tok, NOW + timedelta(seconds=900))


def test_tokens_follow_the_injected_clock_not_the_wall_clock() -> None:
    """A clock ahead of real time (tests, a skewed host) must not make fresh tokens
    'not yet valid'."""
    c = hs_codec()
    later = datetime.now(UTC) + timedelta(days=3)
    assert c.decode_access(c.issue_access(ACCESS, later), later)["sub"] == "u1"
    refresh = c.issue_refresh(user_id="u1", session_id="s1", generation=2, issued_at=later)
    assert c.decode_refresh(refresh, later).generation == 2


def test_access_issued_in_the_future_is_refused() -> None:
    c = hs_codec()
    tok = c.issue_access(ACCESS, NOW + timedelta(minutes=5))
    expect(Code.INVALID_TOKEN, c.decode_access, tok, NOW)
    c.decode_access(c.issue_access(ACCESS, NOW + timedelta(seconds=30)), NOW)  # skew allowed


def test_alg_none_is_refused() -> None:
    c = hs_codec()
    payload = claims(c.issue_access(ACCESS, NOW))
    for alg in ("none", "None", "NONE"):
        expect(Code.INVALID_TOKEN, c.decode_access,
               forge({"alg": alg, "typ": "JWT"}, payload, None), NOW)


def test_wrong_key_issuer_audience_are_refused() -> None:
    good = hs_codec()
    other = hs_codec(signing_key=b"another-secret-of-sufficient-length-000",
                     root_secret=b"x" * 40)
    expect(Code.INVALID_TOKEN, good.decode_access, other.issue_access(ACCESS, NOW), NOW)
    expect(Code.INVALID_TOKEN, good.decode_access,
           hs_codec(issuer="someone-else").issue_access(ACCESS, NOW), NOW)
    expect(Code.INVALID_TOKEN, good.decode_access,
           hs_codec(audience="another-api").issue_access(ACCESS, NOW), NOW)
    # the same claims without iss/aud (an upstream nest-auth token) are refused too
    payload = {k: v for k, v in claims(good.issue_access(ACCESS, NOW)).items()
               if k not in ("iss", "aud")}
    expect(Code.INVALID_TOKEN, good.decode_access,
           forge({"alg": "HS256", "typ": "JWT"}, payload, ROOT), NOW)


def test_tampered_and_truncated_tokens_are_refused() -> None:
    c = hs_codec()
    tok = c.issue_access(ACCESS, NOW)
    head, body, sig = tok.split(".")
    evil = dict(claims(tok), sub="admin", id="admin")
    tampered = f"{head}.{_b64(json.dumps(evil).encode())}.{sig}"
    for bad in (tampered, tok[:-3], f"{head}.{body}", f"{head}.{body}.", head, "", ".", "..",
                "a.b.c", tok + "x", tok.replace(".", "", 1), "Ω.Ω.Ω",
                f"{_b64(b'[1]')}.{body}.{sig}", f"{head}.{_b64(b'[]')}.{sig}"):
        expect(Code.INVALID_TOKEN, c.decode_access, bad, NOW)


def test_oversized_token_is_refused_even_if_validly_signed() -> None:
    c = hs_codec()
    big = c.issue_access({**ACCESS, "pad": "x" * MAX_TOKEN_BYTES}, NOW)
    assert len(big) > MAX_TOKEN_BYTES
    expect(Code.INVALID_TOKEN, c.decode_access, big, NOW)
    expect(Code.REFRESH_TOKEN_EXPIRED, c.decode_refresh, big, NOW)


def test_claims_with_wrong_types_are_refused() -> None:
    c = hs_codec()
    base = claims(c.issue_access(ACCESS, NOW))
    for change in ({"type": "refresh"}, {"sessionId": 5}, {"exp": "tomorrow"},
                   {"exp": float(base["exp"])}, {"iat": "now"}):
        expect(Code.INVALID_TOKEN, c.decode_access,
               forge({"alg": "HS256", "typ": "JWT"}, {**base, **change}, ROOT), NOW)
    for missing in ("type", "sessionId", "exp", "iat", "sub"):
        payload = {k: v for k, v in base.items() if k != missing}
        expect(Code.INVALID_TOKEN, c.decode_access,
               forge({"alg": "HS256", "typ": "JWT"}, payload, ROOT), NOW)


def test_hs_rs_confusion_is_refused() -> None:
    """An attacker signs HS256 with the (public) RSA key as the HMAC secret."""
    private, public = rsa_pem()
    pub_obj = serialization.load_pem_public_key(public)
    c = hs_codec(algorithm="RS256", signing_key=private, verify_key=pub_obj)
    tok = c.issue_access(ACCESS, NOW)
    assert c.decode_access(tok, NOW)["sub"] == "u1"
    forged = forge({"alg": "HS256", "typ": "JWT"}, claims(tok), public)
    expect(Code.INVALID_TOKEN, c.decode_access, forged, NOW)
    # and an HS codec never accepts an RS-signed token
    expect(Code.INVALID_TOKEN, hs_codec().decode_access, tok, NOW)


# refresh tokens ---------------------------------------------------------------------
def test_refresh_is_deterministic_per_generation() -> None:
    c = hs_codec()
    a = c.issue_refresh(user_id="u1", session_id="s1", generation=3, issued_at=NOW)
    assert a == c.issue_refresh(user_id="u1", session_id="s1", generation=3, issued_at=NOW)
    assert a != c.issue_refresh(user_id="u1", session_id="s1", generation=4, issued_at=NOW)
    got = c.decode_refresh(a, NOW)
    assert (got.user_id, got.session_id, got.generation) == ("u1", "s1", 3)


def test_refresh_and_access_tokens_never_cross() -> None:
    c = hs_codec()
    access = c.issue_access(ACCESS, NOW)
    refresh = c.issue_refresh(user_id="u1", session_id="s1", generation=0, issued_at=NOW)
    expect(Code.INVALID_TOKEN, c.decode_access, refresh, NOW)
    expect(Code.REFRESH_TOKEN_EXPIRED, c.decode_refresh, access, NOW)


def test_refresh_payload_checks() -> None:
    c = hs_codec()
    key = derive(ROOT, "refresh-jwt")
    good = claims(c.issue_refresh(user_id="u1", session_id="s1", generation=1, issued_at=NOW))
    hdr = {"alg": "HS256", "typ": "JWT"}
    # a validly signed refresh whose generation was edited: the jti no longer matches
    expect(Code.REFRESH_TOKEN_INVALID, c.decode_refresh, forge(hdr, {**good, "gen": 2}, key), NOW)
    expect(Code.REFRESH_TOKEN_INVALID, c.decode_refresh,
           forge(hdr, {**good, "type": "access"}, key), NOW)
    no_sid = {k: v for k, v in good.items() if k != "sessionId"}
    expect(Code.REFRESH_TOKEN_INVALID, c.decode_refresh, forge(hdr, no_sid, key), NOW)
    expect(Code.REFRESH_TOKEN_EXPIRED, c.decode_refresh, forge(hdr, good, ROOT), NOW)
    expect(Code.REFRESH_TOKEN_EXPIRED, c.decode_refresh, "garbage", NOW)
    expect(Code.REFRESH_TOKEN_EXPIRED, c.decode_refresh,
           forge(hdr, good, key), NOW + timedelta(days=7))


def test_purpose_tokens_are_bound_to_their_purpose() -> None:
    c = hs_codec()
    tok = c.issue_purpose("password-reset", {"userId": "u1"}, NOW, timedelta(hours=1))
    assert c.decode_purpose("password-reset", tok, NOW) is not None
    assert c.decode_purpose("invite", tok, NOW) is None
    assert c.decode_purpose("password-reset", tok, NOW + timedelta(hours=1)) is None
    expect(Code.INVALID_TOKEN, c.decode_access, tok, NOW)


# over HTTP ------------------------------------------------------------------------
async def test_guard_maps_every_bad_token_to_a_401_code(h: Harness) -> None:
    r = await h.signup()
    access, refresh = r.json()["accessToken"], r.json()["refreshToken"]
    head, _, sig = access.split(".")
    evil = _b64(json.dumps(dict(claims(access), sub="someone")).encode())
    cases = {
        "none": forge({"alg": "none"}, claims(access), None),
        "wrong key": jwt.encode(claims(access), "k" * 40, algorithm="HS256"),
        "tampered": f"{head}.{evil}.{sig}",
        "truncated": access[:-10],
        "oversized": "a" * (MAX_TOKEN_BYTES + 1),
        "refresh as access": refresh,
        "garbage": "definitely-not-a-jwt",
    }
    for name, token in cases.items():
        got = await h.client.get("/auth/user", headers=bearer(token))
        assert got.status_code == 401, (name, got.text)
        assert_error(got, 401, "INVALID_TOKEN")
    iss = jwt.encode({**claims(access), "iss": "evil"}, "unused" * 8, algorithm="HS256")
    assert_error(await h.client.get("/auth/user", headers=bearer(iss)), 401, "INVALID_TOKEN")
    # after all that the real token still works and the session was not disturbed
    assert (await h.client.get("/auth/user", headers=bearer(access))).status_code == 200


async def _keyed_harness(make_harness: MakeHarness, tmp_path: Path, algorithm: str,
                         private: bytes, public: bytes | None, secret: bool) -> Harness:
    priv_file = tmp_path / f"{algorithm}.key"
    priv_file.write_bytes(private)
    jwt_cfg: dict[str, Any] = {"algorithm": algorithm, "private_key_file": priv_file}
    if public is not None:
        pub_file = tmp_path / f"{algorithm}.pub"
        pub_file.write_bytes(public)
        jwt_cfg["public_key_file"] = pub_file
    if not secret:
        jwt_cfg["secret"] = None
    return await make_harness(jwt=jwt_cfg)


def _keypair(algorithm: str) -> tuple[bytes, bytes]:
    if algorithm == "RS256":
        return rsa_pem()
    key: Any = (ed25519.Ed25519PrivateKey.generate() if algorithm == "EdDSA"
                else ec.generate_private_key(ec.SECP256R1()))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.mark.parametrize(("algorithm", "with_public_file", "with_secret"), [
    ("RS256", True, False), ("RS256", False, True), ("EdDSA", True, True),
    ("EdDSA", False, False), ("ES256", True, False),
])
async def test_asymmetric_algorithms_end_to_end(
    make_harness: MakeHarness, tmp_path: Path, algorithm: str, with_public_file: bool,
    with_secret: bool,
) -> None:
    private, public = _keypair(algorithm)
    h = await _keyed_harness(make_harness, tmp_path, algorithm, private,
                             public if with_public_file else None, with_secret)
    r = await h.signup()
    assert r.status_code == 200, r.text
    access = r.json()["accessToken"]
    assert jwt_part(access, 0)["alg"] == algorithm
    # a host service verifies the access token with nothing but the public key
    verified = jwt.decode(access, public, algorithms=[algorithm], audience="authgate",
                          issuer="authgate")
    assert verified["type"] == "access"
    assert (await h.client.get("/auth/user", headers=bearer(access))).status_code == 200
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": r.json()["refreshToken"]})
    assert r.status_code == 200, r.text
    new_access = r.json()["accessToken"]
    assert (await h.client.get("/auth/user", headers=bearer(new_access))).status_code == 200
    # confusion: the public key used as an HMAC secret
    forged = forge({"alg": "HS256", "typ": "JWT"}, claims(access), public)
    assert_error(await h.client.get("/auth/user", headers=bearer(forged)), 401, "INVALID_TOKEN")
    # a token signed by a different key pair of the same algorithm
    other_private, _ = _keypair(algorithm)
    foreign = jwt.encode(claims(access), serialization.load_pem_private_key(
        other_private, password=None), algorithm=algorithm)  # type: ignore[arg-type]
    assert_error(await h.client.get("/auth/user", headers=bearer(foreign)), 401, "INVALID_TOKEN")
