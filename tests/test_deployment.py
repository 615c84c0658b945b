"""Production mode (issue 12 items 8 and 11): no generated secret and no file outbox unless the
database is the embedded SQLite default (or ``dev_mode=true``), and the API docs only in
development mode unless configured."""

from __future__ import annotations

from typing import Any

import pytest

from authgate.app import create_app
from authgate.config import DeploymentError
from tests.conftest import MakeHarness, base_settings
from tests.helpers import assert_error
from tests.servers import SmtpSink

DOCS = ("/docs", "/redoc", "/openapi.json")


async def _start(database_url: str, **overrides: Any) -> None:
    """Run the app's start-up and shut it down again (raises what start-up raises)."""
    app = create_app(base_settings(database_url, **overrides))
    async with app.router.lifespan_context(app):
        pass


async def test_production_refuses_the_outbox(database_url: str, backend: str,
                                             smtp_sink: SmtpSink) -> None:
    # the suite always configures Redis: production mode on SQLite as on PostgreSQL
    with pytest.raises(DeploymentError) as info:
        await _start(database_url, dev_mode=None)
    assert info.value.setting == "delivery.smtp.host"
    assert "dev_mode=true" in str(info.value)
    with pytest.raises(DeploymentError, match="delivery.smtp.host"):
        await _start(database_url, dev_mode=False, redis_url=None)
    # a real relay, or an explicit dev_mode, starts
    await _start(database_url, dev_mode=None, delivery={"smtp": smtp_sink.settings()})
    await _start(database_url, dev_mode=True)


async def test_production_refuses_a_generated_secret(database_url: str, backend: str,
                                                     smtp_sink: SmtpSink) -> None:
    delivery = {"smtp": smtp_sink.settings()}
    with pytest.raises(DeploymentError) as info:
        await _start(database_url, dev_mode=None, jwt={"secret": None}, delivery=delivery)
    assert info.value.setting == "jwt.secret"
    assert "AUTHGATE_JWT__SECRET" in str(info.value)


async def test_embedded_sqlite_keeps_its_development_defaults(
        database_url: str, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the embedded default is SQLite")
    # no secret, no relay, no Redis: the two-command set-up still starts
    await _start(database_url, dev_mode=None, redis_url=None, jwt={"secret": None})


async def test_docs_follow_the_mode(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    dev = await make_harness(docs={"enabled": None})  # dev_mode=True in the suite
    for path in DOCS:
        assert (await dev.client.get(path)).status_code == 200, path
    prod = await make_harness(dev_mode=None, docs={"enabled": None},
                              delivery={"smtp": smtp_sink.settings()})
    for path in DOCS:
        assert_error(await prod.client.get(path), 404, "NOT_FOUND")
    # the API itself is unaffected
    assert (await prod.client.get("/auth/client-config")).status_code == 200
    off = await make_harness(docs={"enabled": False})
    for path in DOCS:
        assert_error(await off.client.get(path), 404, "NOT_FOUND")
    on = await make_harness(dev_mode=None, docs={"enabled": True},
                            delivery={"smtp": smtp_sink.settings()})
    assert (await on.client.get("/openapi.json")).json()["paths"]
