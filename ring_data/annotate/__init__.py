"""``ring-data annotate``: label each problem's difficulty from n model samples scored by ``verifiers``.

Samplers (``hf:``, ``vllm:``, ``openai:``, ``samples:``, and any registered with
:func:`register_sampler`) share one interface, see :mod:`ring_data.annotate.samplers`; the pipeline is
:func:`ring_data.annotate.pipeline.annotate`.
"""

from .difficulty import Difficulty, bucket_of
from .pipeline import AnnotateConfig, annotate
from .samplers import Prompt, Sampler, SamplingSettings, make_sampler, register_sampler

__all__ = [
    "AnnotateConfig",
    "Difficulty",
    "Prompt",
    "Sampler",
    "SamplingSettings",
    "annotate",
    "bucket_of",
    "make_sampler",
    "register_sampler",
]
