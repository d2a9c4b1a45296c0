"""What the OpenRLHF backend does with every config key: mapped to an OpenRLHF 0.11.2 flag (the names in
``openrlhf/cli/train_ppo_ray.py``) or setting, or refused with a reason. ``check_support`` runs this
table before anything launches; ``docs/openrlhf.md`` shows it.
"""

from __future__ import annotations

from ring_train.config import RLConfig, aggregation
from ring_train.core.advantages import get_advantage
from ring_train.core.losses import AGGREGATIONS, KL_ESTIMATORS

from ..support import Mapped, Refused, Support


def _precision(cfg: RLConfig) -> str | None:
    if cfg.precision == "fp32":
        return "OpenRLHF's DeepSpeed trains in bf16 (--ds.param_dtype); use precision: auto or bf16"
    return None


def _engine(cfg: RLConfig) -> str | None:
    if cfg.rollout.engine not in ("auto", "vllm"):
        return "OpenRLHF samples with its own vLLM engines; use rollout.engine: auto or vllm"
    return None


def _group_size(cfg: RLConfig) -> str | None:
    if cfg.rollout.group_size < 2:
        return "OpenRLHF's group estimators and dynamic filtering need 2+ samples per prompt"
    return None


def _advantage(cfg: RLConfig) -> str | None:
    if get_advantage(cfg.advantage.method).openrlhf is None:
        return "no OpenRLHF estimator computes it (register it with openrlhf=<name> if one does)"
    return None


def _aggregation(cfg: RLConfig) -> str | None:
    mode = aggregation(cfg)
    if AGGREGATIONS.get(mode).openrlhf is None:
        return "no OpenRLHF loss_agg_mode computes it"
    if mode == "token-mean" and cfg.c3po.enabled:
        return "under C3PO the patch divides OpenRLHF's token-mean by Φ; use auto (constant) or seq-mean"
    return None


def _kl_estimator(cfg: RLConfig) -> str | None:
    if cfg.loss.kl_beta > 0 and KL_ESTIMATORS.get(cfg.loss.kl_estimator).openrlhf is None:
        return "no OpenRLHF KL estimator computes it"
    return None


def _stages(cfg: RLConfig) -> str | None:
    for s in cfg.stages:
        if s.steps is None and s.epochs != int(s.epochs):
            return f"stage {s.name!r}: OpenRLHF runs whole passes over the data; give whole epochs or steps"
    return None


def _ratio_level(cfg: RLConfig) -> str | None:
    if cfg.loss.ratio_level != "sequence":
        return None
    if aggregation(cfg) != "seq-mean":
        return "OpenRLHF's gspo loss always averages per sequence; set loss.aggregation: seq-mean"
    if cfg.loss.tis_cap is not None:
        return "OpenRLHF's gspo loss puts vLLM's log-probs into the sequence ratio; set loss.tis_cap: null"
    return None


_LANES = "lanes share out one process's CPU cores; OpenRLHF runs one process per GPU"
_EMBEDDED_REFILL = "OpenRLHF's dynamic filtering replaces every filtered prompt itself, without a round limit"

SUPPORT: dict[str, Support] = {
    "model": Mapped("--actor.model_name_or_path (stage k+1 starts from stage k's output)"),
    "run_dir": Mapped("--ckpt.output_dir, --ckpt.path, --logger.tensorboard_dir under RUN/<stage>/"),
    "stages": Mapped(
        "--data.prompt_dataset/prompt_probs; steps -> --data.max_samples, epochs -> --train.num_episodes",
        _stages,
    ),
    "seed": Mapped("--train.seed (and the C3PO shuffle seed)"),
    "backend": Mapped("this backend"),
    "checkpoint_every": Mapped("--ckpt.save_steps"),
    "max_tokens_per_micro": Mapped("--train.max_tokens_per_gpu"),
    "lanes": Refused(_LANES),
    "device": Refused("Ray places OpenRLHF's workers on the GPUs"),
    "precision": Mapped("--ds.param_dtype bf16 (auto, bf16)", _precision),
    "time_limit_s": Refused("OpenRLHF has no wall-time limit"),
    "logger": Mapped(
        "--logger.tensorboard_dir (tensorboard, wandb); wandb: --logger.wandb.key/project/run_name "
        "(key and mode from WANDB_API_KEY, WANDB_MODE)"
    ),
    "rollout.prompts_per_step": Mapped("--rollout.batch_size (and --train.batch_size = prompts x group)"),
    "rollout.group_size": Mapped("--rollout.n_samples_per_prompt", _group_size),
    "rollout.max_new_tokens": Mapped("--rollout.max_new_tokens"),
    "rollout.temperature": Mapped("--rollout.temperature"),
    "rollout.top_p": Mapped("--rollout.top_p"),
    "rollout.engine": Mapped("OpenRLHF's vLLM engines, --vllm.num_engines = GPUs (auto, vllm)", _engine),
    "rollout.vllm.gpu_memory_utilization": Mapped("--vllm.gpu_memory_utilization"),
    "rollout.vllm.dtype": Refused("OpenRLHF's vLLM engines run in bfloat16"),
    "rollout.vllm.enforce_eager": Mapped("--vllm.enforce_eager"),
    "rollout.vllm.max_model_len": Mapped("--data.max_len (prompt + response)"),
    "rollout.vllm.sleep": Mapped("--vllm.enable_sleep"),
    "c3po.enabled": Mapped("the C3PO patch on/off (RING_C3PO_BUDGET)"),
    "c3po.budget": Mapped("RING_C3PO_BUDGET"),
    "c3po.scope": Mapped("RING_C3PO_SCOPE"),
    "c3po.order": Mapped("RING_C3PO_ORDER"),
    "c3po.dp_size": Refused("OpenRLHF's real data-parallel size is used"),
    "c3po.refill_rounds": Refused(_EMBEDDED_REFILL),
    "c3po.adaptive_prompts": Refused(_EMBEDDED_REFILL),
    "loss.eps_low": Mapped("--actor.eps_clip_low_high LOW HIGH"),
    "loss.eps_high": Mapped("--actor.eps_clip_low_high LOW HIGH"),
    "loss.dual_clip": Mapped("--actor.dual_clip"),
    "loss.kl_beta": Mapped("--algo.kl.use_loss --algo.kl.init_coef (0: no reference model)"),
    "loss.kl_estimator": Mapped("--algo.kl.estimator (the registry's openrlhf name)", _kl_estimator),
    "loss.entropy_coef": Mapped("--actor.entropy_coef"),
    "loss.tis_cap": Mapped(
        "--algo.advantage.is_correction_level token --..._mode clip --..._threshold 0 CAP (null: off)"
    ),
    "loss.aggregation": Mapped("--actor.loss_agg_mode (the registry's openrlhf name)", _aggregation),
    "loss.ratio_level": Mapped("--actor.policy_loss_type ppo (token) | gspo (sequence)", _ratio_level),
    "moe.aux_loss_coef": Mapped(
        "--actor.aux_loss_coef (OpenRLHF sets output_router_logits on MoE models and adds the balancing loss)"
    ),
    "moe.z_loss_coef": Refused("OpenRLHF has no router z-loss"),
    "advantage.method": Mapped("--algo.advantage.estimator (the registry's openrlhf name)", _advantage),
    "advantage.filter_zero_variance": Mapped(
        "--algo.dynamic_filtering_enable --algo.dynamic_filtering_range 0 1"
    ),
    "optim.lr": Mapped("--actor.adam.lr"),
    "optim.weight_decay": Mapped("--actor.adam.weight_decay"),
    "optim.warmup_steps": Mapped("--actor.lr_scheduler constant_with_warmup --actor.lr_warmup_ratio"),
    "optim.grad_clip": Mapped("--actor.max_norm"),
    "optim.ppo_epochs": Mapped("--train.max_epochs"),
    "eval.data": Mapped("--eval.dataset (exported like the prompts)"),
    "eval.every": Mapped("--eval.steps"),
    "eval.max_rows": Mapped("the exported eval file's row count"),
    "eval.samples": Mapped("--eval.n_samples_per_prompt"),
    "eval.temperature": Mapped("--eval.temperature"),
    "reward.workers": Refused("OpenRLHF calls the reward function per sample from its own threads"),
    "reward.timeout": Mapped("RING_REWARD_TIMEOUT -> verifiers.verify(timeout=...) in reward_func.py"),
    "reward.model": Refused("reward_func.py scores with the verifiers only"),
    "reward.model_weight": Refused("reward_func.py scores with the verifiers only"),
}
