"""``ring-data annotate``: label each problem's difficulty from n model samples scored by ``verifiers``.

Samplers (``hf:``, ``vllm:``, ``openai:``, ``samples:``) share one interface, see
:mod:`ring_data.annotate.samplers`; the pipeline is :func:`ring_data.annotate.pipeline.annotate`.
"""

from .difficulty import Difficulty, bucket_of
from .pipeline import AnnotateConfig, AnnotateStats, annotate
from .samplers import Prompt, Sampler, SamplingSettings, make_sampler

__all__ = [
    "AnnotateConfig",
    "AnnotateStats",
    "Difficulty",
    "Prompt",
    "Sampler",
    "SamplingSettings",
    "annotate",
    "bucket_of",
    "make_sampler",
]
