"""Benchmark decontamination: hashed indexes (no benchmark text) and matching, one job per module.

A row is contaminated by a benchmark item when any of these holds (checked in this order; the first
decides):

1. ``exact``, 2. ``digitless``, 3. ``ngram``: the word rules (:mod:`.lexical`);
4. ``math_signature``: the row's mathematics matches the item's whatever language the words are in
   (:mod:`.signature`): its math-token n-grams, its numbers, and its reference answer;
5. ``semantic`` (optional): embedding cosine (:mod:`.semantic`, run by the clean stage).

Modules: :mod:`.params` (settings), :mod:`.index` (the index format, the shipped indexes),
:mod:`.sources` (a run's indexes, user benchmark files), :mod:`.arrays` (shared array helpers),
:mod:`.lexical`, :mod:`.signature`, :mod:`.match` (all rules at once), :mod:`.hit` (what a match
records, completed into evidence when written), :mod:`.language` (the row's language),
:mod:`.semantic` (embedding models). Item ids (e.g. ``AIME2024/3``), the language of the matched text
and what matched (the n-gram or the math tokens, taken from the training row) are the evidence.
"""

from .hit import Hit
from .index import (
    COMMON_MATH_NGRAMS,
    INDEX_DIR,
    BenchmarkIndex,
    builtin_names,
    common_math_ngrams,
    frequent_math_ngrams,
    load_builtin,
)
from .language import detect_language
from .match import find_contamination
from .params import MATH_N, DecontamParams
from .signature import RowMath, math_matches, merge_signatures
from .sources import benchmark_names, index_from_rows, load_indexes

__all__ = [
    "COMMON_MATH_NGRAMS",
    "INDEX_DIR",
    "MATH_N",
    "BenchmarkIndex",
    "DecontamParams",
    "Hit",
    "RowMath",
    "benchmark_names",
    "builtin_names",
    "common_math_ngrams",
    "detect_language",
    "find_contamination",
    "frequent_math_ngrams",
    "index_from_rows",
    "load_builtin",
    "load_indexes",
    "math_matches",
    "merge_signatures",
]
