"""Purpose-bound keys derived from one root secret (HKDF-SHA256).

One secret never signs or keys two things: access tokens, refresh tokens, reset tokens,
one-time-code hashes, trust-token hashes and TOTP encryption each get their own key, so a
token minted for one purpose can never verify as another.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive(root: bytes, purpose: str, length: int = 32) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=b"authgate-v1", info=purpose.encode()
    ).derive(root)


def keyed_hash(key: bytes, value: str) -> str:
    """Hex HMAC-SHA256: how codes and tokens are stored (never in clear)."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def equal(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time comparison."""
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)
