"""Connecting to Ray, and what every task of the engine shares: results fetched with a task's own
exception (a bad row's one-line error, not Ray's traceback wrapper) and the number of partitions."""

from __future__ import annotations

from typing import Any

import ray

from ... import raycluster

# A task whose worker process dies (killed, out of memory, its node lost) is run again this many
# times; every task here is a pure function of its inputs, so a rerun gives the same result.
TASK_RETRIES = 4


def connect() -> None:
    """Join (or start) the run's cluster (:mod:`ring_data.raycluster`)."""
    raycluster.connect()


def partitions() -> int:
    """Shuffle partitions: one per CPU of the cluster (at least 2, so a group is never trivially local)."""
    return max(2, int(ray.cluster_resources().get("CPU", 2)))


def get(refs: Any) -> Any:
    """``ray.get`` that raises the task's own exception, so bad input still ends in one clear line."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise


def remote(num_returns: int = 1):
    """Decorator for the engine's tasks: retried on worker death, never on an exception they raise."""

    def wrap(fn):
        return ray.remote(num_returns=num_returns, max_retries=TASK_RETRIES, retry_exceptions=False)(fn)

    return wrap
