"""The two argon2id implementations, and which one computes a given hash.

libsodium (PyNaCl) picks its fastest code for the CPU it runs on at run time (AVX-512,
AVX2, SSSE3 or portable C), from one portable wheel; argon2-cffi's wheel runs the portable
code only. Measured on the benchmark machine (AMD EPYC, m=64 MiB, t=3), CPU per
verification: libsodium p=1 103-117 ms, argon2-cffi wheel p=4 177-208 ms (a build from
source with ``-march=native`` 126 ms, but that binary only runs where it was built).
libsodium computes single-lane hashes only, so it takes every ``p=1`` hash in the standard
shape (16-byte salt, 32-byte output) and argon2-cffi everything else: hashes made by
nest-auth (``p=4``) or with other settings keep verifying, and are upgraded at the next login
(``needs_rehash``). Both write the same PHC string; a hash made by one verifies in the other
and in nest-auth's hasher.
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
    r"\$argon2id\$v=19\$m=(\d{1,10}),t=(\d{1,3}),p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}"
)
_SODIUM_MIN_KIB = 8
_SODIUM_MAX_KIB = 4 * 1024 * 1024


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
    return shape is not None and _SODIUM_MIN_KIB <= int(shape[1]) <= _SODIUM_MAX_KIB


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
