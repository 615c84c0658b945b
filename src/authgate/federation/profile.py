"""What a provider told us about the person signing in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Profile:
    provider: str
    """The login provider's name (``google``, ``github``, a configured OIDC name)."""
    subject: str
    """The provider's stable id of the account (``sub``; GitHub's numeric id): the identity
    key. Never the email, which can change hands."""
    email: str | None
    email_verified: bool
    """The provider vouches that ``email`` belongs to this account (the linking rule)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Display data (``name``, ``givenName``, ``familyName``, ``picture``, ``login``)."""


def text(value: Any, limit: int = 320) -> str | None:
    """A provider string value, or None (not a string, empty, or too long to be real)."""
    return value if isinstance(value, str) and value and len(value) <= limit else None
