"""Domain registry: a name maps to one callable ``fn(response, reference, **options) -> VerifyResult``.

Built-in domains are imported lazily on first use so ``import verifiers`` stays cheap (worker start-up
is on the rollout's critical path). A user adds a domain with one decorated function::

    from verifiers import register, VerifyResult

    @register("yesno")
    def check(response, reference, **options):
        ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .result import VerifyResult

Verifier = Callable[..., VerifyResult]

# domain name -> module that registers it on import
_BUILTIN_MODULES: dict[str, str] = {
    "math": "verifiers.math",
    "science": "verifiers.science",
    "code": "verifiers.code",
    "countdown": "verifiers.games.countdown",
    "sudoku": "verifiers.games.sudoku",
    "maze": "verifiers.games.maze",
    "arc": "verifiers.games.arc",
    "knights_knaves": "verifiers.games.knights_knaves",
    "ifeval": "verifiers.ifeval",
}

_REGISTRY: dict[str, Verifier] = {}
# bumped when a user (not a lazily imported built-in) registers something: forked workers that predate
# the change are retired so they see the new verifier
_GENERATION = 0


def generation() -> int:
    return _GENERATION


def _bump(name: str, override: bool) -> None:
    global _GENERATION
    if override or name not in _BUILTIN_MODULES:
        _GENERATION += 1


def register(name: str, fn: Verifier | None = None, *, override: bool = False) -> Any:
    """Register ``fn`` as the verifier of domain ``name`` (usable as a decorator)."""

    def _add(f: Verifier) -> Verifier:
        if name in _REGISTRY and _REGISTRY[name] is not f and not override:
            raise ValueError(f"domain {name!r} is already registered (pass override=True to replace it)")
        _REGISTRY[name] = f
        _bump(name, override)
        return f

    return _add(fn) if fn is not None else _add


def get_verifier(name: str) -> Verifier:
    """The verifier for ``name``; an unknown name is a programming error and raises ValueError."""
    if name not in _REGISTRY and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown verifier domain {name!r}; known: {', '.join(domains())}") from None


@dataclass(frozen=True)
class ReferenceCheck:
    """Whether a reference is usable by its domain's verifier (``ring-data verify`` rejects if not)."""

    ok: bool
    reason: str = ""  # snake_case code when not ok, e.g. "invalid_reference", "reference_failed"
    evidence: dict[str, Any] = field(default_factory=dict)


ReferenceChecker = Callable[..., ReferenceCheck]
_REF_CHECKERS: dict[str, ReferenceChecker] = {}


def register_reference_check(name: str, fn: ReferenceChecker | None = None) -> Any:
    """Register ``fn(reference, **options) -> ReferenceCheck`` for domain ``name`` (decorator)."""

    def _add(f: ReferenceChecker) -> ReferenceChecker:
        _REF_CHECKERS[name] = f
        _bump(name, False)
        return f

    return _add(fn) if fn is not None else _add


def get_reference_check(name: str) -> ReferenceChecker | None:
    """The reference checker of ``name`` (None if the domain has none). Unknown domain: ValueError."""
    get_verifier(name)  # loads the built-in module, raises ValueError for unknown names
    return _REF_CHECKERS.get(name)


def domains() -> list[str]:
    """All domain names: built-in and user-registered."""
    return sorted(set(_BUILTIN_MODULES) | set(_REGISTRY))
