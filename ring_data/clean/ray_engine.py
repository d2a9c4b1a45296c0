"""``--engine ray``: the per-row work of ingest (filters + tokenise + hash) as Ray Data ``map_batches``.

The global steps (exact groups, LSH banding, union-find, index lookups) stay on the driver: their
inputs are small arrays, and they need every row at once. With no cluster address in ``RAY_ADDRESS``
a local Ray instance is started on this machine's cores.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .config import DomainRules
from .normalize import Encoded, encode

RAY_BLOCK_ROWS = 5000


def _process_table(table, rules: DomainRules):
    """Ray worker: a pyarrow table of (prompt, domain, reference_json) -> per-row verdicts and encodings."""
    import pyarrow as pa

    cols = table.to_pydict()
    rows = [
        {"prompt": p, "domain": d, "reference": json.loads(r)}
        for p, d, r in zip(cols["prompt"], cols["domain"], cols["reference_json"])
    ]
    verdicts = rules.filters.batch(rows)
    enc = encode(
        [r["prompt"] if v is None else "" for r, v in zip(rows, verdicts)],
        [r["domain"] in rules.verbatim for r in rows],
    )
    bounds = enc.offsets
    return pa.table(
        {
            "order": pa.array(cols["order"], pa.int64()),
            "verdict": pa.array([json.dumps(v) if v else None for v in verdicts], pa.string()),
            "tokens": pa.array(
                [enc.flat[bounds[i] : bounds[i + 1]] for i in range(enc.n_docs)], pa.list_(pa.uint64())
            ),
            "is_number": pa.array(
                [enc.is_number[bounds[i] : bounds[i + 1]] for i in range(enc.n_docs)], pa.list_(pa.bool_())
            ),
            "exact_hash": pa.array(enc.exact_hash, pa.uint64()),
            "digitless_hash": pa.array(enc.digitless_hash, pa.uint64()),
            "digitless_len": pa.array(enc.digitless_len, pa.int64()),
            "numbers_hash": pa.array(enc.numbers_hash, pa.uint64()),
        }
    )


def ray_batch_fn(rules: DomainRules) -> Callable[[list[dict[str, Any]]], tuple[list, Encoded]]:
    import ray

    if not ray.is_initialized():
        ray.init(
            address=os.environ.get("RAY_ADDRESS"),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            ignore_reinit_error=True,
        )
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False

    def run(rows: list[dict[str, Any]]) -> tuple[list, Encoded]:
        items = {
            "order": list(range(len(rows))),
            "prompt": [r["prompt"] for r in rows],
            "domain": [r["domain"] for r in rows],
            "reference_json": [json.dumps(r.get("reference")) for r in rows],
        }
        import pyarrow as pa

        ds = ray.data.from_arrow(pa.table(items)).repartition(max(1, len(rows) // RAY_BLOCK_ROWS))
        out = ds.map_batches(
            _process_table, fn_kwargs={"rules": rules}, batch_format="pyarrow", batch_size=RAY_BLOCK_ROWS
        )
        table = pa.concat_tables(list(out.iter_batches(batch_format="pyarrow", batch_size=None))).sort_by(
            "order"
        )
        cols = table.to_pydict()
        verdicts = [tuple(json.loads(v)) if v else None for v in cols["verdict"]]
        lengths = np.array([len(t) for t in cols["tokens"]], dtype=np.int64)
        flat = table.column("tokens").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        is_num = table.column("is_number").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        enc = Encoded(
            flat=np.asarray(flat, dtype=np.uint64),
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            is_number=np.asarray(is_num, dtype=bool),
            exact_hash=table.column("exact_hash").to_numpy().astype(np.uint64),
            digitless_hash=table.column("digitless_hash").to_numpy().astype(np.uint64),
            digitless_len=table.column("digitless_len").to_numpy().astype(np.int64),
            numbers_hash=table.column("numbers_hash").to_numpy().astype(np.uint64),
        )
        return verdicts, enc

    return run
