"""The ASGI app (Starlette) behind ``ring-data serve`` / ``python -m verifiers.server``.

How a request is served: the body is read up to ``max_body_bytes`` (413 past it), parsed (400 for
malformed JSON or a wrong shape, 422 for an unknown domain, 413 for more than ``max_items`` items),
and its items join one queue. ``workers`` lanes (threads) each take the next ``max_batch`` queued items,
whichever requests they came from, and check them with one ``verify_batch(..., workers=1)`` call on the
shared persistent pool, so ``workers`` verifier processes are busy whenever there is work. A slow item
(bounded by the per-item timeout) holds up only its own lane, as it holds one worker of an in-process
``verify_batch``; the other lanes keep taking work. Each request gets its own results back in order. Every error is a JSON ``{"error": "<one
line>"}`` with a 4xx status; nothing a client sends makes the server fail.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..adapters.openrlhf import parse_label, response_text
from ..api import DEFAULT_TIMEOUT_S, verify_batch
from ..registry import domains
from ..result import Status, VerifyResult

log = logging.getLogger(__name__)

try:  # faster JSON when the data extra (orjson) is installed
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj, default=str)

    _loads = orjson.loads
    _JSONError: tuple[type[Exception], ...] = (orjson.JSONDecodeError, UnicodeDecodeError)
except ImportError:  # pragma: no cover - depends on the install
    import json

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, default=str).encode("utf-8")

    _loads = json.loads
    _JSONError = (json.JSONDecodeError, UnicodeDecodeError)

TOKEN_ENV = "RING_REWARD_TOKEN"

# one cheap item per built-in domain: each lane's worker checks them at start-up, so the first requests
# do not pay the lazy imports (sympy, the LaTeX parser) and the sandbox's first box
WARM_ITEMS = [
    ("\\boxed{\\frac{1}{2}}", {"answer": "0.5"}, "math"),
    ("\\boxed{B}", {"answer": "B", "choices": ["a", "b", "c", "d"]}, "science"),
    ("<answer>1+2</answer>", {"numbers": [1, 2], "target": 3}, "countdown"),
    ("ok", {"instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]}, "ifeval"),
    ("```python\nprint(1)\n```", {"language": "python", "tests": [{"input": "", "output": "1"}]}, "code"),
]


@dataclass
class ServerSettings:
    workers: int | None = None  # verifier processes = lanes of verify_batch calls (default: all cores)
    timeout: float = DEFAULT_TIMEOUT_S  # per-item timeout unless a /verify request asks for another
    max_timeout: float = 60.0  # the most a request may ask for
    max_items: int = 4096  # items per request
    max_body_bytes: int = 16 << 20
    max_batch: int = 8  # items per verify_batch call (a lane's share of the queue)
    token: str | None = None  # bearer token; None = no authentication (loopback only, see __main__)
    default_domain: str = "math"  # /get_reward labels that are a bare answer or reference
    warm: bool = True  # check WARM_ITEMS on every lane before serving


class ClientError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = " ".join(str(message).split())[:500]  # one line


def _json(obj: Any, status: int = 200) -> Response:
    return Response(_dumps(obj), status_code=status, media_type="application/json")


def lanes(settings: ServerSettings) -> int:
    return max(1, settings.workers or os.cpu_count() or 1)


class Batcher:
    """One queue of items from all requests; ``lanes`` ``verify_batch`` calls of one worker each."""

    def __init__(self, settings: ServerSettings):
        self.s = settings
        self.queue: deque[tuple[tuple, float, asyncio.Future]] = deque()
        self.wakeup = asyncio.Event()
        self.slots = asyncio.Semaphore(lanes(settings))
        self.executor = ThreadPoolExecutor(lanes(settings), thread_name_prefix="verify-lane")
        self.running: set[asyncio.Task] = set()
        self.items_done = 0
        self.batches = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._dispatch())

    async def submit(self, items: Sequence[tuple], timeout: float) -> list[VerifyResult]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        self.queue.extend((it, timeout, f) for it, f in zip(items, futures))
        self.wakeup.set()
        return list(await asyncio.gather(*futures))

    async def _dispatch(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.queue:
                await self.slots.acquire()
                batch = self._take()
                if not batch:
                    self.slots.release()
                    break
                task = asyncio.get_running_loop().create_task(self._run(batch))
                self.running.add(task)
                task.add_done_callback(self.running.discard)

    def _take(self) -> list[tuple[tuple, float, asyncio.Future]]:
        """Up to ``max_batch`` queued items with the same timeout, oldest first; abandoned ones skipped."""
        batch: list = []
        while self.queue and len(batch) < self.s.max_batch:
            item = self.queue[0]
            if item[2].done():  # the client went away
                self.queue.popleft()
                continue
            if batch and item[1] != batch[0][1]:
                break
            batch.append(self.queue.popleft())
        return batch

    async def _run(self, batch: list[tuple[tuple, float, asyncio.Future]]) -> None:
        try:
            loop = asyncio.get_running_loop()
            items = [b[0] for b in batch]
            try:
                results = await loop.run_in_executor(
                    self.executor, lambda: verify_batch(items, workers=1, timeout=batch[0][1])
                )
            except Exception as e:  # a bug, not the client's input (checked before queueing)
                log.exception("verify_batch failed")
                err = VerifyResult.make(Status.ERROR, reason=f"server: {type(e).__name__}: {e}"[:500])
                results = [err] * len(batch)
            for (_, _, fut), res in zip(batch, results):
                if not fut.done():
                    fut.set_result(res)
            self.items_done += len(batch)
            self.batches += 1
        finally:
            self.slots.release()
            if self.queue:
                self.wakeup.set()

    async def warm(self) -> None:
        """Every lane's worker checks :data:`WARM_ITEMS` once, all lanes at once."""
        loop = asyncio.get_running_loop()
        known = set(domains())
        items = [it for it in WARM_ITEMS if it[2] in known]
        t = time.perf_counter()
        await asyncio.gather(
            *[
                loop.run_in_executor(
                    self.executor, lambda: verify_batch(items, workers=1, timeout=self.s.timeout)
                )
                for _ in range(lanes(self.s))
            ]
        )
        log.info("warmed %d lanes in %.1f s", lanes(self.s), time.perf_counter() - t)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)


async def _body(request: Request, limit: int) -> Any:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            if int(length) > limit:
                raise ClientError(413, f"request body of {int(length)} bytes is over the limit of {limit}")
        except ValueError:
            raise ClientError(400, "bad Content-Length header") from None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ClientError(413, f"request body is over the limit of {limit} bytes")
    if not body:
        raise ClientError(400, "empty request body; send a JSON object")
    try:
        obj = _loads(bytes(body))
    except _JSONError as e:
        raise ClientError(400, f"malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ClientError(400, f"the body must be a JSON object, got {type(obj).__name__}")
    return obj


def _unknown(domain: Any, where: str, known: set[str]) -> ClientError:
    return ClientError(422, f"{where}: unknown domain {domain!r} (known: {', '.join(sorted(known))})")


def _check_count(n: int, limit: int) -> None:
    if n > limit:
        raise ClientError(413, f"{n} items is over the limit of {limit} per request")


def create_app(settings: ServerSettings | None = None) -> Starlette:
    s = settings or ServerSettings()
    state: dict[str, Any] = {"requests": 0, "rejected": 0, "started": time.time()}

    def authorize(request: Request) -> None:
        if not s.token:
            return
        header = request.headers.get("authorization", "")
        given = (
            header[7:].strip()
            if header.lower().startswith("bearer ")
            else request.query_params.get("token", "")
        )
        if not hmac.compare_digest(given.encode(), s.token.encode()):
            raise ClientError(
                401, "missing or wrong bearer token (Authorization: Bearer <token>, or ?token=)"
            )

    def batcher() -> Batcher:
        return state["batcher"]

    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            state["requests"] += 1
            try:
                authorize(request)
                return await handler(request)
            except ClientError as e:
                state["rejected"] += 1
                return _json({"error": e.message}, e.status)

        return endpoint

    async def verify_endpoint(request: Request) -> Response:
        body = await _body(request, s.max_body_bytes)
        items = body.get("items")
        if not isinstance(items, list):
            raise ClientError(400, "field 'items': must be a list of {response, reference, domain, options?}")
        _check_count(len(items), s.max_items)
        timeout = body.get("timeout", s.timeout)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= s.max_timeout
        ):
            raise ClientError(400, f"field 'timeout': must be a number in (0, {s.max_timeout:g}] seconds")
        known = set(domains())
        tasks = []
        for i, it in enumerate(items):
            if not isinstance(it, dict):
                raise ClientError(400, f"items[{i}]: must be an object")
            response, domain, options = it.get("response"), it.get("domain"), it.get("options") or {}
            if not isinstance(response, str):
                raise ClientError(400, f"items[{i}].response: must be a string")
            if "reference" not in it:
                raise ClientError(400, f"items[{i}].reference: missing")
            if not isinstance(domain, str) or domain not in known:
                raise _unknown(domain, f"items[{i}].domain", known)
            if not isinstance(options, dict):
                raise ClientError(400, f"items[{i}].options: must be an object")
            tasks.append((response, it["reference"], domain, options))
        results = await batcher().submit(tasks, float(timeout)) if tasks else []
        return _json({"results": [r.to_dict() for r in results]})

    async def openrlhf_endpoint(request: Request) -> Response:
        body = await _body(request, s.max_body_bytes)
        queries = body.get("query", body.get("queries"))
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise ClientError(400, "field 'query': must be a list of strings (prompt + response)")
        _check_count(len(queries), s.max_items)
        prompts = body.get("prompts")
        if prompts is None:
            prompts = [""] * len(queries)
        labels = body.get("labels")
        if not isinstance(prompts, list) or len(prompts) != len(queries):
            raise ClientError(400, "field 'prompts': must be a list as long as 'query'")
        if not isinstance(labels, list) or len(labels) != len(queries):
            raise ClientError(400, "field 'labels': must be a list as long as 'query'")
        known = set(domains())
        tasks = []
        for i, (q, p, lab) in enumerate(zip(queries, prompts, labels)):
            try:
                domain, reference = parse_label(lab, s.default_domain)
            except ValueError as e:
                raise ClientError(400, f"labels[{i}]: {e}") from None
            if domain not in known:
                raise _unknown(domain, f"labels[{i}]", known)
            tasks.append((response_text(q, p if isinstance(p, str) else ""), reference, domain, {}))
        results = await batcher().submit(tasks, s.timeout) if tasks else []
        rewards = [float(r.score) for r in results]
        return _json(
            {
                "rewards": rewards,
                "scores": rewards,
                "extra_logs": {
                    "verifier_correct": [1.0 if r.correct else 0.0 for r in results],
                    "verifier_timeout": [1.0 if r.status is Status.TIMEOUT else 0.0 for r in results],
                },
            }
        )

    async def health(request: Request) -> Response:
        b: Batcher = state["batcher"]
        return _json(
            {
                "status": "ok",
                "domains": domains(),
                "requests": state["requests"],
                "rejected": state["rejected"],
                "items_done": b.items_done,
                "batches": b.batches,
                "queued": len(b.queue),
                "busy_lanes": len(b.running),
                "lanes": lanes(s),
                "uptime_s": round(time.time() - state["started"], 1),
                "pid": os.getpid(),
                "auth": bool(s.token),
            }
        )

    @asynccontextmanager
    async def lifespan(app):
        from ..pool import get_pool

        pool = get_pool()  # keep every lane's worker warm between batches (no re-fork)
        pool.max_idle = max(pool.max_idle, lanes(s))
        b = Batcher(s)
        if s.warm:
            await b.warm()
        b.start()
        state["batcher"] = b
        try:
            yield
        finally:  # uvicorn has drained the in-flight requests by now
            await b.close()

    routes = [
        Route("/verify", guarded(verify_endpoint), methods=["POST"]),
        Route("/get_reward", guarded(openrlhf_endpoint), methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
