"""Pure difficulty math: buckets and keep rules."""

from __future__ import annotations

import pytest

from ring_data.annotate.difficulty import bucket_of, difficulty_of, outside_keep_range


@pytest.mark.parametrize(
    ("c", "n", "bucket"),
    [
        (0, 8, "all_wrong"),
        (1, 8, "hard"),
        (2, 8, "hard"),
        (3, 8, "medium"),
        (5, 8, "medium"),
        (6, 8, "easy"),
        (7, 8, "easy"),
        (8, 8, "all_correct"),
        (1, 1, "all_correct"),
        (0, 1, "all_wrong"),
    ],
)
def test_buckets(c, n, bucket):
    assert bucket_of(c, n) == bucket


def test_bucket_thresholds_and_bad_counts():
    assert bucket_of(3, 8, hard_max=0.4) == "hard"
    assert bucket_of(5, 8, easy_min=0.6) == "easy"
    with pytest.raises(ValueError):
        bucket_of(9, 8)
    with pytest.raises(ValueError):
        bucket_of(0, 0)


def test_difficulty_record():
    d = difficulty_of([True, False, False, True], "m").to_dict()
    assert d == {"pass_rate": 0.5, "n_samples": 4, "n_correct": 2, "bucket": "medium", "model": "m"}


def test_keep_rules():
    assert outside_keep_range(0.0, 0, 8, None, True) == "all_wrong"
    assert outside_keep_range(1.0, 8, 8, None, True) == "all_correct"
    assert outside_keep_range(0.5, 4, 8, None, True) is None
    assert outside_keep_range(1.0, 8, 8, None, False) is None
    assert outside_keep_range(0.95, 19, 20, (0.1, 0.9), False) == "outside_keep_range_0.1_0.9"
    assert outside_keep_range(0.9, 18, 20, (0.1, 0.9), False) is None
