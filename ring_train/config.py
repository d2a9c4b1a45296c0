"""RL run configuration: YAML file + ``--set a.b=value`` overrides -> validated dataclasses.

Every key is checked (unknown keys and wrong types are one-line errors naming the file and key), and the
resolved config is saved with the run (``config.resolved.yaml``) so a run can be reproduced or resumed.
Choices of the trainer's extension points (``advantage.method``, ``loss.aggregation``,
``loss.kl_estimator``, ``rollout.engine``) are the names registered at validation time, so a part
registered from user code is selectable here; each stage's overrides are checked when the config loads.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ring_data.errors import UserError

from .core.schedule import Stage, parse_stages


@dataclass
class VLLMConfig:
    """In-process vLLM engine of the embedded backend (``rollout.engine: vllm``, CUDA only)."""

    gpu_memory_utilization: float = 0.3  # the engine's share of the GPU; the policy trains in the rest
    dtype: str = "auto"  # the rollout copy's dtype (auto: the checkpoint's); the policy stays fp32
    # the engine runs on the process's current CUDA device (device: cuda / cuda:0 or CUDA_VISIBLE_DEVICES)
    enforce_eager: bool = False  # skip CUDA-graph capture (faster start, slower decode)
    max_model_len: int | None = None  # prompt + response tokens per sequence (default: the model's)
    # free the engine's GPU memory (weights and KV cache) while the policy trains; the weights come
    # back from the policy at the next rollout, which is when they are pushed anyway
    sleep: bool = False


@dataclass
class RolloutConfig:
    prompts_per_step: int = 16
    group_size: int = 8
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    # a registered rollout engine. hf: batched KV-cache sampling with the policy itself (CPU or GPU);
    # vllm: an in-process vLLM engine that gets the policy's weights after every optimizer step (GPU
    # boxes with vllm installed); auto: the backend's own (embedded: hf, openrlhf: its vLLM engines)
    engine: str = "auto"
    vllm: VLLMConfig = field(default_factory=VLLMConfig)


@dataclass
class C3POConfig:
    enabled: bool = True
    budget: int | None = None  # Φ tokens per step (per rank for scope 'rank'); required when enabled
    scope: str = "global"  # global | rank
    order: str = "batch"  # batch | shuffle
    dp_size: int = 1
    # token-budgeted dynamic sampling: when filtered groups leave fewer than Φ usable tokens, sample
    # more prompts (about as many as the shortfall needs) up to this many extra rounds per step
    refill_rounds: int = 3
    # size the first round from the usable tokens per prompt measured on earlier steps (an average that
    # follows the filter rate and response lengths), up to 2x rollout.prompts_per_step, so Φ is usually
    # reached without a refill: one bigger batch costs less than a second, small sampling round
    adaptive_prompts: bool = True


@dataclass
class LossConfig:
    eps_low: float = 0.2
    eps_high: float = 0.2
    dual_clip: float | None = None
    kl_beta: float = 0.0
    kl_estimator: str = "k3"
    entropy_coef: float = 0.0
    # truncated importance sampling for rollouts from another engine (vLLM): each token's surrogate is
    # weighted by min(π_old / π_sampler, tis_cap); null = off. No effect on the policy's own rollouts.
    tis_cap: float | None = 2.0
    # auto (constant under C3PO, seq-mean otherwise) or a registered one: token-mean | seq-mean | constant
    aggregation: str = "auto"
    # token: one importance ratio per token, clipped per token (PPO, GRPO, the paper's C3PO); sequence:
    # GSPO's length-normalised ratio per response, clipped per response (proposed for MoE stability).
    # Only differs from token when π_old != π (optim.ppo_epochs > 1 or vLLM rollouts)
    ratio_level: str = "token"


@dataclass
class MoEConfig:
    """Router terms of Mixture-of-Experts policies (ignored by dense ones, which have no router)."""

    # router load-balancing loss (Switch; transformers' load_balancing_loss_func) added to the RL loss
    # with this weight; 0 = off, as in most RL recipes (Ring-lite: 1e-5). Logged as router/aux_loss either way
    aux_loss_coef: float = 0.0
    # router z-loss (ST-MoE: mean logsumexp(router logits)^2; Ring-lite: 1e-7); logged as router/z_loss
    z_loss_coef: float = 0.0


@dataclass
class AdvantageConfig:
    method: str = "grpo"  # a registered estimator: grpo | grpo-nostd | dr-grpo | rloo
    filter_zero_variance: bool = True


@dataclass
class OptimConfig:
    lr: float = 1e-5
    weight_decay: float = 0.0
    warmup_steps: int = 0
    grad_clip: float = 1.0
    ppo_epochs: int = 1  # optimizer steps per rollout (>1 makes the ratio and clipping bite)


@dataclass
class EvalConfig:
    data: str | None = None
    every: int = 10
    max_rows: int = 256
    samples: int = 1
    temperature: float = 1.0


@dataclass
class RewardConfig:
    workers: int | None = None
    timeout: float = 10.0
    model: str | None = None  # local HF sequence-classification model (general stage)
    model_weight: float = 0.5  # reward = (1-w) * verifier score + w * sigmoid(rm logit)


@dataclass
class RLConfig:
    model: str
    run_dir: str
    stages: list[Stage]
    seed: int = 0
    backend: str = "embedded"
    checkpoint_every: int = 50
    max_tokens_per_micro: int = 4096
    # data-parallel lanes in this process (embedded backend): 0 = one per CPU thread (max 8); each lane
    # samples and trains whole groups on its own thread. Results are deterministic for a given count.
    lanes: int = 0
    device: str = "auto"  # auto (cuda when available) | cpu | cuda | cuda:N
    # bf16: forward passes under autocast (rollouts and training); weights, grads and AdamW stay fp32.
    # auto: the backend's own (embedded: fp32; openrlhf: DeepSpeed bf16)
    precision: str = "auto"
    time_limit_s: float | None = None  # stop a stage after this much wall time (a checkpoint is written)
    # metrics.jsonl always; tensorboard: + RUN/tensorboard; wandb: + a Weights & Biases run (RUN/wandb,
    # WANDB_MODE=offline works without network); none: metrics.jsonl only
    logger: str = "tensorboard"
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    c3po: C3POConfig = field(default_factory=C3POConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    advantage: AdvantageConfig = field(default_factory=AdvantageConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    moe: MoEConfig = field(default_factory=MoEConfig)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stages"] = [
            {
                "name": s.name,
                "datasets": s.datasets,
                **({"steps": s.steps} if s.steps is not None else {"epochs": s.epochs}),
                **({"overrides": s.overrides} if s.overrides else {}),
            }
            for s in self.stages
        ]
        return d

    def for_stage(self, stage: Stage, source: str = "config") -> RLConfig:
        """This config with the stage's ``overrides`` (dotted keys) applied."""
        if not stage.overrides:
            return self
        where = f"{source}: stages.{stage.name}.overrides"
        raw = self.to_dict()
        for key, value in stage.overrides.items():
            set_dotted(raw, key, value, source=where)
        cfg = _build(RLConfig, raw, "", where)
        _check(cfg, where)
        return cfg


def _registered(module: str, registry: str, *extra: str) -> Callable[[], tuple[str, ...]]:
    """The names in ``module.registry`` now (imported when first asked: torch loads with it)."""

    def names() -> tuple[str, ...]:
        return (*extra, *getattr(importlib.import_module(module), registry).names())

    return names


def _fixed(*names: str) -> Callable[[], tuple[str, ...]]:
    return lambda: names


class _Choices(Mapping[str, tuple[str, ...]]):
    """``key -> allowed values``, read when asked, so registries filled after import count."""

    def __init__(self, sources: dict[str, Callable[[], tuple[str, ...]]]):
        self._sources = sources

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return self._sources[key]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


CHOICES: Mapping[str, tuple[str, ...]] = _Choices(
    {
        "backend": lambda: importlib.import_module("ring_train.backends").BACKENDS,
        "precision": _fixed("auto", "fp32", "bf16"),
        "logger": lambda: importlib.import_module("ring_train.metrics").LOGGERS,
        "rollout.engine": _registered("ring_train.rollout_engines", "ENGINES", "auto"),
        "rollout.vllm.dtype": _fixed("auto", "bfloat16", "float16", "float32"),
        "c3po.scope": _fixed("global", "rank"),
        "c3po.order": _fixed("batch", "shuffle"),
        "loss.kl_estimator": _registered("ring_train.core.losses", "KL_ESTIMATORS"),
        "loss.aggregation": _registered("ring_train.core.losses", "AGGREGATIONS", "auto"),
        "advantage.method": _registered("ring_train.core.advantages", "ADVANTAGES"),
        "loss.ratio_level": _fixed("token", "sequence"),
    }
)


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        tp = next(a for a in args if a is not type(None))
    if tp is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise UserError(f"{source}: key '{key}': expected {getattr(tp, '__name__', tp)}, got {value!r}")


def _build(cls, raw: dict[str, Any], prefix: str, source: str):
    if not isinstance(raw, dict):
        raise UserError(f"{source}: key '{prefix.rstrip('.')}': must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise UserError(f"{source}: unknown key '{prefix}{unknown[0]}' (known: {', '.join(fields)})")
    kwargs = {}
    hints = typing.get_type_hints(cls)
    for name, f in fields.items():
        key = prefix + name
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UserError(f"{source}: missing required key '{key}'")
            continue
        value, tp = raw[name], hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value or {}, key + ".", source)
        elif name == "stages":
            try:
                kwargs[name] = parse_stages(value)
            except ValueError as e:
                raise UserError(f"{source}: {e}") from None
        else:
            kwargs[name] = _coerce(value, tp, key, source)
            if key in CHOICES and kwargs[name] not in (allowed := CHOICES[key]):
                raise UserError(f"{source}: key '{key}': must be one of {', '.join(allowed)}, got {value!r}")
    return cls(**kwargs)


def from_dict(raw: dict[str, Any], source: str = "config") -> RLConfig:
    cfg = _build(RLConfig, raw, "", source)
    _check(cfg, source)
    for stage in cfg.stages:  # a stage's overrides are refused now, not when the stage starts
        cfg.for_stage(stage, source)
    return cfg


def _check(cfg: RLConfig, source: str) -> None:
    def bad(key: str, msg: str):
        raise UserError(f"{source}: key '{key}': {msg}")

    for key, value in (
        ("rollout.prompts_per_step", cfg.rollout.prompts_per_step),
        ("rollout.group_size", cfg.rollout.group_size),
        ("rollout.max_new_tokens", cfg.rollout.max_new_tokens),
        ("optim.ppo_epochs", cfg.optim.ppo_epochs),
        ("checkpoint_every", cfg.checkpoint_every),
        ("c3po.dp_size", cfg.c3po.dp_size),
    ):
        if value < 1:
            bad(key, f"must be >= 1, got {value}")
    if cfg.logger == "wandb":
        from .metrics import WANDB_EXTRA

        try:
            import wandb  # noqa: F401
        except ImportError:
            bad("logger", f"wandb needs the wandb package: {WANDB_EXTRA}")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", cfg.device):
        bad("device", f"must be auto, cpu, cuda or cuda:N, got {cfg.device!r}")
    from .core.advantages import get_advantage
    from .core.losses import AGGREGATIONS
    from .engine import AUTO
    from .rollout_engines import get_engine

    engine = cfg.rollout.engine
    if engine != AUTO and get_engine(engine).needs_cuda and cfg.device == "cpu":
        bad(
            "rollout.engine",
            f"{engine} rollouts need a CUDA device (device: auto or cuda); use engine: hf on CPU",
        )
    if not 0 < cfg.rollout.vllm.gpu_memory_utilization < 1:
        bad("rollout.vllm.gpu_memory_utilization", "must be in (0, 1)")
    if cfg.lanes < 0:
        bad("lanes", f"must be >= 0 (0 = one per CPU thread), got {cfg.lanes}")
    if cfg.c3po.enabled and (cfg.c3po.budget is None or cfg.c3po.budget < 1):
        bad("c3po.budget", "C3PO needs a positive token budget Φ (or set c3po.enabled: false)")
    agg = cfg.loss.aggregation
    if not cfg.c3po.enabled and agg != "auto" and AGGREGATIONS.get(agg).needs_budget:
        bad("loss.aggregation", f"{agg!r} divides by Φ and needs c3po.enabled: true")
    if cfg.loss.tis_cap is not None and cfg.loss.tis_cap < 1:
        bad("loss.tis_cap", f"must be >= 1 (or null for no importance weights), got {cfg.loss.tis_cap}")
    for key, value in (
        ("moe.aux_loss_coef", cfg.moe.aux_loss_coef),
        ("moe.z_loss_coef", cfg.moe.z_loss_coef),
    ):
        if value < 0:
            bad(key, f"must be >= 0, got {value}")
    if cfg.loss.dual_clip is not None and cfg.loss.dual_clip <= 1:
        bad("loss.dual_clip", "must be > 1")
    needed = get_advantage(cfg.advantage.method).min_group_size
    if cfg.rollout.group_size < needed:
        bad(
            "advantage.method",
            f"{cfg.advantage.method!r} needs rollout.group_size >= {needed}, got {cfg.rollout.group_size}",
        )
    if not 0 <= cfg.reward.model_weight <= 1:
        bad("reward.model_weight", "must be in [0, 1]")


def aggregation(cfg: RLConfig) -> str:
    if cfg.loss.aggregation != "auto":
        return cfg.loss.aggregation
    return "constant" if cfg.c3po.enabled else "seq-mean"


def parse_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def set_dotted(raw: dict[str, Any], key: str, value: Any, source: str = "--set") -> None:
    parts = key.split(".")
    node = raw
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise UserError(f"{source}: key '{key}': '{p}' is not a section")
    node[parts[-1]] = value


def load_raw(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"{path}: cannot read config: {e.strerror}") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{line}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: config must be a YAML mapping")
    return raw


def load_config(
    path: str | Path | None, overrides: list[str] = (), base: dict[str, Any] | None = None
) -> RLConfig:
    """YAML ``path`` + ``key=value`` overrides (relative paths are relative to the working directory)."""
    raw = copy.deepcopy(base or {})
    source = str(path) if path else "config"
    if path:
        raw.update(load_raw(path))
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected key=value")
        key, text = item.split("=", 1)
        set_dotted(raw, key.strip(), parse_value(text))
    return from_dict(raw, source)


def save_resolved(cfg: RLConfig, run_dir: str | Path) -> Path:
    import yaml

    from ring_data import atomic

    out = Path(run_dir) / "config.resolved.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    return atomic.write_text(out, yaml.safe_dump(cfg.to_dict(), sort_keys=False))  # never half-written
