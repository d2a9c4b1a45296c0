"""The local backend: compile (cached), then run every input in one request to a pooled box."""

from __future__ import annotations

import time

from . import compile_cache, isolate
from .box import POOL, Box, BoxDied, BoxError
from .languages import Language, get_language
from .protocol import (
    HOST_MARGIN_S,
    CaseHook,
    classify,
    compile_request,
    compile_result,
    fold,
    limits_for,
    run_request,
)
from .result import RunResult, RunStatus


def _compile(
    box: Box, lang: Language, code: str, time_limit: float, label: str
) -> tuple[str | None, RunResult]:
    """Compile in the box unless cached; returns (artifact dir inside the box or None, compile result)."""
    k = compile_cache.key(lang.name, list(lang.compile_argv), code)
    seen = f"{isolate.cache_in_box(box.plan, compile_cache.cache_root())}/{k}"
    if compile_cache.lookup(k):
        return seen, RunResult(RunStatus.OK, isolation=label, extra={"cached": True})
    req = compile_request(lang, code, time_limit)
    box.send(req)
    reply = box.read(time.monotonic() + time_limit + HOST_MARGIN_S)
    if "compile" not in reply:
        raise BoxError(reply.get("error", "the sandbox failed while compiling"))
    res = compile_result(reply["compile"], req["limits"], label)
    if res.ok and reply["compile"]["artifacts"]:
        compile_cache.store(k, reply["compile"]["artifacts"])
        return seen, res
    if res.ok:
        res.status, res.reason = RunStatus.COMPILE_ERROR, "compilation produced no program"
    return None, res


def run_local(
    code: str,
    language: str,
    cases: list[str],
    *,
    time_limit: float,
    memory_limit_mb: int,
    output_limit_bytes: int,
    compile_time_limit: float,
    stop_on_error: bool,
    on_case: CaseHook | None,
) -> tuple[list[RunResult], RunResult | None, str]:
    """Run ``code`` once per case. Returns (case results, compile result or None, isolation label)."""
    lang = get_language(language)
    plan = isolate.choose_plan()
    label = plan.label
    box = POOL.acquire(plan)
    healthy = False
    try:
        compiled, art_dir = None, None
        limits = limits_for(time_limit, memory_limit_mb, output_limit_bytes, lang)
        if lang.compiled:
            art_dir, compiled = _compile(box, lang, code, compile_time_limit, label)
            if art_dir is None:
                healthy = True
                return [], compiled, label
        box.send(run_request(lang, code, art_dir, limits, cases, stop_on_error))
        results: list[RunResult] = []
        stopped = False
        while True:
            try:
                reply = box.read(time.monotonic() + time_limit + HOST_MARGIN_S)
            except BoxError as e:
                if stopped:  # the verdict is already in; the box is discarded
                    return results, compiled, label
                # The server died or froze while this case's program ran: the program killed or
                # stopped it. That is a failed run, not a sandbox error a trainer might retry or skip.
                status = RunStatus.RUNTIME_ERROR if isinstance(e, BoxDied) else RunStatus.TIME_LIMIT
                results.append(
                    RunResult(status, isolation=label, reason=f"the program broke its sandbox: {e}")
                )
                if on_case:
                    on_case(len(results) - 1, results[-1])
                return results, compiled, label
            if reply.get("done"):
                if "error" in reply:
                    raise BoxError(reply["error"])
                break
            if stopped:  # the box ran ahead before it saw our stop: discard
                continue
            res = classify(reply, limits, label)
            results.append(res)
            keep_going = (on_case(len(results) - 1, res) is not False) if on_case else True
            if (stop_on_error and not res.ok) or not keep_going:
                box.stop()
                stopped = True
        healthy = True
        return results, compiled, label
    finally:
        POOL.release(box, healthy)


def run_code_local(code, language, stdin, inputs, **kw) -> RunResult:
    """``run_code`` for ``backend="local"`` (keyword arguments as there)."""
    cases = list(inputs) if inputs is not None else [stdin or ""]
    label = isolate.choose_plan().label
    try:
        results, compiled, label = run_local(code, language, cases, **kw)
    except BoxError as e:
        return RunResult(
            RunStatus.SANDBOX_ERROR, isolation=label, reason=str(e), cases=[] if inputs is not None else None
        )
    return fold(results, compiled, label, inputs is not None)
