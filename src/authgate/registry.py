"""Registries of pluggable parts: MFA methods and login providers.

A registry maps a name to an object; adding a method or a provider is one module plus one
``register(...)`` line. The built-ins register themselves when their package is imported;
a registry imports that package (by name, like an entry point) the first time it is read,
so the settings can validate ``mfa.methods`` against it without importing any feature.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from authgate.accounts.providers.base import LoginProvider
    from authgate.config import Settings
    from authgate.mfa.methods.base import MfaMethod


class _Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=_Named)


class Registry(Generic[T]):
    def __init__(self, kind: str, builtins: str) -> None:
        self.kind = kind
        self._builtins = builtins
        self._loaded = False
        self._items: dict[str, T] = {}
        self._version = 0

    @property
    def version(self) -> int:
        """Bumped on every change: what is composed from the registry is cached by it."""
        self._load()
        return self._version

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            importlib.import_module(self._builtins)

    def register(self, item: T) -> T:
        """Add ``item`` under ``item.name``; a name is registered once."""
        if item.name in self._items:
            raise ValueError(f"{self.kind} {item.name!r} is already registered")
        self._items[item.name] = item
        self._version += 1
        return item

    def unregister(self, name: str) -> None:
        del self._items[name]
        self._version += 1

    def get(self, name: str) -> T | None:
        self._load()
        return self._items.get(name)

    def names(self) -> tuple[str, ...]:
        self._load()
        return tuple(self._items)

    def __iter__(self) -> Iterator[T]:
        self._load()
        return iter(list(self._items.values()))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items


class LoginProviders(Registry["LoginProvider"]):
    """Login providers: the registered ones, plus those a *source* builds from the
    settings (each configured OpenID Connect provider is one, named in the settings)."""

    def __init__(self, kind: str, builtins: str) -> None:
        super().__init__(kind, builtins)
        self._sources: list[Callable[[Settings], Iterable[LoginProvider]]] = []

    def add_source(self, source: Callable[[Settings], Iterable[LoginProvider]]) -> None:
        self._sources.append(source)

    def configured(self, settings: Settings) -> list[LoginProvider]:
        """The providers ``settings`` add (not the registered ones)."""
        self._load()
        return [p for source in self._sources for p in source(settings)]

    def find(self, name: str, settings: Settings) -> LoginProvider | None:
        """The provider a login's ``providerName`` names, registered or configured."""
        found = self.get(name)
        if found is not None:
            return found
        return next((p for p in self.configured(settings) if p.name == name), None)


mfa_methods: Registry[MfaMethod] = Registry("MFA method", "authgate.mfa.methods")
login_providers = LoginProviders("login provider", "authgate.accounts.providers")
