"""The ``hf`` rollout engine: the policy samples its own rollouts (``rollout.engine: hf``, CPU or GPU).

Training rollouts are split over the trainer's lanes (each lane samples an even share of the prompts
with its own generator, seeded from the caller's); evaluation samples with the primary model alone, so
its draws do not depend on the lane count. The engine is the policy, so there are no weights to push
and nothing to free while the policy trains.
"""

from __future__ import annotations

import torch

from .engine import OnPart, SamplingSettings
from .lanes import Lanes, sample_in_lanes
from .rollout import Rollout, sample


class HFRollouts:
    def __init__(self, policy: Lanes | None = None):
        self.policy = policy

    @classmethod
    def of_model(cls, model: torch.nn.Module) -> HFRollouts:
        """An engine sampling with ``model`` alone (checkpoint selection, benchmarks)."""
        return cls(Lanes(model, 1))

    def _lanes(self) -> Lanes:
        if self.policy is None:
            raise RuntimeError("sync_weights() must give the hf engine the policy before it samples")
        return self.policy

    def sample_groups(
        self,
        prompt_ids: list[list[int]],
        k: int,
        settings: SamplingSettings,
        *,
        generator: torch.Generator,
        on_part: OnPart | None = None,
    ) -> Rollout:
        lanes = self._lanes()
        was_training = lanes.primary.training
        lanes.train(False)
        try:
            return sample_in_lanes(
                lanes, prompt_ids, k, generator=generator, on_part=on_part, **settings.as_kwargs()
            )
        finally:
            lanes.train(was_training)

    def sample(
        self, prompt_ids: list[list[int]], k: int, settings: SamplingSettings, *, generator: torch.Generator
    ) -> Rollout:
        return sample(self._lanes().primary, prompt_ids, k, generator=generator, **settings.as_kwargs())

    def sync_weights(self, policy: Lanes) -> None:
        self.policy = policy  # the same modules the optimizer steps: always current

    def sleep(self) -> None:
        pass

    def close(self) -> None:
        self.policy = None  # the lanes belong to the trainer, which closes them
