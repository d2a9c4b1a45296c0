"""python -m ring_train.gpu_check [--budget-s 450] [--only CHECK,...] [--no-install] [--wheels DIR]
[--offline] [--out DIR]

Prints one line per check (``PASS|FAIL|SKIP <check> <seconds>s <detail>``) and a summary line, writes
OUT/report.md (checks and throughput) and OUT/logs/, and exits 1 only when a check FAILed.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

from .checks import build, with_needs
from .envs import ROOT, Context, default_wheels
from .report import line, markdown, summary
from .runner import SKIP, Result, exit_code, run_checks, stop_running

DEFAULT_CAP_S = 450.0  # 7.5 minutes: with start-up and the report, under 8 on one H100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ring_train.gpu_check", description=__doc__.split("\n\n")[1])
    p.add_argument(
        "--out", default=str(ROOT / "runs" / "gpu_check"), help="report, logs and overlays go here"
    )
    p.add_argument("--budget-s", type=float, default=DEFAULT_CAP_S, help="hard cap on all checks together")
    p.add_argument("--only", default="", help="comma-separated checks to run (plus the ones they need)")
    p.add_argument("--no-install", action="store_true", help="never pip install; missing layers are skipped")
    p.add_argument("--offline", action="store_true", help="pip installs from the wheels folder only")
    p.add_argument("--wheels", help="a folder of wheels for pip (default: RING_GPU_WHEELS, ./.whl, ./wheels)")
    return p.parse_args(argv)


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    wheels = Path(args.wheels) if args.wheels else default_wheels()
    ctx = Context(out=out, wheels=wheels, install=not args.no_install, offline=args.offline)
    checks = build(ctx)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in {c.name for c in checks}]
        if unknown:
            known = ", ".join(c.name for c in checks)
            print(f"gpu-check: --only: unknown check {unknown[0]!r} (known: {known})", file=sys.stderr)
            return 2
        checks = with_needs(checks, names)
    if args.budget_s <= 0:
        print(f"gpu-check: --budget-s must be positive, got {args.budget_s:g}", file=sys.stderr)
        return 2
    ctx.logs.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    done: list[Result] = []

    def emit(result: Result) -> None:
        done.append(result)
        print(line(result), flush=True)

    # a SIGTERM (a caller's timeout) unwinds like Ctrl-C: the running check's processes are killed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    interrupted = False
    try:
        results = run_checks(checks, args.budget_s, emit=emit)
    except (KeyboardInterrupt, SystemExit):
        interrupted = True
        stop_running()
        ran = {r.name for r in done}
        results = done + [Result(c.name, SKIP, 0.0, "interrupted") for c in checks if c.name not in ran]
        for r in results[len(done) :]:
            print(line(r), flush=True)
    total = time.monotonic() - t0
    header = [
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}, commit {_commit()}",
        f"python {platform.python_version()} ({sys.executable}); wheels: {wheels or 'none'}",
        f"logs: {ctx.logs}",
    ]
    command = " ".join(["python -m ring_train.gpu_check", *(sys.argv[1:] if argv is None else argv)])
    report = out / "report.md"
    report.write_text(
        markdown(results, total_s=total, cap_s=args.budget_s, header=header, command=command),
        encoding="utf-8",
    )
    print(summary(results, total, args.budget_s, report), flush=True)
    return 130 if interrupted else exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
