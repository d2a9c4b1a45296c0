"""Domain registry: a name maps to one verifier ``fn(response, reference, **options) -> VerifyResult``
and to the domain's metadata (:class:`DomainInfo`: how a response states its answer, whether curation
compares its text verbatim, its default prompt, which clean filters apply, its row generator).

Built-in domains are imported lazily on first use so ``import verifiers`` stays cheap (worker start-up
is on the rollout's critical path; math pulls sympy). Their metadata is declared in the table below,
next to the module that registers each, so curation reads it without importing any verifier. A user
domain passes its metadata when it registers (docs/architecture.md §7)::

    from verifiers import DomainInfo, VerifyResult, register

    @register("yesno", info=DomainInfo(answer_format="tagged"))
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
Generator = Callable[
    ..., dict[str, Any]
]  # (rng: random.Random, **params) -> {"prompt", "reference", "meta"?}

ANSWER_FORMATS = ("boxed", "tagged", "text")
# what a prompt asks for, per answer format (math: the Ring-lite instruction, ring-lite-paper.md §3.3.1)
ANSWER_INSTRUCTIONS = {
    "boxed": "Please reason step by step, and put your final answer within \\boxed{}.",
    "tagged": "Please reason step by step, and put your final answer within <answer> </answer> tags.",
    "text": "",
}


@dataclass(frozen=True)
class DomainInfo:
    """What the rest of the toolkit needs to know about a domain, declared once with its verifier.

    - ``answer_format``: how a response states its answer: ``boxed`` (``\\boxed{..}``), ``tagged``
      (``<answer>..</answer>``) or ``text`` (the response itself, or a format the prompt asks for);
      annotate asks for it and verify wraps candidate answers in it;
    - ``verbatim``: its prompts are content to the letter (grids, symbols: ``#S..#``, ``0 1 0``), so
      clean compares them split on whitespace only, never stripped of punctuation;
    - ``prompt_template``: annotate's default user turn (``{prompt}`` marks the problem; ``{language}``
      is filled from a code reference); None: the problem plus the answer format's instruction;
    - ``filters``: the clean filters that apply to it besides those that apply to every domain
      (``ring_data.clean.filters``: e.g. ``latex``, ``choice``);
    - ``generator``: a row generator ``(rng, **params) -> {"prompt", "reference", "meta"?}`` (games;
      ``verifiers.games.generate`` lists every domain that has one), or its ``"module:function"`` path.
    """

    answer_format: str = "text"
    verbatim: bool = False
    prompt_template: str | None = None
    filters: tuple[str, ...] = ()
    generator: Generator | str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}, got {self.answer_format!r}")
        if isinstance(self.filters, str):
            raise ValueError("filters is a tuple of filter names, not a string")

    @property
    def template(self) -> str:
        """The default prompt template: ``prompt_template``, else the problem and the instruction."""
        if self.prompt_template is not None:
            return self.prompt_template
        instruction = ANSWER_INSTRUCTIONS[self.answer_format]
        return "{prompt}\n" + instruction if instruction else "{prompt}"

    def as_response(self, answer: str) -> str:
        """A bare answer (a candidate, a reference) as a response this domain's verifier reads."""
        if self.answer_format == "boxed" and "\\boxed" not in answer:
            return f"\\boxed{{{answer}}}"
        if self.answer_format == "tagged" and "<answer>" not in answer:
            return f"<answer>{answer}</answer>"
        return answer


_MATH_FILTERS = ("latex", "choice", "multipart", "proof")
_GAME = {"answer_format": "tagged", "verbatim": True}
# Built-in domains: the module that registers each on import (imported on first use) and the domain's
# metadata, read from here without importing the module.
_BUILTINS: dict[str, tuple[str, DomainInfo]] = {
    "math": ("verifiers.math", DomainInfo(answer_format="boxed", filters=_MATH_FILTERS)),
    "science": ("verifiers.science", DomainInfo(answer_format="boxed", filters=("latex", "multipart"))),
    "code": (
        "verifiers.code",
        DomainInfo(
            prompt_template="{prompt}\n\nWrite your solution as a complete {language} program in one "
            "```{language} code block."
        ),
    ),
    **{
        game: (f"verifiers.games.{game}", DomainInfo(**_GAME, generator=f"verifiers.games.{game}:generate"))
        for game in ("countdown", "sudoku", "maze", "arc", "knights_knaves")
    },
    "ifeval": ("verifiers.ifeval", DomainInfo()),
}

_REGISTRY: dict[str, Verifier] = {}
_INFO: dict[str, DomainInfo] = {}  # user domains, and built-ins re-registered with other metadata
# bumped when a user (not a lazily imported built-in) registers something: forked workers that predate
# the change are retired so they see the new verifier
_GENERATION = 0


def generation() -> int:
    return _GENERATION


def _bump(name: str, override: bool) -> None:
    global _GENERATION
    if override or name not in _BUILTINS:
        _GENERATION += 1


def register(
    name: str, fn: Verifier | None = None, *, info: DomainInfo | None = None, override: bool = False
) -> Any:
    """Register ``fn`` as the verifier of domain ``name`` with its metadata ``info`` (usable as a
    decorator). Without ``info`` a new domain gets ``DomainInfo()`` (free-text answers, compared like
    prose, the bare prompt, the filters every domain gets) and a built-in keeps its declared metadata."""
    if info is not None and not isinstance(info, DomainInfo):
        raise TypeError(f"info must be a DomainInfo, got {type(info).__name__}")

    def _add(f: Verifier) -> Verifier:
        if name in _REGISTRY and _REGISTRY[name] is not f and not override:
            raise ValueError(f"domain {name!r} is already registered (pass override=True to replace it)")
        _REGISTRY[name] = f
        if info is not None:
            _INFO[name] = info
        elif name not in _BUILTINS:
            _INFO.setdefault(name, DomainInfo())
        _bump(name, override)
        return f

    return _add(fn) if fn is not None else _add


def get_verifier(name: str) -> Verifier:
    """The verifier for ``name``; an unknown name is a programming error and raises ValueError."""
    if name not in _REGISTRY and name in _BUILTINS:
        importlib.import_module(_BUILTINS[name][0])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown verifier domain {name!r}; known: {', '.join(domains())}") from None


def domain_info(name: str) -> DomainInfo:
    """The metadata of domain ``name`` (imports nothing); an unknown name raises ValueError."""
    if name in _INFO:
        return _INFO[name]
    if name in _BUILTINS:
        return _BUILTINS[name][1]
    raise ValueError(f"unknown verifier domain {name!r}; known: {', '.join(domains())}")


def domain_infos() -> dict[str, DomainInfo]:
    """Every known domain's metadata, built-in and registered (imports nothing)."""
    return {name: domain_info(name) for name in domains()}


def builtin_modules() -> dict[str, str]:
    """Built-in domain name -> the module that registers it."""
    return {name: module for name, (module, _) in _BUILTINS.items()}


def game_domains() -> list[str]:
    """Domains with a row generator (the logic games and any user domain registered with one)."""
    return [name for name, info in domain_infos().items() if info.generator is not None]


def get_generator(name: str) -> Generator:
    """The row generator of ``name``; ValueError if the domain has none."""
    gen = domain_info(name).generator
    if gen is None:
        raise ValueError(f"domain {name!r} has no row generator; games: {', '.join(game_domains())}")
    if isinstance(gen, str):
        module, _, attr = gen.partition(":")
        gen = getattr(importlib.import_module(module), attr)
    return gen


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
    return sorted(set(_BUILTINS) | set(_REGISTRY))
