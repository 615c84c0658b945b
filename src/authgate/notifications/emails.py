"""Security notices by email (ASVS 2.2.3, 2.5.5, 2.8.5): the owner of an account is told when
its password is changed or reset, MFA is turned on or off, an authenticator is added or
removed, recovery codes are generated or used, their password signs in from a device not
seen before, the account is deleted (to the address it had), a replaced refresh token is presented again (a copied token: the session was
ended) and an authenticator code is replayed. (Repeated wrong second factors have their own
alert, ``mfa.attempt_budget``.)

Each notice is sent in the background (``authgate.background``): the request neither waits
for the relay nor fails with it. Templates ``email/<kind>.txt|.html`` are overridable like
the code emails (``delivery.templates_dir``); they get ``${app_name}``, ``${when}``,
``${ip}`` and ``${device}`` (the client's address and user agent). At most one notice of a
kind per account a minute (resetting TOTP removes every device at once: one email).
Notices go to the account's email address; accounts without one get none. Kinds listed in
``notifications.skip`` are not sent.

A *new device* is a (user agent, network) pair — the client's /24 for IPv4, /48 for IPv6 —
the account has not signed in from within ``notifications.new_device_window`` (180 days):
a keyed hash of it is counted in the shared counters (Redis or the database), never stored
in clear. Signing up counts as the first sign-in.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from authgate import background, events
from authgate.crypto.keys import keyed_hash
from authgate.identity.snapshot import load_user_snapshot
from authgate.resources import Resources
from authgate.throttling import attempts
from authgate.vocabulary import SecurityNotice

KIND_OF: dict[str, SecurityNotice] = {
    events.PASSWORD_CHANGED: "password_changed",
    events.PASSWORD_RESET: "password_was_reset",
    events.MFA_ENABLED: "mfa_enabled",
    events.MFA_DISABLED: "mfa_disabled",
    events.MFA_DEVICE_ADDED: "mfa_device_added",
    events.MFA_DEVICE_REMOVED: "mfa_device_removed",
    events.MFA_RECOVERY_CODES_GENERATED: "recovery_codes_generated",
    events.MFA_RECOVERY_CODE_USED: "recovery_code_used",
    events.LOGGED_IN: "new_sign_in",
    events.REFRESH_REUSE_DETECTED: "refresh_reuse",
    events.MFA_TOTP_REPLAYED: "totp_replay",
    events.USER_DELETED: "account_deleted",
}
DEVICE_SCOPE = "known-device"
NOTICE_SCOPE = "notice"
NOTICE_INTERVAL = timedelta(minutes=1)


def _network(ip: str | None) -> str:
    if not ip:
        return "-"
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network((addr, prefix), strict=False))


def _device_subject(res: Resources, user_id: str, origin: events.Origin) -> str:
    return keyed_hash(res.keys.rate_account,
                      f"device:{user_id}:{_network(origin.ip)}:{origin.user_agent or '-'}")


async def _first_time(res: Resources, user_id: str, origin: events.Origin) -> bool:
    """Count this device for the account; True when it is its first sign-in in the window."""
    got = await attempts.count(res, DEVICE_SCOPE, _device_subject(res, user_id, origin),
                               window=res.settings.notifications.new_device_window)
    return got.count == 1


def _when(at: datetime) -> str:
    return at.strftime("%d %B %Y at %H:%M UTC").lstrip("0")


async def _notify(res: Resources, kind: SecurityNotice, user_id: str, origin: events.Origin,
                  at: datetime, *, to: str | None = None) -> None:
    """``to``: the address of an account whose row is gone (``user.deleted``)."""
    if kind == "new_sign_in" and not await _first_time(res, user_id, origin):
        return
    burst = await attempts.count(res, NOTICE_SCOPE, f"{user_id}:{kind}", window=NOTICE_INTERVAL)
    if burst.count > 1:
        return
    if to is None:
        user = await load_user_snapshot(res.db, user_id)
        to = user.email if user is not None else None
    if not to:
        return
    await res.delivery.send_security_notice(
        to=to, kind=kind, when=_when(at), ip=origin.ip or "unknown",
        device=(origin.user_agent or "unknown")[:200])


async def _remember_device(res: Resources, user_id: str, origin: events.Origin) -> None:
    await _first_time(res, user_id, origin)


def subscribe(res: Resources) -> None:
    skip = frozenset(res.settings.notifications.skip)

    def on_event(event: events.Event) -> None:
        if event.user_id is None:
            return
        origin = events.current_origin()  # read now: the task outlives the request
        if event.name == events.USER_CREATED:
            background.spawn(res, _remember_device(res, event.user_id, origin),
                             name="remember the sign-up device")
            return
        kind = KIND_OF.get(event.name)
        if kind is None or kind in skip:
            return
        to = event.data.get("email") if event.name == events.USER_DELETED else None
        background.spawn(res, _notify(res, kind, event.user_id, origin, res.clock.now(),
                                      to=to if isinstance(to, str) else None),
                         name=f"security notice {kind}")

    res.events.subscribe("*", on_event)
