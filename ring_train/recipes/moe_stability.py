"""The paper's stability comparison at CPU scale: the same tiny Mixture-of-Experts start trained with
C3PO and with sample-level GRPO, three seeds each, then a report with the seeds' spread.

    .venv/bin/python -m ring_train.recipes.moe_stability --out runs/moe_stability      # ~20 min, 2 cores
    .venv/bin/python -m ring_train.recipes.moe_stability --out runs/moe_quick --quick  # ~4 min smoke run

1. generated 2-digit addition (``ring_train/recipes/arithmetic.py``), SFT of a tiny MoE policy
   (``--arch``, default ``qwen3_moe``: 8 experts, top-2, the dense tiny model's active parameters), the
   RL start chosen by entropy as in the CPU recipe; done once, shared by every run;
2. sample-level GRPO (``c3po.enabled: false``) for each seed, then C3PO with Φ = the GRPO runs' mean
   trained tokens per step, so both methods train the same tokens on average; same data, steps and
   settings otherwise (``configs/moe_stability.yaml``);
3. ``OUT/report.md`` + ``OUT/report.json`` + ``OUT/stability.png``: reward and held-out accuracy curves,
   grad-norm mean and spread, trained tokens per step, routing drift, expert load, each method's mean
   over seeds with the seeds' range.

Resumable: a finished run (its ``rl.stats.json``) is kept, an interrupted one continues from its last
checkpoint, the start and Φ are written once (``start.json``, ``budget.json``). Progress is logged per
run. From Python: ``run_recipe(out_dir, quick=True)``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
RECIPE_CONFIG = ROOT / "configs" / "moe_stability.yaml"
METHODS = ("grpo", "c3po")  # GRPO first: its mean trained tokens per step set C3PO's Φ
LABELS = {"c3po": "C3PO (token budget Φ)", "grpo": "GRPO (sample-level)"}
COLORS = {"c3po": "tab:blue", "grpo": "tab:red"}
WINDOW = (0.12, 0.3)  # the CPU recipe's entropy window (ring_train.recipes.cpu)

FULL = {
    "n_sft": 3000,
    "sft_epochs": 4,
    "n_eval": 128,
    "select_rows": 32,
    "steps": 120,
    "eval_every": 20,
    "seeds": (0, 1, 2),
}
# the same start (same SFT data and schedule), short runs, two seeds
QUICK = {**FULL, "steps": 20, "eval_every": 10, "seeds": (0, 1)}


def prepare_start(out: Path, plan: dict[str, Any], arch: str, seed: int = 0) -> dict[str, Any]:
    """Data, SFT of the tiny MoE and the entropy choice of the RL start (cached in ``start.json``)."""
    from .cpu import sft_and_select

    cached = out / "start.json"
    if cached.exists():
        info = json.loads(cached.read_text())
        if Path(info["start"]).exists() and info["arch"] == arch:
            log.info("start: reusing %s", info["start"])
            return info
    t0 = time.time()
    if (out / "sft").exists():
        shutil.rmtree(out / "sft")
    _, chosen, measured, t_sft = sft_and_select(out, plan, seed=seed, arch=arch, window=WINDOW, logger="none")
    from ..models.load import load_policy
    from ..moe import router_info

    model, _ = load_policy(chosen)
    router = router_info(model)
    info = {
        "arch": arch,
        "start": str(chosen),
        "data": str(out / "data"),
        "params_total": sum(p.numel() for p in model.parameters()),
        "experts": router.num_experts if router else 0,
        "top_k": router.top_k if router else 0,
        "moe_layers": router.layers if router else 0,
        "selection": [m.__dict__ for m in measured],
        "seconds": {"sft": round(t_sft - t0, 1), "select": round(time.time() - t_sft, 1)},
    }
    cached.write_text(json.dumps(info, indent=2))
    log.info("start: %s chosen (SFT %.0f s)", chosen, t_sft - t0)
    return info


def run_config(start: dict[str, Any], run_dir: Path, method: str, seed: int, plan, budget, overrides):
    """The RL config of one run (``configs/moe_stability.yaml`` + the arm's settings)."""
    from ..config import load_config, load_raw, set_dotted

    base = load_raw(RECIPE_CONFIG)
    base["model"], base["run_dir"], base["seed"] = start["start"], str(run_dir), seed
    for stage in base["stages"]:
        stage["datasets"] = {p.replace("DATA", start["data"]): w for p, w in stage["datasets"].items()}
        stage["steps"] = plan["steps"]
    base["eval"]["data"] = base["eval"]["data"].replace("DATA", start["data"])
    base["eval"]["every"] = plan["eval_every"]
    if method == "grpo":
        set_dotted(base, "c3po.enabled", False)
        set_dotted(base, "c3po.budget", None)
    else:
        set_dotted(base, "c3po.budget", budget)
    return load_config(None, list(overrides), base=base)


def run_one(
    out: Path, start: dict[str, Any], method: str, seed: int, plan, budget, overrides
) -> tuple[Path, bool]:
    """One run, resumable: returns its dir and whether it ran now (False: finished before)."""
    from ..backends.embedded import train
    from ..checkpoint import latest

    run_dir = out / "runs" / f"{method}_seed{seed}"
    if (run_dir / "rl.stats.json").exists():
        return run_dir, False
    resume = run_dir.exists() and latest(run_dir) is not None
    if run_dir.exists() and not resume:
        shutil.rmtree(run_dir)
    cfg = run_config(start, run_dir, method, seed, plan, budget, overrides)
    train(cfg, cfg.stages, resume=resume)
    return run_dir, True


def mean_trained_tokens(run_dirs: list[Path]) -> int:
    """Mean trained tokens per step over the given runs' steps."""
    from ..metrics import read_metrics

    kept = [
        r["c3po/kept_tokens"]
        for d in run_dirs
        for r in read_metrics(d / "metrics.jsonl")
        if "c3po/kept_tokens" in r
    ]
    return max(1, round(sum(kept) / len(kept)))


# ---- summaries and the report ----------------------------------------------------------------------


def _mean(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def _sd(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return statistics.pstdev(xs) if len(xs) > 1 else 0.0


def summarize_run(run_dir: Path) -> dict[str, Any]:
    """One run's numbers: within-run means and spreads of the per-step metrics, eval curve."""
    from ..metrics import read_metrics

    recs = read_metrics(run_dir / "metrics.jsonl")
    steps = [r for r in recs if "policy/grad_norm" in r]
    evals = [(r["global_step"], r["eval/pass_rate"]) for r in recs if "eval/pass_rate" in r]
    grad = [r["policy/grad_norm"] for r in steps]
    tokens = [r["c3po/kept_tokens"] for r in steps]
    tail = steps[-max(1, len(steps) // 4) :]

    def series(key: str) -> list[float]:
        return [r.get(key, float("nan")) for r in steps]

    return {
        "steps": len(steps),
        "grad_norm_mean": _mean(grad),
        "grad_norm_sd": _sd(grad),
        "grad_norm_max": max(grad) if grad else float("nan"),
        "tokens_mean": _mean(tokens),
        "tokens_sd": _sd(tokens),
        "reward_last_quarter": _mean([r["reward/mean"] for r in tail]),
        "heldout_start": evals[0][1] if evals else float("nan"),
        "heldout_end": evals[-1][1] if evals else float("nan"),
        "drift": _mean(series("router/drift")),
        "drift_update": _mean(series("router/drift_last_epoch")),
        "load_cv": _mean(series("router/load_cv")),
        "router_entropy_end": _mean([r.get("router/entropy", float("nan")) for r in tail]),
        "step_s": _mean(series("perf/step_s")),
        "curves": {
            "step": [r["global_step"] for r in steps],
            "reward": series("reward/mean"),
            "grad_norm": grad,
            "tokens": tokens,
            "drift": series("router/drift"),
            "drift_update": series("router/drift_last_epoch"),
            "load_cv": series("router/load_cv"),
            "eval_step": [s for s, _ in evals],
            "eval": [v for _, v in evals],
        },
    }


AGGREGATED = (
    "heldout_start",
    "heldout_end",
    "reward_last_quarter",
    "grad_norm_mean",
    "grad_norm_sd",
    "grad_norm_max",
    "tokens_mean",
    "tokens_sd",
    "drift",
    "drift_update",
    "load_cv",
    "router_entropy_end",
    "step_s",
)


def aggregate(runs: dict[str, dict[int, dict[str, Any]]]) -> dict[str, dict[str, dict[str, float]]]:
    """``method -> metric -> {mean, sd, min, max}`` over seeds."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for method, by_seed in runs.items():
        out[method] = {}
        for key in AGGREGATED:
            vals = [s[key] for s in by_seed.values()]
            finite = [v for v in vals if math.isfinite(v)]
            out[method][key] = {
                "mean": _mean(vals),
                "sd": _sd(vals),
                "min": min(finite) if finite else float("nan"),
                "max": max(finite) if finite else float("nan"),
            }
    return out


def _smooth(xs: list[float], window: int) -> list[float]:
    out, acc = [], []
    for x in xs:
        acc.append(x)
        acc = acc[-window:]
        finite = [a for a in acc if math.isfinite(a)]
        out.append(sum(finite) / len(finite) if finite else float("nan"))
    return out


def plot_stability(runs: dict[str, dict[int, dict[str, Any]]], out_png: Path, title: str = "") -> Path:
    """Six panels, each method's mean over seeds (line) and the seeds' range (band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("reward", "reward (train rollouts, 10-step mean)", 10),
        ("eval", "held-out sampled accuracy", 1),
        ("grad_norm", "grad norm (before clipping, 5-step mean)", 5),
        ("tokens", "trained tokens / step", 1),
        ("drift_update", "routing drift after one update (share of top-k changed)", 5),
        ("load_cv", "expert load CV (0 = even)", 5),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(14, 6.6))
    for ax, (key, label, window) in zip(axes.flat, panels):
        for method, by_seed in runs.items():
            curves = [s["curves"] for s in by_seed.values()]
            xkey = "eval_step" if key == "eval" else "step"
            n = min(len(c[key]) for c in curves)
            if n == 0 or all(not math.isfinite(v) for c in curves for v in c[key][:n]):
                continue
            xs = curves[0][xkey][:n]
            ys = [_smooth(c[key][:n], window) for c in curves]
            mean = [_mean([y[i] for y in ys]) for i in range(n)]
            lo = [min(y[i] for y in ys) for i in range(n)]
            hi = [max(y[i] for y in ys) for i in range(n)]
            ax.plot(xs, mean, color=COLORS[method], label=f"{LABELS[method]}, {len(ys)} seeds")
            ax.fill_between(xs, lo, hi, color=COLORS[method], alpha=0.2, linewidth=0)
            if key == "grad_norm":  # the raw per-step values, faint: the spikes a mean hides
                for c in curves:
                    ax.plot(c["step"][:n], c[key][:n], color=COLORS[method], alpha=0.15, linewidth=0.6)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


def _pm(stat: dict[str, float], fmt: str) -> str:
    return f"{stat['mean']:{fmt}} ± {stat['sd']:{fmt}}"


def render_report(info: dict[str, Any], agg: dict, runs: dict, command: str) -> str:
    start = info["start"]
    rows = [
        ("held-out accuracy at the start", "heldout_start", ".3f"),
        ("held-out accuracy at the end", "heldout_end", ".3f"),
        ("train reward, last quarter of the steps", "reward_last_quarter", ".3f"),
        ("grad norm: mean over steps", "grad_norm_mean", ".3f"),
        ("grad norm: spread over steps (sd)", "grad_norm_sd", ".3f"),
        ("grad norm: max", "grad_norm_max", ".3f"),
        ("trained tokens / step: mean", "tokens_mean", ".0f"),
        ("trained tokens / step: spread (sd)", "tokens_sd", ".0f"),
        ("routing drift, rollout vs training pass", "drift", ".2e"),
        ("routing drift after one update (2nd PPO pass)", "drift_update", ".4f"),
        ("expert load CV (mean over steps)", "load_cv", ".3f"),
        ("router entropy, last quarter (nats)", "router_entropy_end", ".3f"),
        ("step time (s)", "step_s", ".2f"),
    ]
    methods = [m for m in ("c3po", "grpo") if m in agg]
    seeds = sorted({s for m in runs.values() for s in m})
    lines = [
        "# C3PO vs sample-level GRPO on a tiny Mixture-of-Experts policy",
        "",
        f"Command: `{command}`",
        "",
        f"Policy: {start['arch']} built in code from transformers' own classes, {start['params_total']:,} "
        f"parameters, {start['moe_layers']} MoE layers of {start['experts']} experts (top-{start['top_k']}); "
        f"SFT on generated 2-digit addition, RL start chosen by entropy: `{start['start']}`. "
        f"{info['steps']} steps per run, seeds {', '.join(map(str, seeds))}, the same start, data and "
        f"settings (`configs/moe_stability.yaml`). GRPO: every usable response trains, loss = mean over "
        f"responses of each one's token mean. C3PO: Φ = {info['budget']} tokens per step (the GRPO runs' "
        f"mean trained tokens per step), loss ÷ Φ, token-budgeted refills. Values: mean ± sd over seeds "
        f"(each seed's value is its own mean over steps where it says so). Wall time "
        f"{info['wall_s'] / 60:.1f} min ({info['threads']} threads).",
        "",
        "| | " + " | ".join(LABELS[m] for m in methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]
    for label, key, fmt in rows:
        lines.append(f"| {label} | " + " | ".join(_pm(agg[m][key], fmt) for m in methods) + " |")
    lines += [
        "",
        "Per seed (held-out accuracy at the end; grad norm mean / sd / max; trained tokens per step mean / sd):",
        "",
    ]
    for m in methods:
        for seed, s in sorted(runs[m].items()):
            lines.append(
                f"- {m} seed {seed}: {s['heldout_end']:.3f}; {s['grad_norm_mean']:.3f} / "
                f"{s['grad_norm_sd']:.3f} / {s['grad_norm_max']:.3f}; {s['tokens_mean']:.0f} / "
                f"{s['tokens_sd']:.0f}"
            )
    lines += [
        "",
        "![stability curves](stability.png)",
        "",
        "Routing drift: the share of routing decisions (token x MoE layer) whose top-k expert set differs "
        "between two forwards of the same tokens, measured on the trained tokens. *Rollout vs training "
        "pass*: the sampler's KV-cache decode and the training forward, same weights, fp32 on one CPU (so "
        "only numerical disagreement). *After one update*: the second PPO pass of the step, after the "
        "first optimizer step, against the rollout's routing: how far one update moves the router.",
        "",
        "Scale: a ~2M-parameter MoE on 2-digit addition for a few minutes per run is not Ring-lite "
        "(16.8B total, 2.75B active, 12K-token responses, hundreds of steps on 256 GPUs). A difference "
        "here is evidence about the mechanism (token count per step, normaliser, routing churn), not a "
        "reproduction of the paper's collapse, and the seeds' spread says how much of it is noise.",
    ]
    return "\n".join(lines) + "\n"


def run_recipe(
    out_dir: str | Path,
    *,
    quick: bool = False,
    arch: str = "qwen3_moe",
    seeds: list[int] | None = None,
    steps: int | None = None,
    overrides: list[str] = (),
    plan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run (or finish) the comparison in ``out_dir``; returns the report's numbers."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    plan = dict(plan or (QUICK if quick else FULL))
    if seeds is not None:
        plan["seeds"] = tuple(seeds)
    if steps is not None:
        plan["steps"] = steps
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    start = prepare_start(out, plan, arch)
    total = len(METHODS) * len(plan["seeds"])
    done = 0
    run_dirs: dict[str, dict[int, Path]] = {m: {} for m in METHODS}
    budget = None
    for method in METHODS:
        if method == "c3po":
            budget_file = out / "budget.json"
            if budget_file.exists():
                budget = json.loads(budget_file.read_text())["budget"]
            else:
                budget = mean_trained_tokens(list(run_dirs["grpo"].values()))
                budget_file.write_text(json.dumps({"budget": budget}))
            log.info("C3PO budget Φ = %d tokens per step (the GRPO runs' mean)", budget)
        for seed in plan["seeds"]:
            done += 1
            t_run = time.time()
            log.info("[%d/%d] %s seed %d: %d steps ...", done, total, method, seed, plan["steps"])
            run_dir, ran = run_one(out, start, method, seed, plan, budget, overrides)
            run_dirs[method][seed] = run_dir
            s = summarize_run(run_dir)
            log.info(
                "[%d/%d] %s seed %d: %s in %.0f s, held-out %.3f -> %.3f",
                done,
                total,
                method,
                seed,
                "ran" if ran else "done before",
                time.time() - t_run,
                s["heldout_start"],
                s["heldout_end"],
            )
    runs = {m: {seed: summarize_run(d) for seed, d in by.items()} for m, by in run_dirs.items()}
    agg = aggregate(runs)
    wall = time.time() - t0
    info = {
        "start": start,
        "budget": budget,
        "steps": plan["steps"],
        "seeds": list(plan["seeds"]),
        "wall_s": wall,
        "threads": torch.get_num_threads(),
    }
    command = "python -m ring_train.recipes.moe_stability --out " + str(out) + (" --quick" if quick else "")
    plot_stability(runs, out / "stability.png", title=f"C3PO vs GRPO, tiny {arch} MoE")
    (out / "report.md").write_text(render_report(info, agg, runs, command))
    summary = {
        **info,
        "methods": agg,
        "per_seed": {
            m: {s: {k: v for k, v in r.items() if k != "curves"} for s, r in by.items()}
            for m, by in runs.items()
        },
    }
    (out / "report.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m ring_train.recipes.moe_stability", description=__doc__.splitlines()[0]
    )
    p.add_argument("--out", default="runs/moe_stability")
    p.add_argument("--quick", action="store_true", help="short runs, two seeds (smoke version)")
    p.add_argument("--arch", default="qwen3_moe", help="qwen3_moe (default), qwen2_moe or mixtral")
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--steps", type=int, default=None, help="RL steps per run")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="RL config overrides")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from ring_data.errors import UserError

    try:
        summary = run_recipe(
            args.out, quick=args.quick, arch=args.arch, seeds=args.seeds, steps=args.steps, overrides=args.set
        )
    except UserError as e:
        print(f"moe stability: error: {e}", file=sys.stderr)
        return 2
    print(f"report: {Path(args.out) / 'report.md'} (wall {summary['wall_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
