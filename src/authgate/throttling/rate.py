"""Abuse limits: the declarative rate-limit table and account lockout.

Rate limits
    ``settings.rate_limit.<bucket>`` gives each bucket a limit per client IP, one per
    account and optionally a second, long-window one per account. ``BUCKETS`` below says where each bucket finds its account: the caller's user id
    (from the verified access token), the email/phone in the request body, or the session of
    the refresh token. A route opts in with one dependency
    (``authgate.http.rate_limits.rate_limit("login")``); flows without HTTP call ``enforce``.
    The per-IP limit is checked first and a request refused there never counts against the
    account, so one noisy address cannot spend a victim's budget. Over a limit →
    ``AuthError(RATE_LIMITED, retry_after=…)`` (429 + ``Retry-After``).

Lockout
    Password logins reserve an attempt on the *account* before argon2 runs (failures from
    any IP count; unknown identifiers are keyed and locked exactly like real accounts, so
    lockout reveals nothing). ``lockout.max_failures`` consecutive failures within
    ``lockout.window`` lock the account for ``lockout.lock_duration`` → 429
    ``ACCOUNT_LOCKED`` + ``Retry-After``. Attempts refused while locked are not counted and do
    not extend the lock, so a lock always expires. A successful login clears the count; a
    completed password reset calls ``unlock_account``. Because attempts are reserved
    atomically before the password is checked, N parallel guesses cannot get more than
    ``max_failures`` password checks per lock cycle.

All counters are ``authgate.throttling.attempts`` fixed windows: Redis when configured, else the
``authgate_counters`` table (one atomic upsert), so every process shares them. Never call
these while holding an open writer transaction (SQLite would wait on itself).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from dataclasses import dataclass
from typing import Literal

from authgate.config import RateBucket, RateRule
from authgate.errors import AuthError, Code
from authgate.resources import Resources
from authgate.throttling import attempts

log = logging.getLogger("authgate.throttling")
AccountSource = Literal["token", "body", "refresh"]


@dataclass(frozen=True, slots=True)
class Bucket:
    """One row of the table: what the bucket protects and where its account comes from
    (a route may override ``account_from``: an authenticated route always keys on its
    caller, whatever the body says)."""

    account_from: AccountSource
    routes: str


BUCKETS: dict[str, Bucket] = {
    "login": Bucket("body", "POST /auth/login"),
    "signup": Bucket("body", "POST /auth/signup"),
    "refresh": Bucket("refresh", "POST /auth/refresh-token"),
    "mfa_verify": Bucket("token", "POST /auth/mfa/verify, /auth/mfa/verify-recovery-code"),
    "otp_verify": Bucket("body", "POST /auth/verify-forgot-password-otp (body); "
                                 "/auth/verify-email, /auth/verify-phone (token)"),
    "forgot_password": Bucket("body", "POST /auth/forgot-password"),
    "send_code": Bucket("token", "POST /auth/mfa/challenge, /auth/send-email-verification, "
                                 "/auth/send-phone-verification (token); "
                                 "/auth/passwordless/send (body)"),
}


def bucket_rules(res: Resources, bucket: str) -> RateBucket:
    if bucket not in BUCKETS:
        raise KeyError(f"unknown rate-limit bucket {bucket!r}")
    rules: RateBucket = getattr(res.settings.rate_limit, bucket)
    return rules


def ip_subject(ip: str) -> str:
    """The counter subject for a client address: IPv6 clients are grouped by their /64
    (one subscriber usually owns a whole /64), IPv4 addresses stand alone."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def account_subject(res: Resources, kind: str, value: str) -> str:
    """A keyed hash, so counters (in Redis or the database) never hold an email or phone."""
    key = res.keys.rate_account
    # surrogatepass: the limiter counts a request before validation refuses its bad text
    raw = f"{kind}:{value}".encode("utf-8", "surrogatepass")
    return hmac.new(key, raw, hashlib.sha256).hexdigest()


async def _hit(res: Resources, scope: str, subject: str, rule: RateRule) -> None:
    got = await attempts.count(res, scope, subject, window=rule.window)
    if got.count > rule.limit:
        raise AuthError(Code.RATE_LIMITED, retry_after=got.retry_after(res.clock.now()))


async def enforce(res: Resources, bucket: str, *, ip: str | None, account: str | None) -> None:
    """Count one request against ``bucket``; raise RATE_LIMITED (429) when over a limit.

    ``account`` is an already-derived subject (``account_subject``) or None (no per-account
    key for this request, e.g. an unauthenticated call to an authenticated route). Without a
    client address (a Unix-socket listener, no trusted proxy) there is no per-IP key either:
    one shared "unknown" bucket would let a single client lock everybody out.
    """
    if not res.settings.rate_limit.enabled:
        return
    rules = bucket_rules(res, bucket)
    if rules.per_ip is not None:
        if ip:
            await _hit(res, f"rl:{bucket}:ip", ip_subject(ip), rules.per_ip)
        elif not res.warned_no_client_ip:
            res.warned_no_client_ip = True
            log.warning("client address unknown (Unix socket without a trusted proxy?): "
                        "per-IP rate limits do not apply to such requests")
    if account:
        if rules.per_account is not None:
            await _hit(res, f"rl:{bucket}:acct", account, rules.per_account)
        if rules.per_account_long is not None:
            await _hit(res, f"rl:{bucket}:acct-long", account, rules.per_account_long)


# lockout --------------------------------------------------------------------------------
_FAIL = "lockout-fail"
_LOCK = "lockout-lock"


def lockout_key(res: Resources, *, user_id: str | None, identifier: str | None) -> str:
    """The lockout subject: the user id of a known account, else a keyed hash of the
    normalised identifier the caller typed (so unknown accounts lock the same way)."""
    if user_id:
        return f"u:{user_id}"
    return "i:" + account_subject(res, "login", (identifier or "").strip().lower())


def lockout_enabled(res: Resources) -> bool:
    """``rate_limit.enabled`` is the master switch for the table and the lockout."""
    cfg = res.settings.rate_limit
    return cfg.enabled and cfg.lockout.enabled


def _locked(retry_after: int) -> AuthError:
    return AuthError(Code.ACCOUNT_LOCKED, retry_after=retry_after)


async def lock_remaining(res: Resources, key: str) -> int | None:
    """Seconds until the account unlocks, or None when it is not locked."""
    return await attempts.blocked_for(res, _LOCK, key, limit=1)


async def begin_password_attempt(res: Resources, key: str) -> int:
    """Reserve one password check for the account; returns its number in the window.

    Raises ACCOUNT_LOCKED while locked, and for attempts beyond ``max_failures`` (which
    locks the account). Call before verifying the password, then ``password_failed`` or
    ``password_succeeded``.
    """
    cfg = res.settings.rate_limit.lockout
    if not lockout_enabled(res):
        return 0
    if (left := await lock_remaining(res, key)) is not None:
        raise _locked(left)
    got = await attempts.count(res, _FAIL, key, window=cfg.window)
    if got.count > cfg.max_failures:
        raise _locked(await _lock(res, key))
    if (left := await lock_remaining(res, key)) is not None:
        raise _locked(left)  # locked (and the count reset) by a parallel attempt meanwhile
    return got.count


async def password_failed(res: Resources, key: str, attempt: int) -> None:
    cfg = res.settings.rate_limit.lockout
    if lockout_enabled(res) and attempt >= cfg.max_failures:
        await _lock(res, key)


async def password_succeeded(res: Resources, key: str) -> None:
    if lockout_enabled(res):
        await attempts.clear(res, _FAIL, key)


async def _lock(res: Resources, key: str) -> int:
    """Start (or join) the lock window and forget the failures that caused it, so the next
    cycle after the lock expires starts from zero. Returns the seconds left."""
    cfg = res.settings.rate_limit.lockout
    lock = await attempts.count(res, _LOCK, key, window=cfg.lock_duration)
    await attempts.clear(res, _FAIL, key)
    return lock.retry_after(res.clock.now())


async def unlock_account(res: Resources, user_id: str) -> None:
    """Lift a lockout and forget the failures: the password-reset flow calls this once the
    new password is committed (proof of control of the email/phone)."""
    key = lockout_key(res, user_id=user_id, identifier=None)
    await attempts.clear(res, _LOCK, key)
    await attempts.clear(res, _FAIL, key)
