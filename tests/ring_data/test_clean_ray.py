"""--engine ray: the whole clean run (ingest, decontamination lookups, exact and near dedup) on a real
local Ray cluster gives the local engine's output byte for byte, also when a worker process is killed
mid-run, and resumes from its own work directory."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

import mmath
import pytest

from ring_data.clean.corpus import make_corpus
from ring_data.clean.minhash import NearDupParams
from ring_data.clean.pipeline import CleanConfig, clean
from ring_data.errors import UserError
from ring_data.io import write_rows

ray = pytest.importorskip("ray")

MMATH = {
    f"{q['data_source']}/{q['data_source_id']}": q["question"]
    for q in json.loads((Path(mmath.__file__).parent / "mmath" / "en.json").read_text())
}
# small byte ranges: the ~0.5 MB corpus becomes several ingest tasks, each split across partitions
SMALL_RANGES = CleanConfig(min_shard_mb=0.05, on_bad_row="reject")
# fields that say how a run went, not what it decided
RUN_FIELDS = {"seconds", "stage_seconds", "rows_per_s", "resumed_stages", "output", "rejects", "config"}


def _wordy(i: int, variant: int) -> str:
    """A problem without any number: all of them share one (empty) number sequence, a group too big
    for all-pairs, so they go through MinHash band keys."""
    subjects = ["triangle", "circle", "polygon", "sequence", "function", "matrix", "graph", "prism"]
    verbs = ["describe", "characterize", "determine", "explain", "identify"]
    text = (
        f"Let the {subjects[i % 8]} be given in the plane and {verbs[i % 5]} when its largest "
        f"{subjects[(i * 3) % 8]} is symmetric about the center of the {subjects[(i + 5) % 8]} "
        f"case {chr(97 + i % 26)}{chr(97 + i // 26)}"
    )
    return text + (" exactly" if variant == 1 else "") + ("." if variant < 2 else " carefully.")


def _corpus(tmp: Path) -> list[Path]:
    """Three input files (two JSONL, one Parquet) that give every reason the clean run has."""
    main = make_corpus(1400, seed=9, mixed=True)  # math, science, code (verbatim): exact + near dups
    extra = make_corpus(300, seed=4, id_prefix="x")
    extra += [  # contamination: a benchmark item verbatim, one reformatted
        {"id": "aime", "domain": "math", "prompt": MMATH["AIME2025/2"], "reference": "1"},
        {
            "id": "math500",
            "domain": "math",
            "prompt": re.sub(r"\s+", "  ", MMATH["AIME2024/3"]).upper(),
            "reference": "1",
        },
        {"id": "fig", "domain": "math", "prompt": "As shown in the figure, find the angle x of the kite."},
        {"id": "mc", "domain": "math", "prompt": "Which is larger? (A) 2 (B) 3 (C) 4", "reference": "B"},
        {"id": "other_ref", "domain": "math", "prompt": main[0]["prompt"], "reference": "a different one"},
    ]
    extra += [
        {"id": f"w{i}_{v}", "domain": "math", "prompt": _wordy(i, v), "reference": str(i % 3)}
        for i in range(40)
        for v in range(3 if i % 4 == 0 else 1)
    ]
    files = [tmp / "a.jsonl", tmp / "b.jsonl", tmp / "c.parquet"]
    write_rows(files[0], main)
    write_rows(files[1], extra)
    with files[1].open("ab") as fh:  # bad rows (--on-bad-row reject): not JSON, no prompt
        fh.write(b'{"id": "broken", "prompt": \n{"id": "no_prompt", "domain": "math"}\n')
    write_rows(files[2], [{**r, "id": "copy_" + r["id"]} for r in main[:200:3]])  # dups across files
    return files


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return _corpus(tmp_path_factory.mktemp("corpus"))


def _outputs(out: Path) -> tuple[bytes, bytes]:
    return out.read_bytes(), out.with_name(out.name.replace(".jsonl", ".rejects.jsonl")).read_bytes()


def _decisions(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if k not in RUN_FIELDS}


def _same_run(ray_run, local_run, ray_out: Path, local_out: Path) -> None:
    assert _outputs(ray_out) == _outputs(local_out)  # kept ids, order, rejects, evidence: every byte
    assert _decisions(ray_run.stats) == _decisions(local_run.stats)
    assert {**ray_run.stats["config"], "engine": "local"} == local_run.stats["config"]
    assert ray_run.stats["config"]["engine"] == "ray"


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.parametrize(
    "config",
    [
        SMALL_RANGES,
        # every document through MinHash band keys, buckets over 4 rows as stars, duplicates across
        # references allowed
        replace(
            SMALL_RANGES,
            near_params=NearDupParams(same_numbers=False, all_pairs_group=0, max_bucket=4),
            distinct_references=False,
        ),
    ],
    ids=["default", "all-minhash"],
)
def test_ray_engine_gives_the_local_engines_output(inputs, tmp_path, config):
    local = clean(inputs, tmp_path / "local.jsonl", config=config)
    on_ray = clean(inputs, tmp_path / "ray.jsonl", config=replace(config, engine="ray"))
    _same_run(on_ray, local, tmp_path / "ray.jsonl", tmp_path / "local.jsonl")
    by_reason = on_ray.stats["rejected_by_reason"]
    assert {"exact_duplicate", "near_duplicate", "contamination", "bad_row"} <= set(by_reason)
    assert {"filter_image", "filter_choice"} <= set(by_reason)
    assert "code" in on_ray.stats["by_domain"] and on_ray.stats["by_domain"]["code"]["kept"] > 0
    near = on_ray.stats["stages"]["near"]
    assert near["minhash_documents"] > 16 and near["confirmed_pairs"] > 100
    # what travelled: each of several input ranges was its own task
    assert len(list((tmp_path / "ray.jsonl.work" / "ingest").glob("shard*"))) >= 3


@pytest.mark.usefixtures("ray_cluster")
def test_killed_worker_is_retried_and_the_output_is_unchanged(inputs, tmp_path, monkeypatch):
    """A filter (registered from user code, so it runs inside the ingest tasks) kills its own Ray
    worker process with SIGKILL the first time it sees one row: Ray runs that task again."""
    import importlib.util

    from ring_data.clean.filters import base

    monkeypatch.setattr(base, "_FILTERS", dict(base._FILTERS))  # the test's filter leaves with it
    marker = tmp_path / "killed.pid"
    source = f"""
import os, signal
from ring_data.clean.filters import register_filter

@register_filter("worker_killer", domains=("math",))
def worker_killer(prompt, reference, settings):
    if "KILL" in prompt and os.getpid() != {os.getpid()} and not os.path.exists({str(marker)!r}):
        with open({str(marker)!r}, "w") as fh:
            fh.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-task: no exception, no cleanup
    return None
"""
    path = tmp_path / "user_killer.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("user_killer", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "user_killer", module)
    spec.loader.exec_module(module)
    ray.cloudpickle.register_pickle_by_value(module)  # the workers cannot import it from tmp_path

    victim = tmp_path / "victim.jsonl"  # the row sits in the middle of the second range
    rows = [json.loads(x) for x in inputs[0].read_text().splitlines()[:400]]
    rows.insert(250, {"id": "victim", "domain": "math", "prompt": "KILL: what is 2 + 40 minus 2?"})
    write_rows(victim, rows)
    files = [victim, *inputs[1:]]
    on_ray = clean(files, tmp_path / "ray.jsonl", config=replace(SMALL_RANGES, engine="ray"))
    killed = int(marker.read_text())
    assert killed != os.getpid()
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)  # that worker is gone
    # in this process: the local engine's ingest subprocesses could not import the test's filter either
    local = clean(files, tmp_path / "local.jsonl", config=replace(SMALL_RANGES, ingest_workers=1))
    _same_run(on_ray, local, tmp_path / "ray.jsonl", tmp_path / "local.jsonl")
    assert "worker_killer" in on_ray.stats["config"]["filters"]


@pytest.mark.usefixtures("ray_cluster")
def test_ray_run_resumes_from_its_work_dir_and_reruns_changed_stages(inputs, tmp_path):
    config = replace(SMALL_RANGES, engine="ray")
    first = clean(inputs, tmp_path / "out.jsonl", config=config)
    again = clean(inputs, tmp_path / "again.jsonl", config=config, work_dir=tmp_path / "out.jsonl.work")
    assert again.stats["resumed_stages"] == ["ingest", "decontam", "exact", "near"]
    assert _outputs(tmp_path / "again.jsonl") == _outputs(tmp_path / "out.jsonl")
    # a changed near threshold: the saved ranges go back to the object store and near runs on them
    looser = replace(config, near_params=NearDupParams(threshold=0.5))
    redo = clean(inputs, tmp_path / "redo.jsonl", config=looser, work_dir=tmp_path / "out.jsonl.work")
    assert redo.stats["resumed_stages"] == ["ingest", "decontam", "exact"]
    local = clean(inputs, tmp_path / "local.jsonl", config=replace(looser, engine="local"))
    _same_run(redo, local, tmp_path / "redo.jsonl", tmp_path / "local.jsonl")
    assert (
        redo.stats["rejected_by_reason"]["near_duplicate"]
        > first.stats["rejected_by_reason"]["near_duplicate"]
    )


@pytest.mark.usefixtures("ray_cluster")
def test_bad_row_stops_a_ray_run_with_the_local_engines_one_line_error(tmp_path):
    rows = make_corpus(400, seed=2)
    write_rows(tmp_path / "in.jsonl", rows)
    with (tmp_path / "in.jsonl").open("ab") as fh:
        fh.write(b'{"id": "x", "domain": "math"}\n')
    config = CleanConfig(min_shard_mb=0.01)
    with pytest.raises(UserError) as local:
        clean(tmp_path / "in.jsonl", tmp_path / "l.jsonl", config=config)
    with pytest.raises(UserError) as on_ray:
        clean(tmp_path / "in.jsonl", tmp_path / "r.jsonl", config=replace(config, engine="ray"))
    assert str(on_ray.value) == str(local.value)
    assert "in.jsonl:401: field 'prompt'" in str(on_ray.value) and "\n" not in str(on_ray.value)
