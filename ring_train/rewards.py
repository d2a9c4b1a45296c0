"""Rewards for a rollout: ``verifiers.verify_batch`` (process pool, per-item timeout, order kept) plus an
optional local reward model (HF sequence classification) for the general stage.

``submit`` verifies in a background thread and returns a future, so a caller can overlap verification
with other work: the embedded RL loop submits each lane's responses as soon as that lane has sampled
them, while the other lanes still generate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ring_data.errors import UserError


@dataclass
class Scored:
    scores: list[float]
    statuses: list[str]


def _verify_batch():
    try:
        from verifiers import verify_batch
    except ImportError as e:
        raise UserError(f"rewards need verifiers.verify_batch, which is not importable here ({e})") from None
    return verify_batch


class RewardModel:
    """A local HF sequence-classification model; score = sigmoid(logit of the last label)."""

    def __init__(self, path: str):
        from pathlib import Path

        from transformers import AutoModelForSequenceClassification

        from .models.load import load_tokenizer, quiet_weight_io

        if not (Path(path) / "config.json").exists():
            raise UserError(f"{path}: reward model is not a model directory (no config.json)")
        self.tokenizer = load_tokenizer(path)
        with quiet_weight_io(path):
            self.model = AutoModelForSequenceClassification.from_pretrained(path, dtype="float32").eval()

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        import torch

        with torch.no_grad():
            enc = self.tokenizer(
                [p + r for p, r in zip(prompts, responses)],
                return_tensors="pt",
                padding=True,
                truncation=True,
            )
            logits = self.model(**enc).logits[:, -1]
        return [1.0 / (1.0 + math.exp(-float(x))) for x in logits]


class Rewarder:
    def __init__(
        self,
        *,
        workers: int | None = None,
        timeout: float = 10.0,
        reward_model: str | None = None,
        model_weight: float = 0.5,
    ):
        self.verify_batch = _verify_batch()
        self.workers, self.timeout = workers, timeout
        self.rm = RewardModel(reward_model) if reward_model else None
        self.model_weight = model_weight
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ring-verify")

    def submit(self, items: list[tuple[str, Any, str]]) -> Future:
        """Start verifying ``(response, reference, domain)`` items; ``.result()`` gives a :class:`Scored`."""
        return self._pool.submit(self._verify, items)

    def _verify(self, items):
        results = self.verify_batch(items, workers=self.workers, timeout=self.timeout)
        return Scored(
            [float(r.score) for r in results], [str(getattr(r.status, "value", r.status)) for r in results]
        )

    def blend(self, prompts: list[str], responses: list[str], scores: list[float]) -> list[float]:
        """Verifier scores blended with the reward model's (unchanged when there is none)."""
        if self.rm is None:
            return list(scores)
        w = self.model_weight
        return [(1 - w) * s + w * m for s, m in zip(scores, self.rm.score(prompts, responses))]

    def close(self) -> None:
        self._pool.shutdown(wait=False)
