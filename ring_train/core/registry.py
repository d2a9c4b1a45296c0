"""A named registry: the one list an extension point's choices come from.

Advantage estimators, loss aggregations, KL estimators and rollout engines each keep one
:class:`Registry`. Config validation, the docs' choice lists and backend mappings all read it, so a name
registered from user code is selectable by config without editing the package, and a name cannot be
valid in one list and missing in another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """``name -> entry`` for one kind of part (``kind`` names it in errors, e.g. "advantage estimator")."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Register ``entry`` as ``name``. Registering a taken name is an error unless ``replace``
        (two plug-ins silently shadowing each other would train the wrong thing)."""
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True to override it)")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Unregister ``name`` (tests and plug-ins that clean up after themselves)."""
        self._entries.pop(name, None)

    def decorator(self, name: str, make: Callable[[Callable], T], *, replace: bool = False):
        """``@decorator(name, make)`` registers ``make(fn)`` and returns ``fn`` unchanged."""

        def register(fn: Callable) -> Callable:
            self.add(name, make(fn), replace=replace)
            return fn

        return register

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.kind} {name!r} (registered: {', '.join(self.names())})"
            ) from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
