"""Embedded backend: one process, torch, on CPU or one GPU. Rollouts from a registered rollout engine
(``hf``: batched KV-cache sampling by the policy itself, split over lanes; ``vllm``: an in-process vLLM
engine that follows the policy's weights), rewards through ``verifiers.verify_batch`` in worker
processes, C3PO planning + the registered advantage estimator, aggregation and KL estimator from
``ring_train.core``, one optimizer step per rollout (``optim.ppo_epochs`` for more), checkpoints that
resume exactly. It honours every config key (:data:`SUPPORT`).
"""

from __future__ import annotations

import copy
import logging
import math
import random
import shutil
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ring_data import atomic
from ring_data.errors import UserError
from ring_data.runtime import progress, write_stats

from .. import checkpoint
from ..config import RLConfig, aggregation, save_resolved
from ..core.advantages import group_advantages, zero_variance_groups
from ..core.c3po import plan_step
from ..core.losses import step_normalizer
from ..core.policy_loss import LossSettings, policy_loss
from ..core.schedule import MixtureSampler, Stage
from ..data import read_problem_rows
from ..device import autocast, resolve_device
from ..engine import EngineSpec, RolloutEngine, SamplingSettings, engine_name
from ..evaluate import evaluate
from ..forward import MicroBatch
from ..lanes import Lanes, resolve_lanes, run_responses_in_lanes
from ..metrics import MetricsLog, plot_curves, read_metrics
from ..models.load import load_policy, save_policy
from ..moe import RouterTally, rollout_topk_for, routed_tokens, router_info, router_terms
from ..rewards import Rewarder
from ..rollout import Rollout, right_padded
from ..rollout_engines import get_engine
from ..text import decode_response, encode_prompt
from .support import Native, check_support, config_keys

log = logging.getLogger(__name__)

DEFAULT_ENGINE = "hf"  # rollout.engine: auto
DEFAULT_PRECISION = "fp32"  # precision: auto
# every key is implemented here; the table exists so the OpenRLHF backend's can be checked against it
SUPPORT = {key: Native() for key in config_keys()}
STATS = ("clipped", "kl", "entropy", "tokens", "loss", "is_weight", "is_capped", "sampler_gap")


def precision(cfg: RLConfig) -> str:
    return DEFAULT_PRECISION if cfg.precision == "auto" else cfg.precision


def build_engine(cfg: RLConfig, start: str) -> RolloutEngine:
    """The registered rollout engine ``cfg.rollout.engine`` (``auto``: hf)."""
    entry = get_engine(engine_name(cfg.rollout.engine, DEFAULT_ENGINE))
    return entry.factory(EngineSpec(start, cfg.rollout, cfg.seed))


class _FirstPassLogps:
    """π_old of each response: its log-probs in the step's first pass (PPO epoch 0, where the ratio is
    1), reused by later epochs so the clip bites."""

    def __init__(self) -> None:
        self.rows: dict[int, torch.Tensor] = {}

    def of(self, mb: MicroBatch) -> torch.Tensor:
        if mb.rows[0] in self.rows:
            return torch.stack([self.rows[i] for i in mb.rows])
        for j, i in enumerate(mb.rows):
            self.rows[i] = mb.logp[j].detach()
        return mb.logp.detach()


@dataclass
class _Round:
    """One batch of prompts, sampled and scored (a step has one, plus refills under C3PO)."""

    rows: list[dict]
    ro: Rollout
    items: list[tuple]
    scores: list[float]
    statuses: list[str]
    generate_s: float
    reward_s: float


def _merge(rounds: list[_Round]) -> tuple[list[dict], Rollout, list[tuple], list[float], list[str]]:
    """Rounds -> one rollout (group indices shifted), in sampling order."""
    rows, items, scores, statuses = [], [], [], []
    for r in rounds:
        rows += r.rows
        items += r.items
        scores += r.scores
        statuses += r.statuses
    return rows, Rollout.concat([r.ro for r in rounds]), items, scores, statuses


def stage_dir(run_dir: Path, stage: Stage) -> Path:
    return run_dir / "stages" / stage.name / "final"


def stage_start(cfg: RLConfig, all_stages: list[Stage], stage: Stage) -> str:
    """The previous stage's final checkpoint in this run dir when there is one, else ``cfg.model``."""
    idx = [s.name for s in all_stages].index(stage.name)
    if idx > 0:
        prev = stage_dir(Path(cfg.run_dir), all_stages[idx - 1])
        if prev.exists():
            return str(prev)
    return cfg.model


class StageRunner:
    """Runs the optimizer steps of one stage."""

    def __init__(
        self,
        cfg: RLConfig,
        stage: Stage,
        start: str,
        rewarder: Rewarder,
        global_step0: int,
        engine: RolloutEngine | None = None,
    ):
        self.cfg, self.stage, self.start, self.rewarder = cfg, stage, start, rewarder
        self.device = resolve_device(cfg.device)
        self.model, self.tok = load_policy(start, device=self.device)
        self.model.train()
        # lanes share out a CPU's cores; on a GPU one stream of big kernels is the efficient shape
        self.n_lanes = (
            resolve_lanes(cfg.lanes, torch.get_num_threads(), cfg.rollout.prompts_per_step)
            if self.device.type == "cpu"
            else 1
        )
        self.lanes = self._lanes(self.model)
        # MoE policies: router loss terms and metrics, routing drift (None for a dense policy)
        self.router = router_info(self.model)
        if self.router is None and (cfg.moe.aux_loss_coef > 0 or cfg.moe.z_loss_coef > 0):
            raise UserError(
                f"moe.aux_loss_coef / moe.z_loss_coef need a Mixture-of-Experts policy; {start} has no router"
            )
        self._owns_engine = engine is None  # else the run's, shared by its stages and closed by train()
        self.engine = engine if engine is not None else build_engine(cfg, start)
        self.engine.sync_weights(self.lanes)
        self.loss_settings = LossSettings.of(cfg.loss)
        self.ref_lanes = None
        if cfg.loss.kl_beta > 0:  # reference = the stage's start
            self.ref_lanes = self._lanes(copy.deepcopy(self.model).eval().requires_grad_(False))
        self.datasets = [read_problem_rows(p) for p in stage.datasets]
        self.sampler = MixtureSampler(
            [len(d) for d in self.datasets], list(stage.datasets.values()), cfg.seed
        )
        self.n_steps = stage.num_steps(sum(len(d) for d in self.datasets), cfg.rollout.prompts_per_step)
        self.eval_rows = read_problem_rows(cfg.eval.data)[: cfg.eval.max_rows] if cfg.eval.data else None
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
        )
        warm = cfg.optim.warmup_steps
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0
        )
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self.global_step0 = global_step0
        self.elapsed = 0.0
        self._prompt_cache: dict[tuple[int, int], list[int]] = {}
        self.usable_per_prompt: float | None = None  # running average (C3PO adaptive prompts)
        self._router_metrics: dict[str, float] = {}  # router/* of the last step (MoE policies)

    def _lanes(self, model) -> Lanes:
        return Lanes(
            model,
            self.n_lanes,
            max(1, torch.get_num_threads() // self.n_lanes),
            context=self._autocast,
        )

    def _autocast(self):
        return autocast(self.device, precision(self.cfg))

    def close(self) -> None:
        if self._owns_engine:
            self.engine.close()
        for lanes in (self.lanes, self.ref_lanes):
            if lanes is not None:
                lanes.close()

    # ---- state -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "stage": self.stage.name,
            "step": self.step,
            "global_step": self.global_step0 + self.step,
            "start": self.start,
            "elapsed": self.elapsed,
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "sampler": self.sampler.state_dict(),
            "generator": self.gen.get_state(),
            "usable_per_prompt": self.usable_per_prompt,
        }

    def restore(self, ckpt: Path, state: dict[str, Any]) -> None:
        self.model, self.tok = load_policy(ckpt / "policy", device=self.device)
        self.model.train()
        self.lanes.close()
        self.lanes = self._lanes(self.model)
        self.engine.sync_weights(self.lanes)
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=self.cfg.optim.lr, weight_decay=self.cfg.optim.weight_decay
        )
        self.opt.load_state_dict(state["optimizer"])
        warm = self.cfg.optim.warmup_steps
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0
        )
        self.sched.load_state_dict(state["scheduler"])
        self.sampler.load_state_dict(state["sampler"])
        self.gen.set_state(state["generator"])
        self.step, self.elapsed = state["step"], state["elapsed"]
        self.usable_per_prompt = state.get("usable_per_prompt")

    # ---- one step ----------------------------------------------------------------------------
    def _prompt_ids(self, d: int, i: int) -> list[int]:
        key = (d, i)
        if key not in self._prompt_cache:
            self._prompt_cache[key] = encode_prompt(self.tok, self.datasets[d][i]["prompt"])
        return self._prompt_cache[key]

    def _round(self, n_prompts: int) -> _Round:
        """Sample K responses for ``n_prompts`` fresh prompts and score them; each lane's share goes to
        the verifiers as soon as it is sampled, so scoring overlaps the other lanes' generation."""
        cfg, K = self.cfg, self.cfg.rollout.group_size
        draws = self.sampler.draw(n_prompts)
        rows = [self.datasets[d][i] for d, i in draws]
        prompts = [self._prompt_ids(d, i) for d, i in draws]
        pending: dict[int, tuple[list[tuple], Future]] = {}

        def score_part(chunk: range, part: Rollout) -> None:
            items = [
                (decode_response(self.tok, r), rows[chunk[g]]["reference"], rows[chunk[g]]["domain"])
                for r, g in zip(part.responses, part.group)
            ]
            pending[chunk.start] = (items, self.rewarder.submit(items))

        settings = SamplingSettings(
            max_new_tokens=cfg.rollout.max_new_tokens,
            eos_id=self.tok.eos_token_id,
            pad_id=self.tok.pad_token_id,
            temperature=cfg.rollout.temperature,
            top_p=cfg.rollout.top_p,
            record_routing=self.router is not None,
        )
        t0 = time.perf_counter()
        ro = self.engine.sample_groups(prompts, K, settings, generator=self.gen, on_part=score_part)
        t_gen = time.perf_counter()
        items, verdicts, statuses = [], [], []
        for start in sorted(pending):  # prompt order = the rollout's order
            part_items, future = pending[start]
            scored = future.result()
            items += part_items
            verdicts += scored.scores
            statuses += scored.statuses
        scores = self.rewarder.blend([rows[g]["prompt"] for g in ro.group], [it[0] for it in items], verdicts)
        return _Round(rows, ro, items, scores, statuses, t_gen - t0, time.perf_counter() - t_gen)

    def _usable_tokens(self, rnd: _Round) -> int:
        rewards = torch.tensor(rnd.scores, device="cpu").view(len(rnd.rows), self.cfg.rollout.group_size)
        zero = zero_variance_groups(rewards) if self.cfg.advantage.filter_zero_variance else None
        return sum(len(r) for r, g in zip(rnd.ro.responses, rnd.ro.group) if zero is None or not zero[g])

    def _budget_target(self) -> int | None:
        """Usable tokens a step must hold under C3PO (all ranks together), None without a budget."""
        c = self.cfg.c3po
        if not (c.enabled and c.budget):
            return None
        return c.budget * (c.dp_size if c.scope == "rank" else 1)

    def _first_round_prompts(self, target: int | None) -> int:
        per_step = self.cfg.rollout.prompts_per_step
        if target is None or not self.cfg.c3po.adaptive_prompts or not self.usable_per_prompt:
            return per_step
        # 10% over the expectation: a refill round is the exception, not the rule
        wanted = math.ceil(1.1 * target / self.usable_per_prompt)
        return max(per_step, min(2 * per_step, wanted))

    def _collect(self, target: int | None) -> list[_Round]:
        """One step's rounds: the first (adaptively sized), then C3PO refills until the usable
        responses hold ``target`` tokens (token-budgeted dynamic sampling) or the refills run out."""
        rounds = [self._round(self._first_round_prompts(target))]
        usable_tokens = self._usable_tokens(rounds[0])
        while target and usable_tokens < target and len(rounds) <= self.cfg.c3po.refill_rounds:
            per_prompt = max(1.0, usable_tokens / sum(len(r.rows) for r in rounds))
            need = math.ceil(1.25 * (target - usable_tokens) / per_prompt)
            rounds.append(self._round(max(2, min(self.cfg.rollout.prompts_per_step, need))))
            usable_tokens += self._usable_tokens(rounds[-1])
        self.engine.sleep()  # e.g. rollout.vllm.sleep: its GPU memory is the trainer's until the next step
        observed = usable_tokens / sum(len(r.rows) for r in rounds)
        prev = self.usable_per_prompt
        self.usable_per_prompt = observed if prev is None else 0.8 * prev + 0.2 * observed
        return rounds

    def _forward(self, lanes: Lanes, ro: Rollout, keep: list[int], **kwargs):
        """Log-probs of the kept tokens of every response, split over ``lanes``."""
        return run_responses_in_lanes(
            lanes,
            ro.prompt_ids,
            ro.responses,
            ro.group,
            keep,
            pad_id=self.tok.pad_token_id,
            max_tokens_per_micro=self.cfg.max_tokens_per_micro,
            **kwargs,
        )

    def _reference_logps(self, ro: Rollout, keep: list[int]) -> dict[int, torch.Tensor]:
        """Per-token log-probs under the reference model (only with a KL term)."""
        ref_logp: dict[int, torch.Tensor] = {}
        if self.ref_lanes is not None and sum(keep):
            with torch.no_grad():
                for mb in self._forward(self.ref_lanes, ro, keep, with_entropy=False):
                    for j, i in enumerate(mb.rows):
                        ref_logp[i] = mb.logp[j]
        return ref_logp

    def _micro_batch_loss(
        self,
        mb: MicroBatch,
        *,
        flat_adv: torch.Tensor,
        old_logp: _FirstPassLogps,
        ref_logp: dict[int, torch.Tensor],
        sampler_logps: list[list[float]] | None,
        mode: str,
        normalizer: float,
        tally: dict[str, float] | None,
        routing: list[torch.Tensor] | None = None,
        step_routed: int = 0,
        router_tally: RouterTally | None = None,
    ) -> torch.Tensor:
        """A micro-batch's share of the step loss (:func:`~ring_train.core.policy_loss.policy_loss`, plus
        the router terms of an MoE policy: :func:`~ring_train.moe.router_terms`); its metric sums are
        added to ``tally`` (and ``router_tally``) when one is given."""
        sampled = None
        if sampler_logps is not None and self.loss_settings.tis_cap is not None:
            width = mb.logp.shape[1]
            rows = [sampler_logps[i] for i in mb.rows]
            sampled = right_padded(rows, width, math.nan, torch.float32, mb.logp.device)
        loss, metrics = policy_loss(
            mb.logp,
            old_logp.of(mb),
            flat_adv[mb.rows].unsqueeze(1),
            mb.mask,
            mb.entropy,
            settings=self.loss_settings,
            aggregation=mode,
            normalizer=normalizer,
            ref_logp=torch.stack([ref_logp[i] for i in mb.rows]) if ref_logp else None,
            sampler_logp=sampled,
        )
        if tally is not None:
            for key, value in metrics.items():
                tally[key] += value
        if self.router is not None and mb.router_logits is not None:
            width = mb.router_logits.shape[1]
            extra = router_terms(
                mb.router_logits,
                mb.router_topk,
                mb.mask[:, 1:],
                self.router,
                step_tokens=step_routed,
                aux_coef=self.cfg.moe.aux_loss_coef,
                z_coef=self.cfg.moe.z_loss_coef,
                rollout_topk=(
                    rollout_topk_for(routing, mb.rows, width, self.router, mb.logp.device)
                    if routing is not None and router_tally is not None
                    else None
                ),
                tally=router_tally,
            )
            if extra is not None:
                loss = loss + extra
        return loss

    def _optimize(self, ro: Rollout, flat_adv, keep: list[int], mode: str, normalizer: float, ref_logp):
        """``optim.ppo_epochs`` optimizer steps on the kept tokens; returns (first-epoch stats, grad norm)."""
        lane_stats = [dict.fromkeys(STATS, 0.0) for _ in range(len(self.lanes))]  # no lock across lanes
        epochs = self.cfg.optim.ppo_epochs
        # MoE: router sums of the first epoch (all metrics) and of the last (drift after the updates)
        router_first = [RouterTally() for _ in range(len(self.lanes))]
        router_last = [RouterTally() for _ in range(len(self.lanes))] if epochs > 1 else None
        step_routed = routed_tokens(keep)
        old_logp = _FirstPassLogps()
        grad_norm = 0.0
        for epoch in range(epochs):
            self.opt.zero_grad(set_to_none=True)
            if not sum(keep):
                continue

            def consume_for_lane(lane: int, epoch: int = epoch):
                # the step's metrics describe the rollout's own policy: the first epoch's
                tally = lane_stats[lane] if epoch == 0 else None
                router_tally = (
                    router_first[lane]
                    if epoch == 0
                    else (router_last[lane] if router_last and epoch == epochs - 1 else None)
                )
                return lambda mb: self._micro_batch_loss(
                    mb,
                    flat_adv=flat_adv,
                    old_logp=old_logp,
                    ref_logp=ref_logp,
                    sampler_logps=ro.sampler_logps,
                    mode=mode,
                    normalizer=normalizer,
                    tally=tally,
                    routing=ro.routing,
                    step_routed=step_routed,
                    router_tally=router_tally,
                )

            self._forward(
                self.lanes,
                ro,
                keep,
                with_entropy=True,
                consume_for_lane=consume_for_lane,
                routing=self.router is not None,
            )
            grad_norm = float(
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
            )
            self.opt.step()
            self.engine.sync_weights(self.lanes)
            self.sched.step()  # the schedule counts optimizer steps (a step with no tokens does none)
        stats = {k: sum(s[k] for s in lane_stats) for k in STATS}  # lane order: deterministic
        self._router_metrics = self._router_step_metrics(router_first, router_last)
        return stats, grad_norm

    def _router_step_metrics(
        self, first: list[RouterTally], last: list[RouterTally] | None
    ) -> dict[str, float]:
        """``router/*`` of an MoE step: balancing and z-loss, load CV and router entropy of the trained
        tokens, routing drift of the first training pass (and of the last PPO epoch's) vs the rollout."""
        if self.router is None:
            return {}
        total = RouterTally()
        for t in first:
            total.add(t)
        out = total.metrics(self.router.layers)
        if last is not None:
            after = RouterTally()
            for t in last:
                after.add(t)
            if after.drift_decisions:
                out["router/drift_last_epoch"] = after.drift_changed / after.drift_decisions
        return out

    def train_step(self) -> dict[str, float]:
        """Sample (and refill) -> group advantages -> C3PO plan -> optimizer step(s) -> metrics."""
        cfg, K = self.cfg, self.cfg.rollout.group_size
        t0 = time.perf_counter()
        rounds = self._collect(self._budget_target())
        rows, ro, items, scores, statuses = _merge(rounds)
        lengths = [len(r) for r in ro.responses]
        rewards = torch.tensor(scores, device="cpu").view(len(rows), K)
        t_gen = t0 + sum(r.generate_s for r in rounds)
        t_rew = t_gen + sum(r.reward_s for r in rounds)

        flat_adv = group_advantages(rewards, cfg.advantage.method).view(-1).to(self.device)
        zero = zero_variance_groups(rewards)
        usable = list(lengths)
        if cfg.advantage.filter_zero_variance:
            usable = [0 if zero[g] else n for n, g in zip(lengths, ro.group)]
        plan = plan_step(
            usable,
            cfg.c3po.budget if cfg.c3po.enabled else None,
            scope=cfg.c3po.scope,
            dp_size=cfg.c3po.dp_size,
            order=cfg.c3po.order,
            seed=cfg.seed * 1_000_003 + self.global_step0 + self.step,
        )
        mode = aggregation(cfg)
        keep = list(plan.keep)
        normalizer = step_normalizer(mode, keep, plan.normalizer)
        stats, grad_norm = self._optimize(
            ro, flat_adv, keep, mode, normalizer, self._reference_logps(ro, keep)
        )
        t_end = time.perf_counter()
        self.step += 1
        self.elapsed += t_end - t0

        ntok = max(1.0, stats["tokens"])
        per_domain: dict[str, list[float]] = {}
        for (_, _, dom), s in zip(items, scores):
            per_domain.setdefault(dom, []).append(s)
        out = {
            "reward/mean": float(rewards.mean()),
            "reward/pass_rate": sum(1 for s in statuses if s == "correct") / len(statuses),
            **{f"reward/{d}": sum(v) / len(v) for d, v in sorted(per_domain.items())},
            "rollout/response_len": sum(lengths) / len(lengths),
            "rollout/truncated_frac": 1 - sum(ro.finished) / len(ro.finished),
            "groups/zero_variance": int(zero.sum()),
            "rollout/prompts": len(rows),
            "rollout/first_round_prompts": len(rounds[0].rows),
            "c3po/refill_rounds": len(rounds) - 1,
            "groups/filtered": int(zero.sum()) if cfg.advantage.filter_zero_variance else 0,
            "policy/entropy": stats["entropy"] / ntok,
            "policy/kl": stats["kl"] / ntok,
            "policy/clip_frac": stats["clipped"] / ntok,
            "policy/grad_norm": grad_norm,
            "policy/loss": stats["loss"],
            "policy/lr": self.sched.get_last_lr()[0],
            **self._sampler_metrics(ro, stats),
            **self._router_metrics,
            **plan.stats(),
            "perf/step_s": t_end - t0,
            "perf/generate_s": t_gen - t0,
            "perf/reward_s": t_rew - t_gen,
            "perf/train_s": t_end - t_rew,
            "perf/trained_tokens_per_s": stats["tokens"] / max(1e-9, t_end - t0),
            "perf/generated_tokens_per_s": sum(lengths) / max(1e-9, t_gen - t0),
        }
        return out

    def _sampler_metrics(self, ro: Rollout, stats: dict[str, float]) -> dict[str, float]:
        """How far the engine that sampled is from the policy's forward (vLLM rollouts only)."""
        if ro.sampler_logps is None or self.cfg.loss.tis_cap is None:
            return {}
        ntok = max(1.0, stats["tokens"])
        return {
            "rollout/is_weight_mean": stats["is_weight"] / ntok,
            "rollout/is_capped_frac": stats["is_capped"] / ntok,
            # mean log π_sampler - log π_policy over trained tokens: ≈ KL(sampler || policy) >= 0
            "rollout/sampler_logp_gap": stats["sampler_gap"] / ntok,
        }

    def evaluate(self) -> dict[str, float]:
        gen = torch.Generator().manual_seed(self.cfg.seed + 12345)  # same draws each time: lower-noise curve
        with self._autocast():
            res = evaluate(
                self.model,
                self.tok,
                self.eval_rows,
                self.rewarder,
                samples=self.cfg.eval.samples,
                temperature=self.cfg.eval.temperature,
                max_new_tokens=self.cfg.rollout.max_new_tokens,
                generator=gen,
                engine=self.engine,
            )
        self.engine.sleep()
        return {f"eval/{k}": v for k, v in res.items()}


def _preflight(cfg: RLConfig, stages: list[Stage]) -> None:
    """Device and rollout-engine errors before the run dir is touched."""
    check_support("embedded", cfg, stages, SUPPORT)
    for stage in stages:
        scfg = cfg.for_stage(stage)
        resolve_device(scfg.device)
        entry = get_engine(engine_name(scfg.rollout.engine, DEFAULT_ENGINE))
        if entry.preflight is not None:
            entry.preflight()


def train(cfg: RLConfig, stages: list[Stage], *, resume: bool = False) -> dict[str, Any]:
    _preflight(cfg, stages)
    run_dir = Path(cfg.run_dir)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)  # checkpoints save this stream too: a fresh run's must not depend on the process
    names = [s.name for s in stages]
    ckpt = checkpoint.latest(run_dir)
    if ckpt is not None and checkpoint.stage_of(ckpt) not in names:
        ckpt = None  # from another stage of the plan (e.g. reasoning, before --stage general)
    if ckpt is not None and not resume:
        raise UserError(
            f"{run_dir}: run dir has checkpoints of stage {checkpoint.stage_of(ckpt)!r}; "
            "pass --resume to continue or choose a new run_dir"
        )
    if resume and ckpt is None:
        raise UserError(f"{run_dir}: --resume given but no checkpoint of stage(s) {', '.join(names)} found")
    state = checkpoint.load_state(ckpt) if ckpt else None
    if ckpt:
        checkpoint.prune(run_dir, ckpt)  # a run killed before pruning left one checkpoint too many
    save_resolved(cfg, run_dir)
    first = names.index(state["stage"]) if state else 0
    metrics = MetricsLog(
        run_dir,
        stages=names,
        resume_from_step=state["global_step"] if state else None,
        logger=cfg.logger,
        config=cfg.to_dict(),
    )
    rewarder = Rewarder(
        workers=cfg.reward.workers,
        timeout=cfg.reward.timeout,
        reward_model=cfg.reward.model,
        model_weight=cfg.reward.model_weight,
    )
    global_step = state["global_step"] - state["step"] if state else metrics.last_other_step
    summary: dict[str, Any] = {"stages": {}}
    engines: dict[str, RolloutEngine] = {}  # one per engine name for the whole plan (a vLLM engine is
    # built once; each stage syncs its own weights into it)
    try:
        for stage in stages[first:]:
            scfg = cfg.for_stage(stage)
            start = state["start"] if state else stage_start(scfg, cfg.stages, stage)
            name = engine_name(scfg.rollout.engine, DEFAULT_ENGINE)
            if name not in engines:
                engines[name] = build_engine(scfg, start)
            runner = StageRunner(scfg, stage, start, rewarder, global_step, engines[name])
            if state:
                runner.restore(ckpt, state)
            elif runner.eval_rows:
                metrics.log(
                    {"global_step": global_step, "stage": stage.name, "stage_step": 0, **runner.evaluate()}
                )
            try:
                summary["stages"][stage.name] = _run_stage(runner, scfg, metrics, run_dir)
            finally:
                runner.close()
            global_step += runner.step
            state = None
    finally:
        metrics.close()
        rewarder.close()
        for engine in engines.values():
            engine.close()
    records = read_metrics(metrics.path)
    summary["plot"] = str(plot_curves(records, run_dir / "curves.png", title=run_dir.name) or "")
    write_stats(run_dir / "rl.stats.json", summary)
    return summary


def _run_stage(runner: StageRunner, cfg: RLConfig, metrics: MetricsLog, run_dir: Path) -> dict[str, Any]:
    stage = runner.stage
    bar = progress(
        range(runner.step, runner.n_steps),
        total=runner.n_steps - runner.step,
        desc=f"rl {stage.name}",
        unit="step",
    )
    last_eval: dict[str, float] = {}
    stopped_early = False
    for _ in bar:
        rec = runner.train_step()
        gs = runner.global_step0 + runner.step
        if runner.eval_rows and (runner.step % cfg.eval.every == 0 or runner.step == runner.n_steps):
            last_eval = runner.evaluate()
            rec.update(last_eval)
        metrics.log({"global_step": gs, "stage": stage.name, "stage_step": runner.step, **rec})
        if not math.isfinite(rec["policy/grad_norm"]):
            raise UserError(f"stage {stage.name} step {runner.step}: non-finite grad norm; lower optim.lr")
        over_time = cfg.time_limit_s is not None and runner.elapsed >= cfg.time_limit_s
        if runner.step % cfg.checkpoint_every == 0 or over_time:
            checkpoint.save(
                run_dir, f"{stage.name}-step{runner.step:06d}", runner.model, runner.tok, runner.state()
            )
        if over_time:
            stopped_early = runner.step < runner.n_steps
            break
    if runner.eval_rows and not last_eval:
        last_eval = runner.evaluate()
    final = stage_dir(run_dir, stage)
    staging = atomic.temp_path(final)  # saved whole, then swapped in: the next stage starts from it
    shutil.rmtree(staging, ignore_errors=True)
    save_policy(runner.model, runner.tok, staging)
    atomic.replace_dir(staging, final)
    return {
        "steps": runner.step,
        "final": str(final),
        "seconds": round(runner.elapsed, 1),
        "stopped_early": stopped_early,
        **last_eval,
    }
