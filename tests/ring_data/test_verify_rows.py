"""``ring-data verify`` on real parts: the real per-domain reference checkers of ``verifiers``, code
reference solutions run in the real sandbox, real files in and out."""

from __future__ import annotations

import json

import pytest

import verifiers
from cli.ring_data import main
from ring_data.verify.checks import check_row


def needs_checker(domain):
    try:
        has = verifiers.get_reference_check(domain) is not None
    except Exception:  # the domain's module has not landed
        has = False
    return pytest.mark.skipif(not has, reason=f"no reference checker for {domain!r} yet")


def row(rid, domain, reference, prompt="p"):
    return {"id": rid, "domain": domain, "prompt": prompt, "reference": reference}


def write_jsonl(path, rows, extra_lines=()):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(x + "\n" for x in extra_lines))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def verdict(r, **kw):
    from ring_data.verify.checks import CheckConfig

    return check_row(r, CheckConfig(**kw))


SUDOKU = [
    "530070000", "600195000", "098000060", "800060003", "400803001",
    "700020006", "060000280", "000419005", "000080079",
]  # fmt: skip
UNIQUE_SUDOKU = [[int(c) for c in line] for line in SUDOKU]


@needs_checker("math")
def test_math_references_and_candidate_agreement():
    assert verdict(row("a", "math", {"answer": "\\frac{1}{2}"})).ok
    assert verdict(row("s", "math", "\\frac{1}{2}")).ok  # a plain string is the answer
    bad = verdict(row("b", "math", {"answer": ""}))
    assert not bad.ok and bad.reason == "invalid_reference"
    # equivalence, not string equality: 0.5 and 1/2 agree with \frac{1}{2}
    agree = verdict(row("c", "math", {"answer": "\\frac{1}{2}", "candidates": ["0.5", "1/2", "7"]}))
    assert agree.ok and agree.evidence["agree"] == 2 and agree.evidence["total"] == 3
    split = verdict(row("d", "math", {"answer": "2", "candidates": ["3", "3.0", "2"]}))
    assert not split.ok and split.reason == "no_agreement"
    assert split.evidence["majority_candidate"] == "3" and split.evidence["majority_count"] == 2
    strict = verdict(row("e", "math", {"answer": "2", "candidates": ["2", "2", "5"]}), quorum=0.7)
    assert strict.reason == "no_agreement"  # 2/3 is a majority but not above a 0.7 quorum
    half = verdict(row("f", "math", {"answer": "2", "candidates": ["2", "5"]}))
    assert half.reason == "no_agreement"  # a tie is not a strict majority
    assert verdict(row("g", "math", {"answer": "2", "candidates": "2"})).reason == "invalid_reference"


@needs_checker("science")
def test_science_multiple_choice_letter_must_be_a_choice():
    choices = ["1 J", "2 J", "3 J", "4 J"]
    assert verdict(row("a", "science", {"answer": "B", "choices": choices})).ok
    out = verdict(row("b", "science", {"answer": "F", "choices": choices}))
    assert not out.ok and out.reason == "invalid_reference"


@needs_checker("sudoku")
def test_sudoku_must_have_exactly_one_solution():
    assert verdict(row("u", "sudoku", {"puzzle": UNIQUE_SUDOKU})).ok
    many = [r[:] for r in UNIQUE_SUDOKU]
    for r in many[:4]:
        r[:] = [0] * 9  # four empty rows: many solutions
    out = verdict(row("m", "sudoku", {"puzzle": many}))
    assert not out.ok and out.reason in ("invalid_reference", "reference_failed")


@needs_checker("countdown")
def test_countdown_target_must_be_reachable():
    assert verdict(row("ok", "countdown", {"numbers": [2, 3, 7], "target": 13})).ok  # 2*3+7
    out = verdict(row("no", "countdown", {"numbers": [1, 1], "target": 97}))
    assert not out.ok and out.reason in ("invalid_reference", "reference_failed")


@needs_checker("maze")
def test_maze_goal_must_be_reachable():
    grid = ["#####", "#..##", "##..#", "#####"]
    assert verdict(row("ok", "maze", {"grid": grid, "start": [1, 1], "goal": [2, 3]})).ok
    walled = ["#####", "#.#.#", "#####"]
    out = verdict(row("no", "maze", {"grid": walled, "start": [1, 1], "goal": [1, 3]}))
    assert not out.ok and out.reason in ("invalid_reference", "reference_failed")


@needs_checker("code")
def test_code_reference_solutions_run_in_the_sandbox():
    tests = [{"input": "2 3\n", "output": "5\n"}, {"input": "10 -4\n", "output": "6\n"}]
    wrong = "a, b = map(int, input().split())\nprint(a * b)"
    right = "a, b = map(int, input().split())\nprint(a + b)"
    ok = verdict(row("ok", "code", {"language": "python", "tests": tests, "solutions": [wrong, right]}))
    assert ok.ok
    failed = verdict(row("bad", "code", {"language": "python", "tests": tests, "solutions": [wrong]}))
    assert not failed.ok and failed.reason == "reference_failed" and failed.evidence
    no_tests = verdict(row("nt", "code", {"language": "python", "tests": [], "solutions": [right]}))
    assert not no_tests.ok and no_tests.reason == "invalid_reference"


def test_unknown_domain_missing_reference_and_a_crashing_checker():
    assert verdict(row("x", "alchemy", {"answer": "gold"})).reason == "unknown_domain"

    @verifiers.register("test_verify_rows_raises", override=True)
    def _verify(response, reference, **options):
        return verifiers.VerifyResult.make("wrong")

    @verifiers.register_reference_check("test_verify_rows_raises")
    def _check(reference, **options):
        raise RuntimeError("checker bug")

    out = verdict(row("y", "test_verify_rows_raises", {"answer": "1"}))
    assert not out.ok and out.reason == "invalid_reference" and "checker bug" in out.evidence["error"]
    assert verdict(row("z", "test_verify_rows_raises", None)).reason == "invalid_reference"


@needs_checker("math")
@needs_checker("code")
def test_verify_cli_end_to_end_with_report_resume_and_parquet(tmp_path, capsys):
    tests = [{"input": "4\n", "output": "16\n"}]
    rows = [
        row("m1", "math", {"answer": "3", "candidates": ["3", "3", "4"]}),
        row("m2", "math", {"answer": "3", "candidates": ["4", "4", "3"]}),
        row("m3", "math", {"answer": ""}),
        row("c1", "code", {"language": "python", "tests": tests, "solutions": ["print(int(input()) ** 2)"]}),
        row("c2", "code", {"language": "python", "tests": tests, "solutions": ["print(int(input()) * 2)"]}),
        row("u1", "alchemy", {}),
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows, extra_lines=["[1, 2]"])
    out, report = tmp_path / "v" / "kept.jsonl", tmp_path / "rep"
    assert main(["verify", str(src), "-o", str(out), "--report", str(report), "--on-bad-row", "reject"]) == 0
    kept, rejects = read_jsonl(out), read_jsonl(tmp_path / "v" / "kept.rejects.jsonl")
    assert [r["id"] for r in kept] == ["m1", "c1"]
    assert kept[0]["reference"]["candidates"] == ["3", "3", "4"]  # curation fields are kept
    reasons = {r.get("id", "bad"): r["reason"] for r in rejects}
    assert reasons == {
        "m2": "no_agreement", "m3": "invalid_reference", "c2": "reference_failed", "u1": "unknown_domain", "bad": "bad_row"
    }  # fmt: skip
    assert all(r["evidence"] for r in rejects)
    stats = json.loads((tmp_path / "v" / "kept.jsonl.stats.json").read_text())
    assert stats["rows_in"] == 7 and stats["in_equals_kept_plus_rejected"]
    assert stats["by_domain"]["math"] == {"kept": 1, "no_agreement": 1, "invalid_reference": 1}
    for name in ("report.md", "report.html", "rejected_by_reason.png", "kept_by_domain.png"):
        assert (report / name).stat().st_size > 0
    assert "7 in = 2 kept + 5 rejected" in capsys.readouterr().err
    # rerun: everything is already decided, nothing is checked twice, nothing duplicated
    assert main(["verify", str(src), "-o", str(out), "--on-bad-row", "reject"]) == 0
    stats = json.loads((tmp_path / "v" / "kept.jsonl.stats.json").read_text())
    assert stats["checked"] == 0 and stats["skipped_resumed"] == 6
    assert len(read_jsonl(out)) == 2 and len(read_jsonl(tmp_path / "v" / "kept.rejects.jsonl")) == 5
    # Parquet output, rejects elsewhere
    pq = tmp_path / "kept.parquet"
    assert (
        main(
            [
                "verify",
                str(src),
                "-o",
                str(pq),
                "--rejects",
                str(tmp_path / "r.jsonl"),
                "--on-bad-row",
                "reject",
            ]
        )
        == 0
    )
    import polars as pl

    assert pl.read_parquet(pq)["id"].to_list() == ["m1", "c1"]


def test_unreadable_input_is_a_one_line_error(tmp_path, capsys):
    src = write_jsonl(
        tmp_path / "in.jsonl", [row("a", "math", "1")], extra_lines=['{"id": "b", "prompt": "p"}']
    )
    assert main(["verify", str(src), "-o", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("in.jsonl:2: field 'domain': missing required field") and "\n" not in err


def test_console_entry_point_exits_2_with_one_line(tmp_path):
    import subprocess
    import sys

    src = write_jsonl(tmp_path / "in.jsonl", [row("a", "math", "1")], extra_lines=["{oops"])
    proc = subprocess.run(
        [sys.executable, "-m", "cli.ring_data", "verify", str(src), "-o", str(tmp_path / "o.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ring-data verify: error: {src}:2: malformed JSON")


@needs_checker("math")
def test_repeated_ids_in_one_run_are_all_accounted_for(tmp_path):
    rows = [row("same", "math", "1"), row("same", "math", ""), row("other", "math", "2")]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "o.jsonl"
    assert main(["verify", str(src), "-o", str(out)]) == 0
    assert [r["id"] for r in read_jsonl(out)] == ["same", "other"]
    assert [r["reason"] for r in read_jsonl(tmp_path / "o.rejects.jsonl")] == ["invalid_reference"]
    assert main(["verify", str(src), "-o", str(out)]) == 0  # resumed: all three already decided
    stats = json.loads((tmp_path / "o.jsonl.stats.json").read_text())
    assert stats["skipped_resumed"] == 3 and stats["in_equals_kept_plus_rejected"]


def test_journals_reach_the_disk_during_a_run_not_only_at_its_end(tmp_path, monkeypatch):
    """A power loss (not a kill: the OS keeps what was flushed) may lose only the journal lines written
    since the last fsync; flush syncs both journals at least every SYNC_EVERY_S."""
    import os

    from ring_data.verify import journal as journal_module

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(journal_module.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    j = journal_module.Journal(tmp_path / "out.jsonl")
    j.keep({"id": "a", "domain": "math", "prompt": "p", "reference": None})
    j.flush()  # within SYNC_EVERY_S of opening: handed to the OS only
    assert synced == []
    monkeypatch.setattr(journal_module, "SYNC_EVERY_S", 0.0)
    j.flush()
    assert {j._out.fileno(), j._rej.fileno()} <= set(synced)
    assert j.close().kept == 1
