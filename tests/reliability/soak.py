"""Sizes and figures shared by the fault and load tests.

``make test`` runs each test at its short size; ``make soak`` sets ``RING_SOAK=1`` and runs the long
versions. Every test reports what it measured with :func:`record`: one JSON line per test in
``$RING_FIGURES`` (default ``runs/reliability/figures.jsonl``), the source of docs/reliability.md's table.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

SOAK = os.environ.get("RING_SOAK", "") not in ("", "0")


def scale(short: int, long: int) -> int:
    """``short`` in the normal suite, ``long`` under ``make soak``."""
    return long if SOAK else short


def figures_path() -> Path:
    return Path(os.environ.get("RING_FIGURES", "runs/reliability/figures.jsonl"))


def record(test: str, **figures: Any) -> None:
    """Append what a test measured (also printed, so ``pytest -s`` shows it)."""
    entry = {"test": test, "soak": SOAK, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **figures}
    line = json.dumps(entry, sort_keys=True, default=str)
    print(f"\nFIGURES {line}")
    path = figures_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(line + "\n")
