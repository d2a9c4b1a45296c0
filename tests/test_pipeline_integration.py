"""Cross-package: the demo's raw pool through ``ring-data clean`` and ``ring-data verify`` (the CLI a user runs).
Planted defects must be removed for the right reason, and distinct generated problems must survive."""

from __future__ import annotations

import json
from collections import Counter

import pytest

pytest.importorskip("polars")

from cli import ring_data  # noqa: E402
from ring_data.io import read_rows  # noqa: E402
from ring_train.demo import build_raw_pool  # noqa: E402


def test_demo_pool_through_clean_and_verify(tmp_path):
    planted = build_raw_pool(tmp_path / "raw.jsonl", seed=0)
    assert ring_data.main(["clean", str(tmp_path / "raw.jsonl"), "-o", str(tmp_path / "clean.jsonl")]) == 0
    assert ring_data.main(["verify", str(tmp_path / "clean.jsonl"), "-o", str(tmp_path / "ok.jsonl")]) == 0

    raw = list(read_rows(tmp_path / "raw.jsonl"))
    clean_rej = list(read_rows(tmp_path / "clean.rejects.jsonl"))
    kept = list(read_rows(tmp_path / "clean.jsonl"))
    assert len(raw) == planted["total"] == len(kept) + len(clean_rej)
    reasons = Counter(r["reason"] for r in clean_rej)
    assert reasons["exact_duplicate"] >= planted["exact_dups"]
    assert reasons["near_duplicate"] >= planted["near_dups"]
    assert reasons["contamination"] == planted["benchmark"]
    assert reasons["filter_image"] == 1 and reasons["filter_choice"] == 1

    # different generated games (other grids, statements, answers) are never duplicates: a removed game
    # must be an identical copy (same prompt and reference) of the row kept in its place
    games = {"maze", "sudoku", "knights_knaves", "arc", "countdown"}
    by_id = {r["id"]: r for r in kept}
    for r in clean_rej:
        if r["domain"] in games:
            twin = by_id[r["evidence"]["kept_id"]]
            assert (r["prompt"], r["reference"]) == (twin["prompt"], twin["reference"]), r["reason"]

    stats = json.loads((tmp_path / "ok.jsonl.stats.json").read_text())
    verify_rej = Counter(r["reason"] for r in read_rows(tmp_path / "ok.rejects.jsonl"))
    assert stats["kept"] + stats["rejected"] == len(kept)
    assert verify_rej == {"unknown_domain": 1, "invalid_reference": 1, "reference_failed": 1}
