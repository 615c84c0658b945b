"""What every management route takes: the signed-in admin as an ``Actor`` (with the
client's user agent, for the audit trail) and lenient paging numbers."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import AfterValidator

from authgate.admin.actor import Actor
from authgate.admin.http.deps import AdminAuthed


async def _actor(principal: AdminAuthed, request: Request) -> Actor:
    return Actor(principal=principal, user_agent=request.headers.get("user-agent"))


AdminActor = Annotated[Actor, Depends(_actor)]
"""The admin guard (CSRF on state-changing methods), as the flows' ``Actor``."""


def lenient_int(value: str | None, default: int) -> int:
    """``parseInt`` as upstream reads paging: a leading integer, else ``default``."""
    if value is None:
        return default
    digits = value.strip()
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    n = len(digits) - len(digits.lstrip("0123456789"))
    return sign * int(digits[:n][:9]) if n else default


MAX_ITEMS = 1000
_T = TypeVar("_T")


def _at_most(items: list[_T]) -> list[_T]:
    if len(items) > MAX_ITEMS:
        raise ValueError(f"must contain no more than {MAX_ITEMS} elements")
    return items


AtMost1000 = AfterValidator(_at_most)
"""A list bound checked after parsing (not a ``maxItems`` in the schema: an oversized body
is refused by the body-size limit first, with 413)."""
