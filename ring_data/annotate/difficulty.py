"""Difficulty from n verified samples: pass rate, bucket, keep rules. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass

BUCKETS = ("all_wrong", "hard", "medium", "easy", "all_correct")


@dataclass(frozen=True)
class Difficulty:
    """What annotate writes to ``row["difficulty"]`` (docs/architecture.md §2)."""

    pass_rate: float
    n_samples: int
    n_correct: int
    bucket: str
    model: str

    def to_dict(self) -> dict:
        return asdict(self)


def bucket_of(n_correct: int, n_samples: int, *, hard_max: float = 0.25, easy_min: float = 0.75) -> str:
    """``all_wrong`` (0/n), ``hard`` (p <= hard_max), ``medium``, ``easy`` (p >= easy_min), ``all_correct`` (n/n).

    The two extremes are exact counts, not rates, because they are what Ring-lite drops: a problem the
    model always solves teaches nothing, one no sample solves gives a zero-variance GRPO group.
    """
    if n_samples <= 0:
        raise ValueError("n_samples must be positive")
    if not 0 <= n_correct <= n_samples:
        raise ValueError(f"n_correct={n_correct} outside 0..{n_samples}")
    if n_correct == 0:
        return "all_wrong"
    if n_correct == n_samples:
        return "all_correct"
    p = n_correct / n_samples
    if p <= hard_max:
        return "hard"
    if p >= easy_min:
        return "easy"
    return "medium"


def difficulty_of(
    correct: list[bool], model: str, *, hard_max: float = 0.25, easy_min: float = 0.75
) -> Difficulty:
    n, c = len(correct), sum(bool(x) for x in correct)
    return Difficulty(
        pass_rate=c / n,
        n_samples=n,
        n_correct=c,
        bucket=bucket_of(c, n, hard_max=hard_max, easy_min=easy_min),
        model=model,
    )


def outside_keep_range(pass_rate: float, n_correct: int, n_samples: int, keep_range, drop_extremes: bool):
    """Why a labelled problem is dropped (a short string) or None to keep it.

    ``drop_extremes`` drops 0/n and n/n; ``keep_range=(lo, hi)`` keeps lo <= pass_rate <= hi (open-r1 style).
    """
    if drop_extremes and n_correct in (0, n_samples):
        return "all_correct" if n_correct == n_samples else "all_wrong"
    if keep_range is not None:
        lo, hi = keep_range
        if not lo <= pass_rate <= hi:
            return f"outside_keep_range_{lo:g}_{hi:g}"
    return None
