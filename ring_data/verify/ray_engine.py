"""``ring-data verify --engine ray``: each row's reference check (:func:`~.checks.check_row`: the
domain's ``check_reference``, code solutions run in the sandbox, candidates scored with
``verifiers.verify_batch``) runs in Ray Data ``map_batches`` tasks on the cluster's workers.

The driver reads the rows, skips those an earlier run already wrote (the journal), and gets the
verdicts back in input order (``preserve_order``), so it records exactly what the local engine
records. Rows travel as JSON text (their references have any shape, which Arrow columns do not
allow) in windows of rows, each one Ray Data run; a task whose worker dies is run again by Ray.

Domains a user registered in the driver's process must be registered in the workers too (a module
they import, e.g. through ``runtime_env={"worker_process_setup_hook": ...}``), or their rows are
``unknown_domain`` there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any

import numpy as np

from ring_data import raycluster
from ring_data.io import dumps, loads

from .checks import CheckConfig, RowVerdict, check_row

ROWS_PER_TASK = 64  # one map_batches call: enough rows that a task's start-up is small beside them
WINDOW_PER_CPU = 4096  # rows per Ray Data run per cluster CPU (a run costs ~0.5 s to start)


def connect():
    """The cluster (``ring_data.raycluster``), set to give results back in input order."""
    ray = raycluster.connect()
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    return ray


def _check_batch(batch: dict[str, np.ndarray], config: CheckConfig, threads: int) -> dict[str, np.ndarray]:
    """A worker's share: the rows checked concurrently (code checks wait on sandbox processes)."""
    rows = [loads(x) for x in batch["row"]]
    with ThreadPoolExecutor(max(1, min(threads, len(rows)))) as pool:
        verdicts = list(pool.map(lambda r: check_row(r, config), rows))
    out = [dumps([v.ok, v.reason, v.evidence, v.unverified]) for v in verdicts]
    return {"verdict": np.array(out, dtype=object)}


def checked_on_ray(
    rows: Iterable[dict[str, Any]], config: CheckConfig, *, threads: int = 4
) -> Iterator[tuple[dict[str, Any], RowVerdict]]:
    """``(row, verdict)`` for every row, in input order, checked on the cluster."""
    ray = connect()
    window = WINDOW_PER_CPU * max(1, int(ray.cluster_resources().get("CPU", 1)))
    it = iter(rows)
    while chunk := list(islice(it, window)):
        blocks = -(-len(chunk) // ROWS_PER_TASK)  # one block per task (Ray's default: many small ones)
        ds = ray.data.from_items([{"row": dumps(r)} for r in chunk], override_num_blocks=blocks).map_batches(
            _check_batch,
            fn_kwargs={"config": config, "threads": threads},
            batch_size=ROWS_PER_TASK,
            batch_format="numpy",
        )
        verdicts = (v for b in ds.iter_batches(batch_size=None, batch_format="numpy") for v in b["verdict"])
        for row, raw in zip(chunk, verdicts, strict=True):
            ok, reason, evidence, unverified = loads(raw)
            yield row, RowVerdict(ok, reason, evidence, unverified)
