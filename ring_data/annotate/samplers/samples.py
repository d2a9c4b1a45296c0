"""``samples:FILE``: precomputed responses, JSONL of ``{"id", "responses": [..], "model"?}``, so difficulty
labels can be recomputed (new verifier, new buckets) without running a model again."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ring_data.errors import BadInputError
from ring_data.io import read_json_lines

from .base import Prompt, Sampler, SamplingSettings, register_sampler


@register_sampler("samples")
class SamplesFileSampler(Sampler):
    """Looks responses up by row id; the first ``n`` are used, an id with none gets ``[]``."""

    def __init__(
        self, path: str, settings: SamplingSettings | None = None, *, model_label: str | None = None
    ):
        self.path = Path(path)
        self.responses: dict[str, list[str]] = {}
        labels: set[str] = set()
        for lineno, obj in read_json_lines(self.path):
            if not isinstance(obj, dict) or obj.get("id") is None:
                raise BadInputError(self.path, "missing required field", line=lineno, field="id")
            responses = obj.get("responses")
            if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
                raise BadInputError(self.path, "must be a list of strings", line=lineno, field="responses")
            # the last line for an id wins: a resumed annotate run may have appended it again
            self.responses[str(obj["id"])] = responses
            if isinstance(obj.get("model"), str):
                labels.add(obj["model"])
        self.model = model_label or (labels.pop() if len(labels) == 1 else f"samples:{self.path.name}")

    def sample(self, prompts: Sequence[Prompt], n: int) -> list[list[str]]:
        return [self.responses.get(p.id, [])[:n] for p in prompts]
