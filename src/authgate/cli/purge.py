"""``authgate purge``: the housekeeping run (``authgate.housekeeping``) by hand or from
cron — the same tasks and the same lock as the server's schedule."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from authgate.cli.ops import EXIT_BUSY, EXIT_CONFIG, EXIT_REFUSED, JsonOpt, emit_json, run, table
from authgate.cli.options import ConfigOpt


def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go; delete "
                                          "nothing")] = False,
    kind: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--kind", help="Only this kind (repeatable; see the table for the names)")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Delete expired sessions, one-time codes and reset/invitation tokens, counters,
    trusted devices, abandoned authenticator set-ups, passkey challenges, OAuth grants,
    admin sessions and old admin audit rows, in small batches; prints the rows per kind.
    Exits 4 when another process is purging right now, 1 when a kind failed."""
    from authgate import housekeeping

    if kind:
        unknown = sorted(set(kind) - set(housekeeping.purges.names()))
        if unknown:
            typer.echo(f"authgate: unknown kind(s): {', '.join(unknown)} (known: "
                       f"{', '.join(housekeeping.purges.names())})", err=True)
            raise typer.Exit(EXIT_CONFIG)
    report = run(config, lambda res: housekeeping.run(res, dry_run=dry_run, only=kind),
                 as_json=as_json)
    if as_json:
        emit_json(housekeeping.report_dict(report))
    elif report.ran:
        if dry_run:
            typer.echo("dry run: nothing deleted")
        table(["KIND", "WOULD PURGE" if dry_run else "PURGED"],
              [[o.name, f"failed ({o.error})" if o.error else o.rows] for o in report.outcomes]
              + [["total", report.total]])
        if report.interrupted:
            typer.echo("stopped early: the rest waits for the next run", err=True)
    if not report.ran:
        typer.echo(f"authgate: another process holds the purge lock ({report.lock}); "
                   "nothing done", err=True)
        raise typer.Exit(EXIT_BUSY)
    if report.failed:
        raise typer.Exit(EXIT_REFUSED)
