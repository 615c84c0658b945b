"""TOTP mechanics against RFC 6238's published vectors and pyotp, and the secret box."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from authgate.crypto import totp as otp
from authgate.crypto.keys import derive
from authgate.crypto.secretbox import DERIVED_KID, SecretBox, SecretBoxError, parse_key

# RFC 6238 Appendix B: 8 digits, 30 s steps, one seed per hash (ASCII "1234567890" repeated).
SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode()


@pytest.mark.parametrize("unix,sha1,sha256,sha512", RFC6238)
def test_rfc6238_vectors(unix: int, sha1: str, sha256: str, sha512: str) -> None:
    at = datetime.fromtimestamp(unix, UTC)
    for alg, expected in (("SHA1", sha1), ("SHA256", sha256), ("SHA512", sha512)):
        p = otp.TotpParams(period=30, digits=8, algorithm=alg)  # type: ignore[arg-type]
        secret = _b32(SEEDS[alg])
        assert otp.code_at(secret, at, p) == expected
        assert otp.verify(secret, expected, at=at, params=p) == unix // 30


def test_verify_returns_matched_step_within_one_step_only() -> None:
    p = otp.TotpParams()
    secret = otp.generate_secret()
    at = datetime.fromtimestamp(1_700_000_010, UTC)
    step = otp.time_step(at, p)
    for delta in (-1, 0, 1):
        assert otp.verify(secret, otp.code_at_step(secret, step + delta, p), at=at,
                          params=p) == step + delta
    for delta in (-2, 2):
        c = otp.code_at_step(secret, step + delta, p)
        if c in {otp.code_at_step(secret, step + d, p) for d in (-1, 0, 1)}:
            continue  # a 1-in-10^6 collision would make the refusal untestable
        assert otp.verify(secret, c, at=at, params=p) is None


def test_matches_pyotp_codes_for_all_settings() -> None:
    at = datetime.fromtimestamp(1_750_000_000, UTC)
    for period, digits, alg, digest in ((30, 6, "SHA1", "sha1"), (60, 8, "SHA256", "sha256"),
                                        (15, 7, "SHA512", "sha512")):
        secret = otp.generate_secret()
        p = otp.TotpParams(period=period, digits=digits, algorithm=alg)  # type: ignore[arg-type]
        ref = pyotp.TOTP(secret, digits=digits, digest=digest, interval=period)
        made = ref.at(at)
        assert otp.code_at(secret, at, p) == made
        assert otp.verify(secret, made, at=at, params=p) == int(at.timestamp()) // period


def test_malformed_codes_are_refused() -> None:
    p = otp.TotpParams()
    secret = otp.generate_secret()
    at = datetime.fromtimestamp(1_700_000_000, UTC)
    good = otp.code_at(secret, at, p)
    assert otp.verify(secret, f"{good[:3]} {good[3:]}", at=at, params=p) is not None
    for bad in ("", "12345", "1234567", "abcdef", good + "0", "１２３４５６"):
        assert otp.verify(secret, bad, at=at, params=p) is None


def test_secret_is_20_random_bytes_in_base32() -> None:
    secrets_ = {otp.generate_secret() for _ in range(50)}
    assert len(secrets_) == 50
    for s in secrets_:
        assert re.fullmatch(r"[A-Z2-7]{32}", s)
        assert len(base64.b32decode(s)) == 20
    assert otp.valid_secret("abcd efgh ijkl mnop") and not otp.valid_secret("not base32!")


def test_provisioning_uri_matches_upstream_shape() -> None:
    p = otp.TotpParams()
    uri = otp.provisioning_uri("JBSWY3DPEHPK3PXP", account="alice@example.com",
                               issuer="Nest Auth", params=p)
    assert uri == ("otpauth://totp/alice@example.com?secret=JBSWY3DPEHPK3PXP"
                   "&issuer=Nest%20Auth&period=30")
    # Spaces in the label stay raw (contract §9.3); URI-breaking characters are escaped.
    uri = otp.provisioning_uri("JBSWY3DPEHPK3PXP", account="Bob Smith?x#y/z", issuer="A&B",
                               params=otp.TotpParams(period=60, digits=8, algorithm="SHA256"))
    assert uri.startswith("otpauth://totp/Bob Smith%3Fx%23y%2Fz?")
    q = parse_qs(urlsplit(uri.replace(" ", "%20")).query)
    assert q == {"secret": ["JBSWY3DPEHPK3PXP"], "issuer": ["A&B"], "period": ["60"],
                 "digits": ["8"], "algorithm": ["SHA256"]}


# secret box ---------------------------------------------------------------------------------
def _key(n: int) -> str:
    return base64.b64encode(bytes([n]) * 32).decode()


def test_secretbox_round_trip_and_format() -> None:
    box = SecretBox.from_config([f"k1:{_key(1)}"], b"root")
    enc = box.encrypt("JBSWY3DPEHPK3PXP", aad=b"user-1")
    kid, _, blob = enc.partition(":")
    assert kid == "k1" and len(base64.b64decode(blob)) == 12 + 16 + 16
    assert box.decrypt(enc, aad=b"user-1") == "JBSWY3DPEHPK3PXP"
    assert box.encrypt("x", aad=b"u") != box.encrypt("x", aad=b"u")  # fresh nonce each time


def test_secretbox_refuses_wrong_context_tampering_and_unknown_keys() -> None:
    box = SecretBox.from_config([f"k1:{_key(1)}"], b"root")
    enc = box.encrypt("SECRET", aad=b"user-1")
    with pytest.raises(SecretBoxError):
        box.decrypt(enc, aad=b"user-2")  # copied onto another user's row
    raw = bytearray(base64.b64decode(enc.split(":", 1)[1]))
    raw[-1] ^= 1
    with pytest.raises(SecretBoxError):
        box.decrypt("k1:" + base64.b64encode(bytes(raw)).decode(), aad=b"user-1")
    with pytest.raises(SecretBoxError):
        box.decrypt("k9:" + enc.split(":", 1)[1], aad=b"user-1")
    with pytest.raises(SecretBoxError):
        box.decrypt("no-kid-here", aad=b"user-1")


def test_key_ring_first_encrypts_all_decrypt() -> None:
    old = SecretBox.from_config([f"old:{_key(1)}"], b"root")
    enc_old = old.encrypt("SEED", aad=b"u")
    ring = SecretBox.from_config([f"new:{_key(2)}", f"old:{_key(1)}"], b"root")
    assert ring.active_kid == "new" and ring.needs_rotation(enc_old)
    assert ring.decrypt(enc_old, aad=b"u") == "SEED"
    enc_new = ring.encrypt("SEED", aad=b"u")
    assert enc_new.startswith("new:") and not ring.needs_rotation(enc_new)
    with pytest.raises(SecretBoxError):
        old.decrypt(enc_new, aad=b"u")


def test_derived_key_when_none_configured() -> None:
    box = SecretBox.from_config([], b"root-secret")
    assert box.active_kid == DERIVED_KID
    same = SecretBox([(DERIVED_KID, derive(b"root-secret", "totp-encryption"))])
    assert same.decrypt(box.encrypt("S", aad=b"u"), aad=b"u") == "S"
    other = SecretBox.from_config([], b"another-root")
    with pytest.raises(SecretBoxError):
        other.decrypt(box.encrypt("S", aad=b"u"), aad=b"u")


@pytest.mark.parametrize("entry", ["nokey", "k1:", f":{_key(1)}", "bad kid:" + _key(1),
                                   "k1:!!!!", "k1:" + base64.b64encode(b"short").decode()])
def test_malformed_key_entries_are_rejected(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_key(entry)


def test_url_safe_and_unpadded_keys_are_accepted() -> None:
    raw = bytes(range(250, 256)) * 5 + b"\xfb\xff"
    url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert parse_key(f"k2:{url}") == ("k2", raw)
    with pytest.raises(ValueError):
        SecretBox.from_config([f"k1:{_key(1)}", f"k1:{_key(2)}"], b"root")
