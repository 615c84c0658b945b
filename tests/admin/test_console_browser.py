"""The console in Debian's Chromium (issue 13 §3): a real server, the real page, a person's
walk through it, a screenshot of each page (``tests/artifacts/console/``, git-ignored) and an
axe-core scan of each page with no serious or critical violation.

axe-core's JavaScript comes from the ``axe-playwright-python`` package (no CDN at test time);
it is evaluated through the DevTools protocol, so the page's CSP stays as served.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from authgate.app import create_app
from authgate.config import Settings
from tests.admin.conftest import ADMIN_KEY
from tests.browser import browser, free_socket, serve_app  # noqa: F401 (fixture)
from tests.conftest import CHEAP_HASH, TEST_SECRET, bearer
from tests.helpers import claims

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "console"
EMAIL = "root@example.com"
PASSWORD = "Console-Walk-7!x"
SERIOUS = {"serious", "critical"}


@dataclass
class Console:
    url: str
    app: Any


def console_settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'console.db'}",
        jwt={"secret": TEST_SECRET}, password_hash=CHEAP_HASH, dev_mode=True,
        data_dir=tmp_path, session={"cookie": {"secure": False}},
        admin_console={"enabled": True, "secret_key": ADMIN_KEY},
        redis_prefix=f"authgate-console:{uuid.uuid4().hex[:8]}:", **extra)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Console]:
    """The standalone app on a free loopback port, over a fresh SQLite database (plain HTTP
    on localhost: ``session.cookie.secure`` off, as ``authgate serve`` does there), blocked
    e-mail domains checked at signup."""
    app = create_app(console_settings(
        tmp_path, email_auth={"disposable": {"enabled": True, "use_default_list": False}}))
    sock = free_socket()
    port = sock.getsockname()[1]
    with serve_app(app, sock):
        yield Console(url=f"http://localhost:{port}", app=app)


def _axe_source() -> str:
    from importlib import resources

    return resources.files("axe_playwright_python").joinpath("axe.min.js").read_text()


async def audit(page: Page, name: str) -> None:
    """Screenshot the page and fail on any serious or critical axe-core violation."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(_axe_source() + "\n;true")
    result = await page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
           for v in result["violations"] if v["impact"] in SERIOUS]
    assert bad == [], f"{name}: {bad}"


async def goto(page: Page, console: Console, hash_: str, heading: str) -> None:
    await page.goto(f"{console.url}/auth/admin#/{hash_}")
    await page.get_by_role("heading", level=1, name=heading).wait_for()


@asynccontextmanager
async def console_page(browser: Browser, console: Console  # noqa: F811
                       ) -> AsyncIterator[tuple[Any, Page, list[str]]]:
    """An API client and a browser page on ``console``, and the page's script errors."""
    import httpx

    api = httpx.AsyncClient(base_url=console.url)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield api, page, errors
    finally:
        await context.close()
        await api.aclose()


async def first_admin_signed_in(api: Any, page: Page, console: Console) -> None:
    """The first admin made over the API, then signed in on the console's page."""
    r = await api.post("/auth/admin/signup", json={"email": EMAIL, "password": PASSWORD,
                                                    "secretKey": ADMIN_KEY})
    assert r.status_code == 201, r.text
    await page.goto(f"{console.url}/auth/admin")
    signin = page.locator("#signin-form")
    await signin.get_by_label("Email").fill(EMAIL)
    await signin.get_by_label("Password").fill(PASSWORD)
    await signin.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", level=1, name="Dashboard").wait_for()


async def test_the_console_walk(browser: Browser, served: Console) -> None:  # noqa: F811
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        await page.goto(f"{served.url}/auth/admin")
        # bootstrap: the first admin, with an error next to the field that caused it
        await page.get_by_role("heading", name="Create the first admin").wait_for()
        # keyboard: the first stop is the skip link, visible once focused
        assert await page.evaluate(
            "document.querySelector('a[href], button, input, select, textarea').className"
        ) == "skip"
        await page.locator(".skip").focus()
        assert (await page.locator(".skip").bounding_box() or {"x": -1})["x"] >= 0
        assert await page.evaluate("document.activeElement.id") != "main"
        await audit(page, "01-bootstrap")
        form = page.locator("#bootstrap-form")
        await form.get_by_label("Email").fill(EMAIL)
        await form.get_by_label("Password").fill("short")
        await form.get_by_label("Secret key").fill(ADMIN_KEY)
        await form.get_by_role("button", name="Create admin").click()
        error = page.locator("#bootstrap-password-error")
        await error.wait_for()
        assert "at least 8" in (await error.text_content() or "")
        assert await form.get_by_label("Password").get_attribute("aria-invalid") == "true"
        await audit(page, "02-bootstrap-error")
        await form.get_by_label("Password").fill(PASSWORD)
        await form.get_by_label("Secret key").fill(ADMIN_KEY + "-wrong")
        await form.get_by_role("button", name="Create admin").click()
        await page.locator("#bootstrap-key-error").wait_for()
        await form.get_by_label("Secret key").fill(ADMIN_KEY)
        await form.get_by_role("button", name="Create admin").click()
        # the dashboard
        await page.get_by_role("heading", level=1, name="Dashboard").wait_for()
        await page.locator("#chart svg").wait_for()
        assert await page.locator("#stat-cards li").count() == 6
        await audit(page, "03-dashboard")
        # admins: add one, confirm before deleting (cancel first)
        await goto(page, served, "admins", "Admins")
        add = page.locator("#admin-form")
        await add.get_by_label("Email").fill("second@example.com")
        await add.get_by_label("Password").fill(PASSWORD)
        await add.get_by_role("button", name="Add admin").click()
        await page.get_by_role("cell", name="second@example.com").wait_for()
        await audit(page, "04-admins")
        await page.get_by_role("button", name="Delete admin second@example.com").click()
        dialog = page.locator("#confirm")
        await dialog.wait_for()
        await audit(page, "05-confirm")
        await dialog.get_by_role("button", name="Cancel").click()
        assert await page.get_by_role("cell", name="second@example.com").count() == 1
        await page.get_by_role("button", name="Delete admin second@example.com").click()
        await dialog.get_by_role("button", name="Delete").click()
        await page.get_by_text("Admin deleted.").wait_for()
        assert await page.get_by_role("cell", name="second@example.com").count() == 0
        # the audit log shows who did it
        await goto(page, served, "audit", "Audit log")
        await page.get_by_role("cell", name="admin.delete").wait_for()
        await audit(page, "06-audit")
        await page.get_by_label("Event").fill("admin.delete,admin.create")
        await page.get_by_label("By").select_option("admin")
        await page.get_by_role("button", name="Search").click()
        await page.get_by_text("2 events", exact=True).wait_for()
        assert await page.get_by_role("cell", name="admin.login").count() == 0
        # my account: two-factor set-up starts with a QR code
        await goto(page, served, "account", "My account")
        await page.get_by_role("button", name="Set up an authenticator app").click()
        await page.locator("#totp-qr[src^='data:image/svg+xml']").wait_for()
        await audit(page, "07-account")
        # a phone's width: nothing overflows sideways
        await page.set_viewport_size({"width": 375, "height": 740})
        await goto(page, served, "dashboard", "Dashboard")
        assert await page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth + 1")
        await audit(page, "08-dashboard-phone")
        await page.set_viewport_size({"width": 1280, "height": 900})
        # sign out, then a wrong password is refused in place, the right one signs in
        await page.get_by_role("button", name="Sign out", exact=True).click()
        await page.get_by_role("heading", name="Sign in").wait_for()
        await audit(page, "09-sign-in")
        signin = page.locator("#signin-form")
        await signin.get_by_label("Email").fill(EMAIL)
        await signin.get_by_label("Password").fill("Wrong-Password-1!")
        await signin.get_by_role("button", name="Sign in").click()
        await signin.locator(".form-error", has_text="Invalid credentials").wait_for()
        await signin.get_by_label("Password").fill(PASSWORD)
        await signin.get_by_role("button", name="Sign in").click()
        await page.get_by_role("heading", level=1, name="Dashboard").wait_for()
        # no script error, no CSP violation (refused answers log "Failed to load resource")
        assert [e for e in errors if not e.startswith("Failed to load resource")] == []
    finally:
        await context.close()


async def test_managing_users_in_the_console(browser: Browser, served: Console) -> None:  # noqa: F811
    """Issue 13 §3: find a user, inspect sessions, revoke one (its token stops working),
    deactivate the user, create a role with permissions and assign it, block a domain (signup
    with it is refused), sign out."""
    async with console_page(browser, served) as (api, page, errors):
        alice = "alice@example.com"
        r = await api.post("/auth/signup", json={"email": alice, "password": "correct horse battery"})
        assert r.status_code == 200, r.text
        first = r.json()["accessToken"]
        r = await api.post("/auth/login", json={"providerName": "email", "credentials": {
            "email": alice, "password": "correct horse battery"}})
        assert r.status_code == 200, r.text
        second = r.json()["accessToken"]
        for token in (first, second):
            assert (await api.get("/auth/user", headers=bearer(token))).status_code == 200
        await first_admin_signed_in(api, page, served)

        # find the user, inspect the sessions
        await goto(page, served, "users", "Users")
        await page.get_by_label("Search email or phone").fill("alice")
        await page.get_by_role("button", name="Search", exact=True).click()
        await page.get_by_role("button", name=f"View {alice}").click()
        await page.get_by_role("heading", name=f"User {alice}").wait_for()
        assert await page.locator("#user-sessions tbody tr").count() == 2
        await audit(page, "21-user")

        # revoke one session: that token stops working, the other does not
        sid = claims(first)["sessionId"]
        await page.get_by_role("button", name=f"Revoke session {sid}").click()
        await page.locator("#confirm").get_by_role("button", name="Revoke").click()
        await page.get_by_text("Session revoked.").wait_for()
        assert await page.locator("#user-sessions tbody tr").count() == 1
        assert (await api.get("/auth/user", headers=bearer(first))).status_code == 401
        assert (await api.get("/auth/user", headers=bearer(second))).status_code == 200

        # deactivate: the remaining session ends, the password no longer signs in
        await page.get_by_role("button", name="Deactivate user").click()
        await page.locator("#confirm").get_by_role("button", name="Deactivate").click()
        await page.get_by_text("User deactivated.").wait_for()
        await page.get_by_role("button", name="Activate user").wait_for()
        assert (await api.get("/auth/user", headers=bearer(second))).status_code == 401
        r = await api.post("/auth/login", json={"providerName": "email", "credentials": {
            "email": alice, "password": "correct horse battery"}})
        assert r.status_code == 401, r.text

        # a permission, a role holding it, the role assigned to the user
        await goto(page, served, "permissions", "Permissions")
        form = page.locator("#permission-form")
        await form.get_by_label("Name").fill("reports.read")
        await form.get_by_label("Category").fill("reports")
        await form.get_by_role("button", name="Create permission").click()
        await page.get_by_role("cell", name="reports.read").wait_for()
        await audit(page, "22-permissions")
        await goto(page, served, "roles", "Roles")
        form = page.locator("#role-form")
        await form.get_by_label("Name").fill("analyst")
        await form.get_by_label("reports.read").check()
        await form.get_by_role("button", name="Create role").click()
        await page.get_by_role("cell", name="reports.read").wait_for()
        await audit(page, "23-roles")
        await goto(page, served, "users", "Users")
        await page.get_by_role("button", name=f"View {alice}").click()
        await page.locator("#user-roles").get_by_label("analyst").check()
        await page.get_by_role("button", name="Save roles").click()
        await page.get_by_text("Roles saved.").wait_for()
        r = await page.evaluate("fetch('/auth/admin/api/users?search=alice').then(r => r.json())")
        roles = [role["name"] for a in r["data"][0]["userAccesses"] for role in a["roles"]]
        assert roles == ["analyst"]

        # tenants page
        await goto(page, served, "tenants", "Tenants")
        await audit(page, "24-tenants")

        # block a domain: signing up with it is refused
        await goto(page, served, "blocked-domains", "Blocked email domains")
        await page.get_by_label("Domains (one per line)").fill("blocked.example")
        await page.get_by_role("button", name="Block", exact=True).click()
        await page.get_by_role("cell", name="blocked.example").wait_for()
        await audit(page, "25-blocked-domains")
        r = await api.post("/auth/signup", json={"email": "bob@blocked.example",
                                                 "password": "correct horse battery"})
        assert r.status_code == 403 and r.json()["code"] == "EMAIL_DOMAIN_NOT_ALLOWED", r.text

        # sign out
        await page.get_by_role("button", name="Sign out", exact=True).click()
        await page.get_by_role("heading", name="Sign in").wait_for()
        r = await page.evaluate("fetch('/auth/admin/me').then(r => r.status)")
        assert r == 401
        assert errors == []


@pytest.fixture
async def served_tenants(tmp_path: Path) -> AsyncIterator[Console]:
    """The console over an app with shared tenants (roles held inside a tenant)."""
    app = create_app(console_settings(tmp_path, tenant={"mode": "shared"}))
    sock = free_socket()
    with serve_app(app, sock):
        yield Console(url=f"http://localhost:{sock.getsockname()[1]}", app=app)


async def test_tenant_roles_in_the_role_picker(browser: Browser,  # noqa: F811
                                               served_tenants: Console) -> None:
    """A tenant's role ticked in the user's role picker is saved inside that tenant (it used
    to go out as a tenant-less role id: ROLE_NOT_FOUND), beside a role held outside tenants;
    unticking it takes it away and leaves the membership."""
    served = served_tenants
    async with console_page(browser, served) as (api, page, errors):
        alice = "alice@example.com"
        r = await api.post("/auth/signup", json={"email": alice, "password": "correct horse battery"})
        assert r.status_code == 200, r.text
        uid = claims(r.json()["accessToken"])["sub"]
        await first_admin_signed_in(api, page, served)
        # a tenant with a role of its own, alice a member; a role outside tenants
        acme = await page.evaluate(
            "api('POST', '/api/tenants', {name: 'Acme', slug: 'acme'}).then(r => r.tenant.id)")
        await page.evaluate("t => api('POST', '/api/roles', {name: 'auditor', guard: 'web', "
                            "tenantId: t})", acme)
        await page.evaluate("api('POST', '/api/roles', {name: 'analyst', guard: 'web'})")
        await page.evaluate("([u, t]) => api('PATCH', '/api/users/' + u, {tenantIds: [t]})",
                            [uid, acme])

        async def held(want: dict[str | None, list[str]]) -> dict[str | None, list[str]]:
            """The roles alice holds per tenant, once they are ``want`` (the save message
            of an earlier save may still be on screen) or after ten seconds."""
            for _ in range(100):
                got = await page.evaluate("u => api('GET', '/api/users/' + u)", uid)
                now = {a["tenantId"]: [x["name"] for x in a["roles"]]
                       for a in got["user"]["userAccesses"]}
                if now == want:
                    break
                await page.wait_for_timeout(100)
            return now

        await goto(page, served, "users", "Users")
        await page.get_by_role("button", name=f"View {alice}").click()
        picker = page.locator("#user-roles")
        await picker.get_by_label("auditor (Acme)").check()
        await picker.get_by_label("analyst", exact=True).check()
        await page.get_by_role("button", name="Save roles").click()
        await page.get_by_text("Roles saved.").wait_for()
        assert await held({None: ["analyst"], acme: ["auditor"]}) == {
            None: ["analyst"], acme: ["auditor"]}
        await picker.get_by_label("auditor (Acme)").uncheck()
        await page.get_by_role("button", name="Save roles").click()
        await page.get_by_text("Roles saved.").wait_for()
        assert await held({None: ["analyst"], acme: []}) == {None: ["analyst"], acme: []}
        assert errors == []
