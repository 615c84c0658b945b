"""``authgate`` command line."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from authgate.cli.options import ConfigOpt
from authgate.cli.options import settings_from as _settings
from authgate.config import Settings, load_settings

if TYPE_CHECKING:
    from authgate.crypto.secretbox import SecretBox
    from authgate.mfa.totp import RotationReport

log = logging.getLogger("authgate")
app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="authgate: authentication and MFA service.")

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


def drain_on_sigterm(gate: Any, delay: float) -> None:
    """Graceful drain: SIGTERM first fails readiness and closes keep-alive connections
    (``gate.begin_drain``) while requests are still served, and only ``delay`` seconds later
    reaches the server's own handler (uvicorn: close the listener, let in-flight requests
    finish within ``server.drain_timeout``, exit). A second SIGTERM, or SIGINT, goes straight
    through. Installed from the running event loop, after the server set its handlers."""
    if threading.current_thread() is not threading.main_thread():
        return  # signals belong to the main thread (an embedded or test server)
    stop = signal.getsignal(signal.SIGTERM)
    if not callable(stop):
        return
    loop = asyncio.get_running_loop()

    def on_sigterm(sig: int, frame: Any) -> None:
        if gate.drain.active:
            stop(sig, frame)
            return
        gate.begin_drain()
        log.info("SIGTERM: draining (readiness fails), stopping in %.1fs", delay)
        loop.call_soon_threadsafe(loop.call_later, delay, stop, sig, None)

    signal.signal(signal.SIGTERM, on_sigterm)


def owned(app: Any) -> Any:
    """``app`` as a worker of ``authgate serve`` runs it: once the app has started, the
    process is tuned (``tune_process``) and SIGTERM drains first (``drain_on_sigterm``)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            gate = getattr(a.state, "gate", None)
            if gate is not None:
                drain_on_sigterm(gate, gate.settings.server.drain_delay)
            tune_process()
            yield state

    app.router.lifespan_context = lifespan
    return app


def _deployable(settings: Settings, *, mail: bool = True) -> None:
    """Exit 2 naming the setting when production mode lacks a secret or a mail relay, or a
    JWT key file cannot be used."""
    from authgate.config import DeploymentError, check_deployment

    try:
        check_deployment(settings, mail=mail)
    except DeploymentError as exc:
        typer.echo(f"authgate: invalid setting {exc.setting}: {exc.reason}", err=True)
        raise typer.Exit(2) from None
    from authgate.cli.keys import check_keys

    check_keys(settings)  # the JWT key files: readable, fit for jwt.algorithm


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


_LOG_LEVEL_ENV = "_AUTHGATE_SERVE_LOG_LEVEL"


def configure_logging(level: str) -> None:
    """The process's logging under ``authgate serve`` (the server's own and each worker):
    ``LEVEL name: message`` on stderr, and the request log (``authgate.requests``, one
    line per request, ``logging.*`` settings) alone on stdout, where a log shipper reads
    JSON lines. Once per process."""
    root = logging.getLogger()
    if any(getattr(h, "_authgate", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler._authgate = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    requests = logging.getLogger("authgate.requests")
    lines = logging.StreamHandler(sys.stdout)
    lines.setFormatter(logging.Formatter("%(message)s"))
    requests.addHandler(lines)
    requests.propagate = False


def _factory() -> object:
    """uvicorn/granian app factory for worker processes (they re-read the same environment);
    the worker process is ours, so it is tuned after start-up."""
    from authgate.app import create_app

    level = os.environ.get(_LOG_LEVEL_ENV)
    if level:
        configure_logging(level)
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
    os.environ[_LOG_LEVEL_ENV] = log_level.upper()  # the workers configure the same
    configure_logging(log_level.upper())
    _announce_mode(settings, host)
    from authgate.config import sqlite_path

    if sqlite_path(settings.database_url) is not None:
        # Migrate once here so worker processes never race each other at start-up.
        asyncio.run(_migrate(settings))
    if settings.jwt.secret is None and settings.jwt.private_key_file is None:
        from authgate.resources import dev_secret

        dev_secret(settings)  # create it once, before the workers read it
    if settings.metrics.enabled and workers > 1:
        _metrics_dir()
    if server == "granian":
        _serve_granian(host, port, workers, log_level)
        return
    import uvicorn

    uvicorn.run("authgate.cli.main:_factory", factory=True, host=host, port=port,
                workers=workers, log_level=log_level, proxy_headers=False, access_log=False,
                timeout_graceful_shutdown=max(1, round(settings.server.drain_timeout)))


def _metrics_dir() -> None:
    """One ``PROMETHEUS_MULTIPROC_DIR`` for the workers (they inherit the environment and
    write their values there; ``GET /metrics`` adds them up), emptied of a previous run's."""
    import tempfile

    from authgate.metrics import MULTIPROC_ENV

    path = os.environ.get(MULTIPROC_ENV)
    if path:
        for stale in Path(path).glob("*.db"):
            stale.unlink()
    else:
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="authgate-metrics-")


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
    from authgate.cli.audit import audit
    from authgate.cli.calibrate import calibrate_hash
    from authgate.cli.keys import keys_app
    from authgate.cli.purge import purge
    from authgate.cli.tenants import role_app, tenant_app
    from authgate.cli.users import mfa_app, sessions_app, unlock, users_app

    app.command("calibrate-hash")(calibrate_hash)
    app.add_typer(keys_app, name="keys")
    app.command("audit")(audit)
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(role_app, name="role")
    app.command("purge")(purge)
    app.add_typer(users_app, name="users")
    app.add_typer(sessions_app, name="sessions")
    app.add_typer(mfa_app, name="mfa")
    app.command("unlock")(unlock)


_register_commands()


import_app = typer.Typer(no_args_is_help=True, help="Bring users over from another system.")
app.add_typer(import_app, name="import")


def _masked(url: str) -> str:
    """The URL without its password (it is printed)."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


async def _import_nest_auth(settings: Settings, url: str, dry_run: bool) -> Any:
    from authgate.composition import build_resources
    from authgate.importer.nest_auth import import_nest_auth
    from authgate.migrate import upgrade

    res = build_resources(settings)
    try:
        await upgrade(res.db.writer)
        return await import_nest_auth(res, url, dry_run=dry_run)
    finally:
        await res.close()


@import_app.command("nest-auth")
def import_nest_auth_command(
    source: Annotated[str, typer.Option("--from", help="The nest-auth database: "
                                        "postgresql://user:pw@host/db or sqlite:///path")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, write nothing")] = False,
    config: ConfigOpt = None,
) -> None:
    """Import a @ackplus/nest-auth 2.x database: users (same passwords), authenticators,
    recovery codes, tenants, roles, permissions, memberships. Idempotent; prints what could
    not be imported."""
    from authgate.importer.nest_auth import SourceError

    settings = _settings(config)
    _deployable(settings, mail=False)  # TOTP seeds are encrypted under the configured keys
    try:
        report = asyncio.run(_import_nest_auth(settings, source, dry_run))
    except SourceError as exc:
        typer.echo(f"authgate: {exc}", err=True)
        raise typer.Exit(2) from None
    verb = "to import" if dry_run else "imported"
    typer.echo(f"nest-auth import from {_masked(source)}"
               + (" (dry run: nothing written)" if dry_run else ""))
    for kind in ("users", "totp devices", "recovery codes", "tenants", "permissions", "roles",
                 "memberships", "role assignments"):
        typer.echo(f"  {kind}: {report.imported[kind]} {verb}, "
                   f"{report.present[kind]} already there")
    if report.not_imported:
        typer.echo("not imported:")
        for line in report.not_imported:
            typer.echo(f"  - {line}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
