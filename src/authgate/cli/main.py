"""``authgate`` command line."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from pydantic import ValidationError

from authgate.config import Settings, load_settings

if TYPE_CHECKING:
    from authgate.crypto.secretbox import SecretBox
    from authgate.mfa.totp import RotationReport

log = logging.getLogger("authgate")
app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="authgate: authentication and MFA service.")

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML/JSON/YAML config file")]


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ValidationError as exc:
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            typer.echo(f"authgate: invalid setting {name}: {err['msg']}", err=True)
        raise typer.Exit(2) from None
    except (OSError, ValueError) as exc:
        typer.echo(f"authgate: cannot load configuration: {exc}", err=True)
        raise typer.Exit(2) from None


def tune_process() -> None:
    """Process-wide tuning, for a process that serves only authgate (the worker this CLI
    owns; never an app mounted in someone else's process). Everything alive after start-up
    (modules, routes, engines, compiled statements) lives as long as the process: freeze it
    out of the collector's sight and collect the young generation less often (full
    collections scanned the whole heap). Hand the GIL over sooner when another thread holds
    it (aiosqlite's connection threads, the hashing pool): the event loop waited up to the
    default 5 ms. Measured: GET /auth/user (PostgreSQL, 1 worker) 421 -> 299 µs of CPU per
    request, p99 96 -> 33 ms; login storm p99 of GET /auth/user 12.3x -> 7.9x idle on
    SQLite, 2.96x -> 2.42x on PostgreSQL."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)
    sys.setswitchinterval(0.0005)


def owned(app: Any) -> Any:
    """``app`` as a worker of ``authgate serve`` runs it: once the app has started, the
    process is tuned (``tune_process``)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            tune_process()
            yield state

    app.router.lifespan_context = lifespan
    return app


def _deployable(settings: Settings, *, mail: bool = True) -> None:
    """Exit 2 naming the setting when production mode lacks a secret or a mail relay."""
    from authgate.config import DeploymentError, check_deployment

    try:
        check_deployment(settings, mail=mail)
    except DeploymentError as exc:
        typer.echo(f"authgate: invalid setting {exc.setting}: {exc.reason}", err=True)
        raise typer.Exit(2) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _announce_mode(settings: Settings, host: str) -> None:
    """Say once, before the workers start, which mode runs and what it changes. Plain-HTTP
    localhost in development gets cookies without ``Secure`` (browsers drop Secure cookies
    set over http on a real host name), unless ``session.cookie.secure`` was set or a proxy
    is configured in front (``security.trusted_proxies``)."""
    if not settings.development():
        log.info("production mode: configured secret and SMTP relay; API docs %s; "
                 "cookies Secure=%s", "on" if settings.docs_enabled() else "off",
                 settings.session.cookie.secure)
        return
    reason = "dev_mode=true" if settings.dev_mode else "embedded SQLite, no Redis"
    cookie = settings.session.cookie
    cookie_set = "secure" in cookie.model_fields_set or cookie.host_prefix is True
    behind_proxy = bool(settings.security.trusted_proxies)  # TLS may end there: keep Secure
    if _is_loopback(host) and not cookie_set and not behind_proxy:
        os.environ["AUTHGATE_SESSION__COOKIE__SECURE"] = "false"  # the workers re-read it
        cookies = "cookies without Secure (plain-HTTP localhost)"
    else:
        cookies = f"cookies Secure={settings.session.cookie.secure}"
    log.warning("development mode (%s): generated secret and file outbox allowed, API docs "
                "%s, %s. Production: set AUTHGATE_DEV_MODE=false, a JWT secret and an SMTP "
                "relay.", reason, "on" if settings.docs_enabled() else "off", cookies)


def _factory() -> object:
    """uvicorn/granian app factory for worker processes (they re-read the same environment);
    the worker process is ours, so it is tuned after start-up."""
    from authgate.app import create_app

    cfg = os.environ.get("AUTHGATE_CONFIG")
    return owned(create_app(load_settings(Path(cfg) if cfg else None), server_process=True))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    config: ConfigOpt = None,
    log_level: Annotated[str, typer.Option(help="Log level")] = "info",
    server: Annotated[str, typer.Option(
        help="HTTP server: uvicorn (uvloop + httptools) or granian (pip install "
             "'authgate[granian]'; measured faster with tighter tails, bench/RESULTS-granian.md)",
    )] = "uvicorn",
) -> None:
    """Run the HTTP server (SQLite in the current directory unless configured otherwise)."""
    if server not in ("uvicorn", "granian"):
        typer.echo(f"authgate: unknown server {server!r} (uvicorn or granian)", err=True)
        raise typer.Exit(2)
    if server == "granian":
        try:
            import granian  # noqa: F401
        except ImportError:
            typer.echo("authgate: granian is not installed: pip install 'authgate[granian]'",
                       err=True)
            raise typer.Exit(2) from None
    settings = _settings(config)
    _deployable(settings)
    if config is not None:
        os.environ["AUTHGATE_CONFIG"] = str(config.resolve())
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    _announce_mode(settings, host)
    from authgate.config import sqlite_path

    if sqlite_path(settings.database_url) is not None:
        # Migrate once here so worker processes never race each other at start-up.
        asyncio.run(_migrate(settings))
    if settings.jwt.secret is None and settings.jwt.private_key_file is None:
        from authgate.resources import dev_secret

        dev_secret(settings)  # create it once, before the workers read it
    if server == "granian":
        _serve_granian(host, port, workers, log_level)
        return
    import uvicorn

    uvicorn.run("authgate.cli.main:_factory", factory=True, host=host, port=port,
                workers=workers, log_level=log_level, proxy_headers=False, access_log=False)


def _serve_granian(host: str, port: int, workers: int, log_level: str) -> None:
    """The same worker factory under granian (ASGI, uvloop). Client addresses are the peer's:
    forwarded headers are trusted only by authgate's own ``security.trusted_proxies``."""
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    level = log_level.lower()
    Granian("authgate.cli.main:_factory", address=host, port=port, interface=Interfaces.ASGI,
            workers=workers, loop=Loops.uvloop, factory=True, log_access=False,
            log_level=LogLevels(level if level in LogLevels.__members__ else "info"),
            ).serve()


async def _migrate(settings: Settings) -> str | None:
    from authgate.db import Database
    from authgate.migrate import current, upgrade

    db = Database(settings.database_url)
    try:
        await upgrade(db.writer)
        return await current(db.writer)
    finally:
        await db.dispose()


@app.command()
def migrate(config: ConfigOpt = None) -> None:
    """Create or upgrade the database schema (keeps data)."""
    settings = _settings(config)
    rev = asyncio.run(_migrate(settings))
    typer.echo(f"database at revision {rev}")


@app.command("check-config")
def check_config(config: ConfigOpt = None) -> None:
    """Validate the configuration (including production mode's requirements) and print it
    (secrets masked)."""
    settings = _settings(config)
    _deployable(settings)
    typer.echo(settings.model_dump_json(indent=2))


async def _rotate_keys(settings: Settings, box: SecretBox) -> RotationReport:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from authgate.db import Database
    from authgate.mfa.totp import rotate_encryption

    db = Database(settings.database_url)
    try:
        return await rotate_encryption(async_sessionmaker(db.writer, expire_on_commit=False),
                                       box)
    finally:
        await db.dispose()


@app.command("rotate-keys")
def rotate_keys(config: ConfigOpt = None) -> None:
    """Re-encrypt every stored TOTP secret with the first key of mfa.encryption_keys.

    Run it after putting a new key first (keep the old ones listed until it reports no
    failures); exits 1 if a secret could not be decrypted with any configured key."""
    from authgate.crypto.secretbox import SecretBox
    from authgate.resources import build_keys

    settings = _settings(config)
    _deployable(settings, mail=False)  # never re-encrypt under a generated secret
    try:
        box = SecretBox.from_config([k.get_secret_value() for k in settings.mfa.encryption_keys],
                                    build_keys(settings).root)
    except ValueError as exc:
        typer.echo(f"authgate: invalid setting mfa.encryption_keys: {exc}", err=True)
        raise typer.Exit(2) from None
    report = asyncio.run(_rotate_keys(settings, box))
    typer.echo(f"active key {box.active_kid}: {report.rotated} re-encrypted, "
               f"{report.unchanged} already current, {report.failed} failed")
    if report.failed:
        raise typer.Exit(1)


def _register_commands() -> None:
    from authgate.cli.calibrate import calibrate_hash

    app.command("calibrate-hash")(calibrate_hash)


_register_commands()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
