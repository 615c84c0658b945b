"""Key ids and the key ring: RFC 7638 thumbprints (the RFC's own example, and joserfc as an
independent implementation), public JWKs without private members, the keys authgate refuses
at start-up, and the codec picking the verification key by ``kid``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import JWKRegistry

from authgate.config import Settings
from authgate.crypto.jwks import KeyRing, VerifyKey, load_public, thumbprint
from authgate.crypto.tokens import TokenCodec
from authgate.errors import AuthError, Code
from authgate.resources import signing_material
from tests.signing_keys import pem, private_key, raw_token

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
CLAIMS = {"id": "u1", "sub": "u1", "sessionId": "s1"}
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
    "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhA"
    "I4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")


def codec(key: Any, previous: list[Any] | None = None) -> TokenCodec:
    ring = KeyRing.of(key.public_key(), [k.public_key() for k in previous or []])
    return TokenCodec(root_secret=b"r" * 40, algorithm=ring.current.alg, signing_key=key,
                      verify_key=key.public_key(), issuer="authgate", audience="authgate",
                      access_ttl=timedelta(minutes=15), refresh_ttl=timedelta(days=7),
                      keyring=ring)


def test_thumbprint_of_the_rfc_7638_example() -> None:
    jwk = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(("alg", "kty", "members"), [
    ("RS256", "RSA", {"n", "e"}), ("ES256", "EC", {"crv", "x", "y"}),
    ("EdDSA", "OKP", {"crv", "x"}), ("Ed448", "OKP", {"crv", "x"}),
])
def test_public_jwk_and_kid_agree_with_joserfc(alg: str, kty: str, members: set[str]) -> None:
    key = private_key(alg)
    vk = VerifyKey.of(key.public_key())
    assert vk.alg == ("EdDSA" if alg == "Ed448" else alg)
    assert set(vk.jwk) == {"kty", "kid", "alg", "use"} | members  # no d, p, q, dp, …
    assert vk.jwk["kty"] == kty and vk.jwk["use"] == "sig" and vk.jwk["kid"] == vk.kid
    other = JWKRegistry.import_key(pem(key.public_key()), kty)
    assert vk.kid == other.thumbprint()
    assert {k: vk.jwk[k] for k in members} == {k: other.as_dict()[k] for k in members}
    # the JWK alone is enough to verify what the private key signed
    token = jwt.encode({"a": 1}, key, algorithm=vk.alg)
    assert jwt.decode(token, jwt.PyJWK(vk.jwk).key, algorithms=[vk.alg]) == {"a": 1}


def test_ec_coordinates_keep_their_leading_zero_bytes() -> None:
    """x and y are always 32 bytes (RFC 7518 §6.2.1.2), even when the number is shorter."""
    for _ in range(300):
        vk = VerifyKey.of(ec.generate_private_key(ec.SECP256R1()).public_key())
        nums = vk.key.public_numbers()  # type: ignore[union-attr]
        if nums.x < 2 ** 248 or nums.y < 2 ** 248:  # type: ignore[union-attr]
            break
    else:
        pytest.skip("no short coordinate in 300 keys")
    assert len(jwt.utils.base64url_decode(vk.jwk["x"])) == 32
    assert len(jwt.utils.base64url_decode(vk.jwk["y"])) == 32


@pytest.mark.parametrize(("key", "reason"), [
    (ec.generate_private_key(ec.SECP384R1()), "P-256"),
    (rsa.generate_private_key(public_exponent=65537, key_size=1024), "at least 2048"),
])
def test_keys_authgate_cannot_sign_with_are_refused(key: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        load_public(pem(key.public_key()))


def test_a_private_key_is_not_taken_for_a_public_one() -> None:
    with pytest.raises(ValueError, match="private key"):
        load_public(pem(private_key("ES256"), private=True))


def test_key_ring_document_lists_the_current_key_first_once() -> None:
    a, b = private_key("ES256"), private_key("RS256")
    ring = KeyRing.of(a.public_key(), [b.public_key(), a.public_key(), b.public_key()])
    doc = json.loads(ring.document)
    assert [k["kid"] for k in doc["keys"]] == [ring.current.kid, VerifyKey.of(b.public_key()).kid]
    assert doc["keys"][1]["alg"] == "RS256"


def test_access_tokens_name_their_key_and_verify_by_it() -> None:
    old, new = private_key("ES256"), private_key("EdDSA")
    before = codec(old)
    token = before.issue_access(CLAIMS, NOW)
    assert jwt.get_unverified_header(token)["kid"] == VerifyKey.of(old.public_key()).kid
    rotated = codec(new, previous=[old])
    assert rotated.decode_access(token, NOW)["sub"] == "u1"  # the previous key still verifies
    fresh = rotated.issue_access(CLAIMS, NOW)
    assert jwt.get_unverified_header(fresh)["alg"] == "EdDSA"
    assert rotated.decode_access(fresh, NOW)["sub"] == "u1"
    with pytest.raises(AuthError) as err:  # the previous key dropped
        codec(new).decode_access(token, NOW)
    assert err.value.code == Code.INVALID_TOKEN
    with pytest.raises(AuthError):  # the new key is unknown to a server not yet rotated
        before.decode_access(fresh, NOW)


def test_a_token_without_kid_is_verified_with_the_current_key_only() -> None:
    old, new = private_key("ES256"), private_key("ES256")
    payload = jwt.decode(codec(old).issue_access(CLAIMS, NOW), options={"verify_signature": False})
    legacy = jwt.encode(payload, old, algorithm="ES256")  # minted before tokens had a kid
    assert "kid" not in jwt.get_unverified_header(legacy)
    assert codec(old).decode_access(legacy, NOW)["sessionId"] == "s1"
    with pytest.raises(AuthError):  # a previous key is picked by kid only
        codec(new, previous=[old]).decode_access(legacy, NOW)


@pytest.mark.parametrize("kid", ["unknown", 7, ["a"], {"k": 1}, ""])
def test_a_kid_naming_no_key_of_ours_is_refused(kid: Any) -> None:
    key = private_key("ES256")
    c = codec(key)
    payload = jwt.decode(c.issue_access(CLAIMS, NOW), options={"verify_signature": False})
    forged = raw_token({"alg": "ES256", "typ": "JWT", "kid": kid}, payload, key, "ES256")
    with pytest.raises(AuthError) as err:
        c.decode_access(forged, NOW)
    assert err.value.code == Code.INVALID_TOKEN


@pytest.mark.parametrize("token", [
    "!!!.e30.c2ln",                                   # a header that is not base64
    "bm90IGpzb24.e30.c2ln",                           # not JSON
    "WzFd.e30.c2ln",                                  # JSON, not an object
    "gA.e30.c2ln",                                    # not UTF-8
    "",
])
def test_a_malformed_header_is_an_invalid_token(token: str) -> None:
    with pytest.raises(AuthError) as err:
        codec(private_key("ES256")).decode_access(token, NOW)
    assert err.value.code == Code.INVALID_TOKEN


def test_the_kid_does_not_choose_the_algorithm() -> None:
    """A token naming an RS256 key of the ring but signed ES256 (or HS256 with the public
    key) is refused: each key verifies with its own algorithm only."""
    current, previous = private_key("ES256"), private_key("RS256")
    c = codec(current, previous=[previous])
    payload = jwt.decode(c.issue_access(CLAIMS, NOW), options={"verify_signature": False})
    rsa_kid = VerifyKey.of(previous.public_key()).kid
    es_signed = jwt.encode(payload, current, algorithm="ES256", headers={"kid": rsa_kid})
    with pytest.raises(AuthError):
        c.decode_access(es_signed, NOW)
    hs = raw_token({"alg": "HS256", "typ": "JWT", "kid": rsa_kid}, payload,
                   pem(previous.public_key()), "HS256")  # the public key as an HMAC secret
    unsigned = raw_token({"alg": "none", "kid": rsa_kid}, payload, None, "none")
    for forged in (hs, unsigned):
        with pytest.raises(AuthError):
            c.decode_access(forged, NOW)


def test_hs_codec_publishes_nothing() -> None:
    c = TokenCodec(root_secret=b"r" * 40, algorithm="HS256", signing_key=b"r" * 40,
                   verify_key=b"r" * 40, issuer="authgate", audience="authgate",
                   access_ttl=timedelta(minutes=15), refresh_ttl=timedelta(days=7))
    with pytest.raises(AuthError) as err:
        c.public_keys()
    assert err.value.code == Code.JWKS_NOT_AVAILABLE
    assert "kid" not in jwt.get_unverified_header(c.issue_access(CLAIMS, NOW))


# start-up checks of the key files ------------------------------------------------------

def _files(tmp_path: Path, **keys: Any) -> dict[str, Path]:
    out = {}
    for name, (key, private) in keys.items():
        out[name] = tmp_path / f"{name}.pem"
        out[name].write_bytes(pem(key, private=private))
    return out


def _material(tmp_path: Path, **jwt_cfg: Any) -> Any:
    return signing_material(Settings(data_dir=tmp_path, jwt={"secret": "s" * 40, **jwt_cfg}),
                            b"")


def test_start_up_builds_the_ring_from_the_files(tmp_path: Path) -> None:
    cur, old = private_key("ES256"), private_key("RS256")
    f = _files(tmp_path, cur=(cur, True), pub=(cur.public_key(), False),
               old=(old.public_key(), False))
    _, _, ring = _material(tmp_path, algorithm="ES256", private_key_file=f["cur"],
                           public_key_file=f["pub"], previous_public_key_files=[f["old"]])
    assert ring.current.kid == VerifyKey.of(cur.public_key()).kid
    assert [k.kid for k in ring.previous] == [VerifyKey.of(old.public_key()).kid]


def test_start_up_refuses_unusable_key_files(tmp_path: Path) -> None:
    cur, other = private_key("ES256"), private_key("ES256")
    f = _files(tmp_path, cur=(cur, True), other_pub=(other.public_key(), False),
               priv_as_prev=(other, True), p384=(ec.generate_private_key(ec.SECP384R1()), True))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"algorithm": "RS256", "private_key_file": f["cur"]},
         "jwt.private_key_file .*a key for ES256, but jwt.algorithm is RS256"),
        ({"algorithm": "ES256", "private_key_file": f["p384"]}, "jwt.private_key_file .*P-256"),
        ({"algorithm": "ES256", "private_key_file": f["cur"], "public_key_file": f["other_pub"]},
         "jwt.public_key_file .*not the public half"),
        ({"algorithm": "ES256", "private_key_file": f["cur"],
          "previous_public_key_files": [f["priv_as_prev"]]},
         "jwt.previous_public_key_files .*private key"),
        ({"algorithm": "ES256", "private_key_file": f["cur"],
          "previous_public_key_files": [tmp_path / "missing.pem"]},
         "jwt.previous_public_key_files .*missing.pem: No such file"),
        ({"algorithm": "ES256", "private_key_file": f["other_pub"]}, "jwt.private_key_file"),
    ]
    for cfg, message in cases:
        with pytest.raises(ValueError, match=message):
            _material(tmp_path, **cfg)


def test_previous_keys_need_an_asymmetric_algorithm_and_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="previous_public_key_files needs an asymmetric"):
        Settings(jwt={"secret": "s" * 40, "previous_public_key_files": [tmp_path / "k.pem"]})
    # without jwt.secret the derived keys (refresh tokens, TOTP encryption, …) come from the
    # private key: a rotation would lose them
    with pytest.raises(ValueError, match="needs jwt.secret"):
        Settings(jwt={"algorithm": "ES256", "private_key_file": tmp_path / "k.pem",
                      "previous_public_key_files": [tmp_path / "old.pem"]})


def test_jwks_max_age_defaults_to_the_access_token_lifetime() -> None:
    assert Settings(jwt={"access_token_expires_in": "20m"}).jwt.jwks_cache_seconds == 1200
    assert Settings(jwt={"jwks_max_age": "5m"}).jwt.jwks_cache_seconds == 300
