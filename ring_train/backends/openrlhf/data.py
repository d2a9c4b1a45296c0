"""Problem rows (docs/architecture.md §2) -> OpenRLHF prompt datasets: ``prompt`` as the input key and the
verifier's needs as a JSON ``label`` (OpenRLHF passes only the label column to the reward function)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from ring_data.io import read_rows, write_rows

INPUT_KEY, LABEL_KEY = "prompt", "label"


def to_prompt_row(row: dict) -> dict:
    return {
        INPUT_KEY: row["prompt"],
        LABEL_KEY: json.dumps(
            {"domain": row["domain"], "reference": row.get("reference")}, ensure_ascii=False
        ),
        "datasource": row["domain"],
        "id": row["id"],
    }


def export_prompts(source: str | Path, out_path: str | Path, limit: int | None = None) -> int:
    """Write ``source`` rows (the first ``limit``, if given) as an OpenRLHF prompt dataset (JSONL);
    returns the row count."""
    rows = (to_prompt_row(r) for r in read_rows(source))
    return write_rows(out_path, rows if limit is None else itertools.islice(rows, limit))
