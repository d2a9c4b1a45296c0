"""The settings of decontamination (``DecontamParams``) and the constants its matchers share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecontamParams:
    n: int = 8
    min_overlap: float = 0.5
    min_digitless_tokens: int = 6
    # math signature (language-independent); see math_matches and docs/clean.md for the tuning
    math: bool = True
    math_min_ngrams: int = 3  # sequence rule: shared informative math 3-grams ...
    math_min_overlap: float = 0.5  # ... covering this share of the item's informative 3-grams ...
    math_min_number_cover: float = 0.8  # ... and this share of the item's number bits in the row (all rules)
    math_number_bits: float = 20.0  # numbers rule: bits of the shared numbers of >= 2 significant digits
    math_min_purity: float = 0.5  # numbers / answer rules: share of the row's number bits that are the item's
    math_answer_min_overlap: float = 0.2  # answer rule: share of the item's informative 3-grams (if >= 3)
    math_answer_bits: float = 12.0  # answer rule: bits of shared numbers + answer + shared 3-grams ...
    math_answer_exact_bits: float = 10.0  # ... or this many when the row's numbers are exactly the item's


MATH_N = 3  # math-token n-gram length: order inside formulas survives translation, order across them not
RARE_NUMBER_BITS = 6.0  # numbers rule: only numbers with >= 2 significant digits (number_bits >= 6.6) count
