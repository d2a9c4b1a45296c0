"""Rollout engines: what samples the policy's responses for the embedded backend and its evaluation.

Every engine has the shape of :class:`RolloutEngine` and registers a factory by name
(``@register_rollout_engine("hf")``); ``rollout.engine`` accepts ``auto`` (the backend's own choice)
and exactly the registered names. Built in:

- ``hf``: the policy samples itself with the KV-cache sampler, split over the trainer's lanes
  (:mod:`ring_train.hf_rollouts`);
- ``vllm``: an in-process vLLM engine that follows the policy's weights (:mod:`ring_train.vllm_rollouts`).

The trainer calls ``sync_weights`` whenever the policy's weights change (stage start, resume, every
optimizer step) and ``sleep`` when it is done sampling for a while (after a step's rollouts, after an
eval); engines that hold their own copy of the weights push them lazily (:class:`SeparateEngine`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

from .core.registry import Registry
from .rollout import Rollout

if TYPE_CHECKING:
    from .lanes import Lanes

AUTO = "auto"  # rollout.engine: the backend's own engine (embedded: hf)

OnPart = Callable[[range, Rollout], None]


@dataclass(frozen=True)
class SamplingSettings:
    max_new_tokens: int
    eos_id: int
    pad_id: int
    temperature: float = 1.0  # 0 = greedy
    top_p: float = 1.0
    # MoE policies: record each fed response token's top-k experts (Rollout.routing) for the routing-drift
    # metric; engines that cannot (vLLM) leave Rollout.routing None
    record_routing: bool = False

    def as_kwargs(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@runtime_checkable
class RolloutEngine(Protocol):
    def sample_groups(
        self,
        prompt_ids: list[list[int]],
        k: int,
        settings: SamplingSettings,
        *,
        generator: torch.Generator,
        on_part: OnPart | None = None,
    ) -> Rollout:
        """A training rollout: ``k`` responses per prompt, group-major. ``on_part(prompts, part)`` is
        called as soon as a share of the prompts (their indices, and their rollout) is sampled, so
        scoring can overlap the rest; an engine that samples all at once calls it once."""
        ...

    def sample(
        self, prompt_ids: list[list[int]], k: int, settings: SamplingSettings, *, generator: torch.Generator
    ) -> Rollout:
        """Plain sampling (evaluation): one stream of draws from ``generator``, whatever the trainer's
        split into lanes, so eval curves do not depend on the lane count."""
        ...

    def sync_weights(self, policy: Lanes) -> None:
        """The policy's weights changed: sample from ``policy`` (``policy.primary`` is the model) from
        now on."""
        ...

    def sleep(self) -> None:
        """No sampling for a while (the policy trains): free what the trainer could use."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class EngineSpec:
    """What an engine factory gets: one engine serves every stage of a run."""

    start: str  # model dir the run's first stage starts from (later weights come through sync_weights)
    rollout: Any  # the stage's config.RolloutConfig (engines import no config: config validates engines)
    seed: int


@dataclass(frozen=True)
class EngineEntry:
    name: str
    factory: Callable[[EngineSpec], RolloutEngine]
    needs_cuda: bool = False  # refused at config load with device: cpu
    preflight: Callable[[], None] | None = None  # raises UserError when unusable here (before any file)


ENGINES: Registry[EngineEntry] = Registry("rollout engine")


def register_rollout_engine(
    name: str,
    *,
    needs_cuda: bool = False,
    preflight: Callable[[], None] | None = None,
    replace: bool = False,
):
    """Decorator: register ``factory(spec: EngineSpec) -> RolloutEngine`` as ``rollout.engine: name``."""
    return ENGINES.decorator(name, lambda fn: EngineEntry(name, fn, needs_cuda, preflight), replace=replace)


def engine_name(configured: str, default: str) -> str:
    """The engine a backend runs: ``configured``, or the backend's ``default`` for ``auto``."""
    return default if configured == AUTO else configured


class SeparateEngine:
    """Base of engines that hold their own copy of the policy's weights (vLLM). ``sync_weights`` only
    marks the copy stale; the weights are pushed right before the next sampling call (once, however many
    optimizer steps came in between), and that push also wakes a sleeping engine.

    Subclasses implement ``push_weights(model)``, ``generate(prompt_ids, k, settings, generator)``,
    ``sleep()`` (setting ``asleep``) and ``close()``."""

    asleep: bool = False

    def __init__(self) -> None:
        self._policy: torch.nn.Module | None = None
        self._current = False

    def sync_weights(self, policy: Lanes) -> None:
        self._policy, self._current = policy.primary, False

    def ready(self) -> None:
        """Hold the policy's current weights and be awake."""
        if self._policy is None:
            raise RuntimeError("sync_weights() must give the engine a policy before it samples")
        if not self._current or self.asleep:
            self.push_weights(self._policy)
            self._current = True

    def sample(self, prompt_ids, k: int, settings: SamplingSettings, *, generator=None) -> Rollout:
        self.ready()
        return self.generate(prompt_ids, k, settings, generator)

    def sample_groups(
        self, prompt_ids, k: int, settings: SamplingSettings, *, generator=None, on_part=None
    ) -> Rollout:
        ro = self.sample(prompt_ids, k, settings, generator=generator)
        if on_part is not None:
            on_part(range(len(prompt_ids)), ro)
        return ro

    def push_weights(self, model: torch.nn.Module) -> None:
        raise NotImplementedError

    def generate(self, prompt_ids, k: int, settings: SamplingSettings, generator) -> Rollout:
        raise NotImplementedError
