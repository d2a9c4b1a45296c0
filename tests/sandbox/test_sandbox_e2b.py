"""The E2B backend through the real E2B SDK (its REST client, Connect-RPC client, protobuf messages
and exceptions). Only the far end is replaced: a loopback HTTP server that plays the E2B control
plane (create / kill sandbox) and envd (file upload, ``process.Process/Start`` served by the SDK's
own generated Connect WSGI application), running commands as local processes. A live test runs
against the real service when ``E2B_API_KEY`` is set."""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
import uuid
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from sandbox import run_code

e2b = pytest.importorskip("e2b")
from e2b.envd.process import process_connect, process_pb  # noqa: E402
from protobuf import Oneof  # noqa: E402

FAKE_KEY = "e2b_" + "0" * 40


class _Process(process_connect.ProcessSync):
    """envd's process service: runs the command for real and streams its events."""

    def start(self, request, ctx):
        cfg = request.process
        proc = subprocess.run(
            [cfg.cmd, *cfg.args],
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", **dict(cfg.envs)},
            timeout=120,
        )
        ev = process_pb.ProcessEvent
        yield process_pb.StartResponse(event=ev(event=Oneof("start", ev.StartEvent(pid=4242))))
        for name, chunk in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            if chunk:
                data = ev.DataEvent(output=Oneof(name, chunk))
                yield process_pb.StartResponse(event=ev(event=Oneof("data", data)))
        end = ev.EndEvent(exit_code=proc.returncode, exited=True, status=f"exit status {proc.returncode}")
        yield process_pb.StartResponse(event=ev(event=Oneof("end", end)))


class FakeE2B:
    """Control plane + envd on one loopback port; records what the SDK asked for."""

    def __init__(self, fail_creates: int = 0, fail_status: int = 429) -> None:
        self.fail_creates, self.fail_status = fail_creates, fail_status
        self.created, self.killed, self.uploads = [], [], []
        self.create_attempts = 0
        self.rpc = process_connect.ProcessWSGIApplication(_Process())

    def __call__(self, environ, start_response):
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":  # wsgiref does not de-chunk
            environ = _dechunked(environ)
        if path.startswith("/process.Process/"):
            return self.rpc(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if method == "POST" and path == "/v2/sandboxes":
            self.create_attempts += 1
            if self.create_attempts <= self.fail_creates:
                return self._json(
                    start_response, self.fail_status, {"code": self.fail_status, "message": "slow down"}
                )
            assert environ.get("HTTP_X_API_KEY") == os.environ["E2B_API_KEY"]
            sid = "sbx" + uuid.uuid4().hex[:8]
            self.created.append(json.loads(body))
            reply = {"templateID": "base", "sandboxID": sid, "clientID": "c", "envdVersion": "0.6.2"}
            return self._json(start_response, 201, reply)
        if method == "DELETE" and path.startswith("/sandboxes/"):
            self.killed.append(path.rsplit("/", 1)[1])
            start_response("204 No Content", [])
            return [b""]
        if method == "POST" and path == "/files":
            target = parse_qs(environ["QUERY_STRING"])["path"][0]
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(body)
            self.uploads.append(target)
            return self._json(
                start_response, 200, [{"name": os.path.basename(target), "type": "file", "path": target}]
            )
        return self._json(start_response, 404, {"code": 404, "message": f"no route {method} {path}"})

    @staticmethod
    def _json(start_response, code, obj):
        data = json.dumps(obj).encode()
        start_response(
            f"{code} X", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]


def _dechunked(environ):
    raw, body = environ["wsgi.input"], b""
    while True:
        size = int(raw.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            raw.readline()
            break
        body += raw.read(size)
        raw.readline()
    environ = dict(environ, CONTENT_LENGTH=str(len(body)))
    environ.pop("HTTP_TRANSFER_ENCODING")
    environ["wsgi.input"] = io.BytesIO(body)
    return environ


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@pytest.fixture
def fake_e2b(monkeypatch, tmp_path):
    def start(**kw):
        app = FakeE2B(**kw)
        srv = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_Quiet)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{srv.server_port}"
        monkeypatch.setenv("E2B_API_KEY", FAKE_KEY)
        monkeypatch.setenv("E2B_API_URL", url)
        monkeypatch.setenv("E2B_SANDBOX_URL", url)
        monkeypatch.setenv("RING_E2B_WORKDIR", str(tmp_path / "vm"))
        monkeypatch.setenv("RING_E2B_BACKOFF_S", "0.01")
        servers.append(srv)
        return app

    servers = []
    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_runs_inputs_through_the_sdk_and_always_kills_the_sandbox(fake_e2b):
    fake = fake_e2b()
    r = run_code("print(int(input()) * 3)", "python", inputs=["1", "7", "x"], backend="e2b")
    assert [c.status for c in r.cases] == ["ok", "ok", "runtime_error"]
    assert [c.stdout for c in r.cases[:2]] == ["3\n", "21\n"] and "ValueError" in r.cases[2].stderr
    assert r.isolation.startswith("e2b") and len(fake.created) == 1 and len(fake.killed) == 1
    assert any(u.endswith("server.py") for u in fake.uploads)
    one = run_code("import time; time.sleep(5)", "python", time_limit=0.5, backend="e2b")
    assert one.status == "time_limit" and one.cases is None and len(fake.killed) == 2


def test_compiled_languages_and_compile_errors(fake_e2b):
    fake_e2b()
    import sandbox

    if not sandbox.language_available("cpp"):
        pytest.skip("g++ is not installed")
    ok = run_code(
        '#include <cstdio>\nint main(){int a;scanf("%d",&a);printf("%d\\n",a+1);}', "cpp", "41", backend="e2b"
    )
    assert ok.status == "ok" and ok.stdout == "42\n"
    ce = run_code("int main( {", "cpp", inputs=["1"], backend="e2b")
    assert ce.status == "compile_error" and ce.cases == []


def test_transient_errors_are_retried(fake_e2b):
    fake = fake_e2b(fail_creates=2, fail_status=429)
    r = run_code("print('after retries')", "python", backend="e2b")
    assert r.stdout == "after retries\n" and fake.create_attempts == 3


def test_persistent_failures_become_a_sandbox_error(fake_e2b):
    fake = fake_e2b(fail_creates=100, fail_status=429)
    r = run_code("print(1)", "python", backend="e2b")
    assert r.status == "sandbox_error" and "E2B" in r.reason
    assert fake.create_attempts >= 4  # the SDK's own retries, then ours (RING_E2B_RETRIES, default 3)


def test_a_rejected_key_is_a_clear_configuration_error(fake_e2b):
    from sandbox.remote_e2b import E2BConfigError

    fake_e2b(fail_creates=100, fail_status=401)
    with pytest.raises(E2BConfigError, match="E2B_API_KEY"):
        run_code("print(1)", "python", backend="e2b")


def test_no_key_is_a_clear_error_without_any_network(monkeypatch):
    from sandbox.remote_e2b import E2BConfigError

    monkeypatch.delenv("E2B_API_KEY", raising=False)
    with pytest.raises(E2BConfigError, match="E2B_API_KEY"):
        run_code("print(1)", "python", backend="e2b")


def test_code_verifier_on_the_e2b_backend(fake_e2b):
    from verifiers import get_verifier

    fake_e2b()
    ref = {"language": "python", "tests": [{"input": "2", "output": "4"}, {"input": "5", "output": "25"}]}
    r = get_verifier("code")("```python\nprint(int(input()) ** 2)\n```", ref, backend="e2b")
    assert r.correct and r.details["isolation"].startswith("e2b")


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("E2B_API_KEY"), reason="needs E2B_API_KEY (a real E2B account)")
def test_live_e2b():
    r = run_code(
        "import sys\nprint(sum(map(int, sys.stdin.read().split())))",
        "python",
        inputs=["1 2", "3 4"],
        backend="e2b",
    )
    assert r.status == "ok" and [c.stdout for c in r.cases] == ["3\n", "7\n"]
