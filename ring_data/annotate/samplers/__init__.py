"""Samplers behind one interface (:class:`Sampler`: ``sample`` for texts, ``sample_completions`` for
texts with token counts and truncation), chosen by a spec string ``kind:target``; each is one
module here that registers its class (:func:`register_sampler`):

- ``hf:PATH``: a local transformers model, batched ``generate`` (CPU or GPU);
- ``vllm:PATH``: in-process vLLM (GPU; needs the ``vllm`` package);
- ``openai:URL``: any OpenAI-compatible server (``vllm serve``, SGLang), concurrent, with retries;
- ``samples:FILE``: precomputed responses (JSONL of ``{"id", "responses": [..], "lengths"?, "truncated"?}``).
"""

from .base import (
    Completion,
    Prompt,
    Sampler,
    SamplingSettings,
    make_sampler,
    register_sampler,
    sampler_class,
    sampler_kinds,
)

KINDS = sampler_kinds()  # the kinds registered at import (the built-in ones)

__all__ = [
    "KINDS",
    "Completion",
    "Prompt",
    "Sampler",
    "SamplingSettings",
    "make_sampler",
    "register_sampler",
    "sampler_class",
    "sampler_kinds",
]
