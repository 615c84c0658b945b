"""What the operator commands share (``authgate users|sessions|mfa|unlock|purge``): running
one flow against the configured deployment, exit codes, tables, ``--json`` and the
operator's name for the audit trail.

Exit codes: 0 done; 1 refused (a coded error: unknown user, an email naming several
accounts, …; the code is printed); 2 usage or configuration; 3 the database or Redis could
not be reached; 4 (``purge``) another process holds the purge lock.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional, TypeVar

import typer

from authgate.cli.options import settings_from
from authgate.errors import AuthError, Code, ServiceUnavailable

if TYPE_CHECKING:
    from authgate.resources import Resources

EXIT_REFUSED = 1
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3
EXIT_BUSY = 4

JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout (errors as JSON on stderr)")]
TenantOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045 (typer reads the annotation)
    "--tenant", help="The tenant whose account is meant (tenant.mode isolated)")]
T = TypeVar("T")


def fail(status: int, code: str, message: str, *, as_json: bool) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"error": {"code": code, "message": message}}), err=True)
    else:
        typer.echo(f"authgate: {code}: {message}", err=True)
    raise typer.Exit(status)


def _outage(exc: BaseException) -> bool:
    """The database or Redis could not serve us (as opposed to a bug)."""
    from authgate.db import database_unavailable

    if isinstance(exc, (OSError, ConnectionError, TimeoutError)):
        return True
    return database_unavailable(exc) or type(exc).__module__.startswith(("redis", "asyncpg"))


def run(config: Path | None, work: Callable[[Resources], Awaitable[T]], *,
        as_json: bool = False) -> T:
    """Build the deployment's resources, run ``work``, close them (after any notice it
    queued is sent). Coded errors exit 1, outages 3 (see the module docstring)."""
    from authgate import background
    from authgate.audit import trail
    from authgate.composition import build_resources
    from authgate.config import sqlite_path
    from authgate.migrate import upgrade

    settings = settings_from(config)

    async def go() -> T:
        res = build_resources(settings)
        try:
            if settings.auto_migrate and sqlite_path(settings.database_url) is not None:
                await upgrade(res.db.writer)  # as the server does on start
            else:
                await _schema_current(res)
            with trail.acting(trail.CLI, operator()[:36]):  # the events it causes are ours
                return await work(res)
        finally:
            await background.drain(res, timeout=15)
            await res.close()

    try:
        return asyncio.run(go())
    except SchemaBehind as err:
        fail(EXIT_CONFIG, "SCHEMA_OUTDATED", str(err), as_json=as_json)
    except ServiceUnavailable as err:
        fail(EXIT_UNAVAILABLE, str(err.code), err.message, as_json=as_json)
    except AuthError as err:
        fail(EXIT_REFUSED, str(err.code), err.message, as_json=as_json)
    except Exception as exc:
        if not _outage(exc):
            raise
        fail(EXIT_UNAVAILABLE, str(Code.SERVICE_UNAVAILABLE),
             f"database or Redis unavailable ({type(exc).__name__})", as_json=as_json)


class SchemaBehind(Exception):
    """The database is not at this version's schema (``authgate migrate`` not run)."""


async def _schema_current(res: Resources) -> None:
    from authgate.migrate import current, head_revision

    head = head_revision()
    found = await current(res.db.writer)
    if head is not None and found != head:
        raise SchemaBehind(f"the database schema is at revision {found or 'none'}, this "
                           f"version needs {head}: run `authgate migrate`")


def operator() -> str:
    """The operating-system user running the command (and who they sudo'd from)."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        name = f"uid {os.getuid()}"
    sudo = os.environ.get("SUDO_USER")
    return f"{name} (sudo from {sudo})" if sudo and sudo != name else name


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns aligned on the widest cell; ``-`` for nothing."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for line in [list(headers), *cells]:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))
