"""Ingest in several processes (byte ranges of one JSONL file) gives the same result, row for row,
as one process: outputs, rejects, evidence, line numbers of bad rows, contamination hits."""

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ring_data.clean.corpus import make_corpus
from ring_data.clean.pipeline import CleanConfig, clean
from ring_data.errors import BadInputError
from ring_data.io import Segment, read_rows, split_segments, write_rows
from ring_data.rows import checked_row, is_normal, normalize_row

TINY_SHARDS = {"min_shard_mb": 0.01}  # 10 kB shards: small test files are split too


def _with_contamination(tmp_path, n=1500):
    """A corpus with duplicates, plus benchmark items planted at a few places (some past the middle)."""
    import mmath

    items = json.loads((Path(mmath.__file__).parent / "mmath" / "en.json").read_text())
    rows = make_corpus(n, seed=21)
    for k, at in enumerate((10, n // 2 + 7, n - 3)):
        rows.insert(at, {"id": f"bench{k}", "domain": "math", "prompt": items[k]["question"]})
    return rows


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_ingest_matches_one_process_byte_for_byte(tmp_path, workers):
    rows = _with_contamination(tmp_path)
    write_rows(tmp_path / "in.jsonl", rows)
    one = clean(tmp_path / "in.jsonl", tmp_path / "one.jsonl", config=CleanConfig(ingest_workers=1))
    many = clean(
        tmp_path / "in.jsonl",
        tmp_path / "many.jsonl",
        config=CleanConfig(ingest_workers=workers, **TINY_SHARDS),
    )
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "many.jsonl").read_bytes()
    assert (tmp_path / "one.rejects.jsonl").read_bytes() == (tmp_path / "many.rejects.jsonl").read_bytes()
    assert one.stats["rejected_by_reason"] == many.stats["rejected_by_reason"]
    assert one.stats["rejected_by_reason"]["contamination"] == 3
    ingest_dir = tmp_path / "many.jsonl.work" / "ingest"
    assert (
        len(json.loads((ingest_dir / "contamination.json").read_text())["hits"]) == 3
    )  # found by the shards
    assert not list(ingest_dir.glob("rows.*.jsonl"))  # shard spools merged
    # other decontamination settings on resume: ingest is reused, its precomputed hits are not
    again = clean(
        tmp_path / "in.jsonl",
        tmp_path / "many.jsonl",
        config=CleanConfig(builtin_benchmarks=(), **TINY_SHARDS),
    )
    assert again.stats["resumed_stages"] == ["ingest"]
    assert "contamination" not in again.stats["rejected_by_reason"]


def test_bad_rows_in_a_worker_shard_keep_their_file_line(tmp_path):
    rows = [json.dumps(r) for r in make_corpus(600, seed=5, dup_fraction=0.0)]
    rows[450] = '{"domain": "math", "prompt": oops}'
    rows[520] = '{"domain": "math"}'
    (tmp_path / "in.jsonl").write_text("\n".join(rows) + "\n")
    config = CleanConfig(ingest_workers=2, on_bad_row="reject", **TINY_SHARDS)
    res = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl", config=config)
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    bad = [r for r in rejects if r["reason"] == "bad_row"]
    assert [(b["evidence"]["line"], b["evidence"]["field"]) for b in bad] == [(451, None), (521, "prompt")]
    assert res.stats["rows_in"] == 600 and res.stats["kept"] + res.stats["rejected"] == 600
    # raise mode: the worker's error reaches the caller as the same one-line error
    with pytest.raises(BadInputError, match=r"in\.jsonl:451: malformed JSON"):
        clean(
            tmp_path / "in.jsonl",
            tmp_path / "out2.jsonl",
            config=CleanConfig(ingest_workers=2, **TINY_SHARDS),
        )


def test_segments_cover_every_line_once_with_true_line_numbers(tmp_path):
    rng = random.Random(3)
    lines = [json.dumps({"domain": "math", "prompt": "p" * rng.randint(1, 300), "n": i}) for i in range(400)]
    lines[17] = ""  # blank lines are skipped, and still counted for line numbers
    (tmp_path / "a.jsonl").write_text("\n".join(lines))  # no newline at the end
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b'{"domain": "x", "prompt": "g"}\n'))
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"]
    whole = [r.get("n", "gz") for r in read_rows(paths)]
    for parts in (2, 3, 7, 50):
        shards = split_segments(paths, parts, min_bytes=1, head_start=rng.randint(0, 5000))
        assert 1 < len(shards) <= parts
        assert [p for s in shards for p in s if not isinstance(p, Segment)] == [paths[1]]  # gzip: whole
        seen = [r.get("n", "gz") for s in shards for r in read_rows(s)]
        assert seen == whole
    # a bad line far into a segment is reported with its line number in the whole file
    lines[300] = "{oops"
    (tmp_path / "a.jsonl").write_text("\n".join(lines))
    last = split_segments([tmp_path / "a.jsonl"], 2, min_bytes=1)[1]
    with pytest.raises(BadInputError, match=r"a\.jsonl:301: malformed JSON"):
        list(read_rows(last))


def test_with_raw_hands_back_the_line_only_for_rows_normalisation_leaves_alone(tmp_path):
    (tmp_path / "in.jsonl").write_text(
        '{"id": "a", "domain": "math", "prompt": "p", "reference": null, "source": "s", "meta": {}}\n'
        '{"domain": "math", "prompt": "needs an id"}\n'
        '{"id": 7, "domain": "math", "prompt": "int id", "reference": null, "source": "s", "meta": {}}\n'
        '{"id": "d", "prompt": "no domain", "reference": null, "source": "s", "meta": {}}'
    )
    got = list(read_rows(tmp_path / "in.jsonl", with_raw=True, defaults={"domain": "logic"}))
    assert [raw is not None for _, raw in got] == [True, False, False, False]
    assert got[0][1].endswith(b"\n") and json.loads(got[0][1]) == got[0][0]
    assert got[1][0]["id"] and got[2][0]["id"] == "7" and got[3][0]["domain"] == "logic"


def test_batch_process_settings_turn_off_numpy_hugepages():
    """``ring-data`` processes (and their ingest workers) stop numpy's THP requests, unless
    RING_NUMPY_HUGEPAGES=1; checked in a fresh interpreter because the setting is process-wide."""
    code = (
        "import numpy as np\n"
        "from ring_data.runtime import tune_allocator_for_batch_work\n"
        "tune_allocator_for_batch_work()\n"
        "print(np._core.multiarray._get_madvise_hugepage())\n"
    )
    for env, expected in (({}, "False"), ({"RING_NUMPY_HUGEPAGES": "1"}, "True")):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            check=True,
        )
        assert out.stdout.strip() == expected


def test_batch_process_settings_collect_cycles_less_often_but_never_switch_it_on():
    """A data process raises the collector's first threshold (decoded rows are trees that reference
    counting frees); a process that turned the collector off keeps it off."""
    code = (
        "import gc, sys\n"
        "if sys.argv[1] == 'off': gc.set_threshold(0)\n"
        "from ring_data.runtime import GC_GEN0_THRESHOLD, tune_allocator_for_batch_work\n"
        "tune_allocator_for_batch_work()\n"
        "print(gc.get_threshold()[0] == (0 if sys.argv[1] == 'off' else GC_GEN0_THRESHOLD))\n"
    )
    for state in ("default", "off"):
        out = subprocess.run([sys.executable, "-c", code, state], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "True", (state, out.stdout)


def test_checked_row_agrees_with_is_normal_and_normalize_row():
    """The readers' one-call check (fast path for complete rows) gives what the two functions give."""
    complete = {"id": "a", "domain": "math", "prompt": "p", "reference": None, "source": "s", "meta": {}}
    variants = [
        complete,
        {**complete, "id": ""},
        {**complete, "id": 7},
        {k: v for k, v in complete.items() if k != "reference"},
        {k: v for k, v in complete.items() if k != "source"},
        {**complete, "meta": None},
        {**complete, "source": 3},
    ]
    for row in variants:
        got, normal = checked_row(dict(row), "f.jsonl", 1, "src", False)
        assert normal == is_normal(row), row
        assert got == normalize_row(dict(row), path="f.jsonl", line=1, default_source="src"), row
    for bad in ({**complete, "meta": []}, {**complete, "prompt": 1}, {**complete, "id": True}, ["x"]):
        with pytest.raises(BadInputError):
            checked_row(bad, "f.jsonl", 1, "src", False)


def test_prewarmed_workers_are_used_and_spares_stopped(tmp_path):
    """``ring-data clean`` starts its workers before its own imports; the ingest stage takes them
    (same output as one process) and stops the ones it does not need."""
    from ring_data.clean import workers

    rows = make_corpus(800, seed=8)
    write_rows(tmp_path / "in.jsonl", rows)
    clean(tmp_path / "in.jsonl", tmp_path / "one.jsonl", config=CleanConfig(ingest_workers=1))
    workers.prewarm(3)
    spares = list(workers._prewarmed)
    clean(tmp_path / "in.jsonl", tmp_path / "two.jsonl", config=CleanConfig(ingest_workers=2, **TINY_SHARDS))
    assert workers.prewarmed() == 0
    assert sum(w.proc.returncode == 0 for w in spares) == 1  # the one that worked exited normally
    assert sum(w.proc.returncode not in (0, None) for w in spares) == 2  # the spares were stopped
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    assert (tmp_path / "one.rejects.jsonl").read_bytes() == (tmp_path / "two.rejects.jsonl").read_bytes()
