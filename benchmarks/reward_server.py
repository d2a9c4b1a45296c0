"""Load test of the reward server on loopback, against in-process ``verify_batch`` on the same items.

    .venv/bin/python benchmarks/reward_server.py                      # 16 clients x 64-item requests, 60 s
    .venv/bin/python benchmarks/reward_server.py --seconds 10         # a short check

Starts ``python -m verifiers.server`` on 127.0.0.1 (a free port), then ``--clients`` threads each send
``--items``-item ``POST /verify`` requests over a keep-alive connection, back to back, until ``--seconds``
have passed or ``--max-requests`` were sent (bounded in time and count; only 127.0.0.1 is targeted).
Items are a seeded mix of real reward work: math answers in many formats (70%), countdown (10%),
IFEval (10%) and Python stdin/stdout programs run in the sandbox (8%), plus ``--hostile`` (2%) hostile
responses: 1 MB of text, power towers and factorials, 10k-deep parentheses, a 200 kB IFEval answer, an
unclosed reasoning block, a program that sleeps past its 1 s time limit. Measured: items/s, request
latency p50/p99, failed requests, the server's RSS (with its verifier workers) over the run. Then the
overhead, in rounds of fresh items checked three ways with the same worker count, the order rotated:
through a fresh server, by one in-process ``verify_batch`` call, and by the server's dispatch run
in-process without HTTP. Writes the tables to benchmarks/results/reward_server.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verifiers import verify_batch  # noqa: E402

HOST = "127.0.0.1"  # loopback only


def _math(rng: random.Random) -> dict:
    a, b, c = rng.randint(2, 999), rng.randint(2, 99), rng.randint(1, 50)
    ok = rng.random() < 0.5
    kind = rng.randrange(6)
    if kind == 0:
        gold, pred = f"\\frac{{{a}}}{{{b}}}", f"\\frac{{{a * c}}}{{{b * (c if ok else c + 1)}}}"
    elif kind == 1:
        gold, pred = f"{a / 4:g}", f"\\frac{{{a if ok else a + 1}}}{{4}}"
    elif kind == 2:
        gold, pred = f"{c}\\sqrt{{{b}}}", f"\\sqrt{{{c * c * b if ok else c * c * b + 1}}}"
    elif kind == 3:
        gold, pred = f"({a}, {-b})", f"({a}, {-b})" if ok else f"({-b}, {a})"
    elif kind == 4:
        gold, pred = f"x={a}", f"{a if ok else a + 1}"
    else:
        gold, pred = f"x^2+{2 * c}x+{c * c}", f"(x+{c if ok else c + 1})^2"
    words = " ".join(
        rng.choice(["so", "then", "we", "get", "hence", "check", "the", "value"]) for _ in range(40)
    )
    return {
        "response": f"<think>{words}</think> The answer is $\\boxed{{{pred}}}$.",
        "reference": {"answer": gold},
        "domain": "math",
    }


def _countdown(rng: random.Random) -> dict:
    x, y, z = rng.randint(2, 50), rng.randint(2, 50), rng.randint(2, 9)
    expr = f"({x}+{y})*{z}" if rng.random() < 0.6 else f"({x}-{y})*{z}"
    return {
        "response": f"<think>try</think><answer>{expr}</answer>",
        "reference": {"numbers": [x, y, z], "target": (x + y) * z},
        "domain": "countdown",
    }


def _ifeval(rng: random.Random) -> dict:
    text = " ".join(
        rng.choice(["alpha", "beta", "gamma", "delta", "Omega"]) for _ in range(rng.randint(20, 120))
    )
    ref = {
        "instruction_id_list": [
            "change_case:english_lowercase",
            "length_constraints:number_words",
            "punctuation:no_comma",
        ],
        "kwargs": [{}, {"relation": "at least", "num_words": 50}, {}],
    }
    return {"response": text, "reference": ref, "domain": "ifeval"}


def _code(rng: random.Random) -> dict:
    k = rng.randint(2, 9)
    body = f"print(int(input()) * {k if rng.random() < 0.7 else k + 1})"
    tests = [{"input": str(i), "output": str(i * k)} for i in range(1, 4)]
    return {
        "response": f"```python\n{body}\n```",
        "reference": {"language": "python", "tests": tests},
        "domain": "code",
    }


def _hostile(rng: random.Random) -> dict:
    kind = rng.randrange(7)
    if kind == 0:
        return {"response": "x" * 1_000_000 + " \\boxed{5}", "reference": {"answer": "5"}, "domain": "math"}
    if kind == 1:
        return {"response": "\\boxed{10^{10^{10^{10}}}}", "reference": {"answer": "5"}, "domain": "math"}
    if kind == 2:
        return {"response": "\\boxed{100000000!}", "reference": {"answer": "5"}, "domain": "math"}
    if kind == 3:
        return {
            "response": "\\boxed{" + "(" * 10_000 + "1" + ")" * 10_000 + "}",
            "reference": {"answer": "5"},
            "domain": "math",
        }
    if kind == 4:
        return {
            "response": "word " * 40_000,
            "reference": {
                "instruction_id_list": ["length_constraints:number_sentences"],
                "kwargs": [{"relation": "less than", "num_sentences": 3}],
            },
            "domain": "ifeval",
        }
    if kind == 5:
        return {
            "response": "<think>" + "wait, " * 50_000 + "\\boxed{5}",
            "reference": {"answer": "5"},
            "domain": "math",
        }
    return {
        "response": "```python\nimport time\ntime.sleep(30)\n```",
        "reference": {"language": "python", "tests": [{"input": "", "output": "1"}], "time_limit": 1},
        "domain": "code",
    }


def make_items(n: int, hostile: float, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        u = rng.random()
        if u < hostile:
            out.append(_hostile(rng))
        elif u < hostile + 0.08:
            out.append(_code(rng))
        elif u < hostile + 0.18:
            out.append(_countdown(rng))
        elif u < hostile + 0.28:
            out.append(_ifeval(rng))
        else:
            out.append(_math(rng))
    return out


def start_server(workers: int, timeout: float, max_batch: int) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "verifiers.server",
            "--host",
            HOST,
            "--port",
            "0",
            "--workers",
            str(workers),
            "--timeout",
            str(timeout),
            "--max-batch",
            str(max_batch),
            "--max-body-mb",
            "64",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    line = proc.stderr.readline()
    if not line.startswith(f"reward server: http://{HOST}:"):
        raise SystemExit(f"server did not start: {line}{proc.stderr.read()}")
    port = int(line.split()[2].rsplit(":", 1)[1])
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its stderr drained
    for _ in range(600):  # ready: its lanes' workers are warm (the server warms them before serving)
        try:
            c = http.client.HTTPConnection(HOST, port, timeout=5)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.1)
    return proc, port


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_mb(pid: int) -> float:
    """RSS of the server and its children (the verifier workers and sandbox boxes), MiB."""
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / (1 << 20)


def load(
    port: int, requests: list[list[dict]], clients: int, seconds: float, timeout_s: float, pid: int
) -> dict:
    lock = threading.Lock()
    nxt = iter(range(len(requests)))
    lat, done_items, failures, sent = [], [], [], []
    stop_at = time.perf_counter() + seconds
    rss = []

    def client():
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
        while time.perf_counter() < stop_at:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            body = json.dumps({"items": requests[i]})
            t = time.perf_counter()
            try:
                conn.request("POST", "/verify", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status == 200 and len(json.loads(data)["results"]) == len(requests[i])
            except (OSError, http.client.HTTPException, ValueError) as e:
                ok, data = False, str(e).encode()
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
            dt = time.perf_counter() - t
            with lock:
                sent.append(i)
                if ok:
                    lat.append(dt)
                    done_items.append(len(requests[i]))
                else:
                    failures.append(data[:200])

    def sample_rss():
        while time.perf_counter() < stop_at + 1:
            rss.append((time.perf_counter(), rss_mb(pid)))
            time.sleep(1.0)

    mon = threading.Thread(target=sample_rss, daemon=True)
    mon.start()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    lat.sort()
    warm = [m for t, m in rss if t - t0 >= min(10.0, seconds / 4)] or [m for _, m in rss]
    return {
        "wall_s": wall,
        "requests": len(sent),
        "sent": sorted(sent),
        "failed": len(failures),
        "failures": failures[:3],
        "items": sum(done_items),
        "items_per_s": sum(done_items) / wall,
        "p50_s": statistics.median(lat) if lat else float("nan"),
        "p99_s": lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan"),
        "max_s": lat[-1] if lat else float("nan"),
        "rss_start_mb": warm[0] if warm else float("nan"),
        "rss_end_mb": warm[-1] if warm else float("nan"),
        "rss_max_mb": max(warm) if warm else float("nan"),
    }


def replay(port: int, requests: list[list[dict]], clients: int, timeout_s: float) -> tuple[float, list[str]]:
    """Wall time for ``clients`` threads to send exactly ``requests`` (bounded by count), and the statuses."""
    lock = threading.Lock()
    nxt = iter(enumerate(requests))
    bad = []
    statuses: list[list[str]] = [[] for _ in requests]

    def client():
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
        while True:
            with lock:
                nx = next(nxt, None)
            if nx is None:
                return
            i, req = nx
            conn.request("POST", "/verify", json.dumps({"items": req}), {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                bad.append(resp.status)
            else:
                statuses[i] = [r["status"] for r in json.loads(data)["results"]]

    t = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if bad:
        raise SystemExit(f"replay: failed requests {bad[:5]}")
    return time.perf_counter() - t, [x for st in statuses for x in st]


def fresh_pool(workers: int) -> None:
    """New in-process workers, warmed like the server's lanes: the verifiers cache parsed answers per
    worker process, so a side that has seen the items before would be measured on warm caches."""
    from verifiers.pool import get_pool
    from verifiers.server.app import WARM_ITEMS

    get_pool().shutdown()
    verify_batch(WARM_ITEMS * workers, workers=workers)


def one_call(requests: list[list[dict]], workers: int, timeout: float) -> tuple[float, list[str]]:
    items = [(it["response"], it["reference"], it["domain"]) for req in requests for it in req]
    fresh_pool(workers)
    t = time.perf_counter()
    res = verify_batch(items, workers=workers, timeout=timeout)
    return time.perf_counter() - t, [r.status.value for r in res]


def lanes_call(
    requests: list[list[dict]], workers: int, timeout: float, chunk: int
) -> tuple[float, list[str]]:
    """In-process, the server's dispatch without HTTP: ``workers`` threads each check the next ``chunk``
    items with ``verify_batch(..., workers=1)``."""
    items = [(it["response"], it["reference"], it["domain"]) for req in requests for it in req]
    fresh_pool(workers)
    out: list[str] = [""] * len(items)
    lock = threading.Lock()
    nxt = iter(range(0, len(items), chunk))

    def lane():
        while True:
            with lock:
                at = next(nxt, None)
            if at is None:
                return
            for j, r in enumerate(verify_batch(items[at : at + chunk], workers=1, timeout=timeout)):
                out[at + j] = r.status.value

    t = time.perf_counter()
    threads = [threading.Thread(target=lane) for _ in range(workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t, out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--items", type=int, default=64, help="items per request")
    p.add_argument("--hostile", type=float, default=0.02, help="share of hostile items")
    p.add_argument("--workers", type=int, default=4, help="verifier processes (server and in-process alike)")
    p.add_argument("--max-batch", type=int, default=8, help="server: items per verify_batch call")
    p.add_argument("--timeout", type=float, default=5.0, help="per-item timeout (both sides)")
    p.add_argument("--max-requests", type=int, default=4000, help="bound on requests sent")
    p.add_argument(
        "--rounds", type=int, default=3, help="rounds of server / in-process checks for the overhead"
    )
    p.add_argument("--replay-requests", type=int, default=96, help="requests of fresh items in each round")

    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/reward_server.md"))
    args = p.parse_args()

    items = make_items(args.max_requests * args.items, args.hostile, args.seed)
    requests = [items[i : i + args.items] for i in range(0, len(items), args.items)]
    proc, port = start_server(args.workers, args.timeout, args.max_batch)
    try:
        load_avg0 = os.getloadavg()[0]
        res = load(port, requests, args.clients, args.seconds, args.timeout * 4 + 60, proc.pid)
    finally:
        stop_server(proc)
    # overhead: fresh items each round, through a fresh server and through fresh in-process workers (the
    # verifiers cache parsed answers per process: nobody may see an item twice), order alternating so
    # that the shared machine's load hits both sides alike; the median ratio is reported
    rounds, agree = [], []
    for r in range(args.rounds):
        fresh = make_items(args.replay_requests * args.items, args.hostile, args.seed + 1000 + r)
        subset = [fresh[i : i + args.items] for i in range(0, len(fresh), args.items)]
        sides = {}
        order = ("server", "in-process", "lanes")  # rotated each round: the machine's load hits all alike
        for side in order[r % 3 :] + order[: r % 3]:
            if side == "server":
                proc, port = start_server(args.workers, args.timeout, args.max_batch)
                try:
                    sides[side] = replay(port, subset, args.clients, args.timeout * 4 + 60)
                finally:
                    stop_server(proc)
            elif side == "lanes":
                sides[side] = lanes_call(subset, args.workers, args.timeout, args.max_batch)
            else:
                sides[side] = one_call(subset, args.workers, args.timeout)
        rounds.append((sides["server"][0], sides["in-process"][0], sides["lanes"][0]))
        same = [a == b == c for a, b, c in zip(sides["server"][1], sides["in-process"][1], sides["lanes"][1])]
        agree.append((sum(same), len(same), len(sides["server"][1]) == len(sides["in-process"][1])))
    served = [requests[i] for i in res["sent"]][: res["requests"]]
    ratios = sorted(srv / inp - 1 for srv, inp, _ in rounds)
    http = sorted(srv / lan - 1 for srv, _, lan in rounds)
    replay_items = args.replay_requests * args.items
    hostile_n = sum(1 for req in served for it in req if _is_hostile(it))
    n_items = sum(len(r) for r in served)
    lines = [
        "### Reward server load test (loopback)",
        "",
        f"{args.clients} concurrent clients, {args.items}-item `POST /verify` requests back to back for {args.seconds:g} s "
        f"({res['requests']} requests, {res['items']:,} items, {hostile_n} hostile = "
        f"{100 * hostile_n / max(1, n_items):.1f}%); server: `--workers {args.workers} --max-batch {args.max_batch} "
        f"--timeout {args.timeout:g}`; {os.cpu_count()} CPU cores shared with the clients and other jobs "
        f"(load average {load_avg0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end).",
        "",
        "| | items/s | wall s | p50 request s | p99 request s | max s | failed requests | RSS start / end / max MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| reward server (HTTP, batched) | {res['items_per_s']:.1f} | {res['wall_s']:.1f} | {res['p50_s']:.2f} | "
        f"{res['p99_s']:.2f} | {res['max_s']:.2f} | {res['failed']} | "
        f"{res['rss_start_mb']:.0f} / {res['rss_end_mb']:.0f} / {res['rss_max_mb']:.0f} |",
        "",
        f"Overhead: {len(rounds)} rounds, each of {replay_items:,} fresh items (the same mix) checked three ways, "
        "the order rotated each round: through a fresh server by "
        f"{args.clients} clients; by fresh in-process workers in one `verify_batch` call; and by the server's "
        f"dispatch run in-process without HTTP ({args.workers} threads, each checking the next {args.max_batch} items "
        "with `verify_batch(..., workers=1)`). All use the same "
        f"{args.workers} worker processes; the verifiers cache parsed answers per process, so no side sees an item twice.",
        "",
        "| round | server items/s | in-process, one call | in-process, server's dispatch | server vs one call | server vs its dispatch |",
        "|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {i + 1} | {replay_items / a:.0f} | {replay_items / b:.0f} | {replay_items / c:.0f} | "
            f"{100 * (a / b - 1):+.1f}% | {100 * (a / c - 1):+.1f}% |"
            for i, (a, b, c) in enumerate(rounds)
        ],
        "",
        f"**Server overhead, median: {100 * statistics.median(ratios):+.1f}% against one in-process `verify_batch` call** "
        f"(target <= 15%), {100 * statistics.median(http):+.1f}% against the same dispatch in-process (the cost of "
        "HTTP, JSON and the queue). The server's verdicts equal the in-process ones on "
        f"{sum(a for a, _, _ in agree):,}/{sum(n for _, n, _ in agree):,} items. One `verify_batch` call dispatches "
        "every item from one thread, so a large item's send or a worker's replacement after a timeout holds up the "
        "other workers' next items; the server's lanes do that in parallel. RSS is the server plus its verifier "
        "workers, sampled every second after the first 10 s.",
        "",
        f"Command: `.venv/bin/python benchmarks/reward_server.py --seconds {args.seconds:g} --clients {args.clients} "
        f"--items {args.items} --hostile {args.hostile:g} --workers {args.workers} "
        f"--max-batch {args.max_batch} --rounds {args.rounds} --replay-requests {args.replay_requests}`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if res["failures"]:
        print("failures:", res["failures"], file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0 if res["failed"] == 0 else 1


def _is_hostile(it: dict) -> bool:
    r = it["response"]
    return len(r) > 100_000 or "10^{10" in r or "100000000!" in r or "time.sleep(30)" in r


if __name__ == "__main__":
    sys.exit(main())
