"""Code rewards (domain ``code``): 1 only when the extracted program passes every test.

Tests come in three kinds (docs/architecture.md §4): stdin/stdout, function calls (``fn_name``, Python)
and assert-style ``test_code`` (Python). All tests of one response run in one sandbox entry; by
default the run stops at the first failure (the reward is all-or-nothing), ``run_all=True`` runs
every test so ``details["fraction"]`` is exact. Options: ``run_all``, ``partial`` (score = fraction
passed), ``float_tol``, ``time_limit``, ``memory_limit_mb``, ``backend`` ("local" | "e2b").
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import sandbox

from .code_compare import compare_output, values_equal
from .code_program import (
    CodeReference,
    assert_driver,
    call_driver,
    extract_program,
    marker_value,
    parse_reference,
)
from .extract import split_reasoning
from .registry import ReferenceCheck, register, register_reference_check
from .result import VerifyResult

COMPILE_BUDGET_S = 30.0
MARGIN_S = 10.0


@dataclass
class TestOutcome:
    tests: list[dict[str, Any]] = field(default_factory=list)  # one entry per check, in order
    isolation: str = ""
    compile: dict[str, Any] | None = None
    sandbox_error: str = ""

    @property
    def passed(self) -> int:
        return sum(t["status"] == "passed" for t in self.tests)

    @property
    def all_passed(self) -> bool:
        return bool(self.tests) and self.passed == len(self.tests) and not self.sandbox_error

    def failures(self, limit: int = 5) -> list[dict[str, Any]]:
        bad = [t for t in self.tests if t["status"] not in ("passed", "not_run")]
        return bad[:limit]


def _entry(i: int, status: str, run: sandbox.RunResult | None = None, why: str = "") -> dict[str, Any]:
    e: dict[str, Any] = {"test": i, "status": status}
    if run is not None:
        e.update(wall_s=run.wall_s, memory_mb=run.memory_mb)
        if status != "passed":
            e["why"] = why or run.reason
            if run.stderr and status != "wrong_answer":
                e["stderr"] = run.stderr[-500:]
    elif why:
        e["why"] = why
    return e


def run_tests(
    program: str, ref: CodeReference, *, stop_early: bool = True, backend: str = "local"
) -> TestOutcome:
    """Run ``program`` against every test of ``ref`` in the sandbox; never raises for the program."""
    out = TestOutcome()
    limits = {"time_limit": ref.time_limit, "memory_limit_mb": ref.memory_limit_mb, "backend": backend}
    marker = "@@ring-" + secrets.token_hex(16) + "@@"
    judged: dict[int, tuple[str, str]] = {}

    def judge(i: int, run: sandbox.RunResult) -> bool:
        if not run.ok:
            judged[i] = (run.status.value, run.reason)
        elif ref.fn_name:
            value = marker_value(run.stdout, marker)
            if value is None:
                judged[i] = ("wrong_answer", "the function returned no result (exited early?)")
            else:
                try:
                    got = json.loads(value)
                except ValueError:
                    got = value
                ok = values_equal(got, ref.tests[i]["output"], ref.float_tol)
                judged[i] = ("passed", "") if ok else ("wrong_answer", f"returned {value[:80]}")
        else:
            ok, why = compare_output(run.stdout, ref.tests[i]["output"], ref.float_tol)
            judged[i] = ("passed", "") if ok else ("wrong_answer", why)
        return judged[i][0] == "passed" or not stop_early

    if ref.tests:
        if ref.fn_name:
            code = call_driver(program, ref.fn_name)
            inputs = [marker + "\n" + t["input"] for t in ref.tests]
        else:
            code, inputs = program, [t["input"] for t in ref.tests]
        res = sandbox.run_code(code, ref.language, inputs=inputs, on_case=judge, **limits)
        out.isolation = res.isolation
        if res.status is sandbox.RunStatus.COMPILE_ERROR:
            out.compile = {"status": "compile_error", "stderr": res.stderr[-2000:]}
        elif "compile" in res.extra:
            c = res.extra["compile"]
            out.compile = {
                "status": c["status"],
                "wall_s": c["wall_s"],
                "cached": bool(c["extra"].get("cached")),
            }
        if res.status is sandbox.RunStatus.SANDBOX_ERROR:
            out.sandbox_error = res.reason
        for i in range(len(ref.tests)):
            case = res.cases[i] if res.cases and i < len(res.cases) else None
            if case is None:
                status = "compile_error" if res.status is sandbox.RunStatus.COMPILE_ERROR else "not_run"
                out.tests.append(_entry(i, status, why=res.reason if status == "compile_error" else ""))
            else:
                status, why = judged[i]
                out.tests.append(_entry(i, status, case, why))
        if stop_early and not out.all_passed:
            if ref.test_code:
                out.tests.append(_entry(len(ref.tests), "not_run"))
            return out
    if ref.test_code:
        res = sandbox.run_code(assert_driver(program, ref.test_code), "python", marker + "\n", **limits)
        out.isolation = res.isolation
        if res.status is sandbox.RunStatus.SANDBOX_ERROR:
            out.sandbox_error = res.reason
        if not res.ok:
            entry = _entry(len(ref.tests), res.status.value, res)
        elif marker_value(res.stdout, marker) is None:
            entry = _entry(len(ref.tests), "wrong_answer", res, "exited before the tests finished")
        else:
            entry = _entry(len(ref.tests), "passed", res)
        out.tests.append(entry)
    return out


@register("code")
def check(response: str, reference: Any, **options: Any) -> VerifyResult:
    try:
        ref = parse_reference(reference, **options)
    except ValueError as e:
        return VerifyResult.make("invalid_reference", reason=f"Unusable code reference: {e}.")
    try:
        answer = split_reasoning(response)
        if not answer or not answer.strip():
            return VerifyResult.make("no_answer", reason="Nothing follows the reasoning.")
        program = extract_program(answer, ref.language)
        if program is None:
            return VerifyResult.make(
                "no_answer", reason=f"No fenced {ref.language} code block in the answer."
            )
        outcome = run_tests(
            program,
            ref,
            stop_early=not options.get("run_all", False),
            backend=options.get("backend", "local"),
        )
    except Exception as e:  # never raise on model output
        return VerifyResult.make("error", reason=f"Code check failed: {type(e).__name__}: {e}")
    total = ref.n_checks
    fraction = outcome.passed / total
    details = {
        "tests": outcome.tests,
        "passed": outcome.passed,
        "total": total,
        "fraction": fraction,
        "language": ref.language,
        "isolation": outcome.isolation,
    }
    if outcome.compile:
        details["compile"] = outcome.compile
    if outcome.sandbox_error:
        return VerifyResult.make(
            "error", extracted=program, reason=f"Sandbox error: {outcome.sandbox_error}", **details
        )
    partial = fraction if options.get("partial") else None
    if outcome.all_passed:
        return VerifyResult.make("correct", extracted=program, reason=f"All {total} tests passed.", **details)
    first = outcome.failures(1)
    why = f"test {first[0]['test']}: {first[0]['status']}" if first else "tests failed"
    reason = f"{outcome.passed}/{total} tests passed ({why})."
    return VerifyResult.make("wrong", score=partial, extracted=program, reason=reason, **details)


def _time_budget(reference: Any) -> float:
    """Wall-clock a check may legitimately need: compile + time limit x checks + margin."""
    try:
        ref = parse_reference(reference)
    except ValueError:
        return MARGIN_S
    compile_s = COMPILE_BUDGET_S if ref.language != "python" else 0.0
    return compile_s + ref.time_limit * ref.n_checks + MARGIN_S


check.time_budget = _time_budget


@register_reference_check("code")
def check_reference(reference: Any, **options: Any) -> ReferenceCheck:
    """The reference has tests, and when it carries ``solutions`` at least one passes them all."""
    try:
        ref = parse_reference(reference, **options)
    except ValueError as e:
        return ReferenceCheck(False, "invalid_reference", {"error": str(e)})
    solutions = reference.get("solutions")
    if solutions is None:
        return ReferenceCheck(True, evidence={"tests": ref.n_checks})
    if not isinstance(solutions, list) or not solutions or not all(isinstance(s, str) for s in solutions):
        return ReferenceCheck(
            False, "invalid_reference", {"error": "'solutions' must be a non-empty list of sources"}
        )
    tried = []
    for i, source in enumerate(solutions):
        outcome = run_tests(source, ref, backend=options.get("backend", "local"))
        if outcome.all_passed:
            return ReferenceCheck(True, evidence={"solution": i, "tests": ref.n_checks})
        tried.append(
            {
                "solution": i,
                "passed": outcome.passed,
                "failed_tests": outcome.failures(),
                **({"sandbox_error": outcome.sandbox_error} if outcome.sandbox_error else {}),
            }
        )
    return ReferenceCheck(False, "reference_failed", {"tests": ref.n_checks, "solutions": tried})
