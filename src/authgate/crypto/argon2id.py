"""The two argon2id implementations, and which one computes a given hash.

libsodium (PyNaCl) picks its fastest code for the CPU it runs on at run time (AVX-512,
AVX2, SSSE3 or portable C), from one portable wheel; argon2-cffi's wheel runs the portable
code only. Measured on the benchmark machine (AMD EPYC, m=64 MiB, t=3), CPU per
verification: libsodium p=1 76-117 ms, libsodium p=4 77-92 ms, argon2-cffi wheel p=4
161-208 ms (a build from source with ``-march=native`` 126 ms, but that binary only runs
where it was built; pyca/cryptography's OpenSSL argon2 p=4 176 ms).

libsodium *makes* single-lane hashes only, but it *verifies* any lane count: the lanes of
one verification are computed one after the other on one thread, which costs the same CPU
as one lane (argon2's work is m blocks x t passes whatever the lanes) and is what a login
storm wants (threads for the lanes only shorten one login on an idle machine, and cost
hand-offs when every core is already busy hashing other logins). So every argon2id hash in
the standard shape (16-byte salt, 32-byte output) is verified by libsodium -- ours, and
nest-auth's p=4 ones -- and argon2-cffi hashes with p>1 (``parallelism`` > 1) and verifies
anything else. Both write and read the same PHC string; a hash made by one verifies in the
other and in nest-auth's hasher (tests/crypto/test_argon2id.py).
"""

from __future__ import annotations

import base64
import os
import re
from functools import cache
from typing import TYPE_CHECKING

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

if TYPE_CHECKING:
    from types import ModuleType

Params = tuple[int, int, int]
"""(time_cost, memory_cost_kib, parallelism)"""

_SODIUM_SHAPE = re.compile(
    r"\$argon2id\$v=19\$m=(\d{1,10}),t=(\d{1,3}),p=(\d{1,2})\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}"
)
_SODIUM_MIN_KIB = 8
"""Per lane: argon2 needs at least 8 KiB for each lane."""
_SODIUM_MAX_KIB = 4 * 1024 * 1024
_SODIUM_MAX_LANES = 64
"""The most lanes ``password_hash.parallelism`` allows; a stored hash asking for more is
not ours nor nest-auth's, and argon2-cffi judges it."""


@cache
def _cffi(params: Params) -> PasswordHasher:
    return PasswordHasher(time_cost=params[0], memory_cost=params[1], parallelism=params[2],
                          type=Type.ID)


def _sodium() -> ModuleType:
    """Imported on first use: hashing happens in the hashing pool, not on the hot path."""
    from nacl import bindings

    return bindings


def implementation(params: Params) -> str:
    """The name of the implementation that hashes with ``params`` (for logs and the CLI)."""
    return "libsodium" if params[2] == 1 and params[1] >= _SODIUM_MIN_KIB else "argon2-cffi"


def verifier(params: Params) -> str:
    """The name of the implementation that verifies a hash made with ``params``."""
    t, m, p = params
    return ("libsodium" if 1 <= p <= _SODIUM_MAX_LANES and _SODIUM_MIN_KIB * p <= m
            <= _SODIUM_MAX_KIB and t >= 1 else "argon2-cffi")


def hash_password(params: Params, password: str) -> str:
    if implementation(params) == "libsodium":
        sodium = _sodium()
        encoded: bytes = sodium.crypto_pwhash_str_alg(
            password.encode(), params[0], params[1] * 1024, sodium.crypto_pwhash_ALG_ARGON2ID13
        )
        return encoded.decode("ascii")
    return _cffi(params).hash(password)


def _sodium_verifies(stored: str) -> bool:
    shape = _SODIUM_SHAPE.fullmatch(stored)
    return shape is not None and verifier((int(shape[2]), int(shape[1]), int(shape[3]))) \
        == "libsodium"


def verify_password(params: Params, stored: str, password: str) -> bool:
    """True when ``password`` matches ``stored``; never raises for a malformed hash."""
    if _sodium_verifies(stored):
        from nacl.exceptions import InvalidkeyError

        try:
            return bool(_sodium().crypto_pwhash_str_verify(stored.encode("ascii"),
                                                           password.encode()))
        except InvalidkeyError:
            return False
    try:
        return bool(_cffi(params).verify(stored, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def decoy(params: Params) -> str:
    """A well-formed hash of no password (random salt and output): verifying a password
    against it costs a real verification, which hides whether an account exists, and making
    it costs nothing (no hash at start-up, no hashing library imported until a login)."""
    t, m, p = params

    def b64(n: int) -> str:
        return base64.b64encode(os.urandom(n)).decode("ascii").rstrip("=")

    return f"$argon2id$v=19$m={m},t={t},p={p}${b64(16)}${b64(32)}"


def needs_rehash(params: Params, stored: str) -> bool:
    try:
        return _cffi(params).check_needs_rehash(stored)
    except InvalidHashError:
        return True
