"""What an MFA method is. The registry (``authgate.registry.mfa_methods``) maps names to
methods; config, request schemas, ``GET /auth/mfa/status``, login's ``mfaMethods``, the
toggle's rule and the challenge/verify dispatch all read it."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import ColumnElement

from authgate.identity.snapshot import UserSnapshot
from authgate.resources import Resources


class MfaMethod(Protocol):
    @property
    def name(self) -> str:
        """The wire name (``method`` in requests, ``mfaMethods``, ``verifiedMethods``)."""
        ...

    @property
    def login_rank(self) -> int:
        """Position in login's ``mfaMethods`` (the contract lists email, sms, totp)."""
        ...

    @property
    def status_rank(self) -> int:
        """Position in the status's ``verifiedMethods`` (totp, email, sms)."""
        ...

    @property
    def strong(self) -> bool:
        """True for a factor the user holds (an authenticator, later a passkey); False for
        one that proves access to an inbox or a phone (email, SMS), which the password
        reset proves too. A weak method counts only for a verified address, is not offered
        beside an enrolled strong one (unless ``mfa.allow_weak_methods_with_strong``) and
        not after a password reset (``mfa_strong_factor_required``)."""
        ...

    def ready(self, res: Resources) -> bool:
        """The app can use this method at all (e.g. a delivery channel exists)."""
        ...

    def usable(self, res: Resources, user: UserSnapshot) -> bool:
        """What the user record says: ``ready`` and, for a code sent somewhere, an address.
        A method with rows of its own adds ``usable_sql``."""
        ...

    def usable_sql(self, user_id: ColumnElement[str]) -> ColumnElement[bool] | None:
        """A SQL boolean over the method's own rows (e.g. EXISTS a verified authenticator),
        or None when ``usable`` says it all. The status read and the toggle's write compose
        these into their one statement. The status read's rows are cached by the Redis
        session store only if every such method also has ``status_rows_invalidated = True``
        (optional attribute: each write to its rows calls ``mfa.changed.rows_changed``);
        one without it keeps the status read live."""
        ...

    @property
    def delivers(self) -> bool:
        """``POST /auth/mfa/challenge`` sends a code for this method (email, SMS) or hands
        out a challenge (a passkey's assertion options); False when the user already holds
        the code (an authenticator app): the challenge then answers success without
        sending."""
        ...

    async def send_challenge(self, res: Resources, user: UserSnapshot) -> dict[str, Any] | None:
        """Send a code for the MFA step (only called when ``delivers``), or return what
        the client needs to answer (a passkey's assertion options: the challenge's
        ``options``). Raises MFA_METHOD_NOT_AVAILABLE when the user cannot receive one
        here, RESEND_TOO_SOON, DELIVERY_FAILED."""
        ...

    async def verify(self, res: Resources, user: UserSnapshot, code: str) -> UserSnapshot:
        """Check ``code`` in a unit of work of the method's own (the code or step is spent
        when it commits); returns the user as it is after the step. Raises a coded
        ``AuthError`` when the code is wrong."""
        ...
