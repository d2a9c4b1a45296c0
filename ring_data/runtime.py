"""Conventions every long command shares: progress bars with rates and a JSON stats file next to the output."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def progress(
    items: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it"
) -> Iterator[T]:
    """Wrap ``items`` in a tqdm bar on stderr (rate shown); silent when stderr is not a terminal and
    RING_PROGRESS is not set, so logs and CI output stay readable."""
    import os

    from tqdm import tqdm

    disable = not (sys.stderr.isatty() or os.environ.get("RING_PROGRESS"))
    yield from tqdm(
        items, total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True, mininterval=0.5
    )


def stats_path_for(output: str | Path) -> Path:
    """``out/clean.jsonl`` -> ``out/clean.jsonl.stats.json``."""
    output = Path(output)
    return output.with_name(output.name + ".stats.json")


def write_stats(output: str | Path, stats: dict[str, Any]) -> Path:
    """Write machine-readable stats next to ``output`` (or to ``output`` itself if it ends in .json)."""
    output = Path(output)
    path = output if output.name.endswith(".stats.json") else stats_path_for(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **stats}
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    return path
