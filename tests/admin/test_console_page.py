"""``GET /auth/admin``: the console page and its assets, served from the package."""

from __future__ import annotations

import re

from tests.admin.conftest import CONSOLE, AdminClientFactory
from tests.conftest import Harness, MakeHarness
from tests.helpers import assert_error


async def test_the_page_is_off_with_the_console(h: Harness) -> None:
    assert_error(await h.client.get("/auth/admin"), 404, "ADMIN_CONSOLE_DISABLED")
    assert_error(await h.client.get("/auth/admin/static/console.js"), 404,
                 "ADMIN_CONSOLE_DISABLED")


async def test_the_page_offers_bootstrap_until_an_admin_exists(
        console: Harness, admin_client: AdminClientFactory) -> None:
    r = await console.client.get("/auth/admin")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'data-bootstrap="1"' in r.text
    assert 'data-api="/auth/admin"' in r.text and 'href="/auth/admin/static/console.css"' in r.text
    await admin_client()
    r = await console.client.get("/auth/admin/")
    assert r.status_code in (200, 307)
    r = await console.client.get("/auth/admin")
    assert 'data-bootstrap="0"' in r.text


async def test_the_page_runs_no_inline_script_and_loads_nothing_from_elsewhere(
        console: Harness) -> None:
    r = await console.client.get("/auth/admin")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["cache-control"] == "no-store"
    assert "<script>" not in r.text and "http://" not in r.text and "https://" not in r.text
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", r.text)  # no inline handlers (onclick=...)
    for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
        got = await console.client.get(f"/auth/admin/static/{name}")
        assert got.status_code == 200 and got.headers["content-type"].startswith(kind)
        assert got.headers["cache-control"] == "no-cache"
        assert "http://" not in got.text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in got.text
    for bad in ("nope.js", "..%2Fpage.html", "page.html", "%2e%2e%2f__init__.py"):
        assert (await console.client.get(f"/auth/admin/static/{bad}")).status_code == 404


async def test_the_page_escapes_what_it_renders(make_harness: MakeHarness) -> None:
    h = await make_harness(**CONSOLE, app_name='Acme <script>alert(1)</script> "x"')
    r = await h.client.get("/auth/admin")
    assert "<script>alert(1)" not in r.text
    assert "Acme &lt;script&gt;alert(1)&lt;/script&gt; &quot;x&quot;" in r.text
