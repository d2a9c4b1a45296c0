"""ring-data clean end to end on seeded corpora: dedup and decontamination precision/recall, row
conservation, evidence, resume, bad input, formats, report."""

import json
import re
import subprocess
import sys
from pathlib import Path

import mmath
import pytest

from ring_data.clean.corpus import clusters_from_rejects, make_corpus, pairwise_scores, true_pairs
from ring_data.clean.pipeline import CleanConfig, clean
from ring_data.io import read_rows, write_rows

MMATH = {
    f"{q['data_source']}/{q['data_source_id']}": q["question"]
    for q in json.loads((Path(mmath.__file__).parent / "mmath" / "en.json").read_text())
}


def _run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "cli.ring_data", "clean", *map(str, args)], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpus")
    rows = make_corpus(6000, seed=11)
    write_rows(tmp / "in.jsonl", rows)
    result = clean(tmp / "in.jsonl", tmp / "out.jsonl", report_dir=tmp / "report")
    return rows, result, tmp


def test_dedup_precision_recall_and_templates_kept_apart(corpus_run):
    rows, result, tmp = corpus_run
    kept = list(read_rows(tmp / "out.jsonl"))
    rejects = list(read_rows(tmp / "out.rejects.jsonl"))
    scores = pairwise_scores(clusters_from_rejects(rejects), true_pairs(rows))
    assert scores["precision"] >= 0.98 and scores["recall"] >= 0.95, scores
    # same-template problems with other numbers are their own clusters: no row is removed for a row
    # of another cluster (this seed has hundreds of such template siblings)
    cluster = {r["id"]: r["meta"]["cluster"] for r in rows}
    assert not [r for r in rejects if cluster[r["id"]] != cluster[r["evidence"]["kept_id"]]]
    assert sum(r["meta"]["kind"] == "template" for r in rows) > 300
    kept_ids = {r["id"] for r in kept}
    for r in rejects:
        assert r["evidence"]["kept_id"] in kept_ids  # evidence always points at a row that was kept
        if (
            r["reason"] == "near_duplicate"
        ):  # each removed row is itself similar to its kept row (no chaining)
            assert 0.6 <= r["evidence"]["similarity"] < 1
    assert {r["reason"] for r in rejects} == {"exact_duplicate", "near_duplicate"}


def test_rows_are_conserved_and_stats_say_so(corpus_run):
    rows, result, tmp = corpus_run
    n_kept = len((tmp / "out.jsonl").read_text().splitlines())
    n_rej = len((tmp / "out.rejects.jsonl").read_text().splitlines())
    assert n_kept + n_rej == len(rows)
    stats = json.loads((tmp / "out.jsonl.stats.json").read_text())
    assert stats["conservation"] == f"{len(rows)} in = {n_kept} kept + {n_rej} rejected"
    assert sum(stats["rejected_by_reason"].values()) == n_rej
    by_id = {r["id"]: r for r in rows}
    for rej in read_rows(tmp / "out.rejects.jsonl"):  # each reject is its input row + reason + evidence
        assert {k: v for k, v in rej.items() if k not in ("reason", "evidence")} == by_id[rej["id"]]
        assert rej["reason"] and isinstance(rej["evidence"], dict)


def test_report_has_counts_histogram_and_examples(corpus_run):
    rows, result, tmp = corpus_run
    md = (tmp / "report" / "report.md").read_text()
    stats = result.stats
    assert f"| exact_duplicate | {stats['rejected_by_reason']['exact_duplicate']} |" in md
    assert "near_similarity.png" in md and (tmp / "report" / "near_similarity.png").stat().st_size > 1000
    assert md.count("### near_duplicate") == 3 and "| kept |" in md
    assert (tmp / "report" / "report.html").exists()


def _planted(tmp):
    """Benchmark problems hidden in a clean pool: verbatim, reformatted, numbers changed, embedded, short."""
    aime = MMATH["AIME2024/3"]
    short_id = next(
        k for k, v in MMATH.items() if k.startswith("MATH500") and len(v.split()) < 8 and "[asy]" not in v
    )
    math_id = next(
        k
        for k, v in MMATH.items()
        if k.startswith("MATH500") and 25 < len(v.split()) < 60 and "[asy]" not in v
    )
    planted = {
        "verbatim": (MMATH["AIME2025/2"], "AIME2025/2"),
        "reformatted": (re.sub(r"\s+", "  ", MMATH[math_id]).upper().replace("$", " $ "), math_id),
        "numbers": (re.sub(r"\d+", lambda m: str(int(m.group()) + 7), aime), "AIME2024/3"),
        "embedded": (
            "Solve this carefully, showing all steps. " + aime + " Put the final answer in a box.",
            "AIME2024/3",
        ),
        "short": (MMATH[short_id], short_id),
    }
    pool = make_corpus(1500, seed=5, dup_fraction=0.0, template_fraction=0.0)
    for kind, (text, _) in planted.items():
        pool.append({"id": f"plant_{kind}", "domain": "math", "prompt": text, "reference": {"answer": "1"}})
    write_rows(tmp / "pool.jsonl", pool)
    return planted, pool


def test_decontamination_catches_planted_items_and_nothing_else(tmp_path):
    planted, pool = _planted(tmp_path)
    res = clean(tmp_path / "pool.jsonl", tmp_path / "out.jsonl", config=CleanConfig(filters=()))
    rejects = {r["id"]: r for r in read_rows(tmp_path / "out.rejects.jsonl")}
    contaminated = {i for i, r in rejects.items() if r["reason"] == "contamination"}
    assert contaminated == {f"plant_{k}" for k in planted}  # recall 1, precision 1 on this pool
    for kind, (_, item) in planted.items():
        ev = rejects[f"plant_{kind}"]["evidence"]
        assert ev["item"] == item and ev["benchmark"] == item.split("/")[0].lower()
        assert ev["match"]  # the matched n-gram or the whole-problem rule
    assert rejects["plant_numbers"]["evidence"]["match_kind"] in ("digitless", "ngram")
    assert rejects["plant_embedded"]["evidence"]["match_kind"] == "ngram"
    assert len(rejects["plant_embedded"]["evidence"]["match"].split()) == 8
    assert res.stats["rejected_by_reason"] == {"contamination": 5}


def test_user_benchmark_file_and_builtin_switch(tmp_path):
    pool = make_corpus(300, seed=8, dup_fraction=0.0, template_fraction=0.0)
    write_rows(tmp_path / "pool.jsonl", pool)
    (tmp_path / "my_eval.jsonl").write_text(
        "".join(json.dumps({"id": f"E{i}", "problem": r["prompt"]}) + "\n" for i, r in enumerate(pool[:4]))
    )
    out = _run_cli(
        tmp_path / "pool.jsonl",
        "-o",
        tmp_path / "out.parquet",
        "--benchmarks",
        tmp_path / "my_eval.jsonl",
        "--builtin-benchmarks",
        "none",
    )
    assert out.returncode == 0, out.stderr
    rejects = list(read_rows(tmp_path / "out.rejects.parquet"))
    assert sorted(r["evidence"]["item"] for r in rejects) == ["E0", "E1", "E2", "E3"]
    assert {r["evidence"]["benchmark"] for r in rejects} == {"my_eval"}
    assert len(list(read_rows(tmp_path / "out.parquet"))) == 296


def test_resume_skips_finished_stages_and_redoes_changed_ones(tmp_path):
    write_rows(tmp_path / "in.jsonl", make_corpus(800, seed=3))
    first = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    assert first.stats["resumed_stages"] == []
    again = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    assert again.stats["resumed_stages"] == ["ingest", "decontam", "exact", "near"]
    assert again.stats["rejected_by_reason"] == first.stats["rejected_by_reason"]
    # a run killed after ingest: later stages are missing -> only they run
    for stage in ("decontam", "exact", "near"):
        (tmp_path / "out.jsonl.work" / stage / "DONE").unlink()
    partial = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    assert partial.stats["resumed_stages"] == ["ingest"]
    changed = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl", config=CleanConfig(near=False))
    assert changed.stats["resumed_stages"] == ["ingest", "decontam", "exact"]
    assert "near_duplicate" not in changed.stats["rejected_by_reason"]


def test_killed_process_resumes(tmp_path):
    """A real kill (SIGKILL mid-run) leaves a work dir the next run continues from."""
    write_rows(tmp_path / "in.jsonl", make_corpus(3000, seed=4))
    code = (
        "import os, signal, sys\n"
        "from ring_data.clean import pipeline\n"
        "from ring_data.clean.stages import exact\n"
        "def die(*a, **k):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
        "exact.exact_duplicates = die\n"
        f"pipeline.clean({str(tmp_path / 'in.jsonl')!r}, {str(tmp_path / 'out.jsonl')!r})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -9
    assert not (tmp_path / "out.jsonl").exists()
    res = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    assert res.stats["resumed_stages"] == ["ingest", "decontam"]
    assert res.stats["rows_in"] == 3000


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b'{"domain": "math", "prompt": "What is 2+2?"}\n{"domain": "math", "prompt": oops}\n',
            r"in\.jsonl:2: malformed JSON",
        ),
        (
            b'{"domain": "math", "prompt": "What is 2+2?"}\n{"domain": "math"}\n',
            r"in\.jsonl:2: field 'prompt': missing required field",
        ),
        (b'{"domain": "math", "prompt": "caf\xe9 au lait?"}\n', r"in\.jsonl:1: not valid UTF-8"),
        (b"", r"in\.jsonl: empty file: no rows"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, content, expected):
    (tmp_path / "in.jsonl").write_bytes(content)
    out = _run_cli(tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(expected, lines[0]), out.stderr


def test_wrong_parquet_schema_and_on_bad_row_reject(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"question": ["What is 2+2 exactly?"], "domain": ["math"]}), tmp_path / "in.parquet"
    )
    out = _run_cli(tmp_path / "in.parquet", "-o", tmp_path / "out.jsonl")
    assert out.returncode == 2 and "in.parquet:1: field 'prompt': missing required field" in out.stderr
    ok = _run_cli(tmp_path / "in.parquet", "-o", tmp_path / "out.jsonl", "--map", "question=prompt")
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "mixed.jsonl").write_bytes(b'{"domain": "math", "prompt": "What is 2+2?"}\n{bad\n')
    rej = _run_cli(tmp_path / "mixed.jsonl", "-o", tmp_path / "o2.jsonl", "--on-bad-row", "reject")
    assert rej.returncode == 0, rej.stderr
    (bad,) = [json.loads(x) for x in (tmp_path / "o2.rejects.jsonl").read_text().splitlines()]
    assert (
        bad["reason"] == "bad_row"
        and bad["evidence"]["line"] == 2
        and "malformed JSON" in bad["evidence"]["error"]
    )
    assert "2 in = 1 kept + 1 rejected" in rej.stderr


def test_filters_reject_with_evidence_and_hf_dataset_io(tmp_path):
    rows = [
        {"id": "a", "domain": "math", "prompt": "As shown in the figure, find the area of the square."},
        {"id": "b", "domain": "math", "prompt": "Which is larger? (A) 2 (B) 3 (C) 4", "reference": "B"},
        {
            "id": "c",
            "domain": "math",
            "prompt": "Compute the sum of the first 10 odd numbers.",
            "reference": "100",
        },
        {
            "id": "d",
            "domain": "code",
            "prompt": "As shown in the figure below, print the maze.",
            "reference": {},
        },
    ]
    write_rows(tmp_path / "in_ds", rows)
    res = clean(tmp_path / "in_ds", tmp_path / "out_ds")
    assert [r["id"] for r in read_rows(tmp_path / "out_ds")] == ["c"]
    reasons = {r["id"]: (r["reason"], r["evidence"]) for r in read_rows(tmp_path / "out_ds.rejects.jsonl")}
    assert reasons["a"][0] == reasons["d"][0] == "filter_image"
    assert reasons["b"] == ("filter_choice", {"kind": "multiple_choice", "options": ["A", "B", "C"]})
    assert res.stats["by_domain"]["code"] == {"kept": 0, "filter_image": 1}


def test_index_verb_builds_a_reusable_index(tmp_path):
    pool = make_corpus(200, seed=12, dup_fraction=0.0, template_fraction=0.0)
    write_rows(tmp_path / "pool.jsonl", pool)
    bench = [{"id": f"Q{i}", "question": r["prompt"]} for i, r in enumerate(pool[:3])]
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(b) + "\n" for b in bench))
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.ring_data",
            "index",
            str(tmp_path / "eval.jsonl"),
            "-o",
            str(tmp_path / "myeval.npz"),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    manifest = json.loads((tmp_path / "myeval.json").read_text())
    assert (
        manifest["item_ids"] == ["Q0", "Q1", "Q2"]
        and "question" not in (tmp_path / "myeval.json").read_text()
    )
    res = clean(
        tmp_path / "pool.jsonl",
        tmp_path / "out.jsonl",
        config=CleanConfig(builtin_benchmarks=(), benchmark_files=(str(tmp_path / "myeval.npz"),)),
    )
    assert res.stats["rejected_by_reason"] == {"contamination": 3}


def test_one_word_apart_with_different_answers_stays_apart(tmp_path):
    base = (
        "John is rolling a fair 8-sided die. How much more likely is it, as a percentage, that he rolls a "
        "number greater than 2 than that he rolls two {} numbers in a row?"
    )
    rows = [
        {"id": "odd", "domain": "math", "prompt": base.format("odd"), "reference": {"answer": "25"}},
        {
            "id": "even",
            "domain": "math",
            "prompt": base.format("even"),
            "reference": {"answer": "\\frac{1}{4}"},
        },
        {
            "id": "odd2",
            "domain": "math",
            "prompt": base.format("odd").replace("John", "Mary"),
            "reference": "25",
        },
    ]
    write_rows(tmp_path / "in.jsonl", rows)
    res = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    assert [r["id"] for r in read_rows(tmp_path / "out.jsonl")] == ["odd", "even"]
    (rej,) = read_rows(tmp_path / "out.rejects.jsonl")
    assert (
        rej["id"] == "odd2" and rej["evidence"]["kept_id"] == "odd" and rej["evidence"]["similarity"] >= 0.6
    )
    assert res.stats["rejected_by_reason"] == {"near_duplicate": 1}
    ignore = CleanConfig(distinct_references=False)
    merged = clean(tmp_path / "in.jsonl", tmp_path / "out2.jsonl", config=ignore)
    assert merged.stats["rejected_by_reason"] == {"near_duplicate": 2}


def test_generated_games_lose_only_true_duplicates(tmp_path):
    """Puzzle rows differ in their grids/statements and references: only identical copies may go
    (maze grids are content: '#' and '.' are not punctuation to strip)."""
    from verifiers import game_domains
    from verifiers.games.generate import generate_rows

    rows = [r for g in game_domains() for r in generate_rows(g, 30, seed=1)]
    rows.append({**rows[0], "id": "copy_of_first"})  # a real duplicate must still be found
    write_rows(tmp_path / "games.jsonl", rows)
    res = clean(tmp_path / "games.jsonl", tmp_path / "out.jsonl")
    identity = {r["id"]: json.dumps([r["prompt"], r["reference"]], sort_keys=True) for r in rows}
    expected = len(rows) - len(set(identity.values()))
    rejects = list(read_rows(tmp_path / "out.rejects.jsonl"))
    assert len(rejects) == expected and expected >= 1
    for r in rejects:
        assert r["reason"] == "exact_duplicate" and identity[r["id"]] == identity[r["evidence"]["kept_id"]]
    assert "near_duplicate" not in res.stats["rejected_by_reason"]
    kept_domains = {r["domain"] for r in read_rows(tmp_path / "out.jsonl")}
    assert kept_domains == set(game_domains())


def test_same_text_with_another_reference_is_kept(tmp_path):
    rows = [
        {
            "id": "a",
            "domain": "maze",
            "prompt": "Solve the maze below.",
            "reference": {"grid": ["#.#"], "start": [0, 1], "goal": [0, 1]},
        },
        {
            "id": "b",
            "domain": "maze",
            "prompt": "Solve the maze below.",
            "reference": {"grid": ["#..#"], "start": [0, 1], "goal": [0, 2]},
        },
        {"id": "c", "domain": "math", "prompt": "What is 6 times 7?", "reference": "42"},
        {
            "id": "d",
            "domain": "math",
            "prompt": "What is 6 times 7 ?",
            "reference": {"answer": "42", "solutions": ["x"]},
        },
    ]
    write_rows(tmp_path / "in.jsonl", rows)
    res = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl", config=CleanConfig(filters=()))
    assert [r["id"] for r in read_rows(tmp_path / "out.jsonl")] == ["a", "b", "c"]
    assert res.stats["rejected_by_reason"] == {
        "exact_duplicate": 1
    }  # d: same answer, curation-only fields ignored
    ignore = clean(
        tmp_path / "in.jsonl",
        tmp_path / "o2.jsonl",
        config=CleanConfig(filters=(), distinct_references=False),
    )
    (b,) = [r for r in read_rows(tmp_path / "o2.rejects.jsonl") if r["id"] == "b"]
    assert b["evidence"]["reference_differs"] is True
    assert ignore.stats["rejected_by_reason"] == {"exact_duplicate": 2}


def test_all_pairs_for_small_number_groups_finds_what_lsh_finds(tmp_path):
    """Rows sharing their number sequence with few others are compared all-pairs instead of through
    MinHash: the same duplicates (or more: no banding misses) with most rows never signed."""
    from ring_data.clean.minhash import NearDupParams

    rows = make_corpus(3000, seed=5)
    write_rows(tmp_path / "in.jsonl", rows)
    runs = {}
    for group in (16, 0):  # 0 = every row through MinHash/LSH
        cfg = CleanConfig(near_params=NearDupParams(all_pairs_group=group), decontam=False)
        res = clean(tmp_path / "in.jsonl", tmp_path / f"out{group}.jsonl", config=cfg)
        rej = list(read_rows(tmp_path / f"out{group}.rejects.jsonl"))
        runs[group] = ({r["id"] for r in rej if r["reason"] == "near_duplicate"}, res.stats["stages"]["near"])
    (fast, info), (lsh, lsh_info) = runs[16], runs[0]
    assert lsh and lsh <= fast and len(fast - lsh) <= 0.01 * len(lsh)
    # rows whose numbers no other row has are never compared; of the rest, most are compared all-pairs
    assert lsh_info["minhash_documents"] == info["documents_sharing_numbers"] < info["documents"]
    assert info["minhash_documents"] < 0.5 * lsh_info["minhash_documents"]
