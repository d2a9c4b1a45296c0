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


def test_a_rerun_of_the_demo_starts_over_but_never_clears_a_foreign_folder(tmp_path):
    """Was: a second ``make demo`` stopped with a traceback (the training run dir of the first one
    had checkpoints). A previous demo's folder is replaced; any other non-empty folder is refused."""
    from ring_train.demo import fresh_demo_dir

    previous = tmp_path / "demo"
    (previous / "train" / "rl" / "checkpoints").mkdir(parents=True)
    (previous / "raw.jsonl").write_text("{}\n")  # an earlier demo, killed after its first step
    assert fresh_demo_dir(previous) is None
    assert previous.is_dir() and list(previous.iterdir()) == []
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert "not a demo's outputs" in fresh_demo_dir(foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert fresh_demo_dir(tmp_path / "new" / "dir") is None and (tmp_path / "new" / "dir").is_dir()
