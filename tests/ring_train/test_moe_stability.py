"""The MoE stability recipe: its run configs (same settings, GRPO vs C3PO with Φ = GRPO's mean trained
tokens), the per-run and over-seed numbers of its report, the plot, and a tiny end-to-end run that
resumes instead of redoing finished runs."""

import json
from pathlib import Path

import pytest

from ring_train.backends.embedded import SUPPORT
from ring_train.backends.support import check_support
from ring_train.recipes import moe_stability as recipe


def _write_run(run_dir: Path, tokens: list[int], grads: list[float], evals: list[float]) -> None:
    run_dir.mkdir(parents=True)
    recs = [{"global_step": 0, "stage": "reasoning", "eval/pass_rate": evals[0]}]
    for i, (t, g) in enumerate(zip(tokens, grads), start=1):
        recs.append(
            {
                "global_step": i,
                "stage": "reasoning",
                "reward/mean": 0.5 + 0.01 * i,
                "policy/grad_norm": g,
                "c3po/kept_tokens": t,
                "router/drift": 0.0,
                "router/drift_last_epoch": 0.01,
                "router/load_cv": 0.5,
                "router/entropy": 1.7,
                "perf/step_s": 1.0,
            }
        )
    recs[-1]["eval/pass_rate"] = evals[1]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_summaries_aggregate_over_seeds_and_render_the_report(tmp_path):
    runs_dir = tmp_path / "runs"
    _write_run(runs_dir / "c3po_seed0", [100, 100, 100, 100], [1.0, 1.0, 1.0, 1.0], [0.5, 0.7])
    _write_run(runs_dir / "c3po_seed1", [100, 100, 100, 100], [1.0, 3.0, 1.0, 3.0], [0.5, 0.9])
    _write_run(runs_dir / "grpo_seed0", [80, 120, 80, 120], [2.0, 2.0, 2.0, 2.0], [0.5, 0.6])
    _write_run(runs_dir / "grpo_seed1", [90, 110, 90, 110], [0.0, 4.0, 0.0, 4.0], [0.5, 0.6])
    assert recipe.mean_trained_tokens([runs_dir / "grpo_seed0", runs_dir / "grpo_seed1"]) == 100
    s = recipe.summarize_run(runs_dir / "grpo_seed0")
    assert (s["steps"], s["tokens_mean"], s["tokens_sd"]) == (4, 100, 20)
    assert (s["heldout_start"], s["heldout_end"], s["grad_norm_max"]) == (0.5, 0.6, 2.0)
    runs = {
        m: {seed: recipe.summarize_run(runs_dir / f"{m}_seed{seed}") for seed in (0, 1)}
        for m in ("c3po", "grpo")
    }
    agg = recipe.aggregate(runs)
    # held-out at the end: C3PO 0.7 and 0.9 -> 0.8 ± 0.1; grad-norm spread within a run: 0 and 1
    assert agg["c3po"]["heldout_end"]["mean"] == pytest.approx(0.8)
    assert agg["c3po"]["heldout_end"]["sd"] == pytest.approx(0.1)
    assert agg["c3po"]["grad_norm_sd"]["mean"] == pytest.approx(0.5)
    assert agg["c3po"]["tokens_sd"]["mean"] == 0 and agg["grpo"]["tokens_sd"]["mean"] == pytest.approx(15)
    assert agg["grpo"]["grad_norm_sd"]["min"] == 0 and agg["grpo"]["grad_norm_sd"]["max"] == pytest.approx(2)
    png = recipe.plot_stability(runs, tmp_path / "stability.png")
    assert png.stat().st_size > 10_000
    info = {
        "start": {
            "arch": "qwen3_moe",
            "params_total": 1_811_840,
            "moe_layers": 4,
            "experts": 8,
            "top_k": 2,
            "start": "sft/epoch_3",
        },
        "budget": 100,
        "steps": 4,
        "wall_s": 60.0,
        "threads": 2,
    }
    md = recipe.render_report(info, agg, runs, "python -m ring_train.recipes.moe_stability")
    assert "| held-out accuracy at the end | 0.800 ± 0.100 | 0.600 ± 0.000 |" in md
    assert "| trained tokens / step: spread (sd) | 0 ± 0 | 15 ± 5 |" in md
    assert "Φ = 100 tokens per step" in md and "![stability curves](stability.png)" in md


def test_run_configs_differ_only_in_the_budget(tmp_path):
    start = {"start": "some/model", "data": str(tmp_path / "data")}
    plan = {**recipe.FULL, "steps": 7, "eval_every": 3}
    grpo = recipe.run_config(start, tmp_path / "g", "grpo", 1, plan, None, [])
    c3po = recipe.run_config(start, tmp_path / "c", "c3po", 1, plan, 1234, ["optim.lr=3e-5"])
    assert not grpo.c3po.enabled and c3po.c3po.enabled and c3po.c3po.budget == 1234
    assert grpo.stages[0].steps == 7 and list(grpo.stages[0].datasets) == [
        str(tmp_path / "data" / "rl.jsonl")
    ]
    assert grpo.eval.data == str(tmp_path / "data" / "heldout.jsonl") and grpo.eval.every == 3
    assert (grpo.seed, grpo.rollout, grpo.optim.ppo_epochs) == (1, c3po.rollout, 2)
    assert c3po.optim.lr == 3e-5 and grpo.optim.lr == 1e-4
    for cfg in (grpo, c3po):
        check_support("embedded", cfg, cfg.stages, SUPPORT)


def test_a_tiny_end_to_end_run_writes_the_report_and_resumes(tmp_path):
    plan = {
        "n_sft": 32,
        "sft_epochs": 1,
        "n_eval": 4,
        "select_rows": 2,
        "steps": 2,
        "eval_every": 2,
        "seeds": (0,),
    }
    out = tmp_path / "out"
    summary = recipe.run_recipe(
        out, plan=plan, overrides=["rollout.prompts_per_step=2", "rollout.group_size=2"]
    )
    for name in ("report.md", "report.json", "stability.png", "start.json", "budget.json"):
        assert (out / name).exists(), name
    assert set(summary["methods"]) == {"grpo", "c3po"} and summary["steps"] == 2
    stats = out / "runs" / "c3po_seed0" / "rl.stats.json"
    before = stats.stat().st_mtime_ns
    recipe.run_recipe(out, plan=plan, overrides=["rollout.prompts_per_step=2", "rollout.group_size=2"])
    assert stats.stat().st_mtime_ns == before  # finished runs are kept, not redone
