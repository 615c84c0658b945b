"""Who pays for a wrong second factor (issue #12, item 4).

Before this, every MFA-step request was charged to the account at once (the ``mfa_verify``
rate-limit row per account, 50 a day, and ``attempts.MFA_SCOPE``, 5 per 15 min), so whoever
had the password could spend the owner's day with 51 wrong codes and the owner's right code
was refused for a day. Now an attempt from a session whose second factor is still owed is
charged in this order, and a refusal stops the charging there:

1. the session's own allowance: ``mfa.session_max_attempts`` (3) over its whole life (at most
   ``session.mfa_pending_lifetime``, 10 min);
2. the account's allowance for this client address (IPv6 by /64), across its sessions:
   ``mfa.client_max_attempts`` (10) per ``mfa.client_attempt_window`` (a day), cleared by a
   success from that address;
3. then, as before, the account's budgets: the rate-limit row ``mfa_verify`` (per IP, per
   account, per account per day) and ``attempts.MFA_SCOPE``, counted before the code is read.

1 and 2 run as a route dependency placed before the rate limit (``http.mfa_allowance``).
Attempts refused at 1 or 2 answer 429 ``MFA_TOO_MANY_ATTEMPTS`` and never reach 3.

The arithmetic, with the defaults. Guesses stay bounded exactly as before: every guess that
is evaluated has passed 3, so an attacker gets at most 50 a day (the daily row) and 5 per
15 minutes per account, however many sessions or addresses they use. What changes is what it
costs to spend the owner's budget: each session carries at most 3 attempts to the account,
and each session needs the correct password (a full argon2 login, under the login limits and
the lockout), so spending the 50 takes at least 17 password logins; each address carries at
most 10 a day, so it also takes at least 5 addresses. From one address an attacker spends at
most 10 of the 50 (the owner is delayed at most by the 15-minute window, never a day), and
the owner is told once the wrong codes reach ``mfa.failure_alert_threshold`` (5) in
``mfa.failure_alert_window`` (a day): event ``mfa.failures_repeated`` and the
``mfa_failures`` email, sent in the background, at most once per window.
"""

from __future__ import annotations

from authgate import background
from authgate.errors import Code
from authgate.events import MFA_FAILURES_REPEATED, Event
from authgate.identity.snapshot import UserSnapshot
from authgate.resources import Resources
from authgate.throttling import attempts
from authgate.throttling.rate import ip_subject

SESSION_SCOPE = "mfa-session"
CLIENT_SCOPE = "mfa-client"
ALERT_SCOPE = "mfa-alert"
WRONG_CODE = frozenset({Code.MFA_CODE_INVALID, Code.VERIFICATION_CODE_INVALID,
                        Code.MFA_RECOVERY_CODE_INVALID})
"""The answers that mean a second factor was checked and was wrong (what the alert counts)."""


def _client_subject(user_id: str, ip: str) -> str:
    return f"{user_id}:{ip_subject(ip)}"


async def reserve_pending(res: Resources, *, session_id: str, user_id: str,
                          ip: str | None) -> None:
    """Charge one MFA-step attempt of a not-yet-verified session to its own allowance, then
    to this client's allowance on the account. Raises MFA_TOO_MANY_ATTEMPTS (429, with
    Retry-After) at the first one exhausted. Call it before the account's budgets."""
    cfg = res.settings.mfa
    await attempts.check_and_count(res, SESSION_SCOPE, session_id,
                                   limit=cfg.session_max_attempts,
                                   window=res.settings.session.mfa_pending_lifetime)
    if ip:  # no address (a Unix socket without a trusted proxy): only 1 and 3 apply
        await attempts.check_and_count(res, CLIENT_SCOPE, _client_subject(user_id, ip),
                                       limit=cfg.client_max_attempts,
                                       window=cfg.client_attempt_window)


async def succeeded(res: Resources, *, user_id: str, ip: str | None) -> None:
    """A second factor was right: forget this client's failures on the account (the owner's
    own sign-ins never add up to a refusal)."""
    if ip:
        await attempts.clear(res, CLIENT_SCOPE, _client_subject(user_id, ip))


async def failed(res: Resources, user: UserSnapshot, code: Code) -> None:
    """Count a wrong second factor for the owner's alert; the request that reaches the
    threshold emits ``mfa.failures_repeated`` and emails the owner in the background."""
    cfg = res.settings.mfa
    threshold = cfg.failure_alert_threshold
    if code not in WRONG_CODE or threshold is None:
        return
    got = await attempts.count(res, ALERT_SCOPE, user.id, window=cfg.failure_alert_window)
    if got.count != threshold:  # the counter passes the threshold once per window
        return
    window = cfg.failure_alert_window
    await res.events.emit(Event(MFA_FAILURES_REPEATED, user.id, {
        "failures": got.count, "windowSeconds": int(window.total_seconds())}))
    if user.email:
        background.spawn(res, _email_owner(res, user.email, got.count),
                         name="MFA failure alert")


async def _email_owner(res: Resources, to: str, failures: int) -> None:
    await res.delivery.send_alert(to=to, kind="mfa_failures", failures=failures,
                                  window=res.settings.mfa.failure_alert_window)
