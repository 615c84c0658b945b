"""The shared shape of a method whose code is delivered to a verified address on the account
(email, SMS): the challenge sends it, verifying consumes it. Weak (``strong`` False): the
same inbox or phone resets the password."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement

from authgate import vocabulary
from authgate.errors import AuthError, Code
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
    strong: bool = False
    """Access to the inbox/phone also resets the password: never beats a strong method."""

    def ready(self, res: Resources) -> bool:
        return self.channel in res.channels

    def address(self, res: Resources, user: UserSnapshot) -> str | None:
        """Where a code would go, or None when this user cannot receive one here: only a
        verified address is a second factor (an unproven one may be anybody's)."""
        if not self.ready(res) or getattr(user, f"{self.address_field}_verified_at") is None:
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
        async with codes.consume(res, user_id=user.id, purpose=vocabulary.MFA,
                                 channel=self.channel, code=code):
            pass  # the code is spent when this commits (the address was verified already)
        return user
