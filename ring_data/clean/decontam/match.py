"""All the rules at once: a row's first hit, word rules before the math signature."""

from __future__ import annotations

import numpy as np

from ..normalize import Encoded, MathEncoded
from .hit import Hit
from .index import BenchmarkIndex
from .lexical import lexical_hits
from .params import DecontamParams
from .signature import math_hits


def find_contamination(
    enc: Encoded,
    indexes: list[BenchmarkIndex],
    params: DecontamParams,
    active: np.ndarray | None = None,
    math: MathEncoded | None = None,
) -> dict[int, Hit]:
    """Row index -> first hit, for the active rows of ``enc`` (vectorised over rows). ``math`` are the
    rows' math signatures (``encode_math``; default ``enc.math``); without them the math-signature rule
    is skipped."""
    active = np.ones(enc.n_docs, dtype=bool) if active is None else active
    math = enc.math if math is None else math
    hits = lexical_hits(enc, indexes, params, active)
    if params.math and math is not None:
        todo = active.copy()
        todo[list(hits)] = False
        hits.update(math_hits(math, indexes, params, todo))
    return hits
