"""Rollout and training throughput of the embedded backend on this machine, for one rollout engine.

    python -m ring_train.throughput --engine hf --device cuda --precision bf16 --out hf.json
    python -m ring_train.throughput --engine vllm --device cuda --precision bf16 --out vllm.json

A short RL run (``--steps``) of the real embedded backend on a randomly initialised policy (``small``:
a ~25M-parameter Qwen2, or ``tiny``: the test-sized one) over generated arithmetic prompts, read back
from its ``metrics.jsonl``. Random weights rarely emit EOS, so responses run to ``--max-new-tokens``
and both engines sample the same amount; the zero-variance filter is off (nothing earns a reward) and
the C3PO budget is half the sampled tokens, so every step trains exactly that many. Figures are medians
over the steps after the first (which pays for CUDA warm-up and the engine's first weight push):

- rollout tokens/s: sampled response tokens / the step's sampling time (``perf/generated_tokens_per_s``);
- train tokens/s: trained tokens (``c3po/kept_tokens``) / the step's training time (``perf/train_s``:
  forward, backward and the optimizer step).

Prints one JSON object (and writes it to ``--out``). The model and data are built once per ``--work``
folder, so runs of both engines there measure the same policy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

SIZES = {
    # head_dim 64 (vLLM's attention kernels), 8 layers: big enough that the GPU, not Python, sets the pace
    "small": {
        "hidden_size": 512,
        "num_hidden_layers": 8,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "intermediate_size": 1536,
        "max_position_embeddings": 1024,
    },
    "tiny": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "intermediate_size": 64,
    },
}


def prepare(work: Path, size: str) -> tuple[Path, Path]:
    """(model dir, RL prompts file) under ``work``, built on first use."""
    from ring_train.models.tiny import create_tiny_policy
    from ring_train.recipes.arithmetic import corpus, write_splits

    model, data = work / f"model_{size}", work / "data"
    if not (data / "rl.jsonl").is_file():
        write_splits(data, n_sft=200, n_rl=2000, n_eval=8)
    if not (model / "config.json").is_file():
        paths = {"sft": data / "sft.jsonl"}
        create_tiny_policy(model, corpus(paths), vocab_size=384, seed=0, **SIZES[size])
    return model, data / "rl.jsonl"


def _median_after_first(values: list[float]) -> float:
    return statistics.median(values[1:] if len(values) > 1 else values)


def measure(args: argparse.Namespace) -> dict:
    import torch

    from ring_train.backends import get_backend
    from ring_train.config import from_dict
    from ring_train.metrics import read_metrics

    work = Path(args.work)
    model, rl = prepare(work, args.size)
    budget = args.prompts * args.group * args.max_new_tokens // 2
    run_dir = work / f"run_{args.engine}_{time.strftime('%Y%m%d-%H%M%S')}"
    rollout = {
        "prompts_per_step": args.prompts,
        "group_size": args.group,
        "max_new_tokens": args.max_new_tokens,
        "engine": args.engine,
    }
    if args.engine == "vllm":
        rollout["vllm"] = {"gpu_memory_utilization": args.gpu_memory_utilization}
    cfg = from_dict(
        {
            "model": str(model),
            "run_dir": str(run_dir),
            "device": args.device,
            "precision": args.precision,
            "lanes": 1,
            "checkpoint_every": 10_000,  # no checkpoint inside the measured steps
            "stages": [{"name": "throughput", "datasets": {str(rl): 1.0}, "steps": args.steps}],
            "rollout": rollout,
            "c3po": {"budget": budget, "adaptive_prompts": False},
            "advantage": {"filter_zero_variance": False},
            "optim": {"lr": 1e-5},
        }
    )
    t0 = time.perf_counter()
    get_backend("embedded").train(cfg, cfg.stages)
    wall = time.perf_counter() - t0
    steps = [r for r in read_metrics(run_dir / "metrics.jsonl") if "c3po/kept_tokens" in r]
    n_params = _parameter_count(model)
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    return {
        "engine": args.engine,
        "device": gpu,
        "precision": args.precision,
        "model": f"{args.size} qwen2, {n_params / 1e6:.3g}M params, random weights",
        "prompts": args.prompts,
        "group": args.group,
        "max_new_tokens": args.max_new_tokens,
        "budget": budget,
        "steps": len(steps),
        "rollout_tokens_per_s": _median_after_first([r["perf/generated_tokens_per_s"] for r in steps]),
        "train_tokens_per_s": _median_after_first(
            [r["c3po/kept_tokens"] / max(1e-9, r["perf/train_s"]) for r in steps]
        ),
        "step_s": _median_after_first([r["perf/step_s"] for r in steps]),
        "kept_tokens": [r["c3po/kept_tokens"] for r in steps],
        "response_len": _median_after_first([r["rollout/response_len"] for r in steps]),
        "wall_s": round(wall, 1),
    }


def _parameter_count(model_dir: Path) -> int:
    """Saved parameters, read from the safetensors headers (no tensor is loaded)."""
    import math

    from safetensors import safe_open

    total = 0
    for f in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            total += sum(math.prod(st.get_slice(k).get_shape()) for k in st.keys())  # noqa: SIM118
    return total


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ring_train.throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=["hf", "vllm"], default="hf")
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--prompts", type=int, default=64, help="prompts per step")
    p.add_argument("--group", type=int, default=8, help="responses per prompt")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--steps", type=int, default=4, help="RL steps; the first is not counted")
    p.add_argument("--gpu-memory-utilization", type=float, default=0.3, help="vLLM's share of the GPU")
    p.add_argument("--work", default="runs/throughput", help="model, data and runs go here")
    p.add_argument("--out", help="also write the JSON result here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from ring_data.errors import UserError

    args = parse_args(argv)
    try:
        result = measure(args)
    except UserError as e:
        print(f"throughput: {e}", file=sys.stderr)
        return 2
    text = json.dumps(result)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
