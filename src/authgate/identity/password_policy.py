"""The password policy applied at signup, change and reset.

Length bounds first (cheap, exact codes), then the common-password list and strength score
from zxcvbn (which ships its own dictionaries, so no network look-up is involved). zxcvbn and
its frequency lists (about 12 MB of a worker's memory) are loaded on the first password
that reaches them, not by every server process.
"""

from __future__ import annotations

from authgate.config import PasswordPolicySettings
from authgate.crypto.passwords import normalise
from authgate.errors import AuthError, Code

_ZXCVBN_MAX = 72  # zxcvbn refuses longer input; the prefix decides the strength anyway


def check(policy: PasswordPolicySettings, password: str, *, identifiers: tuple[str, ...] = ()) -> None:
    """Raise AuthError with the rule that failed: PASSWORD_TOO_SHORT, PASSWORD_TOO_LONG,
    PASSWORD_TOO_COMMON, PASSWORD_CONTAINS_IDENTIFIER or PASSWORD_TOO_WEAK. The rules
    read the NFKC form, the one that is hashed (``crypto.passwords.normalise``)."""
    password = normalise(password)
    if len(password) < policy.min_length:
        raise AuthError(Code.PASSWORD_TOO_SHORT,
                        f"Password must be at least {policy.min_length} characters")
    if len(password) > policy.max_length:
        raise AuthError(Code.PASSWORD_TOO_LONG,
                        f"Password must be at most {policy.max_length} characters")
    lowered = password.lower()
    idents = [i.strip().lower() for i in identifiers if i and i.strip()]
    parts = [*idents, *[i.split("@", 1)[0] for i in idents if "@" in i]]
    if policy.reject_identifier and any(len(p) >= 3 and p in lowered for p in parts):
        raise AuthError(Code.PASSWORD_CONTAINS_IDENTIFIER,
                        "Password must not contain your email or phone number")
    if not (policy.reject_common or policy.min_score):
        return
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]

    result = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=parts)
    sequence = result.get("sequence", [])
    if policy.reject_common and sequence and all(
        m.get("pattern") == "dictionary" and m.get("dictionary_name") == "passwords"
        for m in sequence
    ):
        raise AuthError(Code.PASSWORD_TOO_COMMON, "This password is too common")
    if int(result.get("score", 0)) < policy.min_score:
        raise AuthError(Code.PASSWORD_TOO_WEAK,
                        "Password is too easy to guess; use a longer or less predictable one")
