"""``authgate users list|show|disable|enable``, ``authgate sessions revoke``, ``authgate mfa
reset`` and ``authgate unlock``: everyday support work from a shell. Each command parses,
calls one flow of ``authgate.admin.support`` (the console's flows underneath, audited with
``via="cli"`` and the operating-system user) and prints a table, or JSON with ``--json``.
Exit codes: ``authgate.cli.ops``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from authgate.cli.ops import JsonOpt, TenantOpt, cell, emit_json, iso, operator, run, table
from authgate.cli.options import ConfigOpt

if TYPE_CHECKING:
    from authgate.admin.support import MfaReset, Unlocked
    from authgate.admin.users import AdminUser, UserDetail

users_app = typer.Typer(no_args_is_help=True, help="Find, inspect, disable and enable users.")
sessions_app = typer.Typer(no_args_is_help=True, help="End users' sessions.")
mfa_app = typer.Typer(no_args_is_help=True, help="Second factors of users.")

UserArg = Annotated[str, typer.Argument(metavar="EMAIL|ID", help="The user's email or id")]
UserOpt = Annotated[str, typer.Option("--user", metavar="EMAIL|ID",
                                      help="The user's email or id")]


def _ref(value: str, tenant: str | None) -> Any:
    from authgate.admin.support import UserRef

    return UserRef(value, tenant)


def _operator() -> Any:
    from authgate.admin.actor import Operator

    return Operator(operator())


def _summary(u: AdminUser) -> dict[str, Any]:
    user = u.user
    return {"id": user.id, "email": user.email, "phone": user.phone, "status": user.status,
            "emailVerified": user.email_verified_at is not None,
            "phoneVerified": user.phone_verified_at is not None,
            "mfaEnabled": user.is_mfa_enabled, "tenantId": user.tenant_id,
            "createdAt": iso(user.created_at)}


@users_app.command("list")
def list_users(
    search: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Part of the email or phone number")] = None,
    status: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="active, inactive, verified or unverified")] = None,
    tenant: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Accounts of (or members of) this tenant")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many")] = 50,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Users, newest first."""
    from authgate.admin import support

    if status is not None and status not in ("active", "inactive", "verified", "unverified"):
        raise typer.BadParameter("active, inactive, verified or unverified", param_hint="--status")
    found, total = run(config, lambda res: support.list_users(
        res, search=search, limit=limit, status=status, tenant=tenant), as_json=as_json)
    if as_json:
        emit_json({"total": total, "users": [_summary(u) for u in found]})
        return
    table(["ID", "EMAIL", "PHONE", "STATUS", "VERIFIED", "MFA", "CREATED"],
          [[u.user.id, u.user.email, u.user.phone, u.user.status,
            u.user.email_verified_at is not None, u.user.is_mfa_enabled, u.user.created_at]
           for u in found])
    typer.echo(f"{len(found)} of {total} user(s)", err=True)


def _detail(d: UserDetail) -> dict[str, Any]:
    u = d.admin_user
    live_trust = [t for t in d.trusted_devices if t.revoked_at is None]
    return {
        **_summary(u),
        "updatedAt": iso(u.user.updated_at),
        "hasPassword": d.has_password,
        "mustChangePassword": u.user.must_change_password,
        "mfaMethods": d.enabled_methods,
        "hasRecoveryCodes": d.mfa.has_recovery_code,
        "totpDevices": [{"id": t.id, "name": t.device_name, "verified": t.verified,
                         "lastUsedAt": iso(t.last_used_at), "createdAt": iso(t.created_at)}
                        for t in d.totp_devices],
        "trustedDevices": len(live_trust),
        "roles": [r.role.name for r in u.roles],
        "memberships": [{"tenantId": a.membership.tenant_id,
                         "tenant": a.tenant.name if a.tenant else None,
                         "status": a.membership.status, "default": a.membership.is_default,
                         "roles": [r.role.name for r in a.roles]} for a in u.accesses],
        "sessions": [{"id": s.id, "createdAt": iso(s.created_at),
                      "lastActive": iso(s.last_active), "expiresAt": iso(s.expires_at),
                      "ip": s.ip_address, "device": s.device_name, "mfa": s.mfa_state,
                      "tenantId": s.tenant_id} for s in d.sessions],
    }


@users_app.command("show")
def show(user: UserArg, tenant: TenantOpt = None, as_json: JsonOpt = False,
         config: ConfigOpt = None) -> None:
    """One user: account, MFA, memberships and live sessions (never a secret)."""
    from authgate.admin import support

    detail = run(config, lambda res: support.show(res, _ref(user, tenant)), as_json=as_json)
    data = _detail(detail)
    if as_json:
        emit_json(data)
        return
    for key in ("id", "email", "phone", "status", "tenantId", "emailVerified",
                "phoneVerified", "hasPassword", "mustChangePassword", "mfaEnabled",
                "mfaMethods", "hasRecoveryCodes", "trustedDevices", "roles", "createdAt",
                "updatedAt"):
        value = data[key]
        typer.echo(f"{key + ':':<20}{', '.join(value) if isinstance(value, list) else cell(value)}")
    if data["memberships"]:
        typer.echo("\nmemberships:")
        table(["TENANT", "NAME", "STATUS", "DEFAULT", "ROLES"],
              [[m["tenantId"], m["tenant"], m["status"], m["default"], ", ".join(m["roles"])]
               for m in data["memberships"]])
    if data["totpDevices"]:
        typer.echo("\nauthenticators:")
        table(["ID", "NAME", "VERIFIED", "LAST USED"],
              [[t.id, t.device_name, t.verified, t.last_used_at] for t in detail.totp_devices])
    typer.echo(f"\nsessions: {len(detail.sessions)}")
    if detail.sessions:
        table(["ID", "LAST ACTIVE", "EXPIRES", "IP", "DEVICE", "MFA"],
              [[s.id, s.last_active, s.expires_at, s.ip_address, s.device_name, s.mfa_state]
               for s in detail.sessions])


def _set_active(user: str, tenant: str | None, active: bool, as_json: bool,
                config: Any) -> None:
    from authgate.admin import support

    done = run(config, lambda res: support.set_active(res, _operator(), _ref(user, tenant),
                                                      active), as_json=as_json)
    if as_json:
        emit_json(_summary(done))
        return
    what = "enabled" if active else "disabled (sessions ended, trusted devices revoked)"
    typer.echo(f"{done.user.email or done.user.id} ({done.user.id}): {what}")


@users_app.command("disable")
def disable(user: UserArg, tenant: TenantOpt = None, as_json: JsonOpt = False,
            config: ConfigOpt = None) -> None:
    """Disable the account: its sign-ins are refused, its sessions end and its trusted
    devices are revoked."""
    _set_active(user, tenant, False, as_json, config)


@users_app.command("enable")
def enable(user: UserArg, tenant: TenantOpt = None, as_json: JsonOpt = False,
           config: ConfigOpt = None) -> None:
    """Enable a disabled account again."""
    _set_active(user, tenant, True, as_json, config)


@sessions_app.command("revoke")
def revoke(user: UserOpt, tenant: TenantOpt = None, as_json: JsonOpt = False,
           config: ConfigOpt = None) -> None:
    """End every session of the user (their refresh tokens stop working at once)."""
    from authgate.admin import support

    found, n = run(config, lambda res: support.end_sessions(res, _operator(),
                                                            _ref(user, tenant)),
                   as_json=as_json)
    if as_json:
        emit_json({"id": found.id, "email": found.email, "sessionsEnded": n})
        return
    typer.echo(f"{found.email or found.id} ({found.id}): {n} session(s) ended")


def _reset_out(r: MfaReset) -> dict[str, Any]:
    return {"id": r.user.id, "email": r.user.email, "mfaWasEnabled": r.was_enabled,
            "totpDevices": r.totp_devices, "recoveryCodes": r.recovery_codes,
            "trustedDevices": r.trusted_devices, "passkeys": r.passkeys,
            "sessionsEnded": r.sessions}


@mfa_app.command("reset")
def reset(user: UserOpt, tenant: TenantOpt = None,
          passkeys: Annotated[bool, typer.Option(
              "--passkeys", help="Remove the user's passkeys too")] = False,
          as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """For a user who lost their second factor: remove their authenticators and recovery
    codes, revoke their trusted devices, turn MFA off and end their sessions. The user is
    emailed (security notices) and the reset is audited."""
    from authgate.admin import support

    done = run(config, lambda res: support.reset_mfa(res, _operator(), _ref(user, tenant),
                                                     passkeys=passkeys), as_json=as_json)
    if as_json:
        emit_json(_reset_out(done))
        return
    typer.echo(f"{done.user.email or done.user.id} ({done.user.id}): MFA reset "
               f"(was {'on' if done.was_enabled else 'off'})")
    table(["REMOVED", "COUNT"], [["authenticators", done.totp_devices],
                                 ["recovery codes", done.recovery_codes],
                                 ["trusted devices", done.trusted_devices],
                                 ["passkeys", done.passkeys], ["sessions", done.sessions]])


def _unlock_out(u: Unlocked) -> dict[str, Any]:
    return {"id": u.user.id, "email": u.user.email, "lockSecondsLeft": u.lock_seconds_left,
            "mfaSecondsLeft": u.mfa_seconds_left}


def unlock(user: UserOpt, tenant: TenantOpt = None, as_json: JsonOpt = False,
           config: ConfigOpt = None) -> None:
    """Lift the user's sign-in lockout and clear their failed-attempt counters (password
    and second factor)."""
    from authgate.admin import support

    done = run(config, lambda res: support.unlock(res, _operator(), _ref(user, tenant)),
               as_json=as_json)
    if as_json:
        emit_json(_unlock_out(done))
        return
    lock = (f"account lock lifted ({done.lock_seconds_left}s were left)"
            if done.lock_seconds_left else "no account lock")
    mfa = (f"second-factor block lifted ({done.mfa_seconds_left}s were left)"
           if done.mfa_seconds_left else "no second-factor block")
    typer.echo(f"{done.user.email or done.user.id} ({done.user.id}): {lock}; {mfa}; "
               "failure counters cleared")
