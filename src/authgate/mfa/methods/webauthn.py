"""MFA by a passkey (WebAuthn): ``POST /auth/mfa/challenge`` with ``method: "webauthn"``
answers assertion options (the user's credentials, a server-side challenge bound to the
user); ``POST /auth/mfa/verify`` takes the assertion (``credential.toJSON()``, as a JSON
string in ``otp``). Usable once the user has a registered passkey; the checks are
``authgate.mfa.passkeys``'s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, exists

from authgate.identity.snapshot import UserSnapshot
from authgate.mfa import passkeys
from authgate.mfa.models import WebauthnCredential
from authgate.resources import Resources

_C = cast(Table, WebauthnCredential.__table__)


@dataclass(frozen=True)
class Webauthn:
    name: str = "webauthn"
    login_rank: int = 40
    status_rank: int = 40
    delivers: bool = True  # the challenge hands out assertion options
    strong: bool = True
    status_rows_invalidated: bool = True  # its rows' writes call mfa.changed.rows_changed

    def ready(self, res: Resources) -> bool:
        return res.settings.passkeys_used()

    def usable(self, res: Resources, user: UserSnapshot) -> bool:
        return True  # the credential rows decide (usable_sql)

    def usable_sql(self, user_id: ColumnElement[str]) -> ColumnElement[bool] | None:
        return exists().where(_C.c.user_id == user_id)

    async def send_challenge(self, res: Resources, user: UserSnapshot) -> dict[str, Any]:
        return await passkeys.assertion_options(res, passkeys.MFA, user)

    async def verify(self, res: Resources, user: UserSnapshot, code: str) -> UserSnapshot:
        await passkeys.check_assertion(res, code, passkeys.MFA, user)
        return user


METHOD = Webauthn()
