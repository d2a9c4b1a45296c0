"""Reading training rows: problem rows for RL (docs/architecture.md §2) and (prompt, response) rows for SFT,
through ``ring_data.io.read_rows`` (the one row reader) plus the checks training needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ring_data.errors import BadInputError
from ring_data.io import read_rows as io_read_rows


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a JSONL(.gz)/Parquet/datasets file, validated against the row schema."""
    return list(io_read_rows(path))


def read_problem_rows(path: str | Path) -> list[dict[str, Any]]:
    rows = read_rows(path)
    if not rows:
        raise BadInputError(path, "no rows")
    for i, row in enumerate(rows, start=1):
        if row.get("reference") is None:
            raise BadInputError(path, "missing reference (the verifier needs it)", line=i, field="reference")
    return rows


def read_sft_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows with ``prompt`` and ``response`` (the reasoning + answer to imitate)."""
    rows = read_rows(path)
    if not rows:
        raise BadInputError(path, "no rows")
    for i, row in enumerate(rows, start=1):
        if not isinstance(row.get("response"), str) or not row["response"]:
            raise BadInputError(
                path, "missing or empty (SFT rows need the target text)", line=i, field="response"
            )
    return rows
