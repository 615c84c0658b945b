"""Authenticated encryption of small secrets at rest (TOTP seeds), with key rotation.

A stored value is ``<kid>:<base64(nonce || ciphertext+tag)>`` (AES-256-GCM, 96-bit random
nonce). The key id travels with the ciphertext so several keys can be live at once: the
first configured key encrypts, every configured key decrypts, and ``authgate rotate-keys``
re-encrypts old rows under the first key before an old one is retired.

Why AES-GCM and not a keyed hash: a TOTP seed must be recovered to compute codes, so it
can only be encrypted, not hashed; GCM also authenticates, so a tampered or swapped value
fails loudly instead of yielding a wrong seed. Callers pass associated data (for TOTP: the
owning user id) so a ciphertext copied onto another user's row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from authgate.crypto.keys import derive

DERIVED_KID = "d0"
"""Key id of the key derived from the root secret when no key is configured."""
DERIVE_PURPOSE = "totp-encryption"
_KID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_NONCE = 12


class SecretBoxError(ValueError):
    """A value cannot be decrypted: unknown key id, malformed, or tampered with."""


def parse_key(entry: str) -> tuple[str, bytes]:
    """``"<kid>:<base64 32-byte key>"`` → (kid, key). Raises ValueError naming what is wrong
    (without echoing the key material)."""
    kid, sep, b64 = entry.strip().partition(":")
    if not sep or not _KID.match(kid):
        raise ValueError("encryption key must look like '<kid>:<base64 32-byte key>' "
                         "with a kid of letters, digits, '_', '-' or '.'")
    raw = b64.strip().rstrip("=").replace("-", "+").replace("_", "/")  # url-safe too
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"encryption key {kid!r}: the key is not valid base64") from None
    if len(key) != 32:
        raise ValueError(f"encryption key {kid!r}: must decode to 32 bytes, got {len(key)}")
    return kid, key


class SecretBox:
    """AES-256-GCM with a key ring: ``keys[0]`` encrypts, all decrypt."""

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        ring = list(keys)
        if not ring:
            raise ValueError("SecretBox needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for kid, key in ring:
            if not _KID.match(kid):
                raise ValueError(f"invalid key id {kid!r}")
            if kid in self._ciphers:
                raise ValueError(f"duplicate encryption key id {kid!r}")
            if len(key) != 32:
                raise ValueError(f"encryption key {kid!r} must be 32 bytes")
            self._ciphers[kid] = AESGCM(key)
        self.active_kid: str = ring[0][0]

    @classmethod
    def from_config(cls, entries: Iterable[str], root: bytes) -> SecretBox:
        """Configured ``"<kid>:<b64>"`` entries, or one key derived from ``root`` (kid d0).

        Raises ValueError for a malformed entry, so a bad configuration fails at start-up
        rather than on the first enrolment."""
        parsed = [parse_key(e) for e in entries]
        if not parsed:
            parsed = [(DERIVED_KID, derive(root, DERIVE_PURPOSE))]
        return cls(parsed)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def encrypt(self, plaintext: str, *, aad: bytes = b"") -> str:
        nonce = os.urandom(_NONCE)
        ct = self._ciphers[self.active_kid].encrypt(nonce, plaintext.encode(), aad)
        return f"{self.active_kid}:{base64.b64encode(nonce + ct).decode()}"

    def decrypt(self, value: str, *, aad: bytes = b"") -> str:
        kid, sep, b64 = value.partition(":")
        cipher = self._ciphers.get(kid) if sep else None
        if cipher is None:
            raise SecretBoxError(f"no decryption key with id {kid!r}" if sep
                                 else "value has no key id")
        try:
            blob = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise SecretBoxError("ciphertext is not valid base64") from None
        if len(blob) <= _NONCE + 16:
            raise SecretBoxError("ciphertext is too short")
        try:
            return cipher.decrypt(blob[:_NONCE], blob[_NONCE:], aad).decode()
        except InvalidTag:
            raise SecretBoxError("ciphertext failed authentication") from None

    def kid_of(self, value: str) -> str:
        return value.partition(":")[0]

    def needs_rotation(self, value: str) -> bool:
        """True when the value was not encrypted with the active key."""
        return self.kid_of(value) != self.active_kid
