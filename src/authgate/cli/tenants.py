"""``authgate tenant …`` and ``authgate role …``: manage tenants, memberships and roles from
the command line (bootstrapping a deployment, scripts, operators without the admin console).
They call the same service functions as the console (``authgate.tenancy.service``,
``authgate.authz.service``), so the same rules hold: isolation, live sessions following."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, TypeVar

import typer

from authgate.cli.options import ConfigOpt, settings_from
from authgate.errors import AuthError, Code

if TYPE_CHECKING:
    from authgate.resources import Resources

tenant_app = typer.Typer(no_args_is_help=True, help="Tenants and their members.")
role_app = typer.Typer(no_args_is_help=True, help="Roles and permissions.")

TenantOpt = Annotated[Optional[str], typer.Option("--tenant", help="Tenant id (default: none, a platform role)")]  # noqa: E501, UP045
T = TypeVar("T")


def _run(config: Path | None, work: Callable[[Resources], Awaitable[T]]) -> T:
    """Build the app's resources from the configuration, run ``work``, close them. A coded
    error is printed with its code and exits 1."""
    from authgate.composition import build_resources
    from authgate.migrate import upgrade

    settings = settings_from(config)

    async def go() -> T:
        res = build_resources(settings)
        try:
            await upgrade(res.db.writer)
            return await work(res)
        finally:
            await res.close()

    try:
        return asyncio.run(go())
    except AuthError as err:
        typer.echo(f"authgate: {err.code}: {err.message}", err=True)
        raise typer.Exit(1) from None


@tenant_app.command("create")
def create(name: str, slug: Annotated[Optional[str], typer.Option(help="URL name")] = None,  # noqa: UP045
           config: ConfigOpt = None) -> None:
    """Create a tenant; prints its id."""
    from authgate.tenancy import service

    t = _run(config, lambda res: service.create_tenant(res, name=name, slug=slug))
    typer.echo(t.id)


@tenant_app.command("list")
def list_(config: ConfigOpt = None) -> None:
    """Every tenant: id, slug, active, name."""
    from authgate.tenancy import service

    views, _ = _run(config, lambda res: service.list_tenants(res, limit=1000))
    for t in views:
        typer.echo(f"{t.id}\t{t.slug or '-'}\t{'active' if t.is_active else 'inactive'}\t{t.name}")


@tenant_app.command("add-member")
def add_member(tenant: str, email: str,
               role: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
                   "--role", help="Role name to hold there (the tenant's own or a platform role)")
               ] = None,
               config: ConfigOpt = None) -> None:
    """Make the account with EMAIL (in TENANT's scope when isolated) a member of TENANT,
    holding the roles named."""
    from authgate.authz import service as authz
    from authgate.identity import store as users
    from authgate.tenancy import service
    from authgate.tenancy.resolve import user_scope
    from authgate.tx import readonly

    async def work(res: Resources) -> str:
        async with readonly(res.readmaker) as s:
            user = await users.by_email(s, email, user_scope(res.settings, tenant) or None)
        if user is None:
            raise AuthError(Code.USER_NOT_FOUND)
        wanted = set(role or ())
        roles = [r for r in await authz.list_roles(res)
                 if r.name in wanted and r.tenant_id in (None, tenant)]
        missing = wanted - {r.name for r in roles}
        if missing:  # checked before anything is written
            raise AuthError(Code.ROLE_NOT_FOUND,
                            f"Role not found: {', '.join(sorted(missing))}")
        await service.add_member(res, user.id, tenant)
        for r in roles:
            await authz.assign_role(res, user.id, r.id, tenant_id=tenant)
        return user.id

    typer.echo(_run(config, work))


@role_app.command("create")
def create_role(name: str, tenant: TenantOpt = None,
                permission: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
                    "--permission", help="Permission name (created when missing)")] = None,
                guard: Annotated[str, typer.Option(help="Guard")] = "web",
                config: ConfigOpt = None) -> None:
    """Create a role carrying the permissions named; prints its id."""
    from authgate.authz import service as authz

    async def work(res: Resources) -> str:
        await authz.ensure_permissions(res, permission or [], guard=guard)
        r = await authz.create_role(res, name=name, guard=guard, tenant_id=tenant,
                                    permissions=permission or [])
        return r.id

    typer.echo(_run(config, work))


@role_app.command("list")
def list_roles(config: ConfigOpt = None) -> None:
    """Every role: id, tenant, guard, name, permissions."""
    from authgate.authz import service as authz

    for r in _run(config, lambda res: authz.list_roles(res)):
        typer.echo(f"{r.id}\t{r.tenant_id or '-'}\t{r.guard}\t{r.name}\t{','.join(r.permissions)}")
