"""What ``ring_data.clean.pipeline.clean`` runs on Ray instead of in this process: ingest, saving and
loading its result in the work directory, and the stages after it."""

from __future__ import annotations

from pathlib import Path

from ..config import CleanConfig, DomainRules
from ..stages.base import Stage
from . import cluster
from .exact import RayExactStage
from .near import RayNearStage
from .shards import ShardedIngested, ingest_on_ray, load_shards, save_shards

# the distributed version of each stage; decontamination's lookups already ran in the ingest tasks,
# so the local stage (which only reads the hits, and runs the optional semantic pass here) is kept
_ON_RAY: dict[str, Stage | None] = {"decontam": None, "exact": RayExactStage(), "near": RayNearStage()}


class RaySteps:
    def __init__(self, config: CleanConfig, rules: DomainRules):
        self.config, self.rules = config, rules
        cluster.connect()

    def fingerprint(self, lexical_key: str | None) -> list:
        """Added to the ingest fingerprint: a Ray ingest is saved in its own layout (one folder per
        input range) and always carries the benchmark hits of the run's decontamination settings."""
        return ["ray", lexical_key]

    def ingest(self, files: list[Path], work: Path, *, lexical_key: str | None) -> ShardedIngested:
        return ingest_on_ray(files, work, self.config, self.rules, lexical_key)

    def save(self, ing: ShardedIngested, work: Path) -> None:
        save_shards(ing, work)

    def load(self, work: Path) -> ShardedIngested:
        return load_shards(work)

    def stages(self, local: tuple[Stage, ...]) -> tuple[Stage, ...]:
        """The run's stages, in the pipeline's order, each replaced by its Ray version."""
        out = []
        for step in local:
            if step.name not in _ON_RAY:
                raise NotImplementedError(f"clean stage {step.name!r} has no Ray version (--engine ray)")
            out.append(_ON_RAY[step.name] or step)
        return tuple(out)
