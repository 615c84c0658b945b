"""Abuse limits: the declarative rate-limit table, the daily cap on issued codes, and
lockout.

Rate limits
    ``settings.rate_limit.<bucket>`` gives each bucket a limit per client IP, one per
    account and optionally a second, long-window one per account. ``BUCKETS`` below says
    where each bucket finds its account: the caller's user id (from the verified access
    token), the session of the refresh token, or the body -- and then *the route declares
    which fields* (``authgate.http.rate_limits.FromBody``): the account key is computed from
    the parsed, validated request model, from exactly the field(s) the flow looks the account
    up by, normalised as that look-up normalises them (``identity.contact.account_ref``).
    Extra or unknown fields never change the key (issue 12: a decoy ``credentials.email``
    used to buy a fresh bucket per request). A route may key its accounts *per client*
    (account + client IP): verify-forgot-password-otp and passwordless logins do, so
    strangers cannot spend the owner's budget; ``issued_codes`` and the per-code attempt
    limit bound all clients together. The per-IP limit is checked first and a request
    refused there never counts against the account. Over a limit →
    ``AuthError(RATE_LIMITED, retry_after=…)`` (429 + ``Retry-After``).

Issued codes
    ``rate_limit.issued_codes`` caps the one-time codes issued per account and purpose
    (default 20 a day; the code engine counts them). With ``mfa.max_attempts`` tries per
    code, no set of clients gets more than limit × max_attempts guesses a day at one
    account's reset, passwordless, verification or MFA codes.

Lockout (password logins, passwordless logins, change-password)
    Failures are counted twice, before the secret is checked (attempts are reserved
    atomically, so N parallel guesses cannot get more checks than the limits):

    * per (account, client) -- client = IP, IPv6 grouped per /64 (``ip_subject``):
      ``lockout.max_failures`` within ``lockout.window`` lock that client out of that
      account;
    * per account, from all clients: ``lockout.account_max_failures`` within the window lock
      the account for every client *except* a request carrying a valid trust token of that
      account (the trusted-device cookie/header the login reads): the owner's known device
      keeps working while strangers hammer from elsewhere. Such a request still counts (and
      is limited) on its own per-client counter.

    Locks grow: each further lock of the same client (or account) within
    ``lockout.backoff_window`` lasts twice as long as the previous one (``lock_duration``,
    2×, 4×, … up to ``max_lock_duration``). Attempts refused while locked are not counted
    and do not extend the lock, so a lock always ends. → 429 ``ACCOUNT_LOCKED`` +
    ``Retry-After``. Unknown identifiers are keyed and locked exactly like real accounts, so
    the lockout reveals nothing. A success clears the failure counts of that client and of
    the account; a completed password reset (``unlock_account``) lifts the account's lock
    and every per-client lock of it.

All counters are ``authgate.throttling.attempts`` fixed windows: Redis when configured, else
the ``authgate_counters`` table (one atomic upsert), so every process shares them. Never call
these while holding an open writer transaction (SQLite would wait on itself).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
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
    "otp_verify": Bucket("body", "POST /auth/verify-forgot-password-otp (body, per client); "
                                 "/auth/verify-email, /auth/verify-phone (token); "
                                 "passwordless logins (per client, from the flow)"),
    "forgot_password": Bucket("body", "POST /auth/forgot-password"),
    "send_code": Bucket("token", "POST /auth/mfa/challenge, /auth/send-email-verification, "
                                 "/auth/send-phone-verification (token); "
                                 "/auth/passwordless/send (body)"),
    "change_password": Bucket("token", "POST /auth/change-password (counted by the flow, "
                                       "after the guard)"),
    "admin_login": Bucket("body", "POST /auth/admin/login (counted by the flow, once the body "
                                  "is valid)"),
    "admin_reset": Bucket("body", "POST /auth/admin/signup, /auth/admin/reset-password "
                                  "(counted by the flow, once the body is valid)"),
    "passkey_options": Bucket("token", "POST /auth/passkeys/register-options (token), "
                                       "/auth/passkeys/login-options (per IP: no account)"),
    "account_export": Bucket("token", "GET /auth/account/export"),
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


async def enforce(res: Resources, bucket: str, *, ip: str | None,
                  accounts: Sequence[str] = ()) -> None:
    """Count one request against ``bucket``; raise RATE_LIMITED (429) when over a limit.

    ``accounts`` are already-derived subjects (``account_subject``), usually one; none when
    the request names no account (e.g. an unauthenticated call to an authenticated route),
    several when it names more than one (a sign-up with an email and a phone). Without a
    client address (a Unix-socket listener, no trusted proxy) there is no per-IP key
    either: one shared "unknown" bucket would let a single client lock everybody out.
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
    await enforce_accounts(res, bucket, accounts)


async def enforce_accounts(res: Resources, bucket: str, accounts: Sequence[str]) -> None:
    """Only the per-account rows of ``bucket`` (for a flow adding a row to a request whose
    IP its route has already counted)."""
    if not res.settings.rate_limit.enabled:
        return
    rules = bucket_rules(res, bucket)
    for account in dict.fromkeys(accounts):
        if rules.per_account is not None:
            await _hit(res, f"rl:{bucket}:acct", account, rules.per_account)
        if rules.per_account_long is not None:
            await _hit(res, f"rl:{bucket}:acct-long", account, rules.per_account_long)


def client_account(res: Resources, ref: str, ip: str | None) -> str:
    """The subject of an account *as seen from one client* (``ref`` from
    ``identity.contact.account_ref``): for budgets strangers must not spend."""
    return account_subject(res, "acct@client", f"{ref}|{ip_subject(ip) if ip else '-'}")


# issued codes ---------------------------------------------------------------------------
_ISSUED = "codes-issued"


async def issued_codes_blocked(res: Resources, user_id: str, purpose: str) -> int | None:
    """Seconds until another code of ``purpose`` may be issued to the user, or None (read
    only; the engine calls it before issuing and ``count_issued_code`` once it has)."""
    rule = res.settings.rate_limit.issued_codes
    if not res.settings.rate_limit.enabled or rule is None:
        return None
    return await attempts.blocked_for(res, _ISSUED, f"{purpose}:{user_id}", limit=rule.limit)


async def count_issued_code(res: Resources, user_id: str, purpose: str) -> int | None:
    """Count one issued code; returns the seconds to wait when it was beyond the cap (the
    caller then discards it: two racing issues), else None."""
    rule = res.settings.rate_limit.issued_codes
    if not res.settings.rate_limit.enabled or rule is None:
        return None
    got = await attempts.count(res, _ISSUED, f"{purpose}:{user_id}", window=rule.window)
    return got.retry_after(res.clock.now()) if got.count > rule.limit else None


# lockout --------------------------------------------------------------------------------
_FAIL = "lockout-fail"
_LOCK = "lockout-lock"
_LEVEL = "lockout-level"
_MAX_DOUBLINGS = 24


def lockout_key(res: Resources, *, user_id: str | None, identifier: str | None) -> str:
    """The lockout subject: the user id of a known account, else a keyed hash of the
    identifier the caller typed, normalised as the look-up does (``contact.account_ref``), so
    unknown accounts lock the same way: spellings that would find one account share a lock."""
    if user_id:
        return f"u:{user_id}"
    return "i:" + account_subject(res, "login", (identifier or "").strip().lower())


def _client_key(key: str, ip: str | None) -> str:
    return f"{_client_prefix(key)}{ip_subject(ip) if ip else '-'}"


def _client_prefix(key: str) -> str:
    return f"{key}|c:"


def lockout_enabled(res: Resources) -> bool:
    """``rate_limit.enabled`` is the master switch for the table and the lockout."""
    cfg = res.settings.rate_limit
    return cfg.enabled and cfg.lockout.enabled


def _locked(retry_after: int) -> AuthError:
    return AuthError(Code.ACCOUNT_LOCKED, retry_after=retry_after)


async def lock_remaining(res: Resources, key: str) -> int | None:
    """Seconds until the subject (an account key, or an account+client key) unlocks, or
    None when it is not locked."""
    return await attempts.blocked_for(res, _LOCK, key, limit=1)


@dataclass(frozen=True, slots=True)
class SecretAttempt:
    """One reserved check of a password (or login code): its number on the client's and on
    the account's counter (None: not counted on the account, see ``begin_password_attempt``)."""

    key: str
    client_key: str
    client_count: int
    account_count: int | None


_OFF = SecretAttempt("", "", 0, None)


async def begin_password_attempt(
    res: Resources, key: str, *, ip: str | None,
    trusted: Callable[[], Awaitable[bool]] | None = None,
) -> SecretAttempt:
    """Reserve one check of the secret for the account ``key`` from client ``ip``.

    Raises ACCOUNT_LOCKED while this client is locked out of the account, while the account
    is locked and ``trusted()`` (asked only then) does not vouch for the request, and for
    attempts beyond either limit (which locks). Call before verifying the secret, then
    ``password_failed`` or ``password_succeeded``.
    """
    if not lockout_enabled(res):
        return _OFF
    cfg = res.settings.rate_limit.lockout
    client_key = _client_key(key, ip)
    mine_left, account_left = await _locks_remaining(res, client_key, key)
    if mine_left is not None:
        raise _locked(mine_left)
    exempt = False
    if account_left is not None:
        if trusted is None or not await trusted():
            raise _locked(account_left)
        exempt = True  # the owner's known device: its own per-client counter still applies
    mine = await attempts.count(res, _FAIL, client_key, window=cfg.window)
    if mine.count > cfg.max_failures:
        raise _locked(await _lock(res, client_key))
    total: int | None = None
    if not exempt:
        got = await attempts.count(res, _FAIL, key, window=cfg.window)
        if got.count > cfg.account_max_failures:
            raise _locked(await _lock(res, key))
        total = got.count
    # locked (and the count reset) by a parallel attempt meanwhile?
    mine_left, account_left = await _locks_remaining(res, client_key, key)
    if mine_left is not None:
        raise _locked(mine_left)
    if not exempt and account_left is not None:
        raise _locked(account_left)
    return SecretAttempt(key, client_key, mine.count, total)


async def _locks_remaining(res: Resources, *keys: str) -> list[int | None]:
    """``lock_remaining`` of several subjects in one round trip."""
    now = res.clock.now()
    return [None if got is None else got.retry_after(now)
            for got in await attempts.current_many(res, [(_LOCK, k) for k in keys])]


async def password_failed(res: Resources, attempt: SecretAttempt) -> None:
    """The reserved check failed: lock whichever counter it filled."""
    if not lockout_enabled(res) or attempt is _OFF:
        return
    cfg = res.settings.rate_limit.lockout
    if attempt.client_count >= cfg.max_failures:
        await _lock(res, attempt.client_key)
    if attempt.account_count is not None and attempt.account_count >= cfg.account_max_failures:
        await _lock(res, attempt.key)


async def password_succeeded(res: Resources, attempt: SecretAttempt) -> None:
    """The secret was right: forget this client's failures, its lock history, and the
    account's failures."""
    if not lockout_enabled(res) or attempt is _OFF:
        return
    await attempts.clear_many(res, [(_FAIL, attempt.client_key), (_LEVEL, attempt.client_key),
                                    (_FAIL, attempt.key)])


async def _lock(res: Resources, subject: str) -> int:
    """Start (or join) the subject's lock and forget the failures that caused it, so the
    next cycle after the lock ends starts from zero. A new lock lasts ``lock_duration``
    doubled once per earlier lock within ``backoff_window`` (at most
    ``max_lock_duration``). Returns the seconds left."""
    cfg = res.settings.rate_limit.lockout
    earlier = await attempts.current(res, _LEVEL, subject)
    doublings = min(earlier.count if earlier else 0, _MAX_DOUBLINGS)
    duration = timedelta(seconds=min(cfg.lock_duration.total_seconds() * 2.0 ** doublings,
                                     cfg.max_lock_duration.total_seconds()))
    lock = await attempts.count(res, _LOCK, subject, window=duration)
    if lock.count == 1:  # a new lock, not a parallel attempt joining one
        await attempts.count(res, _LEVEL, subject, window=cfg.backoff_window)
    await attempts.clear(res, _FAIL, subject)
    return lock.retry_after(res.clock.now())


async def unlock_account(res: Resources, user_id: str) -> None:
    """Lift the account's lock and every per-client lock of it, and forget the failures
    and the lock history: the password-reset flow calls this once the new password is
    committed (proof of control of the email/phone)."""
    await unlock(res, lockout_key(res, user_id=user_id, identifier=None))


async def account_lock_remaining(res: Resources, user_id: str) -> int | None:
    """Seconds left of the account-wide lock of a known account, or None (read only;
    per-client locks are not counted here)."""
    [left] = await _locks_remaining(res, lockout_key(res, user_id=user_id, identifier=None))
    return left


async def unlock(res: Resources, key: str) -> None:
    """Lift the lock of the lockout subject ``key`` and all its per-client locks, and forget
    its failures and lock history."""
    await attempts.clear_many(res, [(scope, key) for scope in (_LOCK, _FAIL, _LEVEL)])
    await attempts.clear_prefix(res, (_LOCK, _FAIL, _LEVEL), _client_prefix(key))
