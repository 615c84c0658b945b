"""A small event hook the host app subscribes to (audit, metrics, notifications).

Events are emitted after the change they describe is committed; a failing subscriber is
logged and never breaks the request that caused the event.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("authgate.events")

USER_CREATED = "user.created"
LOGGED_IN = "user.logged_in"
LOGIN_FAILED = "user.login_failed"
LOGGED_OUT = "user.logged_out"
LOGGED_OUT_ALL = "user.logged_out_all"
REFRESH_REUSE_DETECTED = "session.refresh_reuse_detected"
MFA_ENABLED = "mfa.enabled"
MFA_DISABLED = "mfa.disabled"
MFA_CODE_SENT = "mfa.code_sent"
MFA_VERIFIED = "mfa.verified"
MFA_FAILED = "mfa.failed"
MFA_FAILURES_REPEATED = "mfa.failures_repeated"
"""Wrong second factors piled up (``mfa.failure_alert_threshold`` in the window); data
``{"failures", "windowSeconds"}``. Once per window; the owner is emailed too."""
ACCESS_DENIED = "access.denied"
"""A request refused with 401 or 403 (no or bad token, MFA owed, missing role, CSRF...);
data ``{"reason": <error code>, "path", "httpMethod"}``; the user is not known to it."""
MFA_TOTP_REPLAYED = "mfa.totp_replayed"
"""A right authenticator code given again within its validity (refused); data ``{"deviceId"}``.
The owner is emailed (ASVS 2.8.5)."""
MFA_DEVICE_ADDED = "mfa.device_added"
MFA_DEVICE_REMOVED = "mfa.device_removed"
MFA_RECOVERY_CODE_USED = "mfa.recovery_code_used"
MFA_RECOVERY_CODES_GENERATED = "mfa.recovery_codes_generated"
PASSWORD_CHANGED = "password.changed"
PASSWORD_RESET = "password.reset"
PASSWORD_RESET_REQUESTED = "password.reset_requested"
EMAIL_VERIFIED = "email.verified"
PHONE_VERIFIED = "phone.verified"
PASSWORDLESS_CODE_SENT = "passwordless.code_sent"
ADMIN_CREATED = "admin.created"
ADMIN_PASSWORD_RESET = "admin.password_reset"
DISPOSABLE_EMAIL_DETECTED = "email.disposable_detected"
"""A signup used a blocked domain while ``email_auth.disposable.mode`` is ``flag``; data
``{"email", "domain"}``."""
ADMIN_ACTION = "admin.action"
"""Every change an admin makes through the console or the management API (the audit
trail): data ``{"actor", "actorEmail", "action", "target", "ip", "at"}`` plus details;
``actor`` is None for the secret-key routes (bootstrap, reset-password)."""
TENANT_SWITCHED = "tenant.switched"
USER_INVITED = "user.invited"
"""Data ``{"tenantId", "isNewUser", "invitedBy", "channel"}``: never the token (it went to
the invitee only)."""
INVITATION_ACCEPTED = "user.invitation_accepted"
PASSKEY_CLONE_DETECTED = "passkey.clone_detected"
"""A passkey's signature counter did not move forward: the authenticator may have been
copied. The sign-in is refused; ``data``: ``credentialId`` (our id), ``storedCount``,
``presentedCount``."""
IDENTITY_LINKED = "identity.linked"
IDENTITY_UNLINKED = "identity.unlinked"
API_KEY_CREATED = "api_key.created"
API_KEY_REVOKED = "api_key.revoked"
USER_DELETED = "user.deleted"
"""The owner deleted the account (``DELETE /auth/account``), after the commit: every row of
it is gone, so ``data`` carries what a subscriber still needs: ``email``, ``phone`` (the
notice goes there), ``initiatedBy``, ``sessionId``."""


@dataclass(frozen=True)
class Event:
    name: str
    user_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the request that caused an event came from: what a security log line and a
    notice say besides the event (all None outside a request). ``request_id`` joins the
    event's security log line to the request's line (``authgate.requests``)."""

    ip: str | None = None
    user_agent: str | None = None
    session_id: str | None = None
    tenant_id: str | None = None
    """The tenant of the caller's session (the audit trail's tenant)."""
    admin_id: str | None = None
    """The signed-in admin behind a console request (the audit trail's actor)."""
    request_id: str | None = None


_origin: ContextVar[Callable[[], Origin] | None] = ContextVar("authgate_event_origin",
                                                             default=None)


def bind_origin(resolve: Callable[[], Origin]) -> Token[Callable[[], Origin] | None]:
    """Called by the HTTP edge around a request that may emit events; ``resolve`` is only
    called when an event asks (a request that emits none pays for no look-up)."""
    return _origin.set(resolve)


def unbind_origin(token: Token[Callable[[], Origin] | None]) -> None:
    _origin.reset(token)


def current_origin() -> Origin:
    resolve = _origin.get()
    return resolve() if resolve is not None else Origin()


Handler = Callable[[Event], Awaitable[None] | None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, name: str, handler: Handler) -> None:
        """``name`` is an event name or ``"*"`` for every event."""
        self._handlers[name].append(handler)

    async def emit(self, event: Event) -> None:
        for handler in [*self._handlers.get(event.name, ()), *self._handlers.get("*", ())]:
            try:
                result = handler(event)
                if result is not None:
                    await result
            except Exception:
                log.exception("event handler failed for %s", event.name)
