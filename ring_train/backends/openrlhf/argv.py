"""RLConfig + Stage -> the argument list of ``python -m openrlhf.cli.train_ppo_ray`` (0.11.x dotted flags).

Pure: no OpenRLHF import, so it is tested on CPU against the flags the installed ``train_ppo_ray.py``
declares. One optimizer step per rollout (``train.batch_size = prompts × group``) keeps OpenRLHF's LR
scheduler length right under C3PO; dynamic batching + packing are on because the C3PO patch hooks there.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path

from ring_train.config import RLConfig
from ring_train.core.schedule import Stage

from .data import INPUT_KEY, LABEL_KEY

ESTIMATORS = {"grpo": "group_norm", "grpo-nostd": "dr_grpo", "dr-grpo": "dr_grpo", "rloo": "rloo"}


def build_argv(
    cfg: RLConfig,
    stage: Stage,
    *,
    model: str,
    prompt_files: list[str],
    stage_dir: Path,
    reward_func: str,
    n_gpus: int = 1,
    resume: bool = False,
    extra: str = "",
) -> list[str]:
    r, loss, opt = cfg.rollout, cfg.loss, cfg.optim
    weights = [stage.datasets[k] for k in stage.datasets]
    total = sum(weights)
    argv = [
        "--actor.model_name_or_path",
        model,
        "--actor.num_gpus_per_node",
        str(n_gpus),
        "--vllm.num_engines",
        str(n_gpus),
        "--vllm.tensor_parallel_size",
        "1",
        "--train.colocate_all",
        "--data.prompt_dataset",
        ",".join(prompt_files),
        "--data.prompt_probs",
        ",".join(f"{w / total:.6g}" for w in weights),
        "--data.input_key",
        INPUT_KEY,
        "--data.label_key",
        LABEL_KEY,
        "--reward.remote_url",
        reward_func,
        "--rollout.batch_size",
        str(r.prompts_per_step),
        "--rollout.n_samples_per_prompt",
        str(r.group_size),
        "--rollout.max_new_tokens",
        str(r.max_new_tokens),
        "--rollout.temperature",
        str(r.temperature),
        "--rollout.top_p",
        str(r.top_p),
        "--train.batch_size",
        str(r.prompts_per_step * r.group_size),
        "--train.dynamic_batch_enable",
        "--ds.packing_samples",
        "--train.max_tokens_per_gpu",
        str(cfg.max_tokens_per_micro),
        "--algo.advantage.estimator",
        ESTIMATORS[cfg.advantage.method],
        "--actor.eps_clip_low_high",
        str(loss.eps_low),
        str(loss.eps_high),
        "--actor.entropy_coef",
        str(loss.entropy_coef),
        "--actor.loss_agg_mode",
        "token-mean",
        "--actor.adam.lr",
        str(opt.lr),
        "--train.seed",
        str(cfg.seed),
        "--ckpt.output_dir",
        str(stage_dir / "final"),
        "--ckpt.path",
        str(stage_dir / "ckpt"),
        "--ckpt.save_steps",
        str(cfg.checkpoint_every),
        "--logger.tensorboard_dir",
        str(stage_dir / "tensorboard"),
    ]
    if loss.dual_clip is not None:
        argv += ["--actor.dual_clip", str(loss.dual_clip)]
    if loss.kl_beta > 0:
        argv += [
            "--algo.kl.use_loss",
            "--algo.kl.estimator",
            loss.kl_estimator,
            "--algo.kl.init_coef",
            str(loss.kl_beta),
        ]
    else:
        argv += ["--algo.kl.init_coef", "0"]
    if cfg.advantage.filter_zero_variance:
        argv += ["--algo.dynamic_filtering_enable", "--algo.dynamic_filtering_range", "0", "1"]
    if stage.steps is not None:  # a stage of N steps sees N × prompts_per_step prompts once
        argv += ["--data.max_samples", str(stage.steps * r.prompts_per_step), "--train.num_episodes", "1"]
    else:
        argv += ["--train.num_episodes", str(max(1, math.ceil(stage.epochs)))]
    if resume:
        argv.append("--ckpt.load_enable")
    return argv + shlex.split(extra)


def c3po_budget(cfg: RLConfig) -> int | None:
    """Φ for the patch, or None when C3PO is off (plain OpenRLHF GRPO)."""
    return cfg.c3po.budget if cfg.c3po.enabled else None
