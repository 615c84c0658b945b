"""Plain records the session stores hand out (no ORM objects cross the store boundary)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

from authgate.identity.snapshot import UserSnapshot

MfaState = Literal["none", "pending", "verified"]
"""``none``: MFA was not required at login; ``pending``: a second factor is still owed
(only MFA-step routes are open); ``verified``: the second factor was given."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    user_id: str
    generation: int
    rotated_at: datetime
    expires_at: datetime
    last_active: datetime
    created_at: datetime
    authenticated_at: datetime
    mfa_state: MfaState = "none"
    amr: tuple[str, ...] = ()
    tenant_id: str | None = None
    user_agent: str | None = None
    device_name: str | None = None
    ip_address: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def with_changes(self, **changes: Any) -> SessionRecord:
        return replace(self, **changes)


_DT_FIELDS = {
    "email_verified_at",
    "phone_verified_at",
    "created_at",
    "updated_at",
    "rotated_at",
    "expires_at",
    "last_active",
    "authenticated_at",
}


def to_json_dict(obj: SessionRecord | UserSnapshot) -> dict[str, Any]:
    out = asdict(obj)
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat()
        elif isinstance(v, tuple):
            out[k] = list(v)
    return out


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _from(cls: Any, raw: dict[str, Any]) -> Any:
    # on the Redis hot path twice a request: field names once per class, not per call
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    kwargs: dict[str, Any] = {}
    for name in names:
        if name not in raw:
            continue
        v = raw[name]
        if name in _DT_FIELDS and isinstance(v, str):
            v = datetime.fromisoformat(v).astimezone(UTC)
        elif name == "amr":
            v = tuple(v) if isinstance(v, list) else ()  # Lua's cjson writes [] as {}
        elif name in ("data", "meta") and not isinstance(v, dict):
            v = {}
        kwargs[name] = v
    return cls(**kwargs)


def session_from_json(raw: dict[str, Any]) -> SessionRecord:
    rec: SessionRecord = _from(SessionRecord, raw)
    return rec


def user_from_json(raw: dict[str, Any]) -> UserSnapshot:
    snap: UserSnapshot = _from(UserSnapshot, raw)
    return snap
