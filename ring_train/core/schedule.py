"""Two-stage (or n-stage) domain schedule and the resumable weighted prompt sampler.

A plan is a list of stages; each names its datasets with mixing weights and runs for ``steps`` optimizer
steps or ``epochs`` passes over its rows. Stage k+1 starts from stage k's final checkpoint, which is also
its reference model. Validation raises ``ValueError`` with the offending key; the config layer turns it
into a one-line user error naming the file.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stage:
    name: str
    datasets: dict[str, float]  # path -> mixing weight (normalised when sampling)
    steps: int | None = None
    epochs: float | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # rl.* settings for this stage only

    def num_steps(self, total_rows: int, prompts_per_step: int) -> int:
        if self.steps is not None:
            return self.steps
        return max(1, math.ceil(self.epochs * total_rows / prompts_per_step))


def parse_stages(raw: Any) -> list[Stage]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("stages: must be a non-empty list")
    stages, seen = [], set()
    for i, item in enumerate(raw):
        where = f"stages[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: must be a mapping")
        unknown = set(item) - {"name", "datasets", "steps", "epochs", "overrides"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.name: missing stage name")
        if name in seen:
            raise ValueError(f"{where}.name: duplicate stage {name!r}")
        seen.add(name)
        datasets = item.get("datasets")
        if isinstance(datasets, str):
            datasets = {datasets: 1.0}
        if not isinstance(datasets, dict) or not datasets:
            raise ValueError(f"{where}.datasets: must map dataset paths to weights")
        for path, w in datasets.items():
            if not isinstance(w, int | float) or w < 0:
                raise ValueError(f"{where}.datasets.{path}: weight must be a number >= 0, got {w!r}")
        if sum(datasets.values()) <= 0:
            raise ValueError(f"{where}.datasets: weights sum to 0")
        steps, epochs = item.get("steps"), item.get("epochs")
        if (steps is None) == (epochs is None):
            raise ValueError(f"{where}: give exactly one of steps or epochs")
        if steps is not None and (not isinstance(steps, int) or steps < 1):
            raise ValueError(f"{where}.steps: must be a positive integer, got {steps!r}")
        if epochs is not None and (not isinstance(epochs, int | float) or epochs <= 0):
            raise ValueError(f"{where}.epochs: must be a positive number, got {epochs!r}")
        overrides = item.get("overrides") or {}
        if not isinstance(overrides, dict):
            raise ValueError(f"{where}.overrides: must be a mapping")
        stages.append(
            Stage(name, {str(k): float(v) for k, v in datasets.items()}, steps, epochs, dict(overrides))
        )
    return stages


def select_stages(stages: list[Stage], which: str) -> list[Stage]:
    """``all`` -> the whole plan; a stage name -> that stage only."""
    if which == "all":
        return list(stages)
    for s in stages:
        if s.name == which:
            return [s]
    raise ValueError(f"stage {which!r} is not in the plan (stages: {', '.join(s.name for s in stages)})")


class MixtureSampler:
    """Draws (dataset, row) pairs: dataset by mixing weight, rows of each dataset in a fresh shuffle per
    epoch. All state is in :meth:`state_dict`, so a resumed run draws exactly the same prompts."""

    def __init__(self, sizes: list[int], weights: list[float], seed: int):
        if len(sizes) != len(weights) or not sizes:
            raise ValueError("sizes and weights must be non-empty and of equal length")
        if any(n <= 0 for n, w in zip(sizes, weights) if w > 0):
            raise ValueError("a dataset with a positive weight has no rows")
        self.sizes = list(sizes)
        total = float(sum(weights))
        self.weights = [w / total for w in weights]
        self.seed = seed
        self.rng = random.Random(seed)
        self.epoch = [0] * len(sizes)
        self.pos = [0] * len(sizes)
        self.draws = 0
        self._perms: dict[tuple[int, int], list[int]] = {}

    def _perm(self, d: int) -> list[int]:
        key = (d, self.epoch[d])
        if key not in self._perms:
            order = list(range(self.sizes[d]))
            random.Random(f"{self.seed}:{d}:{self.epoch[d]}").shuffle(order)
            self._perms = {k: v for k, v in self._perms.items() if k[0] != d}
            self._perms[key] = order
        return self._perms[key]

    def draw(self, n: int) -> list[tuple[int, int]]:
        out = []
        for _ in range(n):
            d = self.rng.choices(range(len(self.sizes)), weights=self.weights)[0]
            if self.pos[d] >= self.sizes[d]:
                self.epoch[d] += 1
                self.pos[d] = 0
            out.append((d, self._perm(d)[self.pos[d]]))
            self.pos[d] += 1
            self.draws += 1
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": self.rng.getstate(),
            "epoch": list(self.epoch),
            "pos": list(self.pos),
            "draws": self.draws,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.setstate(state["rng"])
        self.epoch, self.pos, self.draws = list(state["epoch"]), list(state["pos"]), state["draws"]
