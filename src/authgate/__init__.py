"""authgate: authentication and multi-factor security, wire-compatible with @ackplus/nest-auth.

The public surface is what ``__all__`` lists; everything else is internal and may move.
Attributes load on first use (PEP 562), so importing a submodule costs only that submodule::

    from authgate import AuthGate, Settings, current_user, require, Principal
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "AuthGate",
    "Code",
    "Principal",
    "Settings",
    "__version__",
    "create_app",
    "current_user",
    "load_settings",
    "require",
]

_LAZY: dict[str, tuple[str, str]] = {
    "AuthError": ("authgate.errors", "AuthError"),
    "Code": ("authgate.errors", "Code"),
    "AuthGate": ("authgate.app", "AuthGate"),
    "create_app": ("authgate.app", "create_app"),
    "Settings": ("authgate.config", "Settings"),
    "load_settings": ("authgate.config", "load_settings"),
    "Principal": ("authgate.sessions.service", "Principal"),
    "current_user": ("authgate.http.deps", "current_principal"),
    "require": ("authgate.http.deps", "require"),
}
"""Public name → (module, attribute)."""


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'authgate' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from authgate.app import AuthGate, create_app
    from authgate.config import Settings, load_settings
    from authgate.errors import AuthError, Code
    from authgate.http.deps import current_principal as current_user
    from authgate.http.deps import require
    from authgate.sessions.service import Principal
