"""A small OpenAI-compatible HTTP server over a local transformers model (``/v1/models``,
``/v1/completions``, ``/v1/chat/completions`` with ``n``, ``temperature``, ``top_p``, ``max_tokens``,
``seed``). It really runs the model; requests are served one generation at a time.

For tests and CPU smoke runs of the ``openai:`` sampler, not for production serving (use ``vllm serve``)::

    python -m ring_data.annotate.server MODEL_DIR --port 8000
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .samplers.base import SamplingSettings
from .samplers.hf import HFSampler


class OpenAIHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and benchmarks read stderr
        pass

    def _send(self, code: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, message: str) -> None:
        self._send(code, {"error": {"message": message, "type": "invalid_request_error", "code": code}})

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.server.model_name, "object": "model"}]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            return self._error(400, "body is not JSON")
        route = self.path.rstrip("/")
        if route not in ("/v1/completions", "/v1/chat/completions"):
            return self._error(404, f"no route {self.path}")
        chat = route.endswith("chat/completions")
        try:
            payload = self.server.complete(body, chat=chat)
        except (KeyError, TypeError, ValueError) as e:
            return self._error(400, f"bad request: {e}")
        self._send(200, payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # stop() waits for in-flight requests (no generate running at exit)

    def __init__(self, address, handler, sampler: HFSampler, model_name: str):
        super().__init__(address, handler)
        self.sampler = sampler
        self.model_name = model_name
        self.lock = threading.Lock()

    def complete(self, body: dict[str, Any], *, chat: bool) -> dict[str, Any]:
        import torch

        n = int(body.get("n", 1))
        if not 1 <= n <= 128:
            raise ValueError("n must be in 1..128")
        settings = replace(
            self.sampler.settings,
            temperature=float(body.get("temperature", 1.0)),
            top_p=float(body.get("top_p", 1.0)),
            max_tokens=int(body.get("max_tokens", 16)),
            seed=None,
        )
        if chat:
            messages = body["messages"]
            if not isinstance(messages, list):
                raise TypeError("messages must be a list")
            texts = [
                self.sampler.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            ]
        else:
            prompt = body["prompt"]
            texts = [prompt] if isinstance(prompt, str) else list(prompt)
        with self.lock:  # one generate at a time: the model is shared
            if body.get("seed") is not None:
                torch.manual_seed(int(body["seed"]))
            outs = self.sampler.generate_completions(texts, n, settings)
        choices = []
        for i, c in enumerate(c for group in outs for c in group):
            reason = "length" if c.truncated else "stop"  # as vLLM reports a cut at max_tokens
            if chat:
                choices.append(
                    {"index": i, "message": {"role": "assistant", "content": c.text}, "finish_reason": reason}
                )
            else:
                choices.append({"index": i, "text": c.text, "finish_reason": reason})
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": choices,
        }


class OpenAICompatServer:
    """Serve ``model_dir`` on ``host:port`` (port 0 picks a free one) from a background thread::

    with OpenAICompatServer(path) as srv:
        sampler = make_sampler(f"openai:{srv.url}")
    """

    def __init__(
        self,
        model_dir: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model_name: str = "tiny",
        handler: type[OpenAIHandler] = OpenAIHandler,
        batch_size: int = 64,
    ):
        sampler = HFSampler(model_dir, SamplingSettings(seed=None), batch_size=batch_size)
        self.httpd = _Server((host, port), handler, sampler, model_name)
        self.url = f"http://{host}:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="openai-server")

    def start(self) -> OpenAICompatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> OpenAICompatServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model-name", default="tiny")
    args = p.parse_args(argv)
    srv = OpenAICompatServer(args.model_dir, host=args.host, port=args.port, model_name=args.model_name)
    print(f"serving {args.model_dir} at {srv.url}", flush=True)
    srv.httpd.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
