"""One interface for every way of drawing responses: ``Sampler.sample(prompts, n) -> responses`` (annotate)
and ``Sampler.sample_completions(prompts, n) -> completions`` (the same draws with each response's token
count and whether ``max_tokens`` cut it, what ``ring-train eval`` reports), and the registry that picks
a sampler by the kind in a spec (``kind:target``).

A sampler is one registered class: ``@register_sampler("kind")`` on a :class:`Sampler` subclass whose
constructor takes ``(target, settings, **options)`` and that implements ``sample_completions`` (the
built-in ones: one generation loop serves both methods) or only ``sample`` (then its completions have
unknown tokens and truncation). Every module of this package registers its own when
:func:`make_sampler` first runs (a new built-in sampler is one new file here plus its test); user code
registers its own before calling it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ring_data.errors import UserError


@dataclass(frozen=True)
class Prompt:
    """One problem as chat messages (``({"role": ..., "content": ...}, ...)``), keyed by the row id."""

    id: str
    messages: tuple[dict[str, str], ...]

    def as_text(self) -> str:
        """The prompt without a chat template: the message contents, blank-line separated."""
        return "\n\n".join(m["content"] for m in self.messages)


@dataclass(frozen=True)
class SamplingSettings:
    """Decoding settings shared by all samplers (Ring-lite evaluates at T=1.0, top-p 0.95).

    ``chat_template``: ``"auto"`` uses the model's template when it has one, ``"none"`` sends the raw
    text, anything else is a path to a Jinja template file. ``seed`` makes local sampling repeatable.
    """

    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 4096
    chat_template: str = "auto"
    system_prompt: str | None = None
    seed: int | None = 0


@dataclass(frozen=True)
class Completion:
    """One response and what the sampler knows of how it ended."""

    text: str
    tokens: int | None = None  # generated tokens, end-of-sequence not counted; None: unknown
    truncated: bool | None = None  # stopped by ``max_tokens``; None: unknown


class Sampler:
    """Draws ``n`` responses per prompt. ``model`` is the label written to ``difficulty.model``.

    A subclass implements :meth:`sample_completions` or :meth:`sample`; each default is the other's
    result (texts only, or wrapped with tokens and truncation unknown)."""

    model: str = ""
    cpu_bound: bool = False  # generation runs on this machine's CPU cores (verification would compete)

    def sample(self, prompts: Sequence[Prompt], n: int) -> list[list[str]]:
        """One list of responses per prompt, in prompt order. A sampler that has no responses for a
        prompt (``samples:`` without that id) returns an empty list for it; fewer than ``n`` is allowed."""
        _check_implemented(type(self))
        return [[c.text for c in group] for group in self.sample_completions(prompts, n)]

    def sample_completions(self, prompts: Sequence[Prompt], n: int) -> list[list[Completion]]:
        """:meth:`sample`'s responses with their token counts and truncation where the sampler knows them."""
        _check_implemented(type(self))
        return [[Completion(text) for text in group] for group in self.sample(prompts, n)]

    def failure(self, prompt_id: str) -> str | None:
        """Why a prompt got no responses (e.g. the server refused it as too long), once; None if unknown."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model / connections."""

    @classmethod
    def default_batch_size(cls, options: Mapping[str, Any]) -> int:
        """Problems per ``sample`` call that keep this sampler busy (given its constructor options):
        engines that batch internally (vLLM, precomputed samples) take many."""
        return 256

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_implemented(cls: type[Sampler]) -> None:
    """Each default calls the other: a class that overrides neither would recurse forever."""
    if cls.sample is Sampler.sample and cls.sample_completions is Sampler.sample_completions:
        raise TypeError(f"{cls.__name__} must implement sample() or sample_completions()")


_SAMPLERS: dict[str, type[Sampler]] = {}


def register_sampler(kind: str, *, override: bool = False) -> Callable[[type[Sampler]], type[Sampler]]:
    """Register the decorated :class:`Sampler` subclass for specs ``kind:target``."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", kind):
        raise ValueError(f"sampler kind must be lower case letters, digits, '-' or '_', got {kind!r}")

    def add(cls: type[Sampler]) -> type[Sampler]:
        if not (isinstance(cls, type) and issubclass(cls, Sampler)):
            raise TypeError(f"register_sampler({kind!r}) decorates a Sampler subclass, got {cls!r}")
        _check_implemented(cls)
        if kind in _SAMPLERS and _SAMPLERS[kind] is not cls and not override:
            raise ValueError(f"sampler {kind!r} is already registered (pass override=True to replace it)")
        _SAMPLERS[kind] = cls
        return cls

    return add


def _load_builtin_samplers() -> None:
    package = __name__.rpartition(".")[0]
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name != "base":
            importlib.import_module(f"{package}.{module.name}")


def sampler_kinds() -> tuple[str, ...]:
    """Every registered kind (the built-in ones first loaded)."""
    _load_builtin_samplers()
    return tuple(_SAMPLERS)


def sampler_class(spec: str) -> type[Sampler]:
    """The class registered for ``spec``'s kind; a one-line UserError for a malformed spec."""
    kinds = sampler_kinds()
    kind, sep, target = spec.partition(":")
    if not sep or kind not in kinds or not target:
        raise UserError(f"--sampler must be one of {', '.join(k + ':...' for k in kinds)}; got {spec!r}")
    return _SAMPLERS[kind]


def make_sampler(spec: str, settings: SamplingSettings | None = None, **options: Any) -> Sampler:
    """Build the sampler named by ``spec`` (``kind:target``). ``options`` go to that sampler's constructor
    (e.g. ``batch_size`` for hf, ``concurrency``/``retries``/``timeout`` for openai)."""
    cls = sampler_class(spec)
    return cls(spec.partition(":")[2], settings or SamplingSettings(), **options)
