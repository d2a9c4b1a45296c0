"""``samples:FILE``: precomputed responses, JSONL of ``{"id", "responses": [..], "model"?, "benchmark"?,
"lengths"?, "truncated"?}``, so difficulty labels (or eval figures) can be recomputed (new verifier, new
buckets) without running a model again. ``lengths`` and ``truncated``, lists as long as ``responses``
(what ``ring-train eval --save-samples`` writes), give each completion's tokens and truncation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ring_data.errors import BadInputError
from ring_data.io import read_json_lines

from .base import Completion, Prompt, Sampler, SamplingSettings, register_sampler


class _Line(NamedTuple):
    """One line's lists, kept as read (a Completion is built only for the responses asked for)."""

    responses: list[str]
    lengths: list[int | None] | None
    truncated: list[bool | None] | None

    def completions(self, n: int) -> list[Completion]:
        lengths = self.lengths or [None] * len(self.responses)
        truncated = self.truncated or [None] * len(self.responses)
        return [Completion(*c) for c in zip(self.responses[:n], lengths, truncated)]


@register_sampler("samples")
class SamplesFileSampler(Sampler):
    """Looks responses up by row id; the first ``n`` are used, an id with none gets ``[]``. The last line
    for an id wins (a resumed annotate run may have appended it again); :meth:`lookup` with a
    ``benchmark`` picks that benchmark's line when one file holds several (an eval's samples)."""

    def __init__(
        self, path: str, settings: SamplingSettings | None = None, *, model_label: str | None = None
    ):
        self.path = Path(path)
        self.by_id: dict[str, _Line] = {}
        self.by_benchmark: dict[tuple[str, str], _Line] = {}
        labels: set[str] = set()
        for lineno, obj in read_json_lines(self.path):
            line = self._parse(obj, lineno)
            self.by_id[str(obj["id"])] = line
            self.by_benchmark[(str(obj.get("benchmark") or ""), str(obj["id"]))] = line
            if isinstance(obj.get("model"), str):
                labels.add(obj["model"])
        self.model = model_label or (labels.pop() if len(labels) == 1 else f"samples:{self.path.name}")

    def _parse(self, obj: Any, lineno: int) -> _Line:
        if not isinstance(obj, dict) or obj.get("id") is None:
            raise BadInputError(self.path, "missing required field", line=lineno, field="id")
        responses = obj.get("responses")
        if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
            raise BadInputError(self.path, "must be a list of strings", line=lineno, field="responses")
        lists = {}
        for key, ok, what in (
            ("lengths", lambda v: type(v) is int and v >= 0, "token counts (int >= 0) or null"),
            ("truncated", lambda v: isinstance(v, bool), "true, false or null"),
        ):
            value = obj.get(key)
            if value is not None and (
                not isinstance(value, list)
                or len(value) != len(responses)
                or not all(v is None or ok(v) for v in value)
            ):
                raise BadInputError(
                    self.path, f"must be a list of {what} as long as 'responses'", line=lineno, field=key
                )
            lists[key] = value
        return _Line(responses, lists["lengths"], lists["truncated"])

    def lookup(self, prompt_id: str, n: int, benchmark: str | None = None) -> list[Completion]:
        """The first ``n`` completions of ``prompt_id``; with ``benchmark``, from that benchmark's line,
        else from a line without one."""
        if benchmark is None:
            line = self.by_id.get(prompt_id)
        else:
            line = self.by_benchmark.get((benchmark, prompt_id)) or self.by_benchmark.get(("", prompt_id))
        return line.completions(n) if line else []

    def sample_completions(self, prompts: Sequence[Prompt], n: int) -> list[list[Completion]]:
        return [self.lookup(p.id, n) for p in prompts]
