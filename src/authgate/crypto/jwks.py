"""The public half of the access-token signing keys: JWKs (RFC 7517) named by their RFC 7638
thumbprints, and the key ring tokens are verified against.

A key's ``kid`` is its thumbprint, so it is the same on every machine and in every deploy
without anyone choosing a name, and a verifier can recompute it. A key's algorithm follows
from its type (RSA → RS256, P-256 → ES256, Ed25519/Ed448 → EdDSA) and is pinned per key:
a token is verified with the algorithm of the key its ``kid`` names, never with the one its
header asks for. Pure: bytes in, keys out; the files are read by the composition root.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

MIN_RSA_BITS = 2048
PublicKey = (rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
             | ed448.Ed448PublicKey)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n: int, size: int | None = None) -> str:
    return _b64(n.to_bytes(size or max(1, (n.bit_length() + 7) // 8), "big"))


def algorithm_of(key: PublicKey) -> str:
    """The one JWS algorithm authgate signs with a key of this type; ValueError for a key
    it cannot use (another curve, RSA below 2048 bits)."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"an RSA key of {key.key_size} bits: at least {MIN_RSA_BITS}")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"an EC key on {key.curve.name}: ES256 needs P-256 (secp256r1)")
        return "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "EdDSA"
    raise ValueError(f"a {type(key).__name__}: RSA, P-256, Ed25519 or Ed448 keys only")


def public_jwk(key: PublicKey) -> dict[str, str]:
    """The key's required members (RFC 7518 §6, RFC 8037 §2), nothing private."""
    if isinstance(key, rsa.RSAPublicKey):
        nums = key.public_numbers()
        return {"kty": "RSA", "n": _uint(nums.n), "e": _uint(nums.e)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": _uint(point.x, 32), "y": _uint(point.y, 32)}
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    crv = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"
    return {"kty": "OKP", "crv": crv, "x": _b64(raw)}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"),
                "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"),
                           sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class VerifyKey:
    """A public key with its pinned algorithm and its ``kid``."""

    kid: str
    alg: str
    key: PublicKey
    jwk: dict[str, str]

    @classmethod
    def of(cls, key: PublicKey) -> VerifyKey:
        alg = algorithm_of(key)
        jwk = public_jwk(key)
        kid = thumbprint(jwk)
        return cls(kid=kid, alg=alg, key=key, jwk={**jwk, "kid": kid, "alg": alg, "use": "sig"})


def load_private(pem: bytes) -> Any:
    """An unencrypted PEM private key (PKCS#8 or traditional)."""
    return serialization.load_pem_private_key(pem, password=None)


def load_public(pem: bytes) -> PublicKey:
    """A PEM public key (SubjectPublicKeyInfo, or PKCS#1 for RSA). A private key is refused:
    the previous keys are only ever verified with, so their private halves can be destroyed."""
    if b"PRIVATE KEY" in pem:
        raise ValueError("holds a private key: give the public key (PEM) instead")
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, PublicKey):
        raise ValueError(f"a {type(key).__name__}: RSA, P-256, Ed25519 or Ed448 keys only")
    algorithm_of(key)
    return key


def same_key(a: PublicKey, b: PublicKey) -> bool:
    return public_jwk(a) == public_jwk(b)


@dataclass(frozen=True)
class KeyRing:
    """The current signing key's public half first, then the previous ones still accepted.

    ``document`` is the JWKS answered by ``GET /.well-known/jwks.json``, encoded once; the
    current key is its first entry (verifiers that meet a token without ``kid`` use it)."""

    current: VerifyKey
    previous: tuple[VerifyKey, ...] = ()
    by_kid: dict[str, VerifyKey] = field(init=False, repr=False, compare=False)
    document: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys: dict[str, VerifyKey] = {self.current.kid: self.current}
        for k in self.previous:
            keys.setdefault(k.kid, k)  # the current key listed again is the current key
        object.__setattr__(self, "by_kid", keys)
        object.__setattr__(self, "document", json.dumps(
            {"keys": [k.jwk for k in keys.values()]}, separators=(",", ":")).encode())

    @classmethod
    def of(cls, current: PublicKey, previous: Iterable[PublicKey] = ()) -> KeyRing:
        return cls(VerifyKey.of(current), tuple(VerifyKey.of(k) for k in previous))
