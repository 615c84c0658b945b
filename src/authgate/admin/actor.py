"""The admin behind a management request, as the flows and the audit trail see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
