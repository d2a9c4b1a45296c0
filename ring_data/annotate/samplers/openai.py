"""``openai:URL``: any OpenAI-compatible server (``vllm serve``, SGLang, TGI) over plain HTTP.

Prompts of a batch are sent concurrently (a thread pool), each request asks for all ``n`` choices and
tops up when a server returns fewer; a choice whose ``finish_reason`` is "length" was cut at
``max_tokens``. Connection errors, timeouts, 429 and 5xx are retried with exponential back-off; other
4xx fail at once with the server's message. Standard library only.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ring_data.errors import UserError

from .base import Completion, Prompt, Sampler, SamplingSettings, register_sampler

log = logging.getLogger(__name__)
RETRYABLE_HTTP = {408, 409, 429, 500, 502, 503, 504}


class RequestFailed(UserError):
    """A request that still failed after all retries (or could not succeed: a 4xx)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


# the server refused this one prompt (too long for the context, bad characters): that row gets no
# samples and the run goes on; any other failure (auth, unknown model, server down) stops the run
PROMPT_ERRORS = {400, 413, 422}


def base_url(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; a URL that already has a path is kept as given."""
    url = url.rstrip("/")
    scheme, _, rest = url.partition("://")
    if not rest:
        raise UserError(f"--sampler openai:URL needs an http(s) URL, got {url!r}")
    return url if "/" in rest else url + "/v1"


@register_sampler("openai")
class OpenAISampler(Sampler):
    """``api="chat"`` (default) sends messages to ``/chat/completions`` and lets the server apply its chat
    template; ``api="completions"`` (or ``chat_template="none"``) sends raw text to ``/completions``."""

    def __init__(
        self,
        url: str,
        settings: SamplingSettings | None = None,
        *,
        model_name: str | None = None,
        api: str = "chat",
        concurrency: int = 8,
        retries: int = 3,
        timeout: float = 600.0,
        backoff: float = 0.5,
        api_key: str | None = None,
        model_label: str | None = None,
    ):
        if api not in ("chat", "completions"):
            raise UserError(f"--openai-api must be chat or completions, got {api!r}")
        self.url = base_url(url)
        self.settings = settings or SamplingSettings()
        self.api = "completions" if self.settings.chat_template == "none" else api
        self.concurrency = max(1, concurrency)
        self.retries = max(0, retries)
        self.timeout = timeout
        self.backoff = backoff
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY")
        self.requests_sent = 0
        self.retries_done = 0
        self._failures: dict[str, str] = {}
        self.model_name = model_name or self._first_model()
        self.model = model_label or self.model_name
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="openai-sampler")

    # ---- HTTP --------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.retries_done += 1
                time.sleep(self.backoff * 2 ** (attempt - 1) * (0.5 + random.random()))
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            self.requests_sent += 1
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                detail = _error_text(e)
                if e.code not in RETRYABLE_HTTP:
                    raise RequestFailed(f"openai:{url}: HTTP {e.code}: {detail}", e.code) from None
                last = f"HTTP {e.code}: {detail}"
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
                reason = getattr(e, "reason", e)
                last = f"{type(reason).__name__}: {reason}"
            except json.JSONDecodeError as e:
                last = f"response is not JSON ({e.msg})"
            log.info("openai sampler: %s %s failed (%s), attempt %d", method, url, last, attempt + 1)
        raise RequestFailed(f"openai:{url}: failed after {self.retries + 1} attempts: {last}")

    def _first_model(self) -> str:
        models = self._request("GET", "/models").get("data") or []
        if not models:
            raise UserError(f"openai:{self.url}: the server lists no models; pass --model-name")
        return str(models[0]["id"])

    # ---- sampling -------------------------------------------------------------------------------------
    def _body(self, prompt: Prompt, n: int) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            "model": self.model_name,
            "n": n,
            "temperature": max(0.0, s.temperature),
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
        }
        if s.seed is not None:  # per prompt, so prompts do not share one random stream
            body["seed"] = (s.seed * 1_000_003 + zlib.crc32(prompt.id.encode("utf-8"))) % 2**31
        if self.api == "chat":
            body["messages"] = list(prompt.messages)
        else:
            body["prompt"] = prompt.as_text()
        return body

    def _one(self, prompt: Prompt, n: int) -> list[Completion]:
        path = "/chat/completions" if self.api == "chat" else "/completions"
        got: list[Completion] = []
        for _ in range(n):  # servers that ignore n return one choice: top up, bounded
            body = self._body(prompt, n - len(got))
            if body.get("seed") is not None:  # a different seed per top-up, or the server repeats itself
                body["seed"] += len(got)
            try:
                choices = self._request("POST", path, body).get("choices") or []
            except RequestFailed as e:
                if e.code not in PROMPT_ERRORS:
                    raise
                self._failures[prompt.id] = str(e)
                return []
            got += [self._completion(c) for c in choices]
            if len(got) >= n or not choices:
                break
        return got[:n]

    def _completion(self, choice: dict[str, Any]) -> Completion:
        """A choice's text; ``finish_reason`` "length" is a cut at ``max_tokens``. Tokens are unknown:
        ``usage`` counts all choices of a request together."""
        if self.api == "chat":
            text = (choice.get("message") or {}).get("content")
        else:
            text = choice.get("text")
        reason = choice.get("finish_reason")
        return Completion(text or "", None, None if reason is None else reason == "length")

    @classmethod
    def default_batch_size(cls, options) -> int:
        return max(16, options.get("concurrency") or 8)  # enough to keep ``concurrency`` requests in flight

    def sample_completions(self, prompts: Sequence[Prompt], n: int) -> list[list[Completion]]:
        return list(self._pool.map(lambda p: self._one(p, n), prompts))

    def failure(self, prompt_id: str) -> str | None:
        return self._failures.pop(prompt_id, None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _error_text(e: urllib.error.HTTPError) -> str:
    try:
        body = e.read().decode("utf-8", "replace")
        obj = json.loads(body)
        msg = obj.get("error", obj)
        msg = msg.get("message", msg) if isinstance(msg, dict) else msg
        return str(msg)[:300].replace("\n", " ")
    except Exception:
        return str(e.reason)
