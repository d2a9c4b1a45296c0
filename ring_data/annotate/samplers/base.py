"""One interface for every way of drawing responses: ``Sampler.sample(prompts, n) -> responses``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


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


class Sampler(ABC):
    """Draws ``n`` responses per prompt. ``model`` is the label written to ``difficulty.model``."""

    model: str = ""
    cpu_bound: bool = False  # generation runs on this machine's CPU cores (verification would compete)

    @abstractmethod
    def sample(self, prompts: Sequence[Prompt], n: int) -> list[list[str]]:
        """One list of responses per prompt, in prompt order. A sampler that has no responses for a
        prompt (``samples:`` without that id) returns an empty list for it; fewer than ``n`` is allowed."""

    def failure(self, prompt_id: str) -> str | None:
        """Why a prompt got no responses (e.g. the server refused it as too long), once; None if unknown."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model / connections."""

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
