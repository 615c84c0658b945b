"""Who is behind a management change, as the flows and the audit trail see it: an admin
signed in to the console (``Actor``) or a person at the command line (``Operator``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from authgate.admin import audit
from authgate.admin.sessions import AdminPrincipal
from authgate.resources import Resources


@dataclass(frozen=True)
class Actor:
    """The signed-in admin and the client it acts from (the audit trail's "from where")."""

    principal: AdminPrincipal
    user_agent: str | None = None

    @property
    def id(self) -> str:
        return self.principal.id

    async def record(self, res: Resources, action: str, target: str | None,
                     **details: Any) -> None:
        """Audit ``action`` on ``target``; call it once the change is committed."""
        await audit.record(res, self.principal, action, target=target,
                           userAgent=self.user_agent, **details)


@dataclass(frozen=True)
class Operator:
    """A person running ``authgate users …`` (or another operator command) on a machine
    with the deployment's configuration: audited with no admin, ``via="cli"`` and the
    operating-system user (informational: whoever can run the command can reach the
    database anyway)."""

    name: str

    async def record(self, res: Resources, action: str, target: str | None,
                     **details: Any) -> None:
        """Audit ``action`` on ``target``; call it once the change is committed."""
        await audit.record(res, None, action, target=target, via="cli", operator=self.name,
                           **details)


class Auditor(Protocol):
    """What a management flow needs of whoever acts: an audit record after each change."""

    async def record(self, res: Resources, action: str, target: str | None,
                     **details: Any) -> None: ...
