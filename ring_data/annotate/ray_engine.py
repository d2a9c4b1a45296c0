"""``ring-data annotate --engine ray``: generation on a pool of Ray actors, each holding one sampler
(one vLLM engine per GPU, or ``tensor_parallel_size`` GPUs, on a GPU cluster; one ``hf:`` model per
CPU without GPUs), behind the one :class:`~.samplers.base.Sampler` interface.

The annotate pipeline runs unchanged on the driver with the pool as its sampler: it reads the rows,
skips those the journal already holds (resume), scores the responses with ``verifiers.verify_batch``
on the driver's cores, and writes every row's outcome in input order. Each pipeline batch holds
``2 x actors`` sampler batches, cut in order into batches of ``batch_size`` problems (those the local
engine would make) and spread over the actors. A seeded sampler draws each problem's samples from the
problem's own seed (:mod:`.seeding`), so the output is the local engine's whatever actor draws them.

An actor whose process dies is restarted (its model loaded again) and its batch run again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ring_data import raycluster
from ring_data.errors import UserError

from .samplers.base import Prompt, Sampler, SamplingSettings, sampler_class

ACTOR_RESTARTS = 3  # a dead actor is started again this many times, and its batch rerun


class _SamplerActor:
    """One sampler in its own Ray worker process (built there: a model never travels)."""

    def __init__(self, cls: type[Sampler], target: str, settings: SamplingSettings, options: dict):
        self.sampler = cls(target, settings, **options)

    def describe(self) -> tuple[str, bool]:
        return self.sampler.model, self.sampler.cpu_bound

    def sample(self, prompts: Sequence[Prompt], n: int) -> tuple[list[list[str]], dict[str, str]]:
        out = self.sampler.sample(prompts, n)
        failures = {p.id: why for p in prompts if (why := self.sampler.failure(p.id))}
        return out, failures

    def close(self) -> None:
        self.sampler.close()


def actor_resources(
    spec: str, options: Mapping[str, Any], cluster: Mapping[str, float]
) -> tuple[float, float]:
    """(GPUs, CPUs) per actor: vLLM takes ``tensor_parallel_size`` GPUs, ``hf:`` one GPU when the cluster
    has any; a sampler that calls a server or reads a file needs one CPU."""
    kind = spec.partition(":")[0]
    if kind == "vllm":
        return float(options.get("tensor_parallel_size") or 1), 1.0
    if kind == "hf" and cluster.get("GPU", 0) >= 1 and options.get("device") != "cpu":
        return 1.0, 1.0
    return 0.0, 1.0


class ActorPoolSampler(Sampler):
    """``actors`` Ray actors each running the sampler named by ``spec``; :meth:`sample` cuts the
    prompts in order into batches of ``batch_size`` and runs them on the actors at once."""

    def __init__(
        self,
        spec: str,
        settings: SamplingSettings | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        batch_size: int = 16,
        actors: int = 0,
    ):
        ray = raycluster.connect()
        from ray.util import ActorPool

        options = dict(options or {})
        cls = sampler_class(spec)  # resolved here: a sampler registered by user code travels with it
        gpus, cpus = actor_resources(spec, options, ray.cluster_resources())
        if actors <= 0:  # one per GPU (or per tensor-parallel group), else one per CPU
            have = ray.cluster_resources()
            actors = int(have.get("GPU", 0) // gpus) if gpus else int(have.get("CPU", 1) // cpus)
        if actors < 1:
            raise UserError(
                f"--engine ray: the cluster has no room for one {spec} actor ({gpus:g} GPUs each)"
            )
        remote = ray.remote(num_gpus=gpus, num_cpus=cpus, max_restarts=ACTOR_RESTARTS, max_task_retries=-1)(
            _SamplerActor
        )
        target = spec.partition(":")[2]
        self._actors = [
            remote.remote(cls, target, settings or SamplingSettings(), options) for _ in range(actors)
        ]
        self._pool = ActorPool(self._actors)
        self._ray = ray
        self.batch_size = max(1, batch_size)
        try:
            self.model, self.cpu_bound = ray.get(self._actors[0].describe.remote())
        except ray.exceptions.RayActorError as e:  # the sampler raised while starting in its actor
            self.close()
            raise UserError(_last_error_line(getattr(e, "error_msg", str(e)), spec)) from None
        self._failures: dict[str, str] = {}

    @property
    def batch_rows(self) -> int:
        """Problems per pipeline batch that keep every actor busy (two sampler batches each)."""
        return self.batch_size * 2 * len(self._actors)

    def sample(self, prompts: Sequence[Prompt], n: int) -> list[list[str]]:
        chunks = [list(prompts[i : i + self.batch_size]) for i in range(0, len(prompts), self.batch_size)]
        out: list[list[str]] = []
        for responses, failures in self._pool.map(lambda actor, chunk: actor.sample.remote(chunk, n), chunks):
            out += responses
            self._failures.update(failures)
        return out

    def failure(self, prompt_id: str) -> str | None:
        return self._failures.pop(prompt_id, None)

    def close(self) -> None:
        for actor in self._actors:
            try:
                self._ray.get(actor.close.remote())
            except self._ray.exceptions.RayError:  # a dead actor has nothing to release
                pass
            self._ray.kill(actor)
        self._actors = []


def _last_error_line(message: str, spec: str) -> str:
    """The one line that says why a sampler could not start in its actor (a UserError's own text)."""
    lines = [line.strip() for line in message.splitlines() if "Error: " in line]
    last = lines[-1] if lines else message.strip().splitlines()[-1]
    kind, _, text = last.partition(": ")
    if kind.endswith(("UserError", "BadInputError")):
        return text
    return f"--engine ray: the {spec} sampler could not start in its Ray actor: {last}"
