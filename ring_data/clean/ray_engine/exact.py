"""Exact dedup on Ray: a hash shuffle on the exact-dedup key (the normalised text's hash). Every row
of a group lands in the same partition, in input order, so ``exact_duplicates`` on the partition
decides each group exactly as on the whole run (same kept row, same evidence)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..config import CleanConfig
from ..decisions import Decision
from ..ingest import Ingested
from ..stages.base import StageResult
from ..stages.exact import REASON, ExactStage, exact_duplicates
from . import cluster
from .shards import ShardedIngested
from .views import as_ingested, merged, positions_by, to_global


@cluster.remote()
def _keys(shard: Ingested, start: int, alive: np.ndarray, parts: int) -> list[tuple]:
    """The shard's candidate rows, split by partition: (rows, ids, exact hash, has_ref, reference hash)."""
    local = np.flatnonzero(alive & (np.diff(shard.enc.offsets) > 0))
    h = shard.enc.exact_hash[local]
    out = []
    for mine in positions_by((h % np.uint64(parts)).astype(np.int64), parts):
        sel = local[mine]
        ids = [shard.ids[i] for i in sel.tolist()]
        out.append((sel + start, ids, h[mine], shard.has_ref[sel], shard.reference_hash[sel]))
    return out


@cluster.remote()
def _groups(distinct_references: bool, *parts: tuple) -> Mapping[int, Decision]:
    """One partition: its rows from every shard (in shard order, so in input order), decided together."""
    rows = np.concatenate([np.zeros(0, np.int64)] + [p[0] for p in parts])
    view = as_ingested(
        [i for p in parts for i in p[1]],
        np.concatenate([np.zeros(0, bool)] + [p[3] for p in parts]),
        np.concatenate([np.zeros(0, np.uint64)] + [p[4] for p in parts]),
        exact_hash=np.concatenate([np.zeros(0, np.uint64)] + [p[2] for p in parts]),
    )
    return to_global(exact_duplicates(view, np.ones(len(rows), bool), distinct_references), rows)


class RayExactStage(ExactStage):
    def run(self, rows: ShardedIngested, alive: np.ndarray, config: CleanConfig) -> StageResult:
        parts = cluster.partitions()
        keyed = [
            _keys.options(num_returns=parts).remote(shard, int(start), a, parts)
            for shard, start, a in zip(rows.shards, rows.starts, rows.alive_parts(alive))
        ]
        groups = [_groups.remote(config.distinct_references, *[k[p] for k in keyed]) for p in range(parts)]
        return StageResult(merged(cluster.get(groups), REASON, rows.ids))
