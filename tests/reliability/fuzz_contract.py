"""The verifier contract the fuzz tests check on every generated case, and what they measure.

A call must return a :class:`VerifyResult` (never raise), with a status of the contract that is not
``error`` (an ``error`` is a verifier bug caught by the pool), a score in [0, 1] that agrees with the
status, a result that survives the worker pipe (pickle) and the score file (JSON), in bounded time.
:class:`Stats` keeps the counts, the status histogram and the slowest cases for ``soak.record``.
"""

from __future__ import annotations

import json
import math
import pickle
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import soak
from hypothesis import HealthCheck, settings

from verifiers.result import Status, VerifyResult

# a direct call on an input of bounded size (the strategies stay under ~60 kB) must finish within
# this on a loaded 2-core machine; the slowest seen is reported, and is far below it
DIRECT_LIMIT_S = 5.0
VERIFY_TIMEOUT_S = 10.0  # verify()'s default deadline
VERIFY_SLACK_S = 3.0  # a killed worker is replaced and the caller returns within this of the deadline


def fuzz_settings(short: int, **overrides: Any) -> settings:
    """``short`` examples in the normal suite, 10x under ``RING_SOAK=1``; derandomized so a failure
    reproduces on the next run; hypothesis's own deadline off (we time each call ourselves)."""
    return settings(
        max_examples=soak.scale(short, 10 * short),
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
        **overrides,
    )


def describe(value: Any, n: int = 160) -> str:
    """A short printable description of a generated input (for the slowest-case report)."""
    try:
        text = repr(value)
    except RecursionError:
        return "<nested too deep to print>"
    return text if len(text) <= n else f"{text[:n]}... ({len(text)} chars)"


@dataclass
class Stats:
    """What one domain's fuzz run saw."""

    domain: str
    examples: int = 0
    failures: int = 0
    statuses: Counter = field(default_factory=Counter)
    max_seconds: float = 0.0
    slowest: list[tuple[float, str, str]] = field(default_factory=list)  # (seconds, how, input)
    verify_calls: int = 0
    verify_max_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def timed(self, how: str, fn, *args: Any, **kwargs: Any) -> tuple[Any, float]:
        """Call ``fn``; a raised exception is a contract failure (counted, then re-raised)."""
        t0 = time.perf_counter()
        try:
            out = fn(*args, **kwargs)
        except BaseException:
            self.failures += 1
            raise
        return out, time.perf_counter() - t0

    def note(self, how: str, seconds: float, inputs: Any, *, via_verify: bool = False) -> None:
        self.examples += 1
        if via_verify:
            self.verify_calls += 1
            self.verify_max_seconds = max(self.verify_max_seconds, seconds)
        else:
            self.max_seconds = max(self.max_seconds, seconds)
        if len(self.slowest) < 3 or seconds > self.slowest[-1][0]:
            self.slowest.append((seconds, how, describe(inputs)))
            self.slowest.sort(key=lambda s: -s[0])
            del self.slowest[3:]

    def fail(self, message: str) -> None:
        self.failures += 1
        raise AssertionError(message)

    def check(
        self, res: Any, seconds: float, *, how: str, inputs: Any, limit: float, timeout_ok: bool = False
    ) -> None:
        """The contract, on one result that took ``seconds``."""
        self.note(how, seconds, inputs, via_verify=timeout_ok)
        if not isinstance(res, VerifyResult):
            self.fail(f"{how}: returned {type(res).__name__}, not a VerifyResult")
        self.statuses[res.status.value] += 1
        allowed = set(Status) - {Status.ERROR} - (set() if timeout_ok else {Status.TIMEOUT})
        if res.status not in allowed:
            self.fail(f"{how}: status {res.status.value!r} ({res.reason})")
        if not (math.isfinite(res.score) and 0.0 <= res.score <= 1.0):
            self.fail(f"{how}: score {res.score!r} out of [0, 1]")
        if res.correct != (res.status is Status.CORRECT):
            self.fail(f"{how}: correct={res.correct} with status {res.status.value}")
        if res.status is Status.CORRECT and res.score != 1.0:
            self.fail(f"{how}: correct with score {res.score}")
        if res.status in (Status.NO_ANSWER, Status.INVALID_REFERENCE, Status.TIMEOUT) and res.score != 0.0:
            self.fail(f"{how}: {res.status.value} with score {res.score}")
        if not isinstance(res.reason, str) or not (res.extracted is None or isinstance(res.extracted, str)):
            self.fail(f"{how}: reason/extracted of the wrong type")
        try:
            pickle.loads(pickle.dumps(res))
            json.dumps(res.to_dict())
        except Exception as e:
            self.fail(f"{how}: result does not survive pickle/JSON: {type(e).__name__}: {e}")
        if seconds > limit:
            self.fail(f"{how}: took {seconds:.2f} s (limit {limit:g} s)")

    def figures(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "failures": self.failures,
            "max_seconds": round(self.max_seconds, 4),
            "statuses": dict(sorted(self.statuses.items())),
            "verify_calls": self.verify_calls,
            "verify_max_seconds": round(self.verify_max_seconds, 4),
            "slowest": [{"seconds": round(s, 4), "how": h, "input": i} for s, h, i in self.slowest],
            "wall_seconds": round(time.perf_counter() - self.started, 1),
        }
