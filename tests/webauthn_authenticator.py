"""A small software authenticator for the passkey tests: real "none"-attestation
registrations and ES256 assertions (P-256 keys from ``cryptography``; CBOR by ``cbor2``,
py_webauthn's own dependency), answering the options the server hands out, in the JSON
shape browsers produce (``PublicKeyCredential.toJSON()``). Knobs let a test play a hostile
client: another origin or RP id, a chosen counter, no user verification, edited client
data."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

AAGUID = bytes(16)
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    rp_id: str
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    origin: str
    rp_id: str = "localhost"
    counts: bool = True
    """Increment the signature counter on each assertion (False: always 0, as synced
    passkeys do)."""
    credentials: dict[bytes, Credential] = field(default_factory=dict)

    # registration ---------------------------------------------------------------------------
    def create(self, options: dict[str, Any], *, origin: str | None = None,
               rp_id: str | None = None, uv: bool = True, challenge: str | None = None,
               credential_id: bytes | None = None) -> dict[str, Any]:
        """``navigator.credentials.create`` for ``options`` (creation options JSON)."""
        rp = rp_id or options["rp"]["id"]
        key = ec.generate_private_key(ec.SECP256R1())
        cred_id = credential_id or os.urandom(32)
        handle = unb64u(options["user"]["id"])
        cred = Credential(cred_id, key, handle, rp)
        self.credentials[cred_id] = cred
        numbers = key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})
        flags = UP | AT | (UV if uv else 0)
        auth_data = (hashlib.sha256(rp.encode()).digest() + bytes([flags])
                     + struct.pack(">I", 0) + AAGUID + struct.pack(">H", len(cred_id))
                     + cred_id + cose)
        client_data = self._client_data("webauthn.create", challenge or options["challenge"],
                                        origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64u(cred_id), "rawId": b64u(cred_id), "type": "public-key",
            "response": {"clientDataJSON": b64u(client_data),
                         "attestationObject": b64u(attestation),
                         "transports": ["internal"]},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        }

    # assertion -----------------------------------------------------------------------------
    def get(self, options: dict[str, Any], *, credential: bytes | None = None,
            origin: str | None = None, rp_id: str | None = None, uv: bool = True,
            sign_count: int | None = None, challenge: str | None = None,
            client_data: bytes | None = None, user_handle: bytes | None = None
            ) -> dict[str, Any]:
        """``navigator.credentials.get`` for ``options`` (request options JSON): signs with
        ``credential`` or the first allowed one held here (any held one when the options
        allow all: a discoverable credential)."""
        cred = self._pick(options, credential)
        if sign_count is not None:
            cred.sign_count = sign_count
        elif self.counts:
            cred.sign_count += 1
        rp = rp_id or cred.rp_id
        flags = UP | (UV if uv else 0)
        auth_data = (hashlib.sha256(rp.encode()).digest() + bytes([flags])
                     + struct.pack(">I", cred.sign_count))
        data = client_data or self._client_data("webauthn.get",
                                                challenge or options["challenge"], origin)
        signature = cred.key.sign(auth_data + hashlib.sha256(data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return self.signed(cred, auth_data, data, signature, user_handle)

    def signed(self, cred: Credential, auth_data: bytes, client_data: bytes,
               signature: bytes, user_handle: bytes | None = None) -> dict[str, Any]:
        return {
            "id": b64u(cred.id), "rawId": b64u(cred.id), "type": "public-key",
            "response": {"clientDataJSON": b64u(client_data),
                         "authenticatorData": b64u(auth_data),
                         "signature": b64u(signature),
                         "userHandle": b64u(user_handle or cred.user_handle)},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        }

    def _pick(self, options: dict[str, Any], wanted: bytes | None) -> Credential:
        if wanted is not None:
            return self.credentials[wanted]
        allowed = [unb64u(c["id"]) for c in options.get("allowCredentials") or []]
        for cred_id, cred in self.credentials.items():
            if not allowed or cred_id in allowed:
                return cred
        raise LookupError("no credential here matches the options")

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge,
                           "origin": origin or self.origin, "crossOrigin": False},
                          separators=(",", ":")).encode()

    @property
    def only(self) -> bytes:
        """The id of the one credential held here."""
        (cred_id,) = self.credentials
        return cred_id
