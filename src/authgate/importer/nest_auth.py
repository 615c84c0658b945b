"""``authgate import nest-auth``: read a @ackplus/nest-auth 2.x database into authgate.

What moves (ids kept, so a second run finds what the first wrote and changes nothing):

* users (``nest_auth_users``, email/phone completed from ``nest_auth_identities``): the
  argon2 password hash as is (it verifies unchanged; the login rehashes it when our
  parameters differ), verified-at stamps, active flag, MFA flag, forced password change,
  metadata;
* verified authenticators (``nest_auth_mfa_secrets``): upstream keeps the seed in clear;
  here it is encrypted with the TOTP key ring on the way in, so the same app keeps working;
* unused recovery codes (``nest_auth_mfa_recovery_codes`` and the legacy single
  ``users.mfaRecoveryCode``): upstream's HMAC of the code is re-keyed under our recovery key;
  they verify once ``mfa.imported_recovery_code_secret`` holds the secret nest-auth keyed
  them with (``mfa.trustedDeviceSecret``, else ``session.jwt.secret``);
* tenants, permissions, roles (with their permissions; a tenant's roles stay in it), a user's
  tenant accesses as memberships with their roles, and roles held outside tenants (the
  no-tenant access and platform access) as user roles. A permission or role that exists
  here under the same name (and guard, and tenant) is reused.

What does not: sessions and trusted devices (users sign in again), one-time codes, API
keys (their secrets cannot be carried over), social identities. The report lists those and
every row that could not be imported, with the reason. Source timestamps are taken as UTC
(TypeORM's ``timestamp without time zone``).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine

from authgate.crypto import totp as rfc6238
from authgate.errors import AuthError
from authgate.identity import store as users
from authgate.identity.models import Permission, Role, RolePermission, Tenant, User, UserRole
from authgate.mfa import recovery_codes
from authgate.mfa import totp as totp_flows
from authgate.mfa.models import RecoveryCode, TotpDevice
from authgate.resources import Resources
from authgate.tenancy.models import Membership, MembershipRole

_LEGACY_CODE_NS = uuid.UUID("8f6c1c52-3a0e-4bde-9c51-7b1f0f7f2a11")
"""Names the recovery code made from a user's legacy ``mfaRecoveryCode`` column (a
deterministic id, so a second run recognises it)."""


class SourceError(Exception):
    """The source is not a readable nest-auth database."""


@dataclass
class ImportReport:
    dry_run: bool
    imported: Counter[str] = field(default_factory=Counter)
    """Rows written (or, in a dry run, that would be), by kind."""
    present: Counter[str] = field(default_factory=Counter)
    """Rows a previous run already brought over (left as they are)."""
    not_imported: list[str] = field(default_factory=list)
    """What could not be carried over, and why (one line each)."""


def source_url(url: str) -> str:
    """An async SQLAlchemy URL for a nest-auth database URL (``postgresql://…``,
    ``sqlite:///path``)."""
    for plain, driver in (("postgresql://", "postgresql+asyncpg://"),
                          ("postgres://", "postgresql+asyncpg://"),
                          ("sqlite:///", "sqlite+aiosqlite:///")):
        if url.startswith(plain):
            return driver + url[len(plain):]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite:///")):
        return url
    raise SourceError("--from must be a postgresql:// or sqlite:/// URL")


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _meta(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


async def _rows(conn: AsyncConnection, sql: str) -> list[dict[str, Any]]:
    return [dict(r) for r in (await conn.execute(text(sql))).mappings().all()]


@dataclass
class _Source:
    users: list[dict[str, Any]]
    identities: dict[str, list[dict[str, Any]]]
    secrets: list[dict[str, Any]]
    codes: list[dict[str, Any]]
    left_behind: dict[str, int]
    tenants: list[dict[str, Any]] = field(default_factory=list)
    permissions: list[dict[str, Any]] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    role_permissions: list[dict[str, Any]] = field(default_factory=list)
    accesses: list[dict[str, Any]] = field(default_factory=list)
    access_roles: dict[str, list[str]] = field(default_factory=dict)
    platform: list[dict[str, Any]] = field(default_factory=list)
    platform_roles: dict[str, list[str]] = field(default_factory=dict)


async def _optional(conn: AsyncConnection, sql: str) -> list[dict[str, Any]]:
    """Rows of a table an older nest-auth schema may lack (then none)."""
    try:
        async with conn.begin_nested():
            return await _rows(conn, sql)
    except Exception:  # noqa: BLE001 - a missing table: nothing to import from it
        return []


def _grouped(rows: list[dict[str, Any]], key: str, value: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        out[str(r[key])].append(str(r[value]))
    return out


async def _read(url: str) -> _Source:
    engine = create_async_engine(source_url(url))
    try:
        async with engine.connect() as conn:
            try:
                users_ = await _rows(conn, 'SELECT * FROM nest_auth_users ORDER BY "createdAt", id')
            except Exception as exc:  # noqa: BLE001 - any driver error means "not readable"
                raise SourceError(f"cannot read nest_auth_users: {exc.__class__.__name__}: "
                                  f"{str(exc).splitlines()[0][:200]}") from None
            identities: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in await _rows(conn, 'SELECT * FROM nest_auth_identities ORDER BY "createdAt"'):
                identities[str(row["userId"])].append(row)
            secrets = await _rows(conn, 'SELECT * FROM nest_auth_mfa_secrets ORDER BY "createdAt"')
            codes = await _rows(conn, 'SELECT * FROM nest_auth_mfa_recovery_codes '
                                      'WHERE "usedAt" IS NULL ORDER BY "createdAt"')
            left: dict[str, int] = {}
            for table, what in (("nest_auth_sessions", "sessions (users sign in again)"),
                                ("nest_auth_trusted_devices",
                                 "trusted devices (users confirm MFA once more)"),
                                ("nest_auth_otps", "pending one-time codes"),
                                ("nest_auth_access_keys",
                                 "API keys (secrets cannot be carried over: create new ones)")):
                rows = await _optional(conn, f"SELECT count(*) AS n FROM {table}")
                if rows and rows[0]["n"]:
                    left[what] = int(rows[0]["n"])
            src = _Source(users_, identities, secrets, codes, left)
            by_age = 'ORDER BY "createdAt", id'
            src.tenants = await _optional(conn, f"SELECT * FROM nest_auth_tenants {by_age}")
            src.permissions = await _optional(conn, f"SELECT * FROM nest_auth_permissions {by_age}")
            src.roles = await _optional(conn, f"SELECT * FROM nest_auth_roles {by_age}")
            src.role_permissions = await _optional(conn, "SELECT * FROM nest_auth_role_permissions")
            src.accesses = await _optional(conn, f"SELECT * FROM nest_auth_user_accesses {by_age}")
            src.access_roles = _grouped(await _optional(
                conn, "SELECT * FROM nest_auth_user_access_roles"),
                "nestAuthUserAccessId", "nestAuthRolesId")
            src.platform = await _optional(conn, "SELECT * FROM nest_auth_platform_accesses")
            src.platform_roles = _grouped(await _optional(
                conn, "SELECT * FROM nest_auth_platform_access_roles"),
                "nestAuthPlatformAccessId", "nestAuthRolesId")
    finally:
        await engine.dispose()
    return src


async def import_nest_auth(res: Resources, url: str, *, dry_run: bool = False) -> ImportReport:
    """Bring a nest-auth database's users, authenticators and recovery codes into ``res``'s
    database in one transaction (rolled back in a dry run)."""
    src = await _read(url)
    report = ImportReport(dry_run=dry_run)
    for what, n in src.left_behind.items():
        report.not_imported.append(f"{n} {what}")
    now = res.clock.now()
    async with res.sessionmaker() as s:
        imported_users = await _users(res, s, src, report, now)
        await _totp(res, s, src, report, imported_users)
        await _codes(res, s, src, report, imported_users)
        await _authz(res, s, src, report, imported_users)
        if dry_run:
            await s.rollback()
        else:
            await s.commit()
    if not dry_run:  # after the commit: what a session store caches of them (their MFA rows)
        for uid in sorted(imported_users):
            await res.store.user_changed(uid)
    return report


async def _users(res: Resources, s: AsyncSession, src: _Source, report: ImportReport,
                 now: datetime) -> set[str]:
    """Import the users; return the ids whose rows exist here afterwards (new or present)."""
    ids = [str(u["id"]) for u in src.users]
    present = set((await s.execute(select(User.id).where(User.id.in_(ids)))).scalars()) \
        if ids else set()
    taken_email = {e: i for i, e in (await s.execute(
        select(User.id, User.email).where(User.tenant_scope == "", User.email.is_not(None)))).all()}
    taken_phone = {p: i for i, p in (await s.execute(
        select(User.id, User.phone).where(User.tenant_scope == "", User.phone.is_not(None)))).all()}
    here: set[str] = set()
    for row in src.users:
        uid = str(row["id"])
        if uid in present:
            report.present["users"] += 1
            here.add(uid)
            continue
        label = f"user {uid}"
        idents = src.identities.get(uid, [])
        email = row.get("email") or next(
            (i["providerId"] for i in idents if i["provider"] == "email" and i["providerId"]),
            None)
        phone = row.get("phone") or next(
            (i["providerId"] for i in idents if i["provider"] == "phone" and i["providerId"]),
            None)
        for ident in idents:
            if ident["provider"] not in ("email", "phone"):
                report.not_imported.append(
                    f"{label}: {ident['provider']} sign-in (no such provider here; the user "
                    "signs in with a password or a reset)")
        if email is not None:
            email = users.normalise_email(str(email))
            if not users.valid_email(email):
                report.not_imported.append(f"{label}: invalid email {email!r} (user skipped)")
                continue
            if email in taken_email:
                report.not_imported.append(
                    f"{label}: email {email} already belongs to user {taken_email[email]} "
                    "(user skipped)")
                continue
        if phone is not None:
            try:
                phone = users.normalise_phone(str(phone), res.settings.phone_default_region)
            except AuthError:
                report.not_imported.append(
                    f"{label}: phone {phone!r} is not a valid international number "
                    "(imported without it)")
                phone = None
            if phone is not None and phone in taken_phone:
                report.not_imported.append(
                    f"{label}: phone {phone} already belongs to user {taken_phone[phone]} "
                    "(imported without it)")
                phone = None
        if email is None and phone is None:
            report.not_imported.append(f"{label}: neither email nor phone (user skipped)")
            continue
        password = row.get("passwordHash")
        if password is not None and not str(password).startswith("$argon2"):
            report.not_imported.append(
                f"{label}: password hash of an unknown scheme (imported without a password: "
                "the user resets it)")
            password = None
        created = _utc(row.get("createdAt")) or now
        s.add(User(
            id=uid, email=email, phone=phone, password_hash=password,
            status="active" if row.get("isActive", True) else "inactive",
            email_verified_at=_utc(row.get("emailVerifiedAt")) if email else None,
            phone_verified_at=_utc(row.get("phoneVerifiedAt")) if phone else None,
            is_mfa_enabled=bool(row.get("isMfaEnabled")),
            must_change_password=bool(row.get("mustChangePassword")),
            meta=_meta(row.get("metadata")), tenant_scope="", password_changed_at=created,
            created_at=created, updated_at=_utc(row.get("updatedAt")) or created,
        ))
        if email:
            taken_email[email] = uid
        if phone:
            taken_phone[phone] = uid
        report.imported["users"] += 1
        here.add(uid)
    await s.flush()
    return here


async def _totp(res: Resources, s: AsyncSession, src: _Source, report: ImportReport,
                here: set[str]) -> None:
    ids = [str(r["id"]) for r in src.secrets]
    present = set((await s.execute(select(TotpDevice.id).where(TotpDevice.id.in_(ids))))
                  .scalars()) if ids else set()
    for row in src.secrets:
        did, uid = str(row["id"]), str(row["userId"])
        if did in present:
            report.present["totp devices"] += 1
            continue
        if uid not in here:
            continue  # its user was skipped (reported there)
        if not row.get("verified"):
            report.not_imported.append(
                f"device {did} of user {uid}: authenticator set-up never confirmed (skipped)")
            continue
        secret = str(row.get("secret") or "")
        if not rfc6238.valid_secret(secret):
            report.not_imported.append(f"device {did} of user {uid}: not a base32 seed (skipped)")
            continue
        seed = rfc6238.normalise_secret(secret)
        s.add(TotpDevice(
            id=did, user_id=uid, secret_enc=res.secretbox.encrypt(seed, aad=totp_flows._aad(uid)),
            secret_lookup=totp_flows._lookup(res, seed),
            device_name=(row.get("deviceName") or "Authenticator")[:255], verified=True,
            last_used_step=None, last_used_at=_utc(row.get("lastUsedAt")), expires_at=None,
            created_at=_utc(row.get("createdAt")) or res.clock.now(),
        ))
        report.imported["totp devices"] += 1
    await s.flush()


async def _codes(res: Resources, s: AsyncSession, src: _Source, report: ImportReport,
                 here: set[str]) -> None:
    wanted: list[tuple[str, str, str, datetime | None]] = [
        (str(r["id"]), str(r["userId"]), str(r["codeHash"]), _utc(r.get("createdAt")))
        for r in src.codes]
    for u in src.users:
        if u.get("mfaRecoveryCode"):
            uid = str(u["id"])
            wanted.append((str(uuid.uuid5(_LEGACY_CODE_NS, uid)), uid,
                           str(u["mfaRecoveryCode"]), _utc(u.get("updatedAt"))))
    ids = [w[0] for w in wanted]
    present = set((await s.execute(select(RecoveryCode.id).where(RecoveryCode.id.in_(ids))))
                  .scalars()) if ids else set()
    for cid, uid, upstream_hash, created in wanted:
        if cid in present:
            report.present["recovery codes"] += 1
            continue
        if uid not in here:
            continue
        s.add(RecoveryCode(id=cid, user_id=uid,
                           code_hash=recovery_codes.imported_hash(res, upstream_hash),
                           used_at=None, created_at=created or res.clock.now()))
        report.imported["recovery codes"] += 1
    if report.imported["recovery codes"] and res.settings.mfa.imported_recovery_code_secret is None:
        report.not_imported.append(
            "recovery codes are stored but verify only once mfa.imported_recovery_code_secret "
            "holds nest-auth's secret (mfa.trustedDeviceSecret, else session.jwt.secret)")
    await s.flush()


async def _authz(res: Resources, s: AsyncSession, src: _Source, report: ImportReport,
                 here: set[str]) -> None:
    """Tenants, permissions, roles (with their permissions), memberships with their roles,
    and roles held outside tenants (no-tenant accesses and platform access)."""
    now = res.clock.now()
    # tenants: by id; a slug another tenant here already has is a conflict
    tenants: dict[str, str] = {}
    have = {i: slug for i, slug in (await s.execute(select(Tenant.id, Tenant.slug))).all()}
    slugs = {slug: i for i, slug in have.items() if slug}
    for t in src.tenants:
        tid = str(t["id"])
        if tid in have:
            report.present["tenants"] += 1
            tenants[tid] = tid
            continue
        slug = t.get("slug") or None
        if slug is not None and slug in slugs:
            report.not_imported.append(
                f"tenant {tid} ({t['name']}): slug {slug!r} is taken here by tenant "
                f"{slugs[slug]} (skipped with its roles and memberships)")
            continue
        s.add(Tenant(id=tid, name=str(t["name"])[:255], slug=slug,
                     description=t.get("description"), meta=_meta(t.get("metadata")),
                     is_active=bool(t.get("isActive", True)),
                     created_at=_utc(t.get("createdAt")) or now,
                     updated_at=_utc(t.get("updatedAt")) or now))
        if slug:
            slugs[slug] = tid
        tenants[tid] = tid
        report.imported["tenants"] += 1
    await s.flush()

    # permissions: one per (name, guard) here; an existing one is reused
    perms: dict[str, str] = {}
    have_p = {(n, g): i for i, n, g in
              (await s.execute(select(Permission.id, Permission.name, Permission.guard))).all()}
    ids_p = set(have_p.values())
    for p in src.permissions:
        pid, key = str(p["id"]), (str(p["name"]), str(p.get("guard") or "web"))
        if pid in ids_p or key in have_p:
            perms[pid] = pid if pid in ids_p else have_p[key]
            report.present["permissions"] += 1
            continue
        s.add(Permission(id=pid, name=key[0], guard=key[1], description=p.get("description"),
                         category=p.get("category"), created_at=_utc(p.get("createdAt")) or now,
                         updated_at=_utc(p.get("updatedAt")) or now))
        have_p[key] = perms[pid] = pid
        report.imported["permissions"] += 1
    await s.flush()

    # roles: one per (name, guard, tenant) here
    roles: dict[str, str] = {}
    have_r = {(n, g, t): i for i, n, g, t in (await s.execute(
        select(Role.id, Role.name, Role.guard, Role.tenant_scope))).all()}
    ids_r = set(have_r.values())
    for r in src.roles:
        rid = str(r["id"])
        tenant = str(r["tenantId"]) if r.get("tenantId") else ""
        if tenant and tenant not in tenants:
            continue  # its tenant was skipped (reported there)
        rkey = (str(r["name"]), str(r.get("guard") or "web"), tenant)
        if rid in ids_r or rkey in have_r:
            roles[rid] = rid if rid in ids_r else have_r[rkey]
            report.present["roles"] += 1
            continue
        s.add(Role(id=rid, name=rkey[0], guard=rkey[1], tenant_scope=tenant,
                   is_system=bool(r.get("isSystem")), is_active=bool(r.get("isActive", True)),
                   created_at=_utc(r.get("createdAt")) or now,
                   updated_at=_utc(r.get("updatedAt")) or now))
        have_r[rkey] = roles[rid] = rid
        report.imported["roles"] += 1
    await s.flush()
    have_rp: set[tuple[str, str]] = {(a, b) for a, b in (await s.execute(
        select(RolePermission.role_id, RolePermission.permission_id))).all()}
    for rp in src.role_permissions:
        role_id, perm_id = roles.get(str(rp["roleId"])), perms.get(str(rp["permissionId"]))
        if role_id is None or perm_id is None or (role_id, perm_id) in have_rp:
            continue
        s.add(RolePermission(role_id=role_id, permission_id=perm_id))
        have_rp.add((role_id, perm_id))
    await s.flush()

    # accesses: a tenant's → a membership with its roles; no tenant → roles outside tenants
    have_m = {(u, t): i for i, u, t in (await s.execute(
        select(Membership.id, Membership.user_id, Membership.tenant_id))).all()}
    have_mr: set[tuple[str, str]] = {(a, b) for a, b in (await s.execute(
        select(MembershipRole.membership_id, MembershipRole.role_id))).all()}
    have_ur: set[tuple[str, str]] = {(a, b) for a, b in (await s.execute(
        select(UserRole.user_id, UserRole.role_id))).all()}

    def user_role(uid: str, upstream_role: object) -> None:
        mapped = roles.get(str(upstream_role))
        if mapped is None or (uid, mapped) in have_ur:
            return
        s.add(UserRole(user_id=uid, role_id=mapped, created_at=now))
        have_ur.add((uid, mapped))
        report.imported["role assignments"] += 1

    for a in src.accesses:
        uid = str(a["userId"])
        if uid not in here:
            continue
        held = src.access_roles.get(str(a["id"]), [])
        if not a.get("tenantId"):
            for role in held:
                user_role(uid, role)
            continue
        tid = str(a["tenantId"])
        if tid not in tenants:
            continue
        found = have_m.get((uid, tid))
        if found is None:
            mid = str(a["id"])
            s.add(Membership(id=mid, user_id=uid, tenant_id=tid,
                             is_default=bool(a.get("isDefault")),
                             status="active" if a.get("status", "active") == "active"
                             else "inactive",
                             meta=_meta(a.get("metadata")),
                             created_at=_utc(a.get("createdAt")) or now,
                             updated_at=_utc(a.get("updatedAt")) or now))
            have_m[(uid, tid)] = mid
            report.imported["memberships"] += 1
        else:
            mid = found
            report.present["memberships"] += 1
        await s.flush()
        for role in held:
            mapped = roles.get(str(role))
            if mapped is None or (mid, mapped) in have_mr:
                continue
            s.add(MembershipRole(membership_id=mid, role_id=mapped, created_at=now))
            have_mr.add((mid, mapped))
            report.imported["role assignments"] += 1
    for p in src.platform:
        uid = str(p["userId"])
        if uid in here and p.get("isActive", True):
            for role in src.platform_roles.get(str(p["id"]), []):
                user_role(uid, role)
    await s.flush()
