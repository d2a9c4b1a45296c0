"""Benchmark: ``ring-data annotate`` with the ``hf:`` sampler on a tiny trained model, against the
hand-rolled loop that pass-rate scripts usually are (one prompt at a time through ``generate``, then
math-verify on each response in the same thread, as open-r1's accuracy reward does).

Reports problems/s and where the time goes (generation vs verification). Both sides use the same model,
prompts, n and decoding settings. Writes the Markdown table to benchmarks/results/annotate.md.

    .venv/bin/python benchmarks/annotate.py            # default: ~1-2 minutes on 2 cores
    .venv/bin/python benchmarks/annotate.py --problems 256 --n 16 --hidden 256
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# `python benchmarks/annotate.py` puts benchmarks/ first on sys.path, where benchmarks/verifiers.py would
# shadow the verifiers package: import the project's packages, not sibling scripts
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from ring_data.annotate import AnnotateConfig, SamplingSettings, annotate  # noqa: E402
from ring_data.annotate.prompts import build_prompt, render_user_text  # noqa: E402
from ring_data.annotate.samplers.hf import HFSampler  # noqa: E402
from ring_data.annotate.tiny_model import build_tiny_model  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "annotate.md"


def make_problems(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        a, b = rng.randint(1, 4), rng.randint(1, 4)  # small answers: a toy model gets some right
        rows.append(
            {
                "id": f"p{i}",
                "domain": "math",
                "prompt": f"What is {a} plus {b}?",
                "reference": {"answer": str(a + b)},
            }
        )
    return rows


def reasoning(a: int, b: int, answer: int) -> str:
    """A short chain of thought ending in the boxed answer (real responses are far longer)."""
    return (
        f"We need {a} plus {b}. Start from {a} and count up by {b}: {a} + {b} = {answer}. "
        f"Check: {answer} - {b} = {a}, which matches. So the final answer is \\boxed{{{answer}}}."
    )


def train_pairs(rows: list[dict]) -> list[tuple[str, str]]:
    """Half the problems are taught with the right answer, the rest are unseen: a spread of pass rates."""
    pairs = []
    for row in rows[: len(rows) // 2]:
        a, b = (int(t.strip("?")) for t in row["prompt"].split() if t.strip("?").isdigit())
        pairs.append((render_user_text(row), reasoning(a, b, a + b)))
    return pairs


def run_ours(model_dir: str, src: Path, out_dir: Path, args, *, overlap: bool) -> dict:
    settings = SamplingSettings(max_tokens=args.max_tokens, seed=0)
    sampler = HFSampler(model_dir, settings, batch_size=args.gen_batch)
    cfg = AnnotateConfig(n=args.n, batch_size=args.batch_size, resume=False, overlap=overlap)
    t0 = time.perf_counter()
    stats = annotate(src, out_dir / "ours.jsonl", sampler, config=cfg).stats
    wall = time.perf_counter() - t0
    rates = [
        json.loads(line)["difficulty"]["pass_rate"]
        for line in (out_dir / "ours.jsonl").read_text().splitlines()
    ]
    return {
        "wall": wall,
        "gen": stats["generate_s"],
        "verify": stats["verify_s"],
        "exposed_verify": stats["verify_wait_s"],
        "mean_pass": sum(rates) / len(rates),
    }


def run_baseline(model_dir: str, rows: list[dict], args) -> dict:
    import torch
    from math_verify import parse, verify
    from transformers import AutoModelForCausalLM

    from ring_data.annotate.samplers.hf import load_tokenizer

    tok = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    torch.manual_seed(0)
    gen = ver = 0.0
    rates = []
    t0 = time.perf_counter()
    for row in rows:
        text = tok.apply_chat_template(
            list(build_prompt(row).messages), tokenize=False, add_generation_prompt=True
        )
        enc = tok(text, return_tensors="pt", add_special_tokens=False)
        g0 = time.perf_counter()
        with torch.inference_mode():
            seqs = model.generate(
                **enc, do_sample=True, temperature=1.0, top_p=0.95, top_k=0, max_new_tokens=args.max_tokens,
                num_return_sequences=args.n, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
            )  # fmt: skip
        responses = tok.batch_decode(seqs[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        v0 = time.perf_counter()
        gen += v0 - g0
        gold = parse(f"${row['reference']['answer']}$")
        correct = [bool(verify(gold, parse(r))) for r in responses]
        ver += time.perf_counter() - v0
        rates.append(sum(correct) / len(correct))
    wall = time.perf_counter() - t0
    return {
        "wall": wall,
        "gen": gen,
        "verify": ver,
        "exposed_verify": ver,
        "mean_pass": sum(rates) / len(rates),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", type=int, default=64)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--train-steps", type=int, default=80)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--batch-size", type=int, default=16, help="problems per sampler call (ours)")
    p.add_argument("--gen-batch", type=int, default=128, help="sequences per generate call (ours)")
    p.add_argument("--repeats", type=int, default=2, help="runs per ring-data mode (the faster one is shown)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()

    rows = make_problems(args.problems, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        model_dir = str(
            build_tiny_model(
                tmp / "toy-math", train_pairs=train_pairs(rows), steps=args.train_steps, lr=args.lr, hidden_size=args.hidden,
                num_layers=args.layers,
            )
        )  # fmt: skip
        print(f"built and trained the toy model in {time.perf_counter() - t0:.1f}s")
        src = tmp / "problems.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
        # alternate the two modes and keep each one's faster run: the machine is shared, and the first
        # run pays for starting the verifier pool and filling its caches
        runs = {False: [], True: []}
        for _ in range(args.repeats):
            for overlap in (False, True):
                runs[overlap].append(run_ours(model_dir, src, tmp, args, overlap=overlap))
        sequential, ours = (min(runs[o], key=lambda r: r["wall"]) for o in (False, True))
        base = run_baseline(model_dir, rows, args)

    def line(name, r, ref):
        busy = r["gen"] + r["verify"]
        return (
            f"| {name} | {args.problems / r['wall']:.2f} | {r['wall']:.1f} | {r['gen']:.1f} | {r['verify']:.2f} | "
            f"{100 * r['verify'] / busy:.1f}% | {100 * r['exposed_verify'] / r['wall']:.1f}% | {r['mean_pass']:.2f} | "
            f"{ref['wall'] / r['wall']:.2f}x |"
        )

    table = "\n".join(
        [
            f"Annotate {args.problems} math problems x n={args.n} samples (max {args.max_tokens} new tokens, T=1.0, "
            f"top-p 0.95) with a {args.layers}-layer, {args.hidden}-wide toy model on "
            f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), shared machine.",
            "",
            "| pipeline | problems/s | wall s | generation s | verification s | verification share of work | "
            "verification not hidden (share of wall) | mean pass rate | speed vs baseline |",
            "|---|---|---|---|---|---|---|---|---|",
            line(
                "ring-data annotate --overlap off (default on CPU: verify after each batch)", sequential, base
            ),
            line("ring-data annotate --overlap on (verify beside generation)", ours, base),
            line("baseline loop (generate per prompt, math-verify inline)", base, base),
            "",
            "Verification s is the wall time of the `verifiers.verify_batch` calls; overlapped, they run beside "
            "generation on the same cores, so that time is stretched and mostly hidden. *Not hidden* is the time "
            "the pipeline waited for verification, the cost it really adds. The baseline verifies inline.",
            "",
            "Command: `.venv/bin/python benchmarks/annotate.py "
            + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out")
            + "`",
        ]
    )
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("# ring-data annotate benchmark\n\n" + table + "\n")


if __name__ == "__main__":
    main()
