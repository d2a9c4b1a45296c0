"""ring-train rl (embedded backend) vs TRL's GRPOTrainer, side by side in one run.

    .venv/bin/python benchmarks/train.py                    # ~5 min on 2 cores (100 s of it SFT warm-up)
    .venv/bin/python benchmarks/train.py --seconds 45 --start runs/cpu_recipe/sft/epoch_3   # ~3 min

Both trainers start from the same tiny Qwen2 checkpoint (built in code and SFT-warmed on generated
arithmetic exactly as the CPU recipe does, epoch 3 = the recipe's entropy choice; or ``--start PATH``), train on the same RL prompts with the same group size K,
prompts per step, completion length, learning rate (constant), beta 0 and temperature 1, for the same
wall time each. Rewards come from ``verifiers.verify_batch`` in both. Reported: mean step time, trained
completion tokens per second (the tokens that receive a policy-gradient loss) and CPU seconds per
step, as ratios, and held-out sampled accuracy (temperature 1) of each final policy. A second table
runs ring-train again with C3PO off (sample-level GRPO, token-mean loss) from the same start: trained
tokens per step and grad-norm spread under both.

TRL is configured for CPU as trainers.md §9 prescribes (fp32, no gradient checkpointing, constant lr,
no dropout). ring-train's gain comes from the work it skips: each group's prompt is computed once, no
compute on padding or after EOS, and C3PO caps the trained tokens per step at Φ.

Prints a Markdown table and writes it to benchmarks/results/train.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (trainers.md §9)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ring_data.io import read_rows  # noqa: E402
from ring_train.evaluate import evaluate  # noqa: E402
from ring_train.models.load import load_policy  # noqa: E402
from ring_train.recipes.arithmetic import write_splits  # noqa: E402
from ring_train.rewards import Rewarder  # noqa: E402


def warm_start(out: Path, args) -> Path:
    """A tiny model SFT-warmed on generated arithmetic (random weights give no reward signal)."""
    from ring_train.sft import SFTConfig, run_sft

    paths = write_splits(
        out / "data",
        n_sft=args.sft_rows,
        n_rl=2000,
        n_eval=args.eval_rows,
        digits=tuple(args.digits),
        seed=args.seed,
    )
    ckpts = run_sft(
        paths["sft"], out / "sft", tiny=True, cfg=SFTConfig(epochs=args.sft_epochs, lr=2e-3, batch_size=32)
    )
    return ckpts[args.start_epoch - 1]


def run_trl(start: Path, rl_rows: list[dict], args, out: Path) -> dict:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from verifiers import verify_batch

    model, tok = load_policy(start)

    def reward(prompts, completions, reference, domain, **_):
        items = [(c, json.loads(r), d) for c, r, d in zip(completions, reference, domain)]
        return [float(r.score) for r in verify_batch(items)]

    ds = Dataset.from_list(
        [
            {"prompt": r["prompt"], "reference": json.dumps(r["reference"]), "domain": r["domain"]}
            for r in rl_rows
        ]
    )
    steps: list[dict] = []

    class Clock(TrainerCallback):
        def on_train_begin(self, a, state, control, **kw):
            self.t0 = self.last = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            now = time.perf_counter()
            steps.append({"step_s": now - self.last})
            self.last = now
            if now - self.t0 >= args.seconds:
                control.should_training_stop = True

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs and steps:
                # TRL's loss covers every completion token (zero-advantage groups included)
                steps[-1]["tokens"] = steps[-1]["completion"] = (
                    logs["completions/mean_length"] * args.prompts * args.k
                )
                steps[-1]["reward"] = logs.get("reward")

    cfg = GRPOConfig(
        output_dir=str(out / "trl"),
        per_device_train_batch_size=args.prompts * args.k,
        num_generations=args.k,
        max_completion_length=args.max_new_tokens,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        beta=0.0,
        temperature=1.0,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=True,
        disable_dropout=True,
        logging_steps=1,
        max_steps=100_000,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=cfg,
        train_dataset=ds,
        processing_class=tok,
        callbacks=[Clock()],
    )
    c0 = time.process_time()
    trainer.train()
    return {"model": model, "tok": tok, "steps": steps, "cpu_s": time.process_time() - c0}


def run_ring(
    start: Path, rl_path: Path, args, out: Path, budget: int | None, name: str, lanes: int = 0
) -> dict:
    from ring_train.backends.embedded import train
    from ring_train.config import from_dict
    from ring_train.metrics import read_metrics

    raw = {
        "model": str(start),
        "run_dir": str(out / name),
        "seed": args.seed,
        "checkpoint_every": 10**6,
        "time_limit_s": args.seconds,
        "lanes": lanes,
        "rollout": {
            "prompts_per_step": args.prompts,
            "group_size": args.k,
            "max_new_tokens": args.max_new_tokens,
        },
        "c3po": {"enabled": budget is not None, "budget": budget},
        # GRPO baseline: DAPO-style token mean, the same aggregation TRL's default loss uses
        "loss": {"aggregation": "auto" if budget is not None else "token-mean"},
        "optim": {"lr": args.lr},
        "stages": [{"name": "reasoning", "datasets": {str(rl_path): 1.0}, "steps": 100_000}],
    }
    cfg = from_dict(raw, "benchmark")
    shutil.rmtree(out / name, ignore_errors=True)  # a fresh run each time (no resume of an earlier one)
    c0 = time.process_time()
    train(cfg, cfg.stages)
    cpu_s = time.process_time() - c0
    recs = [r for r in read_metrics(out / name / "metrics.jsonl") if "perf/step_s" in r]
    steps = [
        {
            "step_s": r["perf/step_s"],
            "tokens": r["c3po/kept_tokens"],  # tokens with a policy-gradient loss (after filtering and Φ)
            "completion": r["rollout/response_len"] * r["rollout/prompts"] * args.k,
            "reward": r["reward/mean"],
            "grad_norm": r["policy/grad_norm"],
        }
        for r in recs
    ]
    model, tok = load_policy(out / name / "stages" / "reasoning" / "final")
    return {"model": model, "tok": tok, "steps": steps, "cpu_s": cpu_s}


def summarise(run: dict) -> dict:
    steps = run["steps"]
    timed = steps[1:] or steps  # the first step carries one-off warm-up
    wall = sum(s["step_s"] for s in timed)
    toks = [float(s.get("tokens", 0.0)) for s in timed]
    comp = [float(s.get("completion", 0.0)) for s in timed]
    return {
        "steps": len(steps),
        "step_s": wall / len(timed),
        "cpu_s": run["cpu_s"] / max(1, len(steps)),
        "tokens_per_step": sum(toks) / len(toks),
        "tokens_std": float(torch.tensor(toks).std()) if len(toks) > 1 else 0.0,
        "tokens_per_s": sum(toks) / wall,
        "completion_per_s": sum(comp) / wall,
        "grad_norm": [float(s["grad_norm"]) for s in timed if "grad_norm" in s],
        "tokens": toks,
    }


def heldout(model, tok, rows, args) -> dict:
    rewarder = Rewarder()
    try:
        res = evaluate(
            model,
            tok,
            rows,
            rewarder,
            samples=args.eval_samples,
            temperature=1.0,
            max_new_tokens=args.max_new_tokens,
            generator=torch.Generator().manual_seed(args.seed + 1),
        )
    finally:
        rewarder.close()
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=45.0, help="wall time of each trainer")
    ap.add_argument("--start", help="start checkpoint (default: build + SFT-warm a tiny model)")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench_train"))
    ap.add_argument("--prompts", type=int, default=16, help="prompts per step")
    ap.add_argument("--k", type=int, default=8, help="group size")
    ap.add_argument("--max-new-tokens", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument(
        "--budget",
        type=int,
        default=None,
        help="C3PO Φ (default: the start model's mean completion tokens per step, as many as TRL trains)",
    )
    ap.add_argument("--lanes", type=int, default=0, help="ring-train lanes (0 = one per thread)")
    ap.add_argument(
        "--digits", type=int, nargs=2, default=(2, 2), metavar=("MIN", "MAX"), help="operand digits"
    )
    ap.add_argument("--sft-rows", type=int, default=3000)
    ap.add_argument("--sft-epochs", type=int, default=4)
    ap.add_argument(
        "--start-epoch",
        type=int,
        default=3,
        help="SFT epoch to start RL from (the CPU recipe's entropy choice)",
    )
    ap.add_argument("--eval-rows", type=int, default=128)
    ap.add_argument("--eval-samples", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t = time.perf_counter()
    start = Path(args.start) if args.start else warm_start(out, args)
    data = out / "data"
    if not (data / "rl.jsonl").exists():
        write_splits(
            data, n_sft=10, n_rl=2000, n_eval=args.eval_rows, digits=tuple(args.digits), seed=args.seed
        )
    rl_rows, eval_rows = list(read_rows(data / "rl.jsonl")), list(read_rows(data / "heldout.jsonl"))
    setup_s = time.perf_counter() - t
    model0, tok0 = load_policy(start)
    ev0 = heldout(model0, tok0, eval_rows, args)
    acc0 = ev0["pass_rate"]
    # Φ = the start's mean completion tokens per step: ring trains as many tokens per step as TRL
    # (after zero-variance filtering, adaptive prompts and refills make up the difference)
    budget = args.budget or int(args.prompts * args.k * ev0["response_len"])
    trl = run_trl(start, rl_rows, args, out)
    acc_trl = heldout(trl["model"], trl["tok"], eval_rows, args)["pass_rate"]
    ring = run_ring(start, data / "rl.jsonl", args, out, budget, "ring_c3po", lanes=args.lanes)
    acc_ring = heldout(ring["model"], ring["tok"], eval_rows, args)["pass_rate"]
    one = run_ring(start, data / "rl.jsonl", args, out, budget, "ring_c3po_1lane", lanes=1)
    acc_one = heldout(one["model"], one["tok"], eval_rows, args)["pass_rate"]
    grpo = run_ring(start, data / "rl.jsonl", args, out, None, "ring_grpo", lanes=args.lanes)
    acc_grpo = heldout(grpo["model"], grpo["tok"], eval_rows, args)["pass_rate"]
    s_trl, s_ring, s_one, s_grpo = summarise(trl), summarise(ring), summarise(one), summarise(grpo)

    table = render(args, start, setup_s, acc0, s_trl, s_one, s_ring, acc_trl, acc_one, acc_ring, budget)
    table += render_ablation(budget, s_ring, s_grpo, acc_ring, acc_grpo)
    print(table)
    res = ROOT / "benchmarks" / "results" / "train.md"
    res.write_text(table)
    (out / "summary.json").write_text(
        json.dumps(
            {
                "trl": s_trl,
                "ring_c3po": s_ring,
                "ring_c3po_1lane": s_one,
                "ring_grpo": s_grpo,
                "budget": budget,
            },
            indent=1,
        )
    )
    return 0


def _spread(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    t = torch.tensor(xs)
    sd = float(t.std()) if len(xs) > 1 else 0.0
    return f"{float(t.mean()):.3g} ± {sd:.3g} (max {float(t.max()):.3g})"


def render_ablation(budget, s_c3po, s_grpo, acc_c3po, acc_grpo) -> str:
    lines = [
        "## C3PO vs sample-level GRPO (same start, same wall time, same seed)",
        "",
        f"C3PO: Φ = {budget} tokens per step, loss divided by Φ. GRPO: every token of every usable response "
        "trains, loss divided by the step's token count (token mean). Zero-variance groups are filtered in both.",
        "",
        "| | C3PO | GRPO |",
        "|---|---:|---:|",
        f"| steps | {s_c3po['steps']} | {s_grpo['steps']} |",
        f"| trained tokens / step, mean ± sd (max) | {_spread(s_c3po['tokens'])} | {_spread(s_grpo['tokens'])} |",
        f"| grad norm, mean ± sd (max) | {_spread(s_c3po['grad_norm'])} | {_spread(s_grpo['grad_norm'])} |",
        f"| mean step time (s) | {s_c3po['step_s']:.2f} | {s_grpo['step_s']:.2f} |",
        f"| held-out sampled accuracy | {acc_c3po:.3f} | {acc_grpo:.3f} |",
        "",
        "Under C3PO every step trains exactly Φ tokens: when zero-variance filtering leaves fewer, refill "
        "rounds sample more prompts until Φ usable tokens exist (token-budgeted dynamic sampling, at most "
        "`c3po.refill_rounds` extra rounds; the refill time is part of the C3PO step time).",
        "",
    ]
    return "\n".join(lines)


def render(args, start, setup_s, acc0, s_trl, s_one, s_ring, acc_trl, acc_one, acc_ring, budget) -> str:
    def ratio(a, b):
        return f"{a / b:.2f}x" if b else "n/a"

    def row(label, key, fmt, better="higher", bold=False):
        vals = [s[key] for s in (s_trl, s_one, s_ring)]
        rs = [ratio(v, vals[0]) if better == "higher" else ratio(vals[0], v) for v in vals[1:]]
        if bold:
            rs = [f"**{r}**" for r in rs]
        return f"| {label} | " + " | ".join(format(v, fmt) for v in vals) + " | " + " | ".join(rs) + " |"

    lanes = args.lanes or min(8, torch.get_num_threads(), args.prompts)
    lines = [
        "# ring-train rl (embedded) vs TRL GRPOTrainer",
        "",
        f"Command: `.venv/bin/python benchmarks/train.py --seconds {args.seconds:g}"
        + (" --start START" if args.start else "")
        + (f" --budget {args.budget}" if args.budget else "")
        + "`",
        "",
        f"Same start checkpoint (`{Path(start).name}`), {args.prompts} prompts x K={args.k} per step, "
        f"max {args.max_new_tokens} new tokens, lr {args.lr:g} constant, beta 0, temperature 1, fp32, "
        f"{torch.get_num_threads()} threads, {args.seconds:g} s of training each. "
        f"Held-out: {args.eval_rows} problems x {args.eval_samples} samples at temperature 1. "
        f"C3PO: Φ = {budget} (the start's mean completion tokens per step). "
        f"Setup (data + SFT warm-up) {setup_s:.0f} s"
        + (" (START: this script's own SFT warm-up, kept from an earlier run)" if args.start else "")
        + ". ring-train runs twice: with one lane (the gain from "
        f"the work it skips alone) and with {lanes} lanes (the default: one data-parallel lane per core).",
        "",
        f"| | TRL GRPOTrainer | ring-train rl, 1 lane | ring-train rl, {lanes} lanes | 1 lane / TRL | "
        f"{lanes} lanes / TRL |",
        "|---|---:|---:|---:|---:|---:|",
        row(f"steps in {args.seconds:g} s", "steps", "d"),
        row("mean step time (s)", "step_s", ".2f", better="lower"),
        row("CPU s per step", "cpu_s", ".2f", better="lower"),
        "| trained tokens / step (mean ± sd) | "
        + " | ".join(f"{s['tokens_per_step']:.0f} ± {s['tokens_std']:.0f}" for s in (s_trl, s_one, s_ring))
        + " | | |",
        row("completion tokens / s (all sampled tokens a step consumes)", "completion_per_s", ".0f"),
        row(
            "trained tokens / s (tokens with a loss; ring: exactly Φ per step after zero-variance filtering)",
            "tokens_per_s",
            ".0f",
            bold=True,
        ),
        f"| held-out sampled accuracy (start {acc0:.3f}) | {acc_trl:.3f} | {acc_one:.3f} | {acc_ring:.3f} | "
        f"{acc_one - acc_trl:+.3f} | {acc_ring - acc_trl:+.3f} |",
        "",
        "Ratios: higher is better for ring-train (step and CPU times are TRL's divided by ring's). The machine "
        "is a shared 2-core CPU box: wall times move between runs; CPU s per step is the steadier comparison.",
        "",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
