"""Kill anywhere, resume to the same bytes (issue #17): ``ring-data clean``, ``verify``, ``annotate`` and
``ring-train rl`` are SIGKILLed at seeded random times and at named write points (mid-rename,
mid-checkpoint), restarted over what they left, and must end with the outputs of an uninterrupted run:
the same kept and rejects bytes, the same stats (timing keys aside: ``kill_commands.py`` lists them),
the same RL metrics and checkpoint weights. ``kill_harness.py`` drives the chains.

Sizes: 20 kills per command here, 50 under ``make soak``; the figures go to ``soak.record``.
"""

from __future__ import annotations

import json

import pytest
import soak
from kill_commands import annotate_command, clean_command, rl_command, tiny_policy, verify_command
from kill_harness import ColdLauncher, ZygoteLauncher, exercise

KILLS = soak.scale(20, 50)
# what the warm interpreter imports before its first fork (kill_zygote.py); each test then adds the
# modules its command's first run ended up importing
PRELOAD = [
    "torch", "transformers", "verifiers", "sandbox", "cli.ring_data", "cli.ring_train", "cli.data_verify",
    "cli.data_annotate", "cli.train_rl", "ring_data.verify.pipeline", "ring_data.annotate.pipeline",
    "ring_data.annotate.samplers.hf", "ring_train.backends.embedded",
]  # fmt: skip
SEEDS = {"clean": 101, "verify": 202, "annotate": 303, "rl": 404}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return tmp_path_factory.mktemp("kill-inputs")


@pytest.fixture(scope="module")
def policy(inputs):
    return tiny_policy(inputs)


@pytest.fixture(scope="module")
def zygote():
    """One warm interpreter for all four commands (kill_zygote.py)."""
    launcher = ZygoteLauncher(PRELOAD)
    yield launcher
    launcher.close()


@pytest.mark.parametrize("name", ["clean", "verify", "annotate", "rl"])
def test_killed_and_resumed_runs_end_with_the_uninterrupted_outputs(name, inputs, zygote, tmp_path, request):
    model = request.getfixturevalue("policy") if name in ("annotate", "rl") else None
    cmd = {
        "clean": lambda: clean_command(inputs),
        "verify": lambda: verify_command(inputs),
        "annotate": lambda: annotate_command(inputs, model),
        "rl": lambda: rl_command(inputs, model),
    }[name]()
    # every run is a fork of the warm interpreter but the first killed run of the first chain, which
    # starts cold (python -m cli...). clean's child imports polars itself: polars' threads cannot be
    # forked, so the zygote never imports what a clean run imported
    fig = exercise(
        cmd,
        zygote,
        tmp_path / "runs",
        kills=KILLS,
        seed=SEEDS[name] + (1000 if soak.SOAK else 0),
        first_launcher=ColdLauncher(),
        warm=name != "clean",
    )
    soak.record(f"kill_resume_{name}", **fig.record_dict())
    assert fig.kills >= KILLS
    assert fig.mismatches == 0 and fig.torn_after_kill == 0, fig.first_mismatch
    assert fig.lost_rows == 0 and fig.duplicated_rows == 0


# ---- what an interrupted or failed run leaves on disk (in-process, quick) --------------------------------
def _rows(n: int, start: int = 0) -> list[dict]:
    return [
        {"id": f"r{i}", "domain": "math", "prompt": f"p{i}", "reference": {"answer": str(i)}}
        for i in range(start, n)
    ]


def test_a_row_writer_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    from ring_data.io import RowWriter, write_rows

    out = tmp_path / "out.jsonl"
    write_rows(out, _rows(3))
    before = out.read_bytes()
    with pytest.raises(RuntimeError), RowWriter(out) as w:
        w.write(_rows(1)[0])
        raise RuntimeError("the command failed half way")
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_a_verify_run_stopped_by_bad_input_keeps_its_journal_and_no_final_file(tmp_path):
    """A bad line (``--on-bad-row raise``) stops the run after eight rows: those already recorded stay
    in the partial journal (the few still being checked are redone), nothing carries the final name,
    and the rerun over the fixed input resumes from the journal."""
    from ring_data.errors import BadInputError
    from ring_data.verify.pipeline import VerifyConfig, verify_file

    rows = _rows(10)
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps(r) + "\n" for r in rows[:8]) + "{not json\n" + json.dumps(rows[8]) + "\n"
    )
    out = tmp_path / "out" / "v.jsonl"
    with pytest.raises(BadInputError):
        verify_file(src, out, config=VerifyConfig(workers=1))
    assert not out.exists() and not (tmp_path / "out" / "v.rejects.jsonl").exists()
    journal = tmp_path / "out" / "v.jsonl.partial.jsonl"
    done = [json.loads(x)["id"] for x in journal.read_text().splitlines()]
    assert done and done == [f"r{i}" for i in range(len(done))]  # a prefix, in input order
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = verify_file(src, out, config=VerifyConfig(workers=1))
    assert result.stats["skipped_resumed"] == len(done) and result.kept == 10
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [f"r{i}" for i in range(10)]
    assert not journal.exists()


def test_a_rerun_over_a_finished_parquet_output_uses_it_as_its_journal(tmp_path):
    """A finished output is the journal of a complete run: a rerun with two more input rows annotates
    only those, and the final Parquet file holds all six."""
    import polars as pl

    from ring_data.annotate import AnnotateConfig, annotate

    samples = tmp_path / "s.jsonl"
    samples.write_text(
        "".join(
            json.dumps({"id": r["id"], "responses": ["\\boxed{0}", "\\boxed{1}"]}) + "\n" for r in _rows(6)
        )
    )
    src, out = tmp_path / "in.jsonl", tmp_path / "o.parquet"
    src.write_text("".join(json.dumps(r) + "\n" for r in _rows(4)))
    annotate(src, out, f"samples:{samples}", config=AnnotateConfig(n=2))
    first = out.read_bytes()
    again = annotate(src, out, f"samples:{samples}", config=AnnotateConfig(n=2))
    assert again.stats["annotated"] == 0 and out.read_bytes() == first  # nothing new: left as it was
    src.write_text("".join(json.dumps(r) + "\n" for r in _rows(6)))
    more = annotate(src, out, f"samples:{samples}", config=AnnotateConfig(n=2))
    assert more.stats["annotated"] == 2 and more.stats["skipped_resumed"] == 4
    assert sorted(pl.read_parquet(out)["id"].to_list()) == [f"r{i}" for i in range(6)]
    assert not list(tmp_path.glob("*.partial.jsonl")) and not list(tmp_path.glob(".*"))
