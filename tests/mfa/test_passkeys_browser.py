"""Passkeys end to end in Debian's Chromium with the DevTools virtual authenticator (CDP
``WebAuthn.enable`` + ``WebAuthn.addVirtualAuthenticator``): a real authgate server (uvicorn,
SQLite migrated on start) serves ``tests/pages/passkey_demo.html`` on ``http://localhost``;
the page registers a passkey, signs out, signs in through the MFA step with it, signs out
and signs in with the passkey alone."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import HTMLResponse

from authgate.app import create_app
from authgate.config import Settings
from tests.browser import free_socket, serve_app
from tests.conftest import CHEAP_HASH, TEST_SECRET

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

PAGE = Path(__file__).resolve().parent.parent / "pages" / "passkey_demo.html"
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"


async def _call(page: Page, script: str, *args: Any) -> dict[str, Any]:
    out: dict[str, Any] = await page.evaluate(f"(args) => passkeys.{script}(...args)",
                                              list(args))
    return out


async def test_register_mfa_step_and_passwordless_in_chromium(browser: Browser,
                                                              tmp_path: Path) -> None:
    sock = free_socket()
    origin = f"http://localhost:{sock.getsockname()[1]}"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'authgate.db'}", dev_mode=True,
        data_dir=tmp_path, jwt={"secret": TEST_SECRET}, password_hash=CHEAP_HASH,
        mfa={"methods": ["totp", "email", "webauthn"]},
        webauthn={"rp_id": "localhost", "origins": [origin], "passwordless": True})
    app = create_app(settings)
    page_html = PAGE.read_text()
    app.add_api_route("/passkey-demo", lambda: HTMLResponse(page_html),
                      include_in_schema=False)
    with serve_app(app, sock):
        context = await browser.new_context()
        try:
            page = await context.new_page()
            await page.goto(f"{origin}/passkey-demo")
            cdp = await context.new_cdp_session(page)
            await cdp.send("WebAuthn.enable")
            added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
                "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                "hasUserVerification": True, "isUserVerified": True,
                "automaticPresenceSimulation": True}})
            authenticator = added["authenticatorId"]

            # sign up and register a passkey
            r = await _call(page, "signup", EMAIL, PASSWORD)
            assert r["status"] == 200, r
            token = r["body"]["accessToken"]
            r = await _call(page, "register", token, "Virtual authenticator")
            assert r["status"] == 200, r
            assert r["body"]["name"] == "Virtual authenticator"
            creds = (await cdp.send("WebAuthn.getCredentials",
                                    {"authenticatorId": authenticator}))["credentials"]
            assert len(creds) == 1 and creds[0]["isResidentCredential"] is True
            r = await _call(page, "enableMfa", token)
            assert r["status"] == 200, r
            assert (await _call(page, "logout", token))["status"] == 200

            # password, then the passkey at the MFA step
            r = await _call(page, "login", EMAIL, PASSWORD)
            assert r["status"] == 200 and r["body"]["isRequiresMfa"] is True, r
            assert "webauthn" in r["body"]["mfaMethods"]
            pending = r["body"]["accessToken"]
            assert (await _call(page, "user", pending))["status"] == 401
            r = await _call(page, "mfaStep", pending)
            assert r["status"] == 200 and r["body"]["isRequiresMfa"] is False, r
            full = r["body"]["accessToken"]
            me = await _call(page, "user", full)
            assert me["status"] == 200 and me["body"]["email"] == EMAIL, me
            assert (await _call(page, "logout", full))["status"] == 200

            # the passkey alone (discoverable credential, user verified): a full session
            r = await _call(page, "signIn")
            assert r["status"] == 200 and r["body"]["isRequiresMfa"] is False, r
            again = await _call(page, "user", r["body"]["accessToken"])
            assert again["status"] == 200 and again["body"]["id"] == me["body"]["id"]
            creds = (await cdp.send("WebAuthn.getCredentials",
                                    {"authenticatorId": authenticator}))["credentials"]
            assert creds[0]["signCount"] >= 2  # the MFA step and the sign-in counted
        finally:
            await context.close()
