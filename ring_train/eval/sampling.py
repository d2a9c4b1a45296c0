"""The annotate samplers (``hf:``, ``vllm:``, ``openai:``, ``samples:``, and any registered from user code)
as an evaluation uses them: their ``sample_completions``, the one generation loop annotate uses too,
gives each response with its length in tokens and whether it was cut at ``max_tokens``. What is left
to do here is eval's own:

- a sampler that gave no token count (``openai:``; a ``samples:`` file without ``lengths``; a user
  sampler that implements only ``sample``) is counted with ``--tokenizer`` when given;
- a response whose truncation is unknown is truncated when its length reaches ``max_tokens``;
- a ``samples:`` file is looked up by benchmark and id (``ring-train eval --save-samples`` writes
  several benchmarks into one file; an annotate ``--save-samples`` file, without benchmarks, works too).

Responses are therefore annotate's for the same seed: ``hf:`` and ``vllm:`` draw each problem from its
own seed (the run's seed and the problem's id, :mod:`ring_data.annotate.seeding`), so a problem's
responses do not depend on which problems share its batch, and equal what ``ring-data annotate``
samples for it with that seed and the same prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ring_data.annotate.samplers import Completion, Prompt, SamplingSettings, make_sampler
from ring_data.annotate.samplers.base import Sampler
from ring_data.annotate.samplers.samples import SamplesFileSampler

__all__ = ["Completion", "DetailedSampler", "make_detailed_sampler"]


class DetailedSampler:
    """``sample(prompts, n, benchmark) -> [[Completion]]`` over one annotate sampler, with every
    completion's tokens and truncation filled in where they can be known."""

    def __init__(self, sampler: Sampler, settings: SamplingSettings, tokenizer: Any = None):
        self.sampler = sampler
        self.settings = settings
        self.tokenizer = tokenizer
        self.model = sampler.model

    def _count(self, text: str) -> int | None:
        if self.tokenizer is None:
            return None
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _complete(self, c: Completion) -> Completion:
        tokens = self._count(c.text) if c.tokens is None else c.tokens
        truncated = c.truncated
        if truncated is None and tokens is not None:
            truncated = tokens >= self.settings.max_tokens
        return Completion(c.text, tokens, truncated)

    def sample(self, prompts: Sequence[Prompt], n: int, benchmark: str = "") -> list[list[Completion]]:
        if isinstance(self.sampler, SamplesFileSampler):  # one file may hold several benchmarks
            drawn = [self.sampler.lookup(p.id, n, benchmark) for p in prompts]
        else:
            drawn = self.sampler.sample_completions(prompts, n)
        return [[self._complete(c) for c in group] for group in drawn]

    def failure(self, prompt_id: str) -> str | None:
        return self.sampler.failure(prompt_id)

    def close(self) -> None:
        self.sampler.close()


def make_detailed_sampler(
    spec: str, settings: SamplingSettings, *, tokenizer_path: str | None = None, **options: Any
) -> DetailedSampler:
    """The sampler named by ``spec`` (``hf:PATH``, ``vllm:PATH``, ``openai:URL``, ``samples:FILE``, or a
    registered kind); ``tokenizer_path`` counts tokens where the sampler gives none."""
    tokenizer = None
    if tokenizer_path:  # before the sampler, which would otherwise be left open if this fails
        from ring_data.annotate.samplers.hf import load_tokenizer

        tokenizer = load_tokenizer(tokenizer_path)
    sampler = make_sampler(spec, settings, **options)  # a malformed spec: a one-line UserError
    return DetailedSampler(sampler, settings, tokenizer)
