"""Ring toolkit reward library: ``verify(response, reference, domain)`` for math, science, code,
logic games and instruction following. Imports nothing heavy (no torch/polars/datasets/transformers).

Note: PyPI has an unrelated package also named ``verifiers`` (an RL-environments library); do not
install both into one environment.
"""

from .registry import (
    ReferenceCheck,
    domains,
    get_reference_check,
    get_verifier,
    register,
    register_reference_check,
)
from .result import Status, VerifyResult

__all__ = [
    "ReferenceCheck",
    "Status",
    "VerifyResult",
    "domains",
    "get_reference_check",
    "get_verifier",
    "register",
    "register_reference_check",
]
