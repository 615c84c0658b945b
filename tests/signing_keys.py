"""Key pairs for the asymmetric JWT algorithms, written as the PEM files authgate reads, and
tokens built by hand for the forgeries PyJWT refuses to produce."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from authgate.crypto.jwks import VerifyKey


def private_key(alg: str) -> Any:
    """A new private key for ``alg`` (RS256, ES256, EdDSA = Ed25519, or Ed448)."""
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "Ed448":
        return ed448.Ed448PrivateKey.generate()
    return ed25519.Ed25519PrivateKey.generate()


def pem(key: Any, private: bool = False) -> bytes:
    if private:
        return key.private_bytes(serialization.Encoding.PEM,  # type: ignore[no-any-return]
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return key.public_bytes(serialization.Encoding.PEM,  # type: ignore[no-any-return]
                            serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class KeyPair:
    alg: str
    key: Any
    private_file: Path
    public_file: Path

    @property
    def kid(self) -> str:
        return VerifyKey.of(self.key.public_key()).kid


def key_pair(directory: Path, alg: str, name: str | None = None) -> KeyPair:
    key = private_key(alg)
    name = name or alg.lower()
    private_file, public_file = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    private_file.write_bytes(pem(key, private=True))
    public_file.write_bytes(pem(key.public_key()))
    return KeyPair(alg, key, private_file, public_file)


def raw_token(header: dict[str, Any], payload: dict[str, Any], key: Any, alg: str) -> str:
    """A JWS built by hand, for headers PyJWT refuses to write (a ``kid`` that is no string,
    ``alg: none``, HS256 keyed with a PEM public key)."""
    signing_input = (jwt.utils.base64url_encode(json.dumps(header).encode()) + b"."
                     + jwt.utils.base64url_encode(json.dumps(payload).encode()))
    if alg == "none":
        sig = b""
    elif alg == "HS256":  # by hand: PyJWT refuses a PEM as an HMAC secret
        sig = hmac.new(key, signing_input, hashlib.sha256).digest()
    else:
        algorithm = jwt.get_algorithm_by_name(alg)
        sig = algorithm.sign(signing_input, algorithm.prepare_key(key))
    return (signing_input + b"." + jwt.utils.base64url_encode(sig)).decode()
