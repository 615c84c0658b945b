"""The one invalidation of the MFA rows a session store may cache.

``GET /auth/mfa/status`` reads the caller's TOTP devices, whether an unused recovery code
exists and each method's own rows (``mfa.store``); the Redis session store keeps those rows
beside the user snapshot (``sessions.store.cacheable``) until ``user_changed``. So every
write to ``TotpDevice``, ``RecoveryCode`` or ``WebauthnCredential`` registers this in its
unit of work; the users' MFA columns are the user snapshot's, already followed by
``user_changed``. The call runs after the commit (``tx.after_commit``): a status read
before it finds the rows as they were, one after it the new ones.
"""

from __future__ import annotations

from authgate.resources import Resources
from authgate.tx import Tx


def rows_changed(res: Resources, tx: Tx, user_id: str) -> None:
    """Once ``tx`` commits, drop what the session store caches about ``user_id``."""
    tx.after_commit(lambda: res.store.user_changed(user_id))
