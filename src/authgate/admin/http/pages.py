"""``GET /auth/admin``: the console page and its assets (not in the OpenAPI document, as
upstream). The page works offline: everything it loads comes from these routes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from authgate.admin import accounts, console
from authgate.admin.http.routes import cookie_path
from authgate.errors import AuthError, Code
from authgate.http.deps import Res

router = APIRouter(tags=["Admin · Console"], include_in_schema=False)


@router.get("/admin", response_class=HTMLResponse)
async def page(request: Request, res: Res) -> Response:
    bootstrap = await accounts.bootstrap_open(res)
    cfg = res.settings.admin_console
    return HTMLResponse(console.render_page(
        base=cookie_path(request), app_name=res.settings.app_name, bootstrap=bootstrap,
        csrf_cookie=cfg.csrf_cookie_name, csrf_header=cfg.csrf_header_name))


@router.get("/admin/static/{name}")
async def static(name: str, res: Res) -> Response:
    if not res.settings.admin_console.active():
        raise AuthError(Code.ADMIN_CONSOLE_DISABLED)
    found = console.asset(name)
    if found is None:
        raise AuthError(Code.NOT_FOUND, "Not found")
    text, kind = found
    return Response(text, media_type=kind, headers={"Cache-Control": "no-cache"})
