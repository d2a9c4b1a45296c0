"""OpenRLHF backend (GPU clusters): Ray + vLLM + DeepSpeed, patched with the same C3PO planner.

``train(cfg, stages, resume=...)`` runs OpenRLHF's ``train_ppo_ray`` once per stage, each stage starting
from the previous stage's HF output (which is also its reference model), with:
- rows exported as prompt + JSON label, rewarded by ``reward_func.py`` through ``verifiers``;
- ``patch.install`` in every Ray worker: global C3PO selection after advantages and the constant Φ
  normaliser (``dynamic_batch``), from ``ring_train.core.c3po``.
Every config key is mapped to an OpenRLHF flag or refused with a reason (``support.py``); a refused
key set to a non-default value stops the run in one line before anything launches. Needs the
``[openrlhf]`` extra and CUDA GPUs; on a CPU install ``train`` stops with a one-line error.
Extra OpenRLHF flags: ``RING_OPENRLHF_ARGS="--vllm.gpu_memory_utilization 0.5 ..."`` (they come last,
so they win over the mapped ones).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from ring_data.errors import UserError

from ..support import check_support
from .argv import build_argv, c3po_budget
from .data import export_prompts
from .settings import C3POSettings
from .support import SUPPORT

REWARD_TIMEOUT_ENV = "RING_REWARD_TIMEOUT"  # read by reward_func.py in OpenRLHF's workers

REQUIRED = ("openrlhf", "vllm", "deepspeed", "ray", "flash_attn")


def check_stack() -> int:
    """Number of CUDA GPUs; raises UserError naming what is missing."""
    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(
            f"backend 'openrlhf' needs the [openrlhf] extra on a GPU machine (missing: {', '.join(missing)})"
        )
    import torch

    if not torch.cuda.is_available():
        raise UserError("backend 'openrlhf' needs CUDA GPUs (torch.cuda.is_available() is False)")
    return torch.cuda.device_count()


def prepare_stage(cfg, stage, *, model: str, stage_dir: Path, n_gpus: int, resume: bool) -> dict:
    """Export the stage's data and write the launch spec (argv + env); returns the spec."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    prompt_files, n_rows = [], 0
    for i, path in enumerate(stage.datasets):
        out = stage_dir / f"prompts_{i}.jsonl"
        n_rows += export_prompts(path, out)
        prompt_files.append(str(out))
    eval_file = None
    if cfg.eval.data:
        eval_file = str(stage_dir / "eval.jsonl")
        export_prompts(cfg.eval.data, eval_file, limit=cfg.eval.max_rows)
    c3po = C3POSettings(c3po_budget(cfg), cfg.c3po.scope, cfg.c3po.order, cfg.seed)
    argv = build_argv(
        cfg,
        stage,
        model=model,
        prompt_files=prompt_files,
        stage_dir=stage_dir,
        reward_func=str(Path(__file__).with_name("reward_func.py")),
        n_gpus=n_gpus,
        resume=resume,
        extra=os.environ.get("RING_OPENRLHF_ARGS", ""),
        n_rows=n_rows,
        eval_file=eval_file,
    )
    env = {**c3po.to_env(), REWARD_TIMEOUT_ENV: str(cfg.reward.timeout), "OMP_WAIT_POLICY": "PASSIVE"}
    spec = {"argv": argv, "env": env}
    (stage_dir / "openrlhf_launch.json").write_text(json.dumps(spec, indent=2))
    return spec


def train(cfg, stages, *, resume: bool = False) -> dict:
    check_support("openrlhf", cfg, stages, SUPPORT)
    n_gpus = check_stack()
    model, run_dir, summary = cfg.model, Path(cfg.run_dir), {"backend": "openrlhf", "stages": []}
    for stage in stages:
        stage_cfg = cfg.for_stage(stage)
        stage_dir = run_dir / stage.name
        prepare_stage(stage_cfg, stage, model=model, stage_dir=stage_dir, n_gpus=n_gpus, resume=resume)
        cmd = [
            sys.executable,
            "-m",
            "ring_train.backends.openrlhf.launch",
            str(stage_dir / "openrlhf_launch.json"),
        ]
        if subprocess.run(cmd).returncode != 0:
            raise UserError(
                f"openrlhf stage {stage.name!r} failed (launch spec: {stage_dir / 'openrlhf_launch.json'})"
            )
        model = str(stage_dir / "final")  # next stage starts here; it is also that stage's reference
        summary["stages"].append({"name": stage.name, "output": model})
    return summary
