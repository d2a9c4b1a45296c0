"""OpenRLHF reward entry point: ``--reward.remote_url <this file>``.

OpenRLHF loads this file by path inside its vLLM actors and calls ``reward_func`` per sample from a
thread, with ``queries`` = decoded prompt + response (special tokens kept) and ``labels`` = the row's
label column, which ``data.export_prompts`` fills with ``{"domain", "reference"}`` as JSON; each check is
bounded by ``reward.timeout`` (``RING_REWARD_TIMEOUT``). It must never
raise (OpenRLHF swallows the exception and the step then fails on a missing reward), so every
problem becomes a reward of 0 with the reason logged.

Standalone (any OpenRLHF run, without ``ring-train``): ``--reward.remote_url <this file>`` with labels
that are ``{"domain", "reference"}`` JSON; with ``RING_REWARD_DOMAIN`` set (e.g. ``math``), also a
reference JSON object or a bare answer (``"72"``) for that domain (read by
``verifiers.adapters.openrlhf.parse_label``). Without it, any other label is an error (reward 0). ``verifiers/adapters/openrlhf.py`` is the same reward
without torch (plain lists, fixed ``extra_logs`` keys); docs/integrations.md shows both.
"""

from __future__ import annotations

import json
import logging
import os

log = logging.getLogger("ring_train.openrlhf.reward")

DEFAULT_TIMEOUT_S = 10.0  # reward.timeout's default


def response_text(query: str, prompt: str) -> str:
    """The model's response inside ``query`` (one implementation, shared with the standalone adapter)."""
    from verifiers.adapters.openrlhf import response_text as text_of

    return text_of(query, prompt)


def _timeout() -> float:
    """``reward.timeout`` of the run (set by the backend in every Ray worker's environment)."""
    try:
        return float(os.environ.get("RING_REWARD_TIMEOUT", DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def score_one(query: str, prompt: str, label: str) -> tuple[float, dict[str, float]]:
    from verifiers import verify
    from verifiers.adapters.openrlhf import parse_label

    try:
        if os.environ.get("RING_REWARD_DOMAIN"):
            domain, reference = parse_label(label)
        else:  # the backend's own labels: {"domain", "reference"} JSON only
            spec = json.loads(label)
            domain, reference = spec["domain"], spec["reference"]
    except (TypeError, ValueError, KeyError) as e:
        log.warning("reward: unusable label %r (%s); reward 0", str(label)[:80], e)
        return 0.0, {"reward_label_error": 1.0}
    try:
        result = verify(response_text(query, prompt), reference, domain, timeout=_timeout())
    except Exception as e:  # an unknown domain is a data error here: never let it reach OpenRLHF
        log.warning("reward: %s", e)
        return 0.0, {"reward_label_error": 1.0}
    return float(result.score), {f"correct/{domain}": float(result.correct)}


def reward_func(queries, prompts, labels, **kwargs):
    import torch

    scores, logs = [], {}
    for query, prompt, label in zip(queries, prompts, labels):
        score, extra = score_one(query, prompt, label)
        scores.append(score)
        for k, v in extra.items():
            logs.setdefault(k, []).append(v)
    rewards = torch.tensor(scores, dtype=torch.float)
    return {
        "rewards": rewards,
        "scores": rewards.clone(),
        "extra_logs": {k: torch.tensor(v, dtype=torch.float) for k, v in logs.items()},
    }
