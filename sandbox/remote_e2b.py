"""The E2B backend (``backend="e2b"``): the same box server and protocol, inside an E2B cloud sandbox.

Per call: create a sandbox, upload the server and the requests (compile, then all inputs), run the
server once with the requests as its stdin, parse its JSON-lines report into the same RunResult
as the local backend, and always kill the sandbox. Transient failures of the E2B API (rate limits,
timeouts, connection errors) are retried with back-off; a missing key or SDK is a clear
:class:`E2BConfigError`. The SDK is imported here only, when this backend is first used.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .box import SERVER_SOURCE
from .languages import get_language
from .protocol import classify, compile_request, compile_result, fold, limits_for, run_request
from .result import RunResult, RunStatus

log = logging.getLogger(__name__)
T = TypeVar("T")

LABEL = "e2b+rlimits+pgroup+cleanenv"
RETRIES = int(os.environ.get("RING_E2B_RETRIES", "3"))
BACKOFF_S = float(os.environ.get("RING_E2B_BACKOFF_S", "1.0"))


def _paths() -> tuple[str, str, str]:
    """(work, build, scratch) directories inside the E2B sandbox."""
    work = os.environ.get("RING_E2B_WORKDIR", "/tmp/ring")
    return work, f"{work}/build", f"{work}/scratch"


def _server_config(scratch: str) -> dict:
    return {
        "env": {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": scratch,
            "TMPDIR": scratch,
        },
        "sweep": False,  # the E2B VM runs its own agent (envd); the VM itself is the isolation boundary
        "scratch": scratch,
        "wipe": [scratch],
        "stop_via_stdin": False,  # the requests come from a file
    }


class E2BConfigError(RuntimeError):
    """The E2B backend cannot be used as configured (no key, no SDK, key rejected)."""


def _sdk() -> Any:
    if not os.environ.get("E2B_API_KEY"):
        raise E2BConfigError(
            "backend='e2b' needs an E2B API key: set E2B_API_KEY (https://e2b.dev/dashboard), "
            "or use backend='local'"
        )
    try:
        import e2b
    except ImportError as e:
        raise E2BConfigError("backend='e2b' needs the E2B SDK: pip install 'ring-toolkit[e2b]'") from e
    return e2b


def _transient(e2b: Any, err: BaseException) -> bool:
    if isinstance(err, (e2b.AuthenticationException, e2b.InvalidArgumentException, e2b.NotFoundException)):
        return False
    transient = (
        e2b.RateLimitException,
        e2b.TimeoutException,
        e2b.ServiceBusyException,
        e2b.SandboxUnreachableException,
        ConnectionError,
        TimeoutError,
    )
    return isinstance(err, transient) or (isinstance(err, e2b.SandboxException) and "50" in str(err)[:60])


def _retry(e2b: Any, what: str, fn: Callable[[], T]) -> T:
    for attempt in range(RETRIES + 1):
        try:
            return fn()
        except e2b.AuthenticationException as e:
            raise E2BConfigError(f"E2B rejected the API key ({e}); check E2B_API_KEY") from e
        except Exception as e:
            if attempt == RETRIES or not _transient(e2b, e):
                raise
            log.warning("E2B %s failed (%s); retry %d/%d", what, e, attempt + 1, RETRIES)
            time.sleep(BACKOFF_S * 2**attempt)
    raise AssertionError("unreachable")


def run_code_e2b(code, language, stdin, inputs, **kw) -> RunResult:
    """``run_code`` for ``backend="e2b"`` (keyword arguments as there)."""
    e2b = _sdk()
    work, build, scratch = _paths()
    lang = get_language(language)
    batch = inputs is not None
    cases = list(inputs) if batch else [stdin or ""]
    limits = limits_for(kw["time_limit"], kw["memory_limit_mb"], kw["output_limit_bytes"], lang)
    requests = []
    if lang.compiled:
        requests.append(compile_request(lang, code, kw["compile_time_limit"], cwd=build, keep=False))
    requests.append(run_request(lang, code, build, limits, cases, kw["stop_on_error"]))
    budget = (kw["compile_time_limit"] if lang.compiled else 0) + (kw["time_limit"] + 1) * len(cases) + 30
    # the requests file is removed once the server has it open: a program cannot read other inputs
    config = shlex.quote(json.dumps(_server_config(scratch)))
    command = (
        f"mkdir -p {scratch} {build} && "
        f"{{ rm -f {work}/requests.jsonl; python3 -I {work}/server.py {config}; }} < {work}/requests.jsonl"
    )
    try:
        sbx = _retry(e2b, "sandbox create", lambda: e2b.Sandbox.create(timeout=int(budget) + 60))
    except E2BConfigError:
        raise
    except Exception as e:
        return RunResult(
            RunStatus.SANDBOX_ERROR, isolation=LABEL, reason=f"E2B: {e}", cases=[] if batch else None
        )
    try:
        payload = "".join(json.dumps(r) + "\n" for r in requests).encode()
        for name, data in (("server.py", SERVER_SOURCE.encode()), ("requests.jsonl", payload)):
            _retry(
                e2b, "upload", lambda n=name, d=data: sbx.files.write(f"{work}/{n}", d, use_octet_stream=True)
            )
        try:
            out = sbx.commands.run(command, timeout=budget).stdout
        except e2b.CommandExitException as e:  # the server itself failed (python3 missing, killed)
            return RunResult(
                RunStatus.SANDBOX_ERROR,
                isolation=LABEL,
                reason=f"E2B: the box server exited with {e.exit_code}: {(e.stderr or '')[-300:]}",
                cases=[] if batch else None,
            )
    except E2BConfigError:
        raise
    except Exception as e:
        return RunResult(
            RunStatus.SANDBOX_ERROR, isolation=LABEL, reason=f"E2B: {e}", cases=[] if batch else None
        )
    finally:
        try:
            sbx.kill()
        except Exception as e:  # the sandbox times out on its own; never mask the result
            log.warning("E2B sandbox kill failed: %s", e)
    return _parse(out, requests, limits, kw["on_case"], batch)


def _parse(out: str, requests: list[dict], limits: dict, on_case, batch: bool) -> RunResult:
    compiled = None
    results: list[RunResult] = []
    stopped = False
    for line in out.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if "compile" in msg:
            compiled = compile_result(msg["compile"], requests[0]["limits"], LABEL)
            if not compiled.ok:
                break
        elif "case" in msg and not stopped:
            res = classify(msg, limits, LABEL)
            results.append(res)
            stopped = on_case is not None and on_case(len(results) - 1, res) is False
        elif msg.get("error"):
            return RunResult(RunStatus.SANDBOX_ERROR, isolation=LABEL, reason=f"E2B box: {msg['error']}")
    if not results and not (compiled and not compiled.ok):
        return RunResult(
            RunStatus.SANDBOX_ERROR,
            isolation=LABEL,
            reason="E2B: no result came back",
            cases=[] if batch else None,
        )
    return fold(results, compiled, LABEL, batch)
