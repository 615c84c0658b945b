"""The shared shape of a method whose code is delivered to an address on the account (email,
SMS): the challenge sends it, verifying consumes it and marks that address verified."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, update

from authgate import vocabulary
from authgate.errors import AuthError, Code
from authgate.identity.models import User
from authgate.identity.snapshot import UserSnapshot
from authgate.otp import codes
from authgate.resources import Resources
from authgate.vocabulary import Channel


@dataclass(frozen=True)
class DeliveredCode:
    name: str
    channel: Channel
    address_field: str
    """The ``UserSnapshot``/``User`` attribute holding the address (``email``/``phone``)."""
    login_rank: int
    status_rank: int
    delivers: bool = True

    def ready(self, res: Resources) -> bool:
        return self.channel in res.channels

    def address(self, res: Resources, user: UserSnapshot) -> str | None:
        """Where a code would go, or None when this user cannot receive one here."""
        if not self.ready(res):
            return None
        found: str | None = getattr(user, self.address_field)
        return found

    def usable(self, res: Resources, user: UserSnapshot) -> bool:
        return bool(self.address(res, user))

    def usable_sql(self, user_id: ColumnElement[str]) -> ColumnElement[bool] | None:
        return None

    async def send_challenge(self, res: Resources, user: UserSnapshot) -> None:
        to = self.address(res, user)
        if to is None:
            raise AuthError(Code.MFA_METHOD_NOT_AVAILABLE)
        await codes.issue_and_send(res, user_id=user.id, purpose=vocabulary.MFA,
                                   channel=self.channel, to=to)

    async def verify(self, res: Resources, user: UserSnapshot, code: str) -> UserSnapshot:
        now = res.clock.now()
        stamp = f"{self.address_field}_verified_at"
        column = getattr(User, stamp)
        async with codes.consume(res, user_id=user.id, purpose=vocabulary.MFA,
                                 channel=self.channel, code=code) as tx:
            # Only the channel the code travelled over is proven, and only if still unproven.
            result = await tx.session.execute(
                update(User).where(User.id == user.id, column.is_(None))
                .values({column: now, User.updated_at: now}))
            stamped = bool(result.rowcount)  # type: ignore[attr-defined]
        if not stamped:
            return user
        await res.store.user_changed(user.id)
        changes: dict[str, Any] = {stamp: now}
        return replace(user, **changes)
