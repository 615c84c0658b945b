"""The authorization-code flow in Chromium (issue 14): a real authgate served by uvicorn, the
local OpenID Connect provider (``tests/idp.py``) and an app page on another origin. Cookie
mode signs the browser in; message mode posts the one-time code to the opener's origin and
to nobody else (an opener on another origin gets nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from authgate.app import create_app
from authgate.config import Settings
from tests.browser import browser, free_socket, serve_app  # noqa: F401 (fixture)
from tests.conftest import CHEAP_HASH, TEST_SECRET
from tests.idp import Idp

if TYPE_CHECKING:
    from playwright.async_api import Browser

OPENER = """<!doctype html><html><body>
<button id="login">Sign in with Corp</button>
<script>
window.messages = [];
window.addEventListener("message", function (e) {
  window.messages.push({origin: e.origin, data: e.data});
});
document.getElementById("login").onclick = function () {
  window.open("%(auth)s/auth/oauth/corp/start?mode=message&origin=%(origin)s", "login",
              "width=500,height=600");
};
</script></body></html>"""


SIGNED_IN = """<!doctype html><html><body><h1 id="done">Welcome back</h1></body></html>"""
"""The app's own page a cookie-mode code flow returns to (a realistic ``returnTo``)."""


class Servers:
    def __init__(self, auth: str, app_origin: str, evil_origin: str) -> None:
        self.auth, self.app_origin, self.evil_origin = auth, app_origin, evil_origin


@pytest.fixture
def servers(idp: Idp, tmp_path: Path) -> Iterator[Servers]:
    auth_sock, app_sock, evil_sock = free_socket(), free_socket(), free_socket()
    auth = f"http://127.0.0.1:{auth_sock.getsockname()[1]}"
    app_origin = f"http://127.0.0.1:{app_sock.getsockname()[1]}"
    evil_origin = f"http://127.0.0.1:{evil_sock.getsockname()[1]}"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'authgate.db'}", dev_mode=True,
        data_dir=tmp_path, jwt={"secret": TEST_SECRET}, password_hash=CHEAP_HASH,
        rate_limit={"enabled": False}, session={"cookie": {"secure": False}},
        social={"oidc": {"corp": idp.settings()}, "callback_origins": [app_origin, auth]})

    def opener(target_origin: str) -> Starlette:
        async def page(_: object) -> HTMLResponse:
            # The evil page names the real app's origin: the message still goes only there.
            return HTMLResponse(OPENER % {"auth": auth, "origin": target_origin})

        async def signed_in(_: object) -> HTMLResponse:
            return HTMLResponse(SIGNED_IN)
        return Starlette(routes=[Route("/", page), Route("/signed-in", signed_in)])

    with (serve_app(create_app(settings), auth_sock), serve_app(opener(app_origin), app_sock),
          serve_app(opener(app_origin), evil_sock)):
        yield Servers(auth, app_origin, evil_origin)


async def test_cookie_mode_signs_the_browser_in(browser: Browser, servers: Servers) -> None:  # noqa: F811
    """The flow ends on the app's page, rendered; the browser holds the session cookies
    (cookies are per host, not per port: the app and authgate share 127.0.0.1 here)."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{servers.auth}/auth/oauth/corp/start?mode=cookie"
                        f"&returnTo={servers.app_origin}/signed-in")
        await page.wait_for_url(f"{servers.app_origin}/signed-in")
        assert await page.inner_text("#done") == "Welcome back"
        names = {c["name"] for c in await context.cookies()}
        assert {"accessToken", "refreshToken"} <= names and "authgate_oauth" not in names
        me = await context.request.get(f"{servers.auth}/auth/user")
        assert me.status == 200 and (await me.json())["email"] == "alice@example.com"
        assert me.headers["content-disposition"] == "attachment"
    finally:
        await context.close()


async def test_json_answers_are_downloads_and_pages_render(browser: Browser,  # noqa: F811
                                                           servers: Servers) -> None:
    """ASVS 14.4.2: a browser sent to a JSON route saves the body instead of rendering it in
    authgate's origin; the callback page still renders (it is HTML, not an API answer)."""
    context = await browser.new_context(accept_downloads=True)
    try:
        page = await context.new_page()
        async with page.expect_download() as download_info:
            try:
                await page.goto(f"{servers.auth}/auth/client-config")
            except Exception as exc:  # Chromium aborts a navigation that became a download
                assert "Download is starting" in str(exc), exc
        download = await download_info.value
        assert '"emailAuth"' in Path(await download.path()).read_text()
        page = await context.new_page()
        r = await page.goto(f"{servers.auth}/auth/callback/corp?error=access_denied")
        assert r is not None and r.headers["content-type"].startswith("text/html")
        assert "content-disposition" not in r.headers
    finally:
        await context.close()


async def test_popup_posts_the_code_to_its_opener_only(browser: Browser,  # noqa: F811
                                                       servers: Servers) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(servers.app_origin + "/")
        async with page.expect_popup() as popup_info:
            await page.click("#login")
        popup = await popup_info.value
        await popup.wait_for_event("close")
        await page.wait_for_function("window.messages.length > 0")
        [message] = await page.evaluate("window.messages")
        assert message["origin"] == servers.auth
        data = message["data"]
        assert data["type"] == "nest-auth-sso-callback" and data["success"] is True
        async with httpx.AsyncClient(base_url=servers.auth) as client:
            r = await client.post("/auth/oauth/exchange", json={"code": data["code"]})
            assert r.status_code == 200, r.text
            me = await client.get("/auth/user",
                                  headers={"Authorization": f"Bearer {r.json()['accessToken']}"})
        assert me.json()["email"] == "alice@example.com"

        # A page on another origin runs the same flow (naming the real app's origin): the
        # callback page posts to that origin only, so the stranger receives nothing.
        evil = await context.new_page()
        await evil.goto(servers.evil_origin + "/")
        async with evil.expect_popup() as popup_info:
            await evil.click("#login")
        popup = await popup_info.value
        await popup.wait_for_event("close")
        await evil.wait_for_timeout(300)  # a message posted before the close has landed
        assert await evil.evaluate("window.messages") == []
    finally:
        await context.close()
