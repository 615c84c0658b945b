"""/auth/admin: the console's 11 operations (contract §2.7 "Console") and the admin's own
two-factor sign-in (beyond upstream). Flows in ``authgate.admin.accounts``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from authgate.admin import accounts, audit, stats
from authgate.admin.http.audit_views import EVENT_FILTER, audit_entry_out, split_events
from authgate.admin.http.deps import ADMIN_SECURED, AdminAuthed, admin_errors
from authgate.admin.http.schemas import (
    ActivityOut,
    AdminCreateIn,
    AdminListOut,
    AdminLoginIn,
    AdminLogoutIn,
    AdminMessageOut,
    AdminOut,
    AdminResetPasswordIn,
    AdminSignupIn,
    AdminUpdateIn,
    AuditListOut,
    AuditMetaOut,
    ConsoleConfigOut,
    SafeAdminOut,
    StatsCountsOut,
    StatsOut,
    TotpCodeIn,
    TotpSetupOut,
    admin_out,
)
from authgate.admin.sessions import require_console
from authgate.config import Settings
from authgate.http.deps import Client, Res
from authgate.http.schemas import MessageOut, _Out, errors, respond

router = APIRouter(tags=["Admin · Console"])
AdminId = Annotated[str, Path(alias="id", max_length=64)]


def cookie_path(request: Request) -> str:
    """The console's own path as the browser sees it (``/auth/admin``, or under whatever
    prefix the app is mounted): the cookie goes nowhere else, and works without an ``/api``
    prefix (upstream's default path did not, W16)."""
    path = request.url.path.rstrip("/")
    return path[: path.rindex("/admin") + len("/admin")] if "/admin" in path else "/"


def _write_session(settings: Settings, request: Request, response: Response, *, cookie: str,
                   csrf: str) -> None:
    cfg = settings.admin_console
    secure = settings.session.cookie.secure
    max_age = int(cfg.session_duration.total_seconds())
    path = cookie_path(request)
    response.set_cookie(cfg.cookie_name, cookie, max_age=max_age, path=path, secure=secure,
                        httponly=True, samesite="strict")
    response.set_cookie(cfg.csrf_cookie_name, csrf, max_age=max_age, path=path, secure=secure,
                        httponly=False, samesite="strict")


def _clear_session(settings: Settings, request: Request, response: Response) -> None:
    cfg = settings.admin_console
    secure = settings.session.cookie.secure
    for name, http_only in ((cfg.cookie_name, True), (cfg.csrf_cookie_name, False)):
        response.delete_cookie(name, path=cookie_path(request), secure=secure,
                               httponly=http_only, samesite="strict")


class SignedInOut(AdminMessageOut):
    csrfToken: str
    """Also in the CSRF cookie: send it back in ``x-csrf-token`` on state-changing calls."""


@router.post("/admin/signup", status_code=201, response_model=AdminMessageOut,
             responses=errors(400, 401, 403, 404, 409, 429),
             summary="Create the first admin with the console's secret key")
async def signup(body: AdminSignupIn, res: Res, client: Client) -> Response:
    admin = await accounts.signup(res, email=body.email, password=body.password,
                                  secret_key=body.secretKey, name=body.name,
                                  metadata=body.metadata, ip=client.ip)
    return respond(AdminMessageOut(message="Admin user created successfully",
                                   admin=admin_out(admin)), 201)


@router.post("/admin/login", status_code=201, response_model=SignedInOut,
             responses=errors(400, 401, 404, 429),
             summary="Admin sign-in (sets the HttpOnly session cookie and the CSRF cookie)")
async def login(body: AdminLoginIn, request: Request, res: Res, client: Client) -> Response:
    signed = await accounts.login(res, email=body.email, password=body.password,
                                  totp_code=body.totpCode, ip=client.ip,
                                  user_agent=client.user_agent)
    response = respond(SignedInOut(message="Signed in successfully",
                                   admin=admin_out(signed.admin), csrfToken=signed.csrf), 201)
    _write_session(res.settings, request, response, cookie=signed.cookie, csrf=signed.csrf)
    return response


@router.get("/admin/me", response_model=SafeAdminOut, responses=admin_errors(),
            openapi_extra=ADMIN_SECURED, summary="The signed-in admin")
async def me(admin: AdminAuthed) -> Response:
    return respond(admin_out(admin.admin))


@router.post("/admin/logout", status_code=201, response_model=MessageOut,
             responses=admin_errors(400), openapi_extra=ADMIN_SECURED,
             summary="Sign out this browser (everywhere: every session of this admin)")
async def logout(request: Request, res: Res, admin: AdminAuthed,
                 body: AdminLogoutIn | None = None) -> Response:
    await accounts.logout(res, admin, everywhere=bool(body and body.everywhere))
    response = respond(MessageOut(message="Signed out"), 201)
    _clear_session(res.settings, request, response)
    return response


@router.get("/admin/config", response_model=ConsoleConfigOut, responses=errors(404),
            summary="What the console may do (404 while it is disabled)")
async def config(res: Res) -> Response:
    require_console(res.settings)
    return respond(ConsoleConfigOut(
        allowAdminManagement=res.settings.admin_console.allow_admin_management))


@router.get("/admin/api/stats", response_model=StatsOut, responses=admin_errors(),
            openapi_extra=ADMIN_SECURED, summary="Dashboard counts and the 7-day sign-ups")
async def dashboard_stats(res: Res, admin: AdminAuthed) -> Response:
    got = await stats.dashboard(res)
    return respond(StatsOut(
        stats=StatsCountsOut(totalUsers=got.total_users, activeUsers=got.active_users,
                             verifiedUsers=got.verified_users, totalRoles=got.total_roles,
                             totalTenants=got.total_tenants, recentSignups=got.recent_signups),
        activityData=[_activity(got, i) for i in range(len(got.activity))]))


def _activity(got: stats.Stats, i: int) -> ActivityOut:
    name, users = got.activity[i]
    out = ActivityOut(name=name, users=users, date=got.days[i].date().isoformat())
    if got.logins is not None:
        out.logins = got.logins[i]
    return out


@router.get("/admin/admins", response_model=AdminListOut, responses=admin_errors(),
            openapi_extra=ADMIN_SECURED, summary="All admins, newest first")
async def list_admins(res: Res, admin: AdminAuthed) -> Response:
    found = await accounts.list_admins(res, admin)
    return respond(AdminListOut(data=[admin_out(a) for a in found]))


@router.post("/admin/admins", status_code=201, response_model=AdminOut,
             responses=admin_errors(400, 409), openapi_extra=ADMIN_SECURED,
             summary="Create an admin")
async def create_admin(body: AdminCreateIn, res: Res, admin: AdminAuthed) -> Response:
    created = await accounts.create_admin(res, admin, email=body.email,
                                          password=body.password, name=body.name)
    return respond(AdminOut(admin=admin_out(created)), 201)


@router.patch("/admin/admins/{id}", response_model=AdminOut,
              responses=admin_errors(400), openapi_extra=ADMIN_SECURED,
              summary="Rename an admin or set their password (ends their sessions)")
async def update_admin(admin_id: AdminId, body: AdminUpdateIn, res: Res,
                       admin: AdminAuthed) -> Response:
    updated = await accounts.update_admin(res, admin, admin_id, name=body.name,
                                          password=body.password,
                                          fields=set(body.model_fields_set))
    return respond(AdminOut(admin=admin_out(updated)))


class _DeletedOut(_Out):
    message: str


@router.delete("/admin/admins/{id}", response_model=_DeletedOut,
               responses=admin_errors(409), openapi_extra=ADMIN_SECURED,
               summary="Delete an admin (never the last one)")
async def delete_admin(admin_id: AdminId, res: Res, admin: AdminAuthed) -> Response:
    await accounts.delete_admin(res, admin, admin_id)
    return respond(_DeletedOut(message="Admin deleted successfully"))


@router.post("/admin/reset-password", status_code=201, response_model=MessageOut,
             responses=errors(400, 401, 403, 404, 429),
             summary="Set an admin's password with the console's secret key")
async def reset_password(body: AdminResetPasswordIn, res: Res, client: Client) -> Response:
    await accounts.reset_password(res, email=body.email, secret_key=body.secretKey,
                                  new_password=body.newPassword, ip=client.ip)
    return respond(MessageOut(message="Password reset successfully"), 201)


@router.get("/admin/api/audit-log", response_model=AuditListOut, responses=admin_errors(400),
            openapi_extra=ADMIN_SECURED,
            summary="The audit trail: users' and admins' events, newest first (beyond upstream)")
async def audit_log(res: Res, admin: AdminAuthed,
                    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    action: Annotated[str | None, Query(
                        max_length=640, pattern=EVENT_FILTER,
                        description="Event names or `prefix.*`, comma-separated")] = None,
                    user: Annotated[str | None, Query(
                        min_length=1, max_length=320,
                        description="A user id, or an email (that user's rows, and that "
                                    "admin's actions)")] = None,
                    outcome: Annotated[Literal["success", "failure"] | None, Query()] = None,
                    actorType: Annotated[Literal["user", "admin", "cli", "system"] | None,
                                         Query()] = None,
                    since: Annotated[datetime | None, Query(
                        description="ISO 8601, inclusive (UTC when no offset)")] = None,
                    until: Annotated[datetime | None, Query(
                        description="ISO 8601, exclusive")] = None) -> Response:
    entries, total = await audit.search(
        res, page=page, limit=limit, user=user, events=split_events(action),
        outcome=outcome, actor_type=actorType, since=since, until=until)
    return respond(AuditListOut(
        data=[audit_entry_out(e) for e in entries],
        meta=AuditMetaOut(page=page, limit=limit, total=total,
                          totalPages=(total + limit - 1) // limit)))


# the admin's own authenticator (beyond upstream) --------------------------------------------
@router.post("/admin/totp/setup", status_code=201, response_model=TotpSetupOut,
             responses=admin_errors(400), openapi_extra=ADMIN_SECURED,
             summary="Start two-factor sign-in for this admin: a new authenticator seed")
async def totp_setup(res: Res, admin: AdminAuthed) -> Response:
    import segno  # the QR encoder only when an admin sets up an authenticator

    setup = await accounts.totp_setup(res, admin)
    qr = segno.make(setup.otpauth_url, error="m").svg_data_uri(scale=4, border=2)
    return respond(TotpSetupOut(secret=setup.secret, otpauthUrl=setup.otpauth_url,
                                qrCode=qr), 201)


@router.post("/admin/totp/enable", status_code=201, response_model=AdminOut,
             responses=admin_errors(400, 429), openapi_extra=ADMIN_SECURED,
             summary="Turn two-factor sign-in on with a code from the new authenticator")
async def totp_enable(body: TotpCodeIn, res: Res, admin: AdminAuthed) -> Response:
    return respond(AdminOut(admin=admin_out(await accounts.totp_enable(res, admin, body.code))),
                   201)


@router.post("/admin/totp/disable", status_code=201, response_model=AdminOut,
             responses=admin_errors(400, 429), openapi_extra=ADMIN_SECURED,
             summary="Turn two-factor sign-in off with a current code")
async def totp_disable(body: TotpCodeIn, res: Res, admin: AdminAuthed) -> Response:
    return respond(AdminOut(admin=admin_out(await accounts.totp_disable(res, admin, body.code))),
                   201)
