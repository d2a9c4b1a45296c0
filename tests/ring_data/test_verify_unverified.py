"""``ring-data verify`` keeps no reference it cannot have checked: code tests without a reference solution
(``unverified_reference`` unless ``--keep-unverified``) and a multiple-choice answer naming no choice."""

from __future__ import annotations

import json

import pytest

from cli.ring_data import main
from ring_data.verify.checks import CheckConfig, check_row
from ring_data.verify.pipeline import VerifyConfig, verify_file

TESTS = [{"input": "2 3\n", "output": "5\n"}]
NO_SOLUTION = {
    "id": "c",
    "domain": "code",
    "prompt": "p",
    "reference": {"language": "python", "tests": TESTS},
}
BAD_LETTER = {
    "id": "q",
    "domain": "science",
    "prompt": "p",
    "reference": {"answer": "Q", "choices": list("abcd")},
}
FINE = {"id": "m", "domain": "math", "prompt": "p", "reference": {"answer": "2"}}


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    "reference,answer",
    [
        ({"answer": "Q", "choices": list("abcd")}, "Q"),
        ({"answer": "E", "choices": ["a", "b", "c", "d"]}, "E"),
    ],
)
def test_a_multiple_choice_letter_naming_no_choice_is_rejected_with_evidence(reference, answer):
    out = check_row({"id": "x", "domain": "science", "prompt": "p", "reference": reference})
    assert not out.ok and out.reason == "invalid_reference"
    assert out.evidence["answer"] == answer and out.evidence["choices"] == 4 and out.evidence["error"]


def test_code_tests_without_a_solution_are_unverified():
    out = check_row(NO_SOLUTION)
    assert not out.ok and out.reason == "unverified_reference"
    assert "no solution to run the tests against" in out.evidence["error"]
    kept = check_row(NO_SOLUTION, CheckConfig(keep_unverified=True))
    assert kept.ok and kept.unverified and kept.evidence["error"]
    broken = dict(NO_SOLUTION, reference={"language": "python", "tests": []})
    assert check_row(broken).reason == "invalid_reference"  # a malformed reference says so first


def test_library_rejects_by_default_and_counts_what_it_keeps_unverified(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in (NO_SOLUTION, BAD_LETTER, FINE)))
    result = verify_file(src, tmp_path / "a.jsonl")
    assert (result.kept, result.rejected, result.stats["kept_unverified"]) == (1, 2, 0)
    assert result.rejected_by_reason == {"unverified_reference": 1, "invalid_reference": 1}
    config = VerifyConfig(check=CheckConfig(keep_unverified=True))
    result = verify_file(src, tmp_path / "b.jsonl", config=config)
    assert (result.kept, result.rejected, result.stats["kept_unverified"]) == (2, 1, 1)
    assert [r["id"] for r in read_jsonl(tmp_path / "b.jsonl")] == ["c", "m"]


def test_cli_rejects_unverified_code_and_keeps_it_with_the_flag(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in (NO_SOLUTION, BAD_LETTER, FINE)))
    out = tmp_path / "out.jsonl"
    assert main(["verify", str(src), "-o", str(out)]) == 0
    assert "3 in = 1 kept + 2 rejected (balanced)" in capsys.readouterr().err
    rejects = {r["id"]: r for r in read_jsonl(tmp_path / "out.rejects.jsonl")}
    assert rejects["c"]["reason"] == "unverified_reference"
    assert rejects["c"]["evidence"]["error"] == "no solution to run the tests against"
    assert rejects["q"]["reason"] == "invalid_reference" and rejects["q"]["evidence"]["answer"] == "Q"

    out = tmp_path / "kept.jsonl"
    assert main(["verify", str(src), "-o", str(out), "--keep-unverified"]) == 0
    err = capsys.readouterr().err
    assert "3 in = 2 kept + 1 rejected (balanced)" in err and "kept unverified (--keep-unverified): 1" in err
    assert [r["id"] for r in read_jsonl(out)] == ["c", "m"]
    stats = json.loads((tmp_path / "kept.jsonl.stats.json").read_text())
    assert stats["kept_unverified"] == 1 and stats["in_equals_kept_plus_rejected"]
