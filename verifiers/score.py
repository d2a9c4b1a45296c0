"""Score a JSONL of model responses and summarise per domain (``python -m verifiers``, ``ring-data score``).

Each line: ``{"domain": ..., "reference": ..., "response": "..."}`` (or ``"responses": [...]`` for
several samples of one problem; optional ``"options": {...}`` and ``"id"``). Problem rows in the
docs/architecture.md §2 schema with a ``response``/``responses`` field added work as they are.

:func:`read_items` is a small stdlib reader of its own, the one JSONL reader outside
``ring_data.io``: ``verifiers`` sits below ``ring_data`` in the layers (docs/architecture.md §1) and
imports nothing heavy, so it cannot use that one.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .api import DEFAULT_TIMEOUT_S, verify_batch
from .registry import get_verifier
from .result import Status, VerifyResult

STATUS_COLUMNS = [s.value for s in Status]


class ScoreInputError(ValueError):
    """A line that cannot be scored: ``path:line: field 'x': what is wrong``."""

    def __init__(self, path: str, line: int, field: str | None, message: str) -> None:
        self.path, self.line, self.field, self.message = path, line, field, message
        where = f"field '{field}': " if field else ""
        super().__init__(f"{path}:{line}: {where}{message}")


@dataclass
class Scored:
    line: int
    row_id: Any
    domain: str
    sample: int
    result: VerifyResult


@dataclass
class Summary:
    """Counts per domain and status, and the mean score (reward) per domain."""

    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    score_sum: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, domain: str, r: VerifyResult) -> None:
        self.counts[domain][r.status.value] += 1
        self.score_sum[domain] += r.score

    def table(self) -> str:
        """A Markdown table: one row per domain and a total row."""
        head = ["domain", "n", "accuracy", "mean score", *STATUS_COLUMNS]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        total, total_score = Counter(), 0.0
        for d in sorted(self.counts):
            c = self.counts[d]
            total.update(c)
            total_score += self.score_sum[d]
            lines.append(self._row(d, c, self.score_sum[d]))
        if len(self.counts) > 1:
            lines.append(self._row("**all**", total, total_score))
        return "\n".join(lines)

    @staticmethod
    def _row(name: str, c: Counter, score_sum: float) -> str:
        n = sum(c.values())
        acc = c["correct"] / n if n else 0.0
        cells = [name, str(n), f"{acc:.1%}", f"{score_sum / n if n else 0:.3f}"]
        cells += [str(c[s]) for s in STATUS_COLUMNS]
        return "| " + " | ".join(cells) + " |"

    def as_dict(self) -> dict[str, Any]:
        return {
            d: {"n": sum(c.values()), "mean_score": self.score_sum[d] / max(1, sum(c.values())), **c}
            for d, c in self.counts.items()
        }


def read_items(path: str | Path) -> Iterator[tuple[int, dict[str, Any], list[str]]]:
    """(line number, row, responses) for every non-blank line; ScoreInputError names a bad line."""
    p = str(path)
    with open(path, encoding="utf-8") as fh:
        for n, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except ValueError as e:
                raise ScoreInputError(p, n, None, f"not valid JSON ({e})") from None
            if not isinstance(row, dict):
                raise ScoreInputError(p, n, None, "a line must be a JSON object")
            domain = row.get("domain")
            if not isinstance(domain, str):
                raise ScoreInputError(p, n, "domain", "missing or not a string")
            try:
                get_verifier(domain)
            except (ValueError, ImportError) as e:
                raise ScoreInputError(p, n, "domain", str(e)) from None
            if "reference" not in row:
                raise ScoreInputError(p, n, "reference", "missing required field")
            if "responses" in row:
                responses = row["responses"]
                if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
                    raise ScoreInputError(p, n, "responses", "must be a list of strings")
            elif isinstance(row.get("response"), str):
                responses = [row["response"]]
            else:
                raise ScoreInputError(p, n, "response", "missing (give 'response' or 'responses')")
            if not isinstance(row.get("options", {}), dict):
                raise ScoreInputError(p, n, "options", "must be an object")
            yield n, row, responses


def _progress_bar() -> Any:
    """A tqdm bar with rates on stderr when it is a terminal (or ``RING_PROGRESS=1``), else None."""
    if not (sys.stderr.isatty() or os.environ.get("RING_PROGRESS") == "1"):
        return None
    from tqdm import tqdm

    return tqdm(desc="verifying", unit="response", file=sys.stderr)


def score_file(
    path: str | Path, *, workers: int | None = None, timeout: float = DEFAULT_TIMEOUT_S, chunk: int = 512
) -> tuple[list[Scored], Summary]:
    """Verify every response in ``path`` (in chunks, on the worker pool) and summarise per domain."""
    scored: list[Scored] = []
    summary = Summary()
    bar = _progress_bar()
    for batch in _chunks(read_items(path), chunk):
        items, keys = [], []
        for n, row, responses in batch:
            for k, resp in enumerate(responses):
                items.append((resp, row["reference"], row["domain"], row.get("options") or {}))
                keys.append((n, row.get("id"), row["domain"], k))
        for (n, rid, domain, k), res in zip(keys, verify_batch(items, workers=workers, timeout=timeout)):
            scored.append(Scored(n, rid, domain, k, res))
            summary.add(domain, res)
        if bar is not None:
            bar.update(len(items))
    if bar is not None:
        bar.close()
    return scored, summary


def _chunks(it: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in it:
        batch.append(x)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_scored(scored: list[Scored], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for s in scored:
            fh.write(
                json.dumps(
                    {
                        "line": s.line,
                        "id": s.row_id,
                        "domain": s.domain,
                        "sample": s.sample,
                        **s.result.to_dict(),
                    }
                )
                + "\n"
            )
