"""The guard of every admin route.

    from authgate.admin.http.deps import AdminAuthed

    @router.patch("/admin/api/users/{user_id}", openapi_extra=ADMIN_SECURED,
                  responses=admin_errors(400, 404, 409))
    async def update_user(user_id: str, body: UserPatchIn, res: Res,
                          admin: AdminAuthed) -> Response: ...

``AdminAuthed`` gives the typed ``AdminPrincipal`` (``admin.id``, ``admin.email``,
``admin.ip``, ``admin.session_id``) and answers, in this order: 404
``ADMIN_CONSOLE_DISABLED`` while the console is off; 401 ``ADMIN_AUTH_REQUIRED`` without the
session cookie; 401 ``ADMIN_SESSION_INVALID`` for a forged, tampered or expired cookie or a
deleted admin; 401 ``ADMIN_SESSION_REVOKED`` after sign-out, a password change or reset; and,
on every method but GET/HEAD/OPTIONS, 403 ``CSRF_TOKEN_INVALID`` unless the request carries
the session's CSRF token (header ``admin_console.csrf_header_name``). The CSRF check cannot
be forgotten: it follows from the method. ``AdminWrite`` is the same dependency, for routes
that want to say so.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from authgate.admin import sessions as admin_sessions
from authgate.admin.sessions import AdminPrincipal
from authgate.http.deps import client_ip, get_resources
from authgate.http.schemas import errors

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

ADMIN_SECURED: dict[str, Any] = {"security": [{"admin-session": []}]}
"""``openapi_extra`` of admin-guarded routes (the ``nest_auth_admin`` cookie)."""


def admin_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of an admin-guarded route: the guard's 401/403/404 plus ``statuses``."""
    return errors(401, 403, 404, *statuses)


async def admin_principal(request: Request) -> AdminPrincipal:
    res = get_resources(request)
    cfg = res.settings.admin_console
    principal = await admin_sessions.authenticate(
        res, request.cookies.get(cfg.cookie_name), ip=client_ip(res, request))
    if request.method not in _SAFE_METHODS:
        admin_sessions.check_csrf(res.settings, principal.session_id,
                                  request.headers.get(cfg.csrf_header_name))
    request.state.admin = principal
    return principal


AdminAuthed = Annotated[AdminPrincipal, Depends(admin_principal)]
"""A signed-in admin (CSRF-checked on state-changing methods)."""
AdminWrite = AdminAuthed
"""The same guard, named for state-changing routes."""
