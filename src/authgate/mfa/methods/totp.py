"""MFA by an authenticator app (RFC 6238): usable with a verified device; verified against
the user's devices with the replay guard of ``authgate.mfa.totp``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import ColumnElement, Table, exists

from authgate.errors import AuthError, Code
from authgate.identity.snapshot import UserSnapshot
from authgate.mfa.models import TotpDevice
from authgate.mfa.totp import verify_totp_for_user
from authgate.resources import Resources
from authgate.tx import transaction

_D = cast(Table, TotpDevice.__table__)


@dataclass(frozen=True)
class Totp:
    name: str = "totp"
    login_rank: int = 30
    status_rank: int = 10
    delivers: bool = False
    strong: bool = True
    status_rows_invalidated: bool = True  # its rows' writes call mfa.changed.rows_changed

    def ready(self, res: Resources) -> bool:
        return True

    def usable(self, res: Resources, user: UserSnapshot) -> bool:
        return True  # the device rows decide (usable_sql)

    def usable_sql(self, user_id: ColumnElement[str]) -> ColumnElement[bool] | None:
        return exists().where(_D.c.user_id == user_id, _D.c.verified.is_(True))

    async def send_challenge(self, res: Resources, user: UserSnapshot) -> None:
        """Never called (``delivers`` is False): the code is on the user's device."""

    async def verify(self, res: Resources, user: UserSnapshot, code: str) -> UserSnapshot:
        async with transaction(res.sessionmaker) as tx:
            device = await verify_totp_for_user(res, tx, user.id, code)
        if device is None:
            raise AuthError(Code.MFA_CODE_INVALID)
        return user


METHOD = Totp()
