"""OpenRLHF reward function: ``--reward.remote_url $(python -m verifiers.adapters.openrlhf)``.

OpenRLHF (0.10+: ``openrlhf/utils/agent.py``, ``SingleTurnAgentExecutor``; before 0.10 the flag was
``--remote_rm_url``) loads a ``.py`` reward URL by path and calls ``reward_func(queries, prompts,
labels)`` from a thread, one sample at a time: ``queries`` are the decoded prompt + response (special
tokens kept), ``prompts`` the prompt text, ``labels`` the dataset column named by ``--data.label_key``.
It reads ``{"rewards", "scores", "extra_logs"}`` from the result; an exception only gets logged and
the sample has no reward, so this function never raises.

A label is either ``{"domain": ..., "reference": ...}`` as JSON (what ``ring-train rl --backend
openrlhf`` exports), a reference JSON object with the domain from ``RING_REWARD_DOMAIN``, or a bare
answer (``"72"``) for the domain in ``RING_REWARD_DOMAIN`` (default ``math``). Each check is bounded by
``RING_REWARD_TIMEOUT`` seconds (default 10). The same parsing serves the reward server's
``/get_reward`` endpoint. This file uses absolute imports only, because OpenRLHF loads it by path.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from verifiers.adapters.common import parse_reference

log = logging.getLogger("verifiers.adapters.openrlhf")

DEFAULT_TIMEOUT_S = 10.0
DOMAIN_ENV, TIMEOUT_ENV = "RING_REWARD_DOMAIN", "RING_REWARD_TIMEOUT"

# end-of-turn markers a decoded query may end with; verifiers see the response without them
TRAILING_SPECIALS = (
    "<|im_end|>",
    "<|endoftext|>",
    "</s>",
    "<|eot_id|>",
    "<eos>",
    "<|end|>",
    "<|end_of_text|>",
)


def response_text(query: str, prompt: str) -> str:
    """The model's response inside ``query`` (prompt stripped, trailing end-of-turn markers removed)."""
    query, prompt = str(query or ""), str(prompt or "")
    if prompt and query.startswith(prompt):
        text = query[len(prompt) :]
    else:
        at = query.rfind(prompt) if prompt else -1
        text = query[at + len(prompt) :] if at >= 0 else query
    text = text.rstrip()
    stripped = True
    while stripped:
        stripped = False
        for tok in TRAILING_SPECIALS:
            if text.endswith(tok):
                text, stripped = text[: -len(tok)].rstrip(), True
    return text


def default_domain() -> str:
    return os.environ.get(DOMAIN_ENV) or "math"


def parse_label(label: Any, domain: str | None = None) -> tuple[str, Any]:
    """``(domain, reference)`` from an OpenRLHF label (see the module docstring). Raises ``ValueError``
    for a label that cannot be a reference (empty, null)."""
    if isinstance(label, str):
        text = label.strip()
        if text.startswith("{"):
            try:
                label = json.loads(text)
            except ValueError:
                pass
    if isinstance(label, dict) and "reference" in label and isinstance(label.get("domain"), str):
        return label["domain"], label["reference"]
    if label is None or (isinstance(label, str) and not label.strip()):
        raise ValueError("empty label")
    domain = domain or default_domain()
    return domain, parse_reference(label, domain)


def timeout_s() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def score(
    queries: Sequence[str],
    prompts: Sequence[str],
    labels: Sequence[Any],
    *,
    domain: str | None = None,
    timeout: float | None = None,
    workers: int | None = None,
) -> tuple[list[float], list[str]]:
    """Rewards and statuses (``label_error`` for an unusable label or unknown domain); one
    ``verify_batch`` call for all items. Never raises on the inputs' content."""
    from verifiers import domains, verify_batch

    known = set(domains())
    items, where, statuses = [], [], ["label_error"] * len(queries)
    for i, (q, p, lab) in enumerate(zip(queries, prompts, labels)):
        try:
            dom, ref = parse_label(lab, domain)
        except ValueError as e:
            log.warning("reward: unusable label %r (%s); reward 0", str(lab)[:80], e)
            continue
        if dom not in known:
            log.warning("reward: unknown domain %r; reward 0", dom)
            continue
        items.append((response_text(q, p), ref, dom))
        where.append(i)
    rewards = [0.0] * len(queries)
    if items:
        results = verify_batch(items, workers=workers, timeout=timeout_s() if timeout is None else timeout)
        for i, res in zip(where, results):
            rewards[i], statuses[i] = float(res.score), res.status.value
    return rewards, statuses


def reward_func(queries, prompts, labels, **kwargs):
    """OpenRLHF's ``reward_func``: plain lists (OpenRLHF wraps each value in a tensor itself).
    ``extra_logs`` has the same keys for every sample: ``verifier_correct`` and ``verifier_timeout``."""
    try:
        rewards, statuses = score(list(queries), list(prompts), list(labels))
    except Exception as e:  # a bug here must not silently drop OpenRLHF's rewards: log it, reward 0
        log.warning("reward: %s: %s", type(e).__name__, e)
        rewards, statuses = [0.0] * len(queries), ["error"] * len(queries)
    return {
        "rewards": rewards,
        "scores": list(rewards),
        "extra_logs": {
            "verifier_correct": [1.0 if s == "correct" else 0.0 for s in statuses],
            "verifier_timeout": [1.0 if s == "timeout" else 0.0 for s in statuses],
        },
    }


def main() -> int:
    """``python -m verifiers.adapters.openrlhf``: print this file's path (for ``--reward.remote_url``)."""
    print(__file__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
