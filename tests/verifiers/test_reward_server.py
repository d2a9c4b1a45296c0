"""The reward server as a real process on loopback: both protocols against in-process ``verify``,
OpenRLHF's own HTTP client and ``.py`` loader, one-line 4xx for every bad request (the server stays up),
bearer tokens, the non-loopback refusal, per-item bounds, and draining on SIGTERM."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from verifiers import verify

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[2]
SLOW_CODE = {  # a program that takes ~2 s: bounded by the sandbox, never by the server
    "response": "```python\nimport time\ntime.sleep(2)\nprint(int(input()) * 2)\n```",
    "reference": {"language": "python", "tests": [{"input": "2", "output": "4"}], "time_limit": 6},
    "domain": "code",
}
ITEMS = [
    {
        "response": "<think>easy</think> \\boxed{\\frac{1}{2}}",
        "reference": {"answer": "0.5"},
        "domain": "math",
    },
    {"response": "\\boxed{3}", "reference": {"answer": "2"}, "domain": "math"},
    {
        "response": "```python\nprint(int(input()) * 2)\n```",
        "reference": SLOW_CODE["reference"],
        "domain": "code",
    },
    {
        "response": "<answer>(25-5)*5</answer>",
        "reference": {"numbers": [25, 5, 5], "target": 100},
        "domain": "countdown",
    },
    {
        "response": "all lower case words",
        "reference": {"instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]},
        "domain": "ifeval",
        "options": {"loose": True},
    },
]


class Server:
    def __init__(self, *args: str):
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
        env.pop("RING_REWARD_TOKEN", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "verifiers.server", "--port", "0", *args],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        line = self.proc.stderr.readline()
        assert line.startswith("reward server: http://127.0.0.1:"), line + self.proc.stderr.read()
        self.url = line.split()[2]
        for _ in range(100):
            try:
                self.get("/health")
                break
            except OSError:
                time.sleep(0.1)

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path: str, body, headers=None, raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


@pytest.fixture(scope="module")
def server():
    s = Server("--timeout", "10", "--max-items", "64", "--max-body-mb", "0.05", "--workers", "2")
    yield s
    s.stop()


def test_native_endpoint_equals_in_process_verify(server):
    status, body = server.post("/verify", {"items": ITEMS})
    assert status == 200
    expected = [
        verify(i["response"], i["reference"], i["domain"], **i.get("options", {})).to_dict() for i in ITEMS
    ]

    def stable(r):  # a sandbox run's wall time and memory differ from run to run
        for t in r["details"].get("tests", []):
            t.pop("wall_s", None), t.pop("memory_mb", None)
        return r

    assert [stable(r) for r in body["results"]] == [stable(r) for r in json.loads(json.dumps(expected))]
    assert [r["status"] for r in body["results"]] == ["correct", "wrong", "correct", "correct", "correct"]
    health = server.get("/health")
    assert health["status"] == "ok" and "math" in health["domains"] and health["items_done"] >= len(ITEMS)


def test_openrlhf_http_client_and_py_loader_get_the_same_rewards(server, monkeypatch):
    agent = pytest.importorskip("openrlhf.utils.agent")
    prompt = "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n"
    queries = [
        prompt + "\\boxed{2}<|im_end|>",
        prompt + "\\boxed{3}<|im_end|>",
        prompt + "<answer>(25-5)*5</answer>",
    ]
    labels = [
        "2",
        json.dumps({"domain": "math", "reference": {"answer": "2"}}),
        json.dumps({"domain": "countdown", "reference": {"numbers": [25, 5, 5], "target": 100}}),
    ]

    async def http():
        ex = agent.SingleTurnAgentExecutor(remote_rm_url=server.url + "/get_reward")
        return [await ex._fetch_rewards_via_http([q], [prompt], [lab]) for q, lab in zip(queries, labels)]

    got = asyncio.run(http())
    assert [g[0]["rewards"] for g in got] == [[1.0], [0.0], [1.0]]
    assert [g[0]["extra_logs"]["verifier_correct"] for g in got] == [[1.0], [0.0], [1.0]]

    from verifiers.adapters import openrlhf as adapter

    for path in (adapter.__file__, str(ROOT / "ring_train/backends/openrlhf/reward_func.py")):
        monkeypatch.setenv("RING_REWARD_DOMAIN", "math")  # bare labels need it for the backend's file

        async def func(path=path):
            ex = agent.SingleTurnAgentExecutor(remote_rm_url=path)
            return [await ex._fetch_rewards_via_func([q], [prompt], [lab]) for q, lab in zip(queries, labels)]

        rewards = [[float(x) for x in g[0]["rewards"]] for g in asyncio.run(func())]
        assert rewards == [[1.0], [0.0], [1.0]], path


@pytest.mark.parametrize(
    "path, body, raw, status, words",
    [
        ("/verify", None, b"{not json", 400, "malformed JSON"),
        ("/verify", [1, 2], None, 400, "must be a JSON object"),
        ("/verify", {"items": "x"}, None, 400, "field 'items'"),
        (
            "/verify",
            {"items": [{"response": 5, "reference": "1", "domain": "math"}]},
            None,
            400,
            "items[0].response",
        ),
        (
            "/verify",
            {"items": [{"response": "a", "reference": "1", "domain": "chess"}]},
            None,
            422,
            "unknown domain 'chess'",
        ),
        (
            "/verify",
            {"items": [{"response": "a", "domain": "math"}]},
            None,
            400,
            "items[0].reference: missing",
        ),
        ("/verify", {"items": ITEMS[:1], "timeout": 1e9}, None, 400, "field 'timeout'"),
        ("/verify", {"items": ITEMS[:1] * 65}, None, 413, "over the limit of 64"),
        (
            "/verify",
            {"items": [{"response": "x" * 60_000, "reference": "1", "domain": "math"}]},
            None,
            413,
            "over the limit",
        ),
        (
            "/get_reward",
            {"query": ["a"], "prompts": ["a"], "labels": [json.dumps({"domain": "go", "reference": 1})]},
            None,
            422,
            "labels[0]: unknown domain 'go'",
        ),
        (
            "/get_reward",
            {"query": ["a", "b"], "prompts": ["a"], "labels": ["1", "2"]},
            None,
            400,
            "field 'prompts'",
        ),
        ("/get_reward", {"query": ["a"], "labels": [""]}, None, 400, "labels[0]: empty label"),
    ],
)
def test_bad_requests_get_a_one_line_4xx_and_the_server_lives(server, path, body, raw, status, words):
    code, text = server.post(path, body, raw=raw)
    assert code == status, text
    err = json.loads(text)["error"]
    assert words in err and "\n" not in err
    assert server.get("/health")["status"] == "ok"


def test_a_slow_item_does_not_hold_up_other_requests(server):
    """A batch waiting on a 2 s item leaves the other verify_batch slot to the next requests."""
    slow = {}

    def send_slow():
        t = time.perf_counter()
        slow["status"], slow["body"] = server.post("/verify", {"items": [SLOW_CODE]})
        slow["s"] = time.perf_counter() - t

    th = threading.Thread(target=send_slow)
    th.start()
    time.sleep(0.3)
    t = time.perf_counter()
    status, body = server.post("/verify", {"items": ITEMS[:2]})
    fast = time.perf_counter() - t
    th.join()
    assert status == 200 and slow["status"] == 200
    assert slow["body"]["results"][0]["status"] == "correct" and slow["s"] >= 2.0
    assert fast < 1.5, fast


def test_bearer_token():
    s = Server("--token", "s3cret")
    try:
        assert s.post("/verify", {"items": ITEMS[:1]})[0] == 401
        assert (
            "bearer token"
            in json.loads(s.post("/verify", {"items": ITEMS[:1]}, {"Authorization": "Bearer nope"})[1])[
                "error"
            ]
        )
        assert s.post("/verify", {"items": ITEMS[:1]}, {"Authorization": "Bearer s3cret"})[0] == 200
        s.url += ""  # OpenRLHF cannot send headers: the token may ride in the URL
        assert s.post("/get_reward?token=s3cret", {"query": ["\\boxed{2}"], "labels": ["2"]})[1][
            "rewards"
        ] == [1.0]
        assert s.get("/health")["auth"] is True
    finally:
        s.stop()


def test_a_non_loopback_bind_needs_a_token():
    proc = subprocess.run(
        [sys.executable, "-m", "verifiers.server", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "RING_REWARD_TOKEN": ""},
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "give --token" in proc.stderr


def test_sigterm_drains_in_flight_requests():
    s = Server()
    result = {}

    def send():
        result["status"], result["body"] = s.post("/verify", {"items": [SLOW_CODE, *ITEMS[:2]]})

    th = threading.Thread(target=send)
    th.start()
    time.sleep(0.8)  # the request is in flight (its code item sleeps 2 s)
    s.proc.send_signal(signal.SIGTERM)
    th.join(30)
    assert result["status"] == 200
    assert [r["status"] for r in result["body"]["results"]] == ["correct", "correct", "wrong"]
    assert s.proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once drained
    with pytest.raises(OSError):
        s.get("/health")  # gone after draining
