"""The public entry points: ``verify``, ``verify_batch`` and ``check_reference`` (docs/architecture.md §3)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

from . import registry
from .pool import Task, get_pool
from .registry import ReferenceCheck
from .result import VerifyResult

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0


def _deadline(fn: Any, reference: Any, timeout: float) -> float:
    """``max(timeout, fn.time_budget(reference))``: a verifier that runs many tests asks for more time."""
    budget = getattr(fn, "time_budget", None)
    if budget is None:
        return timeout
    try:
        return max(timeout, float(budget(reference)))
    except Exception:  # a malformed reference: the verifier itself reports it
        return timeout


def _task(item: Sequence[Any], timeout: float) -> tuple[Task, float]:
    if not isinstance(item, (tuple, list)) or len(item) not in (3, 4):
        raise ValueError("verify_batch items are (response, reference, domain[, options]) tuples")
    response, reference, domain = item[0], item[1], item[2]
    options = dict(item[3]) if len(item) == 4 and item[3] else {}
    fn = registry.get_verifier(domain)  # unknown domain: ValueError; also warms the module before forking
    return (response, reference, domain, options), _deadline(fn, reference, timeout)


def verify(
    response: str, reference: Any, domain: str, *, timeout: float = DEFAULT_TIMEOUT_S, **options: Any
) -> VerifyResult:
    """Check one response against its reference. Never raises on model output; bounded by ``timeout``
    seconds of wall clock from any thread (the check runs in a warm worker process that is killed and
    replaced if it overruns; a worker that dies is replaced and the check retried once, so at most twice
    ``timeout`` in all). ``options`` go to the domain's verifier (e.g. ``box="first"`` for math)."""
    task, deadline = _task((response, reference, domain, options), timeout)
    return get_pool().run([task], [deadline], workers=1)[0]


def verify_batch(
    items: Iterable[Sequence[Any]],
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[VerifyResult]:
    """Check many ``(response, reference, domain[, options])`` items on ``workers`` warm processes
    (default: all cores). Results keep input order; ``timeout`` is per item; a worker that hangs is
    replaced and only its item is affected (``timeout``); an item whose worker dies is checked once more
    on a fresh worker, and is ``error`` only if that one dies too (``verifiers/pool.py``)."""
    tasks: list[Task] = []
    deadlines: list[float] = []
    for item in items:
        t, d = _task(item, timeout)
        tasks.append(t)
        deadlines.append(d)
    n = workers if workers and workers > 0 else (os.cpu_count() or 1)
    return get_pool().run(tasks, deadlines, workers=n)


def check_reference(reference: Any, domain: str, **options: Any) -> ReferenceCheck:
    """Is ``reference`` usable by ``domain``'s verifier? A domain without a checker is ok; a checker
    that raises is reported as ``invalid_reference`` with the error as evidence."""
    checker = registry.get_reference_check(domain)
    if checker is None:
        return ReferenceCheck(True)
    try:
        res = checker(reference, **options)
    except Exception as e:
        return ReferenceCheck(False, "invalid_reference", {"error": f"{type(e).__name__}: {e}"[:500]})
    if not isinstance(res, ReferenceCheck):
        return ReferenceCheck(False, "invalid_reference", {"error": f"checker returned {type(res).__name__}"})
    return res
