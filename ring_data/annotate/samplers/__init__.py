"""Samplers behind one interface (:class:`Sampler`), chosen by a spec string:

- ``hf:PATH``: a local transformers model, batched ``generate`` (CPU or GPU);
- ``vllm:PATH``: in-process vLLM (GPU; needs the ``vllm`` package);
- ``openai:URL``: any OpenAI-compatible server (``vllm serve``, SGLang), concurrent, with retries;
- ``samples:FILE``: precomputed responses (JSONL of ``{"id", "responses": [..]}``).
"""

from __future__ import annotations

from typing import Any

from ring_data.errors import UserError

from .base import Prompt, Sampler, SamplingSettings

KINDS = ("hf", "vllm", "openai", "samples")


def make_sampler(spec: str, settings: SamplingSettings | None = None, **options: Any) -> Sampler:
    """Build the sampler named by ``spec`` (``kind:target``). ``options`` go to that sampler's constructor
    (e.g. ``batch_size`` for hf, ``concurrency``/``retries``/``timeout`` for openai)."""
    kind, sep, target = spec.partition(":")
    if not sep or kind not in KINDS or not target:
        raise UserError(f"--sampler must be one of {', '.join(k + ':...' for k in KINDS)}; got {spec!r}")
    settings = settings or SamplingSettings()
    if kind == "hf":
        from .hf import HFSampler

        return HFSampler(target, settings, **options)
    if kind == "vllm":
        from .vllm import VLLMSampler

        return VLLMSampler(target, settings, **options)
    if kind == "openai":
        from .openai import OpenAISampler

        return OpenAISampler(target, settings, **options)
    from .samples import SamplesFileSampler

    return SamplesFileSampler(target, settings, **options)


__all__ = ["KINDS", "Prompt", "Sampler", "SamplingSettings", "make_sampler"]
