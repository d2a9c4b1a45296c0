"""Scoring a JSONL of responses: the per-domain table, scored output, and one-line errors on bad input."""

import json
import subprocess
import sys
from pathlib import Path

from verifiers.score import score_file

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sample_responses.jsonl"


def test_bundled_samples_score_as_labelled():
    scored, summary = score_file(SAMPLES, workers=2)
    rows = {r["id"]: r for r in map(json.loads, SAMPLES.open())}
    assert len(scored) == len(rows)
    for s in scored:  # each bundled sample says which status it should get
        assert s.result.status == rows[s.row_id]["expected_status"], (s.row_id, s.result)
    table = summary.table()
    assert "| math | 8 |" in table and "**all**" in table


def test_python_m_verifiers_prints_table_and_writes_scored_lines(tmp_path):
    rows = [
        {"id": "a", "domain": "math", "reference": "2", "responses": ["\\boxed{2}", "\\boxed{3}"]},
        {"id": "b", "domain": "countdown", "reference": {"numbers": [1, 2], "target": 3}, "response": "1+2"},
    ]
    src = tmp_path / "r.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "scored.jsonl"
    p = subprocess.run(
        [sys.executable, "-m", "verifiers", str(src), "-o", str(out), "--workers", "1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "| math | 2 | 50.0% |" in p.stdout and "| countdown | 1 | 100.0% |" in p.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(x["id"], x["sample"], x["status"]) for x in lines] == [
        ("a", 0, "correct"), ("a", 1, "wrong"), ("b", 0, "correct"),
    ]  # fmt: skip


def test_bad_line_is_one_error_line_with_file_line_and_field(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text(
        json.dumps({"domain": "math", "reference": "1", "response": "1"})
        + "\n"
        + json.dumps({"domain": "math", "reference": "1"})
        + "\n"
    )
    p = subprocess.run(
        [sys.executable, "-m", "cli.ring_data", "score", str(src)], capture_output=True, text=True
    )
    assert p.returncode == 2
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and f"{src}:2: field 'response'" in err[0]
    src.write_text(json.dumps({"domain": "nope", "reference": "1", "response": "1"}) + "\n")
    p = subprocess.run([sys.executable, "-m", "verifiers", str(src)], capture_output=True, text=True)
    assert p.returncode == 2 and f"{src}:1: field 'domain'" in p.stderr
