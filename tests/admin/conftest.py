"""Admin console fixtures: an app with the console on, and signed-in admin clients.

    async def test_x(console: Harness, admin_client: AdminClientFactory) -> None:
        root = await admin_client()                 # bootstraps root@example.com, signs in
        r = await root.post("/auth/admin/admins", json={...})   # CSRF header sent for you

Each admin client is its own browser (cookie jar) on https://testserver, so the Secure
session cookie travels; ``client.csrf`` is the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Harness, MakeHarness

ADMIN_KEY = "k8Hs2-Qp0v-Zr7Lm-Wx3n-Ab9Ce-Fg1Hj-Tq"
ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "Adm1n-Pass!word-9"
CONSOLE: dict[str, Any] = {"admin_console": {"enabled": True, "secret_key": ADMIN_KEY}}


class AdminClient(httpx.AsyncClient):
    """A browser of one admin: sends the CSRF header on every state-changing request."""

    csrf: str = ""

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        if request.method not in ("GET", "HEAD", "OPTIONS") and self.csrf \
                and "x-csrf-token" not in request.headers:
            request.headers["x-csrf-token"] = self.csrf
        return await super().send(request, **kwargs)


AdminClientFactory = Callable[..., Awaitable[AdminClient]]


def browser(h: Harness) -> AdminClient:
    return AdminClient(transport=h.client._transport, base_url="https://testserver")


async def bootstrap(h: Harness, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD,
                    **extra: Any) -> httpx.Response:
    return await h.client.post("/auth/admin/signup", json={
        "email": email, "password": password, "secretKey": ADMIN_KEY, **extra})


async def sign_in(client: AdminClient, email: str = ADMIN_EMAIL,
                  password: str = ADMIN_PASSWORD, **extra: Any) -> httpx.Response:
    r = await client.post("/auth/admin/login", json={"email": email, "password": password,
                                                      **extra})
    if r.status_code == 201:
        client.csrf = r.json()["csrfToken"]
    return r


@pytest.fixture
async def console(make_harness: MakeHarness) -> Harness:
    """The default app with the admin console on."""
    return await make_harness(**CONSOLE)


@pytest.fixture
async def admin_client(console: Harness) -> AsyncIterator[AdminClientFactory]:
    """``await admin_client(email=..., password=..., create=True)``: a signed-in admin.
    The first call bootstraps the admin with the secret key; later ones create the admin
    through the first one (``create=False``: sign in an existing admin)."""
    opened: list[AdminClient] = []
    first: list[AdminClient] = []

    async def _make(email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, *,
                    create: bool = True) -> AdminClient:
        if create and not first:
            r = await bootstrap(console, email, password)
            assert r.status_code == 201, r.text
        elif create:
            r = await first[0].post("/auth/admin/admins", json={"email": email,
                                                                "password": password})
            assert r.status_code == 201, r.text
        client = browser(console)
        opened.append(client)
        r = await sign_in(client, email, password)
        assert r.status_code == 201, r.text
        if not first:
            first.append(client)
        return client

    yield _make
    for c in opened:
        await c.aclose()
