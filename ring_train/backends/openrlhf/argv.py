"""RLConfig + Stage -> the argument list of ``python -m openrlhf.cli.train_ppo_ray`` (0.11.x dotted flags).

Pure: no OpenRLHF import, so it is tested on CPU against the flags the installed ``train_ppo_ray.py``
declares. One optimizer step per rollout (``train.batch_size = prompts × group``) keeps OpenRLHF's LR
scheduler length right under C3PO; dynamic batching + packing are on because the C3PO patch hooks there.
Which config key becomes which flag (and which keys are refused) is declared in ``support.py``; the
estimator, aggregation and KL names come from the trainer's registries.
"""

from __future__ import annotations

import math
import os
import shlex
from pathlib import Path

from ring_train.config import RLConfig, aggregation
from ring_train.core.advantages import get_advantage
from ring_train.core.losses import AGGREGATIONS, KL_ESTIMATORS
from ring_train.core.schedule import Stage

from .data import INPUT_KEY, LABEL_KEY


def optimizer_steps(cfg: RLConfig, stage: Stage, n_rows: int | None) -> int:
    """Optimizer steps of the stage: its rollouts (as the embedded backend counts them) x PPO epochs."""
    if stage.steps is None and n_rows is None:
        raise ValueError(f"stage {stage.name!r} runs by epochs: its row count is needed")
    return stage.num_steps(n_rows or 0, cfg.rollout.prompts_per_step) * cfg.optim.ppo_epochs


def warmup_ratio(warmup_steps: int, total_steps: int) -> float:
    """``--actor.lr_warmup_ratio`` for ``warmup_steps`` of ``total_steps``: OpenRLHF warms up for
    ``ceil(total x ratio)`` steps, so the ratio aims half a step short and the ceiling lands on
    ``warmup_steps`` exactly (a plain ``warmup / total`` can overshoot by one in floating point)."""
    if warmup_steps <= 0:
        return 0.0
    return min(1.0, (warmup_steps - 0.5) / max(1, total_steps))


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
    n_rows: int | None = None,
    eval_file: str | None = None,
) -> list[str]:
    """``n_rows``: prompt rows of the stage (sizes the warm-up of an epoch stage); ``eval_file``: the
    exported ``eval.data`` (none: no evaluation)."""
    r, loss, opt = cfg.rollout, cfg.loss, cfg.optim
    weights = [stage.datasets[k] for k in stage.datasets]
    total = sum(weights)
    argv = [
        "--actor.model_name_or_path",
        model,
        "--actor.num_gpus_per_node",
        str(n_gpus),
        "--ref.num_gpus_per_node",  # colocated with the actor: OpenRLHF asserts equal counts
        str(n_gpus),
        "--vllm.num_engines",
        str(n_gpus),
        "--vllm.tensor_parallel_size",
        "1",
        "--vllm.gpu_memory_utilization",
        str(r.vllm.gpu_memory_utilization),
        "--train.colocate_all",
        "--ds.param_dtype",
        "bf16",  # precision auto / bf16 (fp32 is refused)
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
        "--train.max_epochs",
        str(opt.ppo_epochs),
        "--train.dynamic_batch_enable",
        "--ds.packing_samples",
        "--train.max_tokens_per_gpu",
        str(cfg.max_tokens_per_micro),
        "--algo.advantage.estimator",
        str(get_advantage(cfg.advantage.method).openrlhf),
        "--actor.eps_clip_low_high",
        str(loss.eps_low),
        str(loss.eps_high),
        "--actor.entropy_coef",
        str(loss.entropy_coef),
        "--actor.loss_agg_mode",
        str(AGGREGATIONS.get(aggregation(cfg)).openrlhf),
        "--actor.adam.lr",
        str(opt.lr),
        "--actor.adam.weight_decay",
        str(opt.weight_decay),
        "--actor.max_norm",
        str(opt.grad_clip),
        # the embedded schedule: linear warm-up over optim.warmup_steps optimizer steps, then constant
        "--actor.lr_scheduler",
        "constant_with_warmup",
        "--actor.lr_warmup_ratio",
        f"{warmup_ratio(opt.warmup_steps, optimizer_steps(cfg, stage, n_rows) if opt.warmup_steps else 1):.12g}",
        "--train.seed",
        str(cfg.seed),
        "--ckpt.output_dir",
        str(stage_dir / "final"),
        "--ckpt.path",
        str(stage_dir / "ckpt"),
        "--ckpt.save_steps",
        str(cfg.checkpoint_every),
    ]
    if cfg.logger != "none":
        argv += ["--logger.tensorboard_dir", str(stage_dir / "tensorboard")]
    if cfg.logger == "wandb":
        # OpenRLHF creates its W&B logger only when a key is given; wandb itself reads WANDB_API_KEY and
        # WANDB_MODE from the environment (a placeholder keeps the real key out of the launch spec)
        argv += [
            "--logger.wandb.key",
            "from-environment",
            "--logger.wandb.project",
            os.environ.get("WANDB_PROJECT") or "ring-train",
            "--logger.wandb.run_name",
            f"{Path(cfg.run_dir).name}-{stage.name}",
        ]
    if r.vllm.enforce_eager:
        argv.append("--vllm.enforce_eager")
    if r.vllm.sleep:
        argv.append("--vllm.enable_sleep")
    if r.vllm.max_model_len is not None:
        argv += ["--data.max_len", str(r.vllm.max_model_len)]
    if loss.tis_cap is not None:  # min(π_old / π_vllm, cap): OpenRLHF's token-level clip to [0, cap]
        argv += [
            "--algo.advantage.is_correction_level",
            "token",
            "--algo.advantage.is_correction_mode",
            "clip",
            "--algo.advantage.is_correction_threshold",
            "0",
            str(loss.tis_cap),
        ]
    if loss.dual_clip is not None:
        argv += ["--actor.dual_clip", str(loss.dual_clip)]
    if loss.ratio_level == "sequence":  # GSPO (support.py refuses it unless seq-mean and no TIS)
        argv += ["--actor.policy_loss_type", "gspo"]
    if cfg.moe.aux_loss_coef > 0:  # MoE router balancing loss (OpenRLHF turns on output_router_logits)
        argv += ["--actor.aux_loss_coef", str(cfg.moe.aux_loss_coef)]
    if loss.kl_beta > 0:
        argv += [
            "--algo.kl.use_loss",
            "--algo.kl.estimator",
            str(KL_ESTIMATORS.get(loss.kl_estimator).openrlhf),
            "--algo.kl.init_coef",
            str(loss.kl_beta),
        ]
    else:
        argv += ["--algo.kl.init_coef", "0"]
    if cfg.advantage.filter_zero_variance:
        argv += ["--algo.dynamic_filtering_enable", "--algo.dynamic_filtering_range", "0", "1"]
    if stage.steps is not None:  # a stage of N steps sees N × prompts_per_step prompts once
        argv += ["--data.max_samples", str(stage.steps * r.prompts_per_step), "--train.num_episodes", "1"]
    else:  # whole epochs only (support.py refuses fractions)
        argv += ["--train.num_episodes", str(max(1, math.ceil(stage.epochs)))]
    if eval_file is not None:
        argv += [
            "--eval.dataset",
            eval_file,
            "--eval.steps",
            str(cfg.eval.every),
            "--eval.n_samples_per_prompt",
            str(cfg.eval.samples),
            "--eval.temperature",
            str(cfg.eval.temperature),
        ]
    if resume:
        argv.append("--ckpt.load_enable")
    return argv + shlex.split(extra)


def c3po_budget(cfg: RLConfig) -> int | None:
    """Φ for the patch, or None when C3PO is off (plain OpenRLHF GRPO)."""
    return cfg.c3po.budget if cfg.c3po.enabled else None
