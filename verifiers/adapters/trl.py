"""TRL reward functions: ``GRPOTrainer(reward_funcs=[ring_reward])``.

TRL (``trl/trainer/grpo_trainer.py``, ``_calculate_rewards``) calls each reward function as
``f(prompts=..., completions=..., completion_ids=..., **columns)`` where every dataset column other
than ``prompt`` comes as a keyword argument holding one value per completion (already repeated
``num_generations`` times), plus ``trainer_state``, ``log_extra`` and ``log_metric``. Completions are
strings for a plain-text dataset and lists of ``{"role", "content"}`` messages for a conversational
one. The function returns one float per completion (``None`` = not applicable).

:class:`RingReward` reads the domain and the reference from columns you name (defaults ``domain`` and
``reference``; the reference may be a dict, the project's reference JSON as a string, or a bare answer
such as ``"72"``), scores every completion of the step in one :func:`verifiers.verify_batch` call on
the persistent worker pool, and returns ``score * domain_weight + format_weight * format_score``.
It logs per-domain accuracy and timeouts through TRL's ``log_metric`` (``ring/<domain>/correct``).

    from verifiers.adapters.trl import RingReward, format_reward, ring_reward
    trainer = GRPOTrainer(model=..., reward_funcs=[ring_reward], train_dataset=ds)          # defaults
    reward = RingReward(domain_column="task", reference_column="answer", domain_weights={"code": 2.0})
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from ..api import DEFAULT_TIMEOUT_S, verify_batch
from ..extract import extract_answer
from .common import completion_text, parse_reference

FORMAT_MAX_CHARS = 200_000  # the format check runs in the trainer's process: longer text is no format


def format_score(text: str) -> float:
    """1.0 when the response states its answer where the verifiers look first: any ``<think>`` block
    is closed and a ``\\boxed{}`` or ``<answer>`` tag follows it; else 0.0."""
    if not isinstance(text, str) or len(text) > FORMAT_MAX_CHARS:
        return 0.0
    return 1.0 if extract_answer(text).source in ("boxed", "answer_tag") else 0.0


def format_reward(completions: Sequence[Any], **_: Any) -> list[float]:
    """A TRL reward function on its own: :func:`format_score` of each completion."""
    return [format_score(completion_text(c)) for c in completions]


def _options(value: Any) -> dict:
    """Verifier options from a cell: a dict, or a JSON object as a string; anything else is none."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


class RingReward:
    """A TRL reward function backed by ``verify_batch``. Options:

    - ``domain_column`` / ``reference_column`` / ``options_column``: the dataset columns to read;
      ``default_domain`` is used when the dataset has no domain column (e.g. a math-only set);
    - ``domain_weights``: multiplies each domain's score (default 1.0);
    - ``format_weight``: adds ``format_weight * format_score`` (0 = off);
    - ``workers`` / ``timeout``: passed to ``verify_batch`` (per-item timeout, seconds);
    - ``name``: the name TRL logs the reward under (``rewards/<name>/mean``).
    """

    def __init__(
        self,
        *,
        domain_column: str = "domain",
        reference_column: str = "reference",
        options_column: str | None = None,
        default_domain: str | None = None,
        domain_weights: Mapping[str, float] | None = None,
        format_weight: float = 0.0,
        workers: int | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        name: str = "ring_reward",
    ):
        self.domain_column = domain_column
        self.reference_column = reference_column
        self.options_column = options_column
        self.default_domain = default_domain
        self.domain_weights = dict(domain_weights or {})
        self.format_weight = float(format_weight)
        self.workers = workers
        self.timeout = timeout
        self.__name__ = name  # TRL names a reward function by __name__

    def _column(self, kwargs: Mapping[str, Any], name: str | None, n: int, default: Any = None) -> list:
        if name is None or name not in kwargs:
            return [default] * n
        values = list(kwargs[name])
        if len(values) != n:
            raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
        return values

    def items(self, completions: Sequence[Any], **kwargs: Any) -> list[tuple[str, Any, str, dict]]:
        """The ``verify_batch`` items for these completions (what :meth:`__call__` scores)."""
        n = len(completions)
        if self.reference_column not in kwargs:
            raise ValueError(
                f"RingReward: the dataset has no {self.reference_column!r} column "
                f"(columns: {', '.join(sorted(k for k in kwargs if not k.startswith(('trainer_', 'log_'))))})"
            )
        if self.domain_column not in kwargs and self.default_domain is None:
            raise ValueError(
                f"RingReward: the dataset has no {self.domain_column!r} column; name it with "
                "domain_column=... or give default_domain=..."
            )
        domains = [
            d if d is not None else self.default_domain
            for d in self._column(kwargs, self.domain_column, n, self.default_domain)
        ]
        refs = self._column(kwargs, self.reference_column, n)
        opts = self._column(kwargs, self.options_column, n, {})
        return [
            (completion_text(c), parse_reference(r, d), str(d), _options(o))
            for c, r, d, o in zip(completions, refs, domains, opts)
        ]

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float]:
        completions = list(completions or [])
        if not completions:
            return []
        items = self.items(completions, **kwargs)
        results = verify_batch(items, workers=self.workers, timeout=self.timeout)
        rewards = []
        for (text, _, domain, _), res in zip(items, results):
            r = res.score * float(self.domain_weights.get(domain, 1.0))
            if self.format_weight:
                r += self.format_weight * format_score(text)
            rewards.append(float(r))
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            correct: dict[str, list[float]] = defaultdict(list)
            for (_, _, domain, _), res in zip(items, results):
                correct[domain].append(1.0 if res.correct else 0.0)
            for domain, values in sorted(correct.items()):
                log_metric(f"ring/{domain}/correct", sum(values) / len(values))
            log_metric("ring/timeout_frac", sum(r.status == "timeout" for r in results) / len(results))
        return rewards


ring_reward = RingReward()
"""The default: columns ``domain`` and ``reference``, score only."""

__all__ = ["RingReward", "format_reward", "format_score", "ring_reward"]
