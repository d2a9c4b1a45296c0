"""Ingest on Ray: one task per byte range of the inputs runs the local engine's ``ingest_segments`` on
it and the benchmark lookups for its rows. The result of a range (its per-row arrays) stays in the
object store for the stages; the driver gets a copy without the token arrays (ids, domains, filter
decisions, benchmark hits, bad rows) and the range's spooled rows, which it appends to its spool in
input order: row for row what the local engine reads.

The inputs must be readable from every node at the same path (a shared filesystem), as for any Ray
reader; user benchmark files are read on the driver only (their index travels in the object store).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import ray

from ...io import split_segments
from ...runtime import bar
from ..columns import DomainColumn, IdColumn
from ..config import CleanConfig, DomainRules
from ..decisions import Decision
from ..decontam.hit import Hit
from ..decontam.sources import load_indexes
from ..ingest import Ingested, ingest_segments, load_ingested, save_ingested
from . import cluster


@dataclass
class ShardedIngested(Ingested):
    """The driver's view of a Ray ingest: every field of :class:`Ingested` but ``enc`` (None: the token
    arrays live in ``shards``, one object store entry per input range, rows ``starts[k]:starts[k+1]``)."""

    shards: list[ray.ObjectRef] = field(default_factory=list)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))

    def alive_parts(self, alive: np.ndarray) -> list[np.ndarray]:
        """``alive`` cut into one slice per shard."""
        return [alive[a:b] for a, b in zip(self.starts[:-1], self.starts[1:])]


@cluster.remote(num_returns=3)
def _ingest_range(
    items: list, config: CleanConfig, rules: DomainRules, lexical_key: str | None, indexes: list | None
) -> tuple[Ingested, bytes, Ingested]:
    """One input range: (the result without token arrays, its spooled rows, the full result)."""
    with tempfile.TemporaryDirectory(prefix="ring-clean-ray-") as tmp:  # a retried task starts afresh
        spool = Path(tmp) / "rows.jsonl"
        part = ingest_segments(items, spool, config, rules, lexical_key=lexical_key, indexes=indexes)
        spooled = spool.read_bytes()
    part.rows_path = Path("rows.jsonl")  # the driver's spool holds this range's rows
    part.ids, part.domains = IdColumn.of(part.ids), DomainColumn.of(part.domains)  # compact to move
    return replace(part, enc=None), spooled, part


def ingest_on_ray(
    files: list[Path], work: Path, config: CleanConfig, rules: DomainRules, lexical_key: str | None
) -> ShardedIngested:
    cluster.connect()
    ranges = split_segments(files, 2 * cluster.partitions(), int(config.min_shard_mb * 2**20))
    indexes = None
    if lexical_key is not None:  # loaded once here, shared by every task through the object store
        n = config.decontam_params.n
        indexes = ray.put(load_indexes(config.builtin_benchmarks, config.benchmark_files, n=n))
    config_ref, rules_ref = ray.put(config), ray.put(rules)
    tasks = [_ingest_range.remote(items, config_ref, rules_ref, lexical_key, indexes) for items in ranges]
    metas: list[Ingested] = []
    spool = work / "rows.jsonl"
    with spool.open("wb") as out, bar(desc="clean: read+filter+tokenise (ray)", unit="rows") as progress:
        for meta_ref, spool_ref, _ in tasks:  # in input order; the first bad row raises first
            metas.append(cluster.get(meta_ref))
            out.write(cluster.get(spool_ref))
            del spool_ref
            progress.update(metas[-1].n)
    return _merge(metas, [shard for _, _, shard in tasks], spool, rules.verbatim)


def _merge(
    metas: list[Ingested], shards: list[ray.ObjectRef], spool: Path, verbatim: frozenset[str]
) -> ShardedIngested:
    """The ranges' results in input order as one (as the local engine merges its ingest processes'),
    without the token arrays."""
    filtered: dict[int, Decision] = {}
    bad_rows: list[dict[str, Any]] = []
    hits: dict[int, Hit] | None = {} if all(m.contamination is not None for m in metas) else None
    names: dict[str, int] = {}  # domain codes of the whole run, in order of first appearance
    codes = []
    start = 0
    for m in metas:
        filtered.update({start + i: d for i, d in m.filtered.items()})
        if hits is not None:
            hits.update({start + i: h for i, h in m.contamination.items()})
        domains = DomainColumn.of(m.domains) if not isinstance(m.domains, DomainColumn) else m.domains
        recode = np.array([names.setdefault(d, len(names)) for d in domains.names] or [0], np.uint16)
        codes.append(recode[domains.codes])
        bad_rows += m.bad_rows
        start += m.n
    ids = [m.ids if isinstance(m.ids, IdColumn) else IdColumn.of(m.ids) for m in metas]
    return ShardedIngested(
        IdColumn(
            b"".join(i.blob for i in ids),
            np.concatenate([np.zeros(0, np.int64)] + [i.lengths() for i in ids]),
        ),
        DomainColumn(np.concatenate([np.zeros(0, np.uint16)] + codes), list(names)),
        np.concatenate([np.zeros(0, bool)] + [m.has_ref for m in metas]),
        np.concatenate([np.zeros(0, np.uint64)] + [m.reference_hash for m in metas]),
        None,
        filtered,
        bad_rows,
        spool,
        hits,
        metas[0].contamination_key if metas and hits is not None else None,
        verbatim,
        shards=shards,
        starts=np.concatenate([[0], np.cumsum([m.n for m in metas])]).astype(np.int64),
    )


# ---- saved stage: one folder per range in the local engine's format -------------------------------
def save_shards(ing: ShardedIngested, work: Path) -> None:
    """Each range's full result, fetched one at a time (the driver never holds them all)."""
    for k, ref in enumerate(ing.shards):
        part = work / f"shard{k}"
        part.mkdir(exist_ok=True)
        save_ingested(cluster.get(ref), part)
    (work / "shards.json").write_text(
        json.dumps({"count": len(ing.shards), "verbatim": sorted(ing.verbatim)})
    )


def load_shards(work: Path) -> ShardedIngested:
    """A saved Ray ingest back in the object store, one range at a time."""
    saved = json.loads((work / "shards.json").read_text())
    metas, refs = [], []
    for k in range(saved["count"]):
        part = load_ingested(work / f"shard{k}")
        refs.append(ray.put(part))
        metas.append(replace(part, enc=None))
    return _merge(metas, refs, work / "rows.jsonl", frozenset(saved["verbatim"]))
