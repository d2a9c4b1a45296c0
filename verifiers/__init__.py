"""Ring toolkit reward library: ``verify(response, reference, domain)`` for math, science, code,
logic games and instruction following. Imports nothing heavy (no torch/polars/datasets/transformers).

Note: PyPI has an unrelated package also named ``verifiers`` (an RL-environments library); do not
install both into one environment.
"""

from .api import DEFAULT_TIMEOUT_S, check_reference, verify, verify_batch
from .common import reference_answer
from .registry import (
    DomainInfo,
    ReferenceCheck,
    domain_info,
    domain_infos,
    domains,
    game_domains,
    get_generator,
    get_reference_check,
    get_verifier,
    register,
    register_reference_check,
)
from .result import Status, VerifyResult

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DomainInfo",
    "ReferenceCheck",
    "Status",
    "VerifyResult",
    "check_reference",
    "domain_info",
    "domain_infos",
    "domains",
    "game_domains",
    "get_generator",
    "get_reference_check",
    "get_verifier",
    "reference_answer",
    "register",
    "register_reference_check",
    "verify",
    "verify_batch",
]
