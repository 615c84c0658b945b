"""Finding an account by the address a code goes to, for the public code flows (forgot
password, passwordless) that must not tell whether the account exists (contract W10)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn

from authgate.db import new_id
from authgate.errors import AuthError
from authgate.identity import store as users
from authgate.identity.models import User
from authgate.otp import codes
from authgate.resources import Resources
from authgate.tx import readonly
from authgate.vocabulary import Channel, Purpose


async def find_user(res: Resources, channel: Channel, identifier: str,
                    scope: str = "") -> User | None:
    """The account whose email (``channel="email"``) or phone (``"sms"``) is
    ``identifier`` (normalised as at signup) in account scope ``scope`` (a tenant's own
    accounts in isolated mode: ``tenancy.resolve.user_scope``), or None."""
    async with readonly(res.readmaker) as s:
        if channel == "email":
            return await users.by_email(s, identifier, scope or None)
        return await users.by_phone(s, identifier, scope or None,
                                    region=res.settings.phone_default_region)


def account_ref(channel: Channel, identifier: str, region: str | None = None) -> str:
    """The account a look-up of ``identifier`` on ``channel`` (``find_user``, and the
    stores' ``by_email``/``by_phone``) finds, as one string: the per-account rate-limit and
    lockout key. Normalised by the very functions the look-up uses (``region``: the
    ``phone_default_region`` it passes), so two spellings of one address share a key and
    nothing else does. INVALID_PHONE_FORMAT for a number the look-up would refuse too."""
    if channel == "email":
        return "email:" + users.normalise_email(identifier)
    return "phone:" + users.normalise_phone(identifier, region)


def account_refs(addresses: Iterable[tuple[Channel, str]], region: str | None) -> list[str]:
    """``account_ref`` of each (channel, value) that can name an account there: a value the
    look-up would refuse (an email tried as a phone number) names none, and must not drop
    the others."""
    refs = []
    for channel, value in addresses:
        try:
            refs.append(account_ref(channel, value, region))
        except AuthError:
            continue
    return refs


def address_of(user: User, channel: Channel) -> str | None:
    return user.email if channel == "email" else user.phone


async def miss_without_account(res: Resources, *, purpose: Purpose, channel: Channel,
                               code: str) -> NoReturn:
    """Answer a code check for an identifier without an (eligible) account exactly as a
    real account without a live code is answered: the engine runs the same query for an id
    no account has, then raises its VERIFICATION_CODE_INVALID."""
    await codes.verify(res, user_id=new_id(), purpose=purpose, channel=channel, code=code)
    raise AssertionError("a code matched for an account that does not exist")  # unreachable
