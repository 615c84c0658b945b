"""``authgate audit``: read the audit trail from the command line (support work, incident
response): the same reader as the admin console (``authgate.admin.audit.search``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from authgate.cli.ops import table
from authgate.cli.options import ConfigOpt

if TYPE_CHECKING:
    from authgate.audit.query import Entry
    from authgate.resources import Resources

_COLUMNS = ("time", "event", "outcome", "actor", "user", "target", "ip")


def _when(value: str | None, now: datetime, name: str) -> datetime | None:
    """An ISO 8601 time (UTC without an offset) or a duration ago (``7d``, ``12h``)."""
    if value is None:
        return None
    from authgate.durations import parse_duration

    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: an ISO 8601 time or a duration such as 7d",
                                 param_hint=name) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _json(e: Entry) -> dict[str, Any]:
    from authgate.clock import iso_millis

    return {"id": e.id, "at": iso_millis(e.at), "event": e.event, "outcome": e.outcome,
            "actorType": e.actor_type, "actor": e.actor_id, "actorEmail": e.actor_email,
            "userId": e.user_id, "target": e.target, "tenantId": e.tenant_id, "ip": e.ip,
            "userAgent": e.user_agent, "details": e.details}


def _row(e: Entry) -> tuple[str, ...]:
    actor = e.actor_email or e.actor_id or "-"
    return (e.at.strftime("%Y-%m-%d %H:%M:%S"), e.event, e.outcome,
            f"{e.actor_type}:{actor}", e.user_id or "-", e.target or "-", e.ip or "-")


def audit(
    user: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--user", help="EMAIL or ID: that account's rows (and that admin's actions)")] = None,
    event: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--event", help="Event name or prefix.* (repeatable)")] = None,
    outcome: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="success or failure")] = None,
    since: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="ISO 8601 time or a duration ago (7d, 12h)")] = None,
    until: Annotated[Optional[str], typer.Option(help="Same forms as --since")] = None,  # noqa: UP045
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Newest rows shown")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    config: ConfigOpt = None,
) -> None:
    """Show the audit trail, newest first: sign-ins, MFA and password changes, sessions
    ended, API keys, admin actions..."""
    now = datetime.now(UTC)
    start, end = _when(since, now, "--since"), _when(until, now, "--until")
    entries = _read(config, as_json=as_json, user=user, events=tuple(event or ()), outcome=outcome,
                    since=start, until=end, limit=limit)
    if as_json:
        import orjson

        for e in entries:
            typer.echo(orjson.dumps(_json(e)).decode())
    else:
        table(_COLUMNS, [_row(e) for e in entries])


def _read(config: Path | None, *, as_json: bool, **filters: Any) -> list[Entry]:
    """The rows, through the operator commands' runner (same exit codes: 1 refused, 2 the
    schema not migrated, 3 database unreachable)."""
    from authgate.admin import audit as admin_audit
    from authgate.cli.ops import run

    limit = filters.pop("limit")

    async def work(res: Resources) -> list[Entry]:
        entries, _ = await admin_audit.search(res, page=1, limit=limit, **filters)
        return entries

    return run(config, work, as_json=as_json)
