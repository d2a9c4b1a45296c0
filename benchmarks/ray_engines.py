"""``--engine ray`` against ``--engine local`` on the same machine: ``ring-data clean``, ``verify`` and
``annotate`` run as the command line runs them (one process each), on the same input, and their
kept/rejects files compared byte for byte.

    .venv/bin/python benchmarks/ray_engines.py                       # ~5 minutes on 2 cores
    .venv/bin/python benchmarks/ray_engines.py --clean-rows 1000000 --only clean

Two Ray set-ups: ``fresh`` (no ``RAY_ADDRESS``: the command starts a local Ray instance on this
machine's cores and stops it at the end, what one machine gets) and ``cluster`` (a Ray instance
started beforehand, ``RAY_ADDRESS`` pointing at it: the command only connects, as on a real
cluster). Reported: wall time, rows/s, the peak RSS of the command's own process (the
driver; Ray's workers are separate processes) and the machine's 1-minute load average before and
after (other work on the machine slows every figure). Writes JSON lines to
benchmarks/results/ray_engines.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


HOLDER = """
import sys, ray
ray.init(address="local", num_cpus=int(sys.argv[1]), include_dashboard=False, configure_logging=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()
"""


def _run(argv: list[str], env: dict[str, str]) -> dict:
    """Run one command; wall time and the peak RSS of its own process, sampled every 50 ms."""
    import psutil

    load = os.getloadavg()[0]
    t = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    peak = [0]

    def sample() -> None:
        p = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                peak[0] = max(peak[0], p.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t
    watcher.join()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{err.decode()[-2000:]}")
    return {
        "wall_s": round(wall, 2),
        "driver_peak_rss_mib": round(peak[0] / 2**20),
        "load_before": round(load, 1),
        "load_after": round(os.getloadavg()[0], 1),
    }


def _same_files(a: Path, b: Path) -> bool:
    rej = lambda p: p.with_name(p.name.replace(".jsonl", ".rejects.jsonl"))  # noqa: E731
    return a.read_bytes() == b.read_bytes() and rej(a).read_bytes() == rej(b).read_bytes()


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "cli.ring_data", *map(str, args)]


def _each_engine(
    tmp: Path,
    command: str,
    src: Path,
    envs: dict[str, dict],
    size: tuple[str, int],
    rate: tuple[str, int | None],
    *options,
) -> list[dict]:
    """Run ``ring-data COMMAND src -o ... OPTIONS`` once per engine (local first): wall time, driver
    memory, ``rate`` = (key, digits) of ``size`` = (key, count) per second, same files as local."""
    (size_key, count), (rate_key, digits) = size, rate
    out = []
    for engine, env in envs.items():
        dest = tmp / f"{command}_{engine}.jsonl"
        flags = ["--engine", "ray"] if engine != "local" else []
        res = _run(_cli(command, src, "-o", dest, *options, "--no-resume", *flags), env)
        out.append({"command": command, "engine": engine, size_key: count, **res})
        out[-1][rate_key] = round(count / res["wall_s"], digits)
        out[-1]["same_files_as_local"] = _same_files(dest, tmp / f"{command}_local.jsonl")
    return out


def bench_clean(tmp: Path, rows: int, envs: dict[str, dict]) -> list[dict]:
    from ring_data.clean.corpus import write_corpus

    src = tmp / "clean_in.jsonl"
    write_corpus(src, rows, seed=3, mixed=True)
    return _each_engine(tmp, "clean", src, envs, ("rows", rows), ("rows_per_s", None))


def bench_verify(tmp: Path, rows: int, envs: dict[str, dict]) -> list[dict]:
    src = tmp / "verify_in.jsonl"
    with src.open("w") as fh:
        for i in range(rows):
            ref = {"answer": f"\\frac{{{i}}}{{7}}"}
            if i % 3 == 0:
                ref["candidates"] = [f"{i}/7", f"\\frac{{{i}}}{{7}}", "0.5"]
            fh.write(json.dumps({"id": f"v{i}", "domain": "math", "prompt": "p", "reference": ref}) + "\n")
    return _each_engine(tmp, "verify", src, envs, ("rows", rows), ("rows_per_s", 1))


def bench_annotate(tmp: Path, problems: int, envs: dict[str, dict]) -> list[dict]:
    from ring_data.annotate.prompts import render_user_text
    from ring_data.annotate.tiny_model import build_tiny_model

    rows = [
        {
            "id": f"q{i}",
            "domain": "math",
            "prompt": f"Add {i % 50} and {i % 50 + 1}.",
            "reference": {"answer": str(2 * (i % 50) + 1)},
        }
        for i in range(problems)
    ]
    pairs = [(render_user_text(r), f"\\boxed{{{r['reference']['answer']}}}") for r in rows[:50]]
    model = build_tiny_model(tmp / "tiny", train_pairs=pairs, steps=150, hidden_size=128)
    src = tmp / "annotate_in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    sampler = ["--sampler", f"hf:{model}", "--n", 8, "--max-tokens", 24, "--temperature", 0.8]
    return _each_engine(tmp, "annotate", src, envs, ("problems", problems), ("problems_per_s", 2), *sampler)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clean-rows", type=int, default=200_000)
    ap.add_argument("--verify-rows", type=int, default=3_000)
    ap.add_argument("--annotate-problems", type=int, default=96)
    ap.add_argument("--only", choices=("clean", "verify", "annotate"), action="append")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="CPUs of the Ray instances")
    args = ap.parse_args()
    results = ROOT / "benchmarks" / "results" / "ray_engines.jsonl"
    base = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    base["RAY_AUTH_MODE"] = "disabled"  # a second driver on this machine joins without a token
    # the "cluster" set-up: a Ray instance held by a process of ours (not `ray start`, which would make
    # every ray.init() on this shared machine join it), stopped by ending that process
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(args.cpus)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=base,
        text=True,
    )
    address = holder.stdout.readline().strip()
    envs = {"local": base, "ray-fresh": base, "ray-cluster": {**base, "RAY_ADDRESS": address}}
    rows: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp_dir:
            tmp = Path(tmp_dir)
            todo = args.only or ["clean", "verify", "annotate"]
            if "clean" in todo:
                rows += bench_clean(tmp, args.clean_rows, envs)
            if "verify" in todo:
                rows += bench_verify(tmp, args.verify_rows, envs)
            if "annotate" in todo:
                rows += bench_annotate(tmp, args.annotate_problems, envs)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    with results.open("a") as fh:
        for r in rows:
            r["cpus"] = os.cpu_count()
            r["date"] = time.strftime("%Y-%m-%d %H:%M")
            fh.write(json.dumps(r) + "\n")
            print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
