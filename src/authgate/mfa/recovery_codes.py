"""Recovery codes: the user's last-resort second factor (contract §2.5, §3.5).

* Format ``XXXX-XXXX-XXXX-XXXX-XXXX-XXXX``: 24 base32 characters = 120 bits each (ASVS
  2.6.2 asks for 112 when codes are not salted one by one; upstream's, and ours before
  issue #19, had 80), so neither guessing online nor a copy of the database and the hash
  key offline gets anywhere. Input is normalised (case, dashes, spaces, and the digits
  ``0``/``1``/``8`` read as the letters ``O``/``I``/``B`` they are mistaken for: base32 has
  no such digits) before hashing. Codes of the earlier 16-character format keep working.
* Stored only as ``keyed_hash(keys.recovery, code)``; generating a new set deletes every
  previous code of the user, used or not.
* Single use under concurrency: consumption is one conditional UPDATE
  (``… WHERE used_at IS NULL``), so of N simultaneous uses exactly one wins (W11).
* Wrong codes count against the shared MFA attempt limit (``limits.attempts``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import delete, update

from authgate.crypto.keys import keyed_hash
from authgate.errors import AuthError, Code
from authgate.events import MFA_RECOVERY_CODE_USED, MFA_RECOVERY_CODES_GENERATED, Event
from authgate.mfa.changed import rows_changed
from authgate.mfa.models import RecoveryCode
from authgate.resources import Resources
from authgate.throttling import attempts
from authgate.tx import Tx, transaction

CODE_CHARS = 24
"""Base32 characters per code (5 bits each: 120 bits)."""
GROUP = 4


def new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(CODE_CHARS * 5 // 8)).decode()[:CODE_CHARS]
    return "-".join(raw[i:i + GROUP] for i in range(0, CODE_CHARS, GROUP))


_TYPED_AS = str.maketrans({"0": "O", "1": "I", "8": "B"})


def normalise(code: str) -> str:
    """What is hashed: upper-case base32 characters only (no dashes or whitespace; the
    digits base32 lacks read as the letters they resemble)."""
    return "".join(ch for ch in code.upper() if ch not in "- \t\r\n").translate(_TYPED_AS)


def code_hash(res: Resources, code: str) -> str:
    return keyed_hash(res.keys.recovery, normalise(code))


_IMPORTED = "nest-auth:"


def imported_hash(res: Resources, upstream_hash: str) -> str:
    """How a code imported from nest-auth is stored: its upstream hex HMAC (keyed by the
    nest-auth secret) keyed once more under our recovery key. Nobody knows the code itself;
    it verifies while ``mfa.imported_recovery_code_secret`` is set."""
    return keyed_hash(res.keys.recovery, _IMPORTED + upstream_hash.lower())


def _candidates(res: Resources, code: str, norm: str) -> list[str]:
    """Our hash of the code, and the imported form when nest-auth's secret is configured
    (upstream codes are case-sensitive base64url: hashed as typed, trimmed)."""
    hashes = [keyed_hash(res.keys.recovery, norm)]
    legacy = res.settings.mfa.imported_recovery_code_secret
    if legacy is not None:
        upstream = hmac.new(legacy.get_secret_value().encode(), code.strip().encode(),
                            hashlib.sha256).hexdigest()
        hashes.append(imported_hash(res, upstream))
    return hashes


async def generate(res: Resources, tx: Tx, user_id: str) -> list[str]:
    """Replace the user's recovery codes with ``mfa.recovery_code_count`` new ones and
    return them in clear (the only time they are ever visible)."""
    n = res.settings.mfa.recovery_code_count
    now = res.clock.now()
    codes = [new_code() for _ in range(n)]
    s = tx.session
    await s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    s.add_all(RecoveryCode(user_id=user_id, code_hash=code_hash(res, c), created_at=now)
              for c in codes)
    await s.flush()
    rows_changed(res, tx, user_id)
    tx.after_commit(lambda: res.events.emit(
        Event(MFA_RECOVERY_CODES_GENERATED, user_id, {"count": n})))
    return codes


async def consume(res: Resources, tx: Tx, user_id: str, code: object) -> bool:
    """Mark the user's matching unused code as used; False when none matches (or the
    input is not a plausible code). Atomic: one conditional UPDATE. The
    ``mfa.recovery_code_used`` event follows the commit."""
    if not isinstance(code, str):
        return False
    norm = normalise(code)
    if not norm or len(norm) > 64:
        return False
    result = await tx.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user_id,
               RecoveryCode.code_hash.in_(_candidates(res, code, norm)),
               RecoveryCode.used_at.is_(None))
        .values(used_at=res.clock.now())
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    rows_changed(res, tx, user_id)  # the status's has_rc
    tx.after_commit(lambda: res.events.emit(Event(MFA_RECOVERY_CODE_USED, user_id)))
    return True


async def redeem(res: Resources, user_id: str, code: object) -> None:
    """Count the attempt, consume the code in its own transaction, clear the counter on
    success. Raises MFA_TOO_MANY_ATTEMPTS (429, even for a right code past the limit) or
    MFA_RECOVERY_CODE_INVALID (401)."""
    await attempts.check_and_count(res, attempts.MFA_SCOPE, user_id)
    async with transaction(res.sessionmaker) as tx:
        ok = await consume(res, tx, user_id, code)
    if not ok:
        raise AuthError(Code.MFA_RECOVERY_CODE_INVALID)
    await attempts.clear(res, attempts.MFA_SCOPE, user_id)
