"""``ring-data annotate`` end to end on real parts: a tiny model trained here (so pass rates are really
between 0 and 1), the real ``verifiers`` math verifier, a loopback OpenAI server, samples files."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from cli.ring_data import main  # noqa: E402
from ring_data.annotate.prompts import render_user_text  # noqa: E402
from ring_data.annotate.server import OpenAICompatServer  # noqa: E402
from ring_data.annotate.tiny_model import build_tiny_model  # noqa: E402


def math_row(rid, prompt, answer):
    return {"id": rid, "domain": "math", "prompt": prompt, "reference": {"answer": answer}}


# the model learns: "Add i and i+1." -> 2i+1 always; "Flip coin i." -> 1 or 2 at random
EASY = [math_row(f"easy{i}", f"Add {i} and {i + 1}.", str(2 * i + 1)) for i in range(3)]
COIN = [math_row(f"coin{i}", f"Flip coin {i}.", "1") for i in range(3)]
NEVER = [math_row("never", "Add 0 and 1.", "99")]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    pairs = [(render_user_text(r), f"\\boxed{{{r['reference']['answer']}}}") for r in EASY]
    for r in COIN:
        pairs += [(render_user_text(r), "\\boxed{1}"), (render_user_text(r), "\\boxed{2}")]
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "toy-math", train_pairs=pairs, steps=200))


def write_jsonl(path, rows, extra_lines=()):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(x + "\n" for x in extra_lines))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_cli(*argv):
    return main(["annotate", *map(str, argv)])


def test_hf_sampler_labels_difficulty_and_drops_extremes(model_dir, tmp_path, capsys):
    rows = EASY + COIN + NEVER + [{"id": "alien", "domain": "alchemy", "prompt": "?", "reference": {}}]
    src = write_jsonl(tmp_path / "in.jsonl", rows, extra_lines=["{not json"])
    out, report = tmp_path / "out" / "annotated.jsonl", tmp_path / "report"
    code = run_cli(
        src, "-o", out, "--sampler", f"hf:{model_dir}", "--n", 8, "--max-tokens", 12, "--temperature", 0.7, "--drop-extremes",
        "--report", report, "--on-bad-row", "reject", "--batch-size", 3,
    )  # fmt: skip
    assert code == 0
    kept, rejects = read_jsonl(out), read_jsonl(tmp_path / "out" / "annotated.rejects.jsonl")
    assert len(kept) + len(rejects) == len(rows) + 1  # in = kept + rejected, bad line included
    assert {r["id"] for r in kept} == {r["id"] for r in COIN}
    for r in kept:
        d = r["difficulty"]
        assert 0 < d["pass_rate"] < 1 and d["n_samples"] == 8 and d["model"] == "toy-math"
        assert d["bucket"] in ("hard", "medium", "easy") and d["n_correct"] == round(d["pass_rate"] * 8)
    by_id = {r.get("id"): r for r in rejects}
    for r in EASY:
        assert by_id[r["id"]]["reason"] == "extreme_pass_rate"
        assert by_id[r["id"]]["evidence"]["rule"] == "all_correct"
        assert by_id[r["id"]]["difficulty"]["bucket"] == "all_correct"
    assert by_id["never"]["evidence"] == {
        "rule": "all_wrong",
        "pass_rate": 0.0,
        "n_correct": 0,
        "n_samples": 8,
    }
    assert by_id["alien"]["reason"] == "unknown_domain"
    assert [r for r in rejects if r["reason"] == "bad_row"][0]["evidence"]["line"] == len(rows) + 1
    stats = json.loads((tmp_path / "out" / "annotated.jsonl.stats.json").read_text())
    assert stats["in_equals_kept_plus_rejected"] and stats["rows_in"] == len(rows) + 1
    assert stats["samples_scored"] == 8 * 7 and stats["output_dropped_by_rule"] == {
        "all_correct": 3,
        "all_wrong": 1,
    }
    assert stats["generate_s"] > 0 and stats["problems_per_s"] > 0
    for name in ("report.md", "report.html", "pass_rate_histogram.png", "buckets.png", "dropped.png"):
        assert (report / name).stat().st_size > 0
    assert "3 kept" in capsys.readouterr().err


def test_save_samples_then_relabel_without_a_model(model_dir, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", EASY + COIN)
    samples = tmp_path / "samples.jsonl"
    first = tmp_path / "a.jsonl"
    run_cli(
        src,
        "-o",
        first,
        "--sampler",
        f"hf:{model_dir}",
        "--n",
        6,
        "--max-tokens",
        12,
        "--save-samples",
        samples,
    )
    saved = read_jsonl(samples)
    assert {s["id"] for s in saved} == {r["id"] for r in EASY + COIN}
    assert all(len(s["responses"]) == 6 and len(s["correct"]) == 6 for s in saved)
    second = tmp_path / "b.jsonl"
    assert run_cli(src, "-o", second, "--sampler", f"samples:{samples}", "--n", 6) == 0
    labels = lambda p: {r["id"]: r["difficulty"]["pass_rate"] for r in read_jsonl(p)}  # noqa: E731
    assert labels(first) == labels(second)
    assert {r["difficulty"]["model"] for r in read_jsonl(second)} == {"toy-math"}


def test_resume_keeps_only_the_samples_of_rows_the_journals_decided(tmp_path):
    """A killed run may have written samples of rows it never recorded (and a torn last line); the
    resumed run samples those rows again, so their old lines go, as many per id as were decided stay."""
    from collections import Counter

    from ring_data.annotate.pipeline import keep_samples_of_decided_rows

    lines = [json.dumps({"id": i, "responses": [i]}) + "\n" for i in ("a", "b", "a", "c")]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(lines) + '{"id": "d", "respo')
    keep_samples_of_decided_rows(samples, Counter({"a": 1, "b": 1, "z": 1}))
    assert samples.read_text() == lines[0] + lines[1]


def test_openai_sampler_through_loopback_server(model_dir, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", EASY + COIN)
    out = tmp_path / "o.jsonl"
    with OpenAICompatServer(model_dir, model_name="served-toy") as srv:
        code = run_cli(
            src, "-o", out, "--sampler", f"openai:{srv.url}", "--n", 4, "--max-tokens", 12,
            "--concurrency", 3, "--batch-size", 2,
        )  # fmt: skip
    assert code == 0
    rows = {r["id"]: r["difficulty"] for r in read_jsonl(out)}
    assert set(rows) == {r["id"] for r in EASY + COIN}
    assert all(d["model"] == "served-toy" and d["n_samples"] == 4 for d in rows.values())
    assert all(rows[r["id"]]["pass_rate"] >= 0.75 for r in EASY)  # the served model is the trained one


def test_samples_file_n_rules_and_missing_ids(tmp_path):
    rows = [math_row("a", "p", "1/2"), math_row("b", "p", "3"), math_row("c", "p", "4")]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"id": "a", "responses": ["\\boxed{0.5}", "\\boxed{1/2}", "no", "\\boxed{2}", "\\boxed{1/2}"]},
            {"id": "b", "responses": ["\\boxed{3}", "\\boxed{4}"]},
        ],
    )
    out = tmp_path / "o.jsonl"
    assert run_cli(src, "-o", out, "--sampler", f"samples:{samples}", "--n", 4) == 0
    kept = {r["id"]: r["difficulty"] for r in read_jsonl(out)}
    assert kept["a"]["n_samples"] == 4 and kept["a"]["n_correct"] == 2  # first 4; 0.5 == 1/2 by math-verify
    assert kept["b"] == {
        "pass_rate": 0.5,
        "n_samples": 2,
        "n_correct": 1,
        "bucket": "medium",
        "model": "samples:s.jsonl",
    }
    rejects = read_jsonl(tmp_path / "o.rejects.jsonl")
    assert [(r["id"], r["reason"]) for r in rejects] == [("c", "no_samples")]


def test_code_responses_run_in_the_sandbox_and_domains_are_reported_apart(tmp_path):
    tests = [{"input": "3\n", "output": "9\n"}, {"input": "-2\n", "output": "4\n"}]
    rows = [
        {
            "id": "sq",
            "domain": "code",
            "prompt": "Square n.",
            "reference": {"language": "python", "tests": tests},
        },
        math_row("m", "p", "2"),
    ]
    right, wrong = "```python\nn = int(input())\nprint(n * n)\n```", "```python\nprint(2 * int(input()))\n```"
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"id": "sq", "responses": [right, wrong, right, "no code"]},
            {"id": "m", "responses": ["\\boxed{2}"] * 4},
        ],
    )
    out, report = tmp_path / "o.jsonl", tmp_path / "rep"
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    assert run_cli(src, "-o", out, "--sampler", f"samples:{samples}", "--n", 4, "--report", report) == 0
    labels = {r["id"]: r["difficulty"] for r in read_jsonl(out)}
    assert labels["sq"]["n_correct"] == 2 and labels["sq"]["bucket"] == "medium"  # 3*2=6 != 9: wrong
    stats = json.loads((tmp_path / "o.jsonl.stats.json").read_text())
    assert stats["output_buckets_by_domain"] == {"code": {"medium": 1}, "math": {"all_correct": 1}}
    assert stats["output_pass_rate_counts_by_domain"] == {"code": {"0.5": 1}, "math": {"1": 1}}
    assert stats["sample_status"]["correct"] == 6 and stats["sample_status"]["no_answer"] == 1
    table = (report / "report.md").read_text()  # columns: domain, medium, all_correct, mean pass rate
    assert "| code | 1 | 0 | 0.5 |" in table and "| math | 0 | 1 | 1 |" in table


def test_unusable_reference_is_rejected_not_a_crash(tmp_path):
    rows = [
        math_row("ok", "p", "2"),
        {"id": "nores", "domain": "math", "prompt": "p", "reference": {"answer": ""}},
    ]
    rows.append({"id": "weird", "domain": "math", "prompt": "p", "reference": [1, 2]})
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    samples = write_jsonl(
        tmp_path / "s.jsonl", [{"id": r["id"], "responses": ["\\boxed{2}"] * 3} for r in rows]
    )
    out = tmp_path / "o.jsonl"
    assert run_cli(src, "-o", out, "--sampler", f"samples:{samples}", "--n", 3) == 0
    assert [r["id"] for r in read_jsonl(out)] == ["ok"]
    rejects = {r["id"]: r for r in read_jsonl(tmp_path / "o.rejects.jsonl")}
    assert set(rejects) == {"nores", "weird"}
    assert all(r["reason"] == "invalid_reference" and r["evidence"]["verifier"] for r in rejects.values())


def test_resume_skips_done_ids_and_repairs_a_torn_line(tmp_path):
    rows = [math_row(f"r{i}", f"p{i}", str(i)) for i in range(6)]
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [{"id": r["id"], "responses": [f"\\boxed{{{i}}}", "\\boxed{x}"]} for i, r in enumerate(rows)],
    )
    out = tmp_path / "o.jsonl"
    assert (
        run_cli(write_jsonl(tmp_path / "part.jsonl", rows[:3]), "-o", out, "--sampler", f"samples:{samples}")
        == 0
    )
    with out.open("a") as fh:  # a crash mid-write leaves half a row
        fh.write('{"id": "r3", "domain": "ma')
    src = write_jsonl(tmp_path / "all.jsonl", rows)
    assert run_cli(src, "-o", out, "--sampler", f"samples:{samples}") == 0
    ids = [r["id"] for r in read_jsonl(out)]
    assert sorted(ids) == [r["id"] for r in rows]  # each once, torn line gone
    stats = json.loads((tmp_path / "o.jsonl.stats.json").read_text())
    assert stats["skipped_resumed"] == 3 and stats["annotated"] == 3 and stats["in_equals_kept_plus_rejected"]
    assert run_cli(src, "-o", out, "--sampler", f"samples:{samples}", "--no-resume", "--n", 1) == 0
    assert all(r["difficulty"]["n_samples"] == 1 for r in read_jsonl(out))


def test_keep_range_and_parquet_output(tmp_path):
    rows = [math_row(f"r{i}", f"p{i}", "1") for i in range(4)]
    # pass rates 0/4, 1/4, 2/4, 4/4
    resp = lambda c: ["\\boxed{1}"] * c + ["\\boxed{0}"] * (4 - c)  # noqa: E731
    samples = write_jsonl(
        tmp_path / "s.jsonl", [{"id": f"r{i}", "responses": resp(c)} for i, c in enumerate([0, 1, 2, 4])]
    )
    out = tmp_path / "o.parquet"
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    assert run_cli(src, "-o", out, "--sampler", f"samples:{samples}", "--n", 4, "--keep-range", 0.3, 0.9) == 0
    import polars as pl

    assert pl.read_parquet(out)["id"].to_list() == ["r2"]
    assert not (tmp_path / "o.parquet.partial.jsonl").exists()
    rejects = read_jsonl(tmp_path / "o.rejects.jsonl")
    assert {r["id"]: r["evidence"]["rule"] for r in rejects} == {
        "r0": "outside_keep_range_0.3_0.9", "r1": "outside_keep_range_0.3_0.9", "r3": "outside_keep_range_0.3_0.9"
    }  # fmt: skip


def test_bad_input_is_one_line_error(tmp_path, capsys):
    src = write_jsonl(
        tmp_path / "in.jsonl", [math_row("a", "p", "1")], extra_lines=['{"id": "b", "domain": "math"}']
    )
    samples = write_jsonl(tmp_path / "s.jsonl", [{"id": "a", "responses": ["\\boxed{1}"]}])
    assert run_cli(src, "-o", tmp_path / "o.jsonl", "--sampler", f"samples:{samples}") == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("in.jsonl:2: field 'prompt': missing required field") and "\n" not in err
    assert run_cli(src, "-o", tmp_path / "o.jsonl", "--sampler", "gpt:x") == 2
    assert run_cli(src, "-o", tmp_path / "o.jsonl", "--sampler", f"samples:{samples}", "--n", 0) == 2
