"""The MFA step: send an email/SMS code (``mfa/challenge``) and check a second factor
(``mfa/verify``) to upgrade the session.

What differs from upstream, on purpose (references in docs/DESIGN-NOTES.md):

* a code is sent only over a method that is configured, has a delivery channel and a
  verified address on the account, and that the MFA step offers this user (email/SMS step
  aside for an authenticator, and after a password reset); else 400
  MFA_METHOD_NOT_AVAILABLE. It is bound to that channel: an emailed code is refused with
  ``method: "sms"``.
* every verification attempt (email, SMS or TOTP) is counted against the user's shared
  MFA limit (``limits.attempts``, ``mfa.max_attempts`` per ``mfa.attempt_window``) before
  the code is looked at; beyond it the answer is 429 MFA_TOO_MANY_ATTEMPTS even for the
  right code, until the window ends. Email/SMS codes also die after ``mfa.max_attempts``
  misses of their own. An MFA-pending session's own allowance and its client's are charged
  first, and wrong codes feed the owner's alert (``authgate.mfa.attempt_budget``).
* a code is consumed atomically; two concurrent verifications cannot both win.
* The step is open only to users who owe a second factor (a pending session, or MFA on for
  the account or the app); otherwise 403 MFA_NOT_ENABLED, instead of minting codes that can
  never matter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from authgate.errors import AuthError, Code
from authgate.events import MFA_CODE_SENT, MFA_FAILED, MFA_VERIFIED, Event
from authgate.identity.snapshot import UserSnapshot
from authgate.mfa import attempt_budget, policy, recovery_codes
from authgate.mfa.methods.base import MfaMethod
from authgate.mfa.trust import maybe_issue_trust
from authgate.registry import mfa_methods
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta, Principal, Sessions, TokenPair
from authgate.throttling import attempts
from authgate.tx import readonly

ALIASES = {"phone": "sms"}
"""The official SDK's ``send2fa("phone")`` means SMS."""


@dataclass(frozen=True, slots=True)
class MfaVerified:
    user: UserSnapshot
    tokens: TokenPair
    trust_token: str | None


def normalise_method(raw: object) -> str | None:
    """The challenge's ``method`` as sent (not validated upstream): lower-cased, aliases
    resolved; None for anything that is not a string."""
    if not isinstance(raw, str):
        return None
    method = raw.strip().lower()
    return ALIASES.get(method, method)


def _require_step(res: Resources, principal: Principal) -> None:
    if not res.settings.mfa.enabled:
        raise AuthError(Code.MFA_NOT_ENABLED)
    if not principal.mfa_pending and not policy.mfa_required_for(res, principal.user):
        raise AuthError(Code.MFA_NOT_ENABLED, "MFA is not enabled for this account")


async def _require_offered(res: Resources, method: MfaMethod, user: UserSnapshot) -> None:
    """A weak method (email, SMS) the MFA step does not offer this user (an unverified
    address, a strong method enrolled, a password reset since the last strong step) is
    refused like an unavailable one (issue #12 item 2)."""
    if method.strong:
        return
    async with readonly(res.readmaker) as s:
        offered = await policy.verified_methods(res, s, user)
    if method.name not in offered:
        raise AuthError(Code.MFA_METHOD_NOT_AVAILABLE)


def _configured(res: Resources, name: str | None) -> MfaMethod | None:
    """The registered method ``name`` when this app configures it."""
    if name is None or name not in res.settings.mfa.methods:
        return None
    return mfa_methods.get(name)


@dataclass(frozen=True, slots=True)
class Challenge:
    sent: bool
    """A code went out (email, SMS)."""
    options: dict[str, Any] | None = None
    """What the client answers instead (a passkey's assertion options)."""


async def send_challenge(res: Resources, principal: Principal, raw_method: object) -> Challenge:
    """Send an MFA code over the named method, or hand out its challenge (``webauthn``:
    assertion options).

    A method that sends nothing (``totp``) and unknown values answer success without
    sending (the SDK may send other strings; upstream accepts anything). Raises
    MFA_NOT_ENABLED (403), MFA_METHOD_NOT_AVAILABLE (400), RESEND_TOO_SOON (429),
    DELIVERY_FAILED (502).
    """
    _require_step(res, principal)
    name = normalise_method(raw_method)
    method = mfa_methods.get(name) if name is not None else None
    if method is None or not method.delivers:
        return Challenge(sent=False)
    found = _configured(res, method.name)
    if found is None or not found.ready(res):
        raise AuthError(Code.MFA_METHOD_NOT_AVAILABLE)
    await _require_offered(res, method, principal.user)
    options = await method.send_challenge(res, principal.user)
    if options is not None:
        return Challenge(sent=False, options=options)
    await res.events.emit(Event(MFA_CODE_SENT, principal.user.id, {"method": method.name}))
    return Challenge(sent=True)


async def verify_step(res: Resources, principal: Principal, method: str, otp: str, *,
                      trust_device: bool | None, client: ClientMeta) -> MfaVerified:
    """Check a second factor and upgrade the session (new token pair, pending pair retired).

    Raises MFA_NOT_ENABLED (403), MFA_METHOD_NOT_AVAILABLE (400), MFA_TOO_MANY_ATTEMPTS
    (429), MFA_CODE_INVALID (401, TOTP), VERIFICATION_CODE_INVALID/EXPIRED and
    MISSING_REQUIRED_FIELD (400, email/SMS).
    """
    _require_step(res, principal)
    user = principal.user
    found = _configured(res, method)
    if found is None or not found.ready(res):
        raise AuthError(Code.MFA_METHOD_NOT_AVAILABLE)
    await _require_offered(res, found, user)
    try:
        await attempts.check_and_count(res, attempts.MFA_SCOPE, user.id)
        user = await found.verify(res, user, otp)
    except AuthError as err:
        await res.events.emit(Event(MFA_FAILED, user.id, {"method": method,
                                                          "reason": err.code.value}))
        await attempt_budget.failed(res, user, err.code)
        raise
    await attempts.clear(res, attempts.MFA_SCOPE, user.id)
    await attempt_budget.succeeded(res, user_id=user.id, ip=client.ip)
    if found.strong:
        user = await policy.strong_factor_proven(res, user)
    _, tokens = await Sessions(res).complete_mfa(replace(principal, user=user), method)
    trust_token = await maybe_issue_trust(res, user.id, client, trust_device)
    await res.events.emit(Event(MFA_VERIFIED, user.id, {
        "method": method, "sessionId": principal.session.id,
        "trustedDevice": trust_token is not None}))
    return MfaVerified(user=user, tokens=tokens, trust_token=trust_token)


async def verify_recovery_code(res: Resources, principal: Principal, code: str, *,
                               trust_device: bool | None, client: ClientMeta) -> MfaVerified:
    """Finish the MFA step with a recovery code (spent in its own unit of work), then
    upgrade the session as ``verify_step`` does.

    Raises MFA_NOT_ENABLED (the user owes no second factor), MFA_TOO_MANY_ATTEMPTS,
    MFA_RECOVERY_CODE_INVALID.
    """
    user = principal.user
    if not policy.mfa_required_for(res, user):
        raise AuthError(Code.MFA_NOT_ENABLED, "MFA is not enabled")
    try:
        await recovery_codes.redeem(res, user.id, code)
    except AuthError as err:
        await attempt_budget.failed(res, user, err.code)
        raise
    await attempt_budget.succeeded(res, user_id=user.id, ip=client.ip)
    user = await policy.strong_factor_proven(res, user)
    _, tokens = await Sessions(res).complete_mfa(replace(principal, user=user),
                                                 "recovery_code")
    trust_token = await maybe_issue_trust(res, user.id, client, trust_device)
    return MfaVerified(user=user, tokens=tokens, trust_token=trust_token)
