"""The first clean stage: read rows, validate them, run the filters, tokenise and hash the prompts,
and spool the rows for the write stage. Nothing is dropped here: filter verdicts become decisions.

Reading and validating rows is Python work on one core, so a big input is cut into byte ranges
(``ring_data.io.split_segments``) and each range is ingested by its own process; the parent takes
the first range and merges the others in input order, so the result is the same row for row as a
single-process run. The workers are plain ``python -m`` subprocesses (not ``multiprocessing``), so
a user's script that calls :func:`~.pipeline.clean` without a ``__main__`` guard still works;
what they need from the domain and filter registries comes resolved in their job
(:class:`~.config.DomainRules`).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from verifiers import reference_answer

from ..io import Segment, dumps, loads, read_rows, split_segments
from ..rows import CURATION_FIELDS, canonical_json
from ..runtime import bar
from . import workers
from .config import CleanConfig, DomainRules
from .decisions import Decision, load_decisions, save_decisions
from .decontam.hit import Hit
from .decontam.match import find_contamination
from .decontam.sources import load_indexes
from .normalize import FNV_PRIME, Encoded, MathEncoded, encode, encode_math, hash_strings, mix64


@dataclass
class Ingested:
    ids: list[str]
    domains: list[str]
    has_ref: np.ndarray
    reference_hash: np.ndarray  # uint64 hash of the canonical reference (answer normalised), 0 when none
    enc: Encoded
    filtered: dict[int, Decision]
    bad_rows: list[dict[str, Any]]
    rows_path: Path
    contamination: dict[int, Hit] | None = None  # lexical benchmark hits of unfiltered rows ...
    contamination_key: str | None = None  # ... for the decontamination settings with this fingerprint
    verbatim: frozenset[str] = frozenset()  # domains whose prompts were tokenised verbatim

    @property
    def n(self) -> int:
        return len(self.ids)


def prepare_batch(rows: list[dict[str, Any]], rules: DomainRules, math: bool = False) -> tuple[list, Encoded]:
    """The per-row work of ingest (a pure function of a batch, so Ray can run it too): filter
    verdicts and the encoded prompts (filtered rows are encoded as empty text); with ``math`` also
    the prompts' math signatures for decontamination (``Encoded.math``)."""
    verdicts = rules.filters.batch(rows)
    enc = encode(
        [r["prompt"] if v is None else "" for r, v in zip(rows, verdicts)],
        [r["domain"] in rules.verbatim for r in rows],
        math=math,
        answers=[reference_answer(r.get("reference")) for r in rows] if math else None,
    )
    return verdicts, enc


def math_signatures(rows: list[dict[str, Any]], prompts: list[str], verbatim: frozenset[str]) -> MathEncoded:
    """Math signatures of a batch's prompts (puzzle grids have none) and of their reference answers."""
    texts = [p if r["domain"] not in verbatim else "" for r, p in zip(rows, prompts)]
    return encode_math(texts, [reference_answer(r.get("reference")) for r in rows])


def reference_hashes(references: list[Any]) -> np.ndarray:
    """One uint64 per row: 0 without a reference, else a hash of the reference with its answer
    normalised like problem text (``\\frac{1}{2}`` = ``\\dfrac12``) and curation-only fields
    (``solutions``, ``candidates``) left out. Equal hashes = the same expected result."""
    if not references:
        return np.zeros(0, dtype=np.uint64)
    answers, rests = [], []
    for ref in references:
        answers.append(reference_answer(ref) or "")
        rest = {k: v for k, v in ref.items() if k not in _NOT_IDENTITY} if isinstance(ref, dict) else None
        rests.append(canonical_json(rest) if rest else "")
    enc = encode(answers)
    ans = np.where(np.diff(enc.offsets) > 0, enc.exact_hash, np.uint64(0)).astype(np.uint64)
    rest_h = np.where(np.array([bool(r) for r in rests]), hash_strings(rests), np.uint64(0)).astype(np.uint64)
    with np.errstate(over="ignore"):
        combined = mix64(ans * FNV_PRIME + rest_h + np.uint64(1))
    return np.where((ans == 0) & (rest_h == 0), np.uint64(0), combined).astype(np.uint64)


_NOT_IDENTITY = frozenset({"answer", *CURATION_FIELDS})


def _has_reference(ref: Any) -> bool:
    if ref is None or ref == "" or ref == {}:
        return False
    if isinstance(ref, dict) and "answer" in ref:
        return ref["answer"] not in (None, "")
    return True


# ---- one process: a list of files / byte ranges ------------------------------------------------------
def ingest_segments(
    items: list[Path | Segment],
    spool_path: Path,
    config: CleanConfig,
    rules: DomainRules,
    batch_fn: Callable | None = None,
    on_batch: Callable[[int], None] | None = None,
    lexical_key: str | None = None,
) -> Ingested:
    """Ingest ``items`` in order in this process. ``on_batch(rows)`` is called after each batch. With
    ``lexical_key`` the unfiltered rows are also checked against the benchmark indexes."""
    want_math = lexical_key is not None and config.decontam_params.math
    batch_fn = batch_fn or (lambda rows: prepare_batch(rows, rules, math=want_math))
    ids: list[str] = []
    domains: list[str] = []
    has_ref: list[bool] = []
    reference_parts: list[Future] = []
    parts: list[Encoded] = []
    filtered: dict[int, Decision] = {}
    bad_rows: list[dict[str, Any]] = []
    reader = read_rows(
        items,
        mapping=config.mapping or None,
        on_bad_row=config.on_bad_row,
        bad_rows=bad_rows,
        defaults=config.defaults or None,
        with_raw=True,
    )
    raws: list[bytes | None] = []  # the input line of each row of the batch, when the row is just that

    def record(rows: list[dict[str, Any]], result) -> None:
        verdicts, enc = result
        if want_math and enc.math is None:  # a batch function without math signatures (Ray)
            enc.math = math_signatures(
                rows, [r["prompt"] if v is None else "" for r, v in zip(rows, verdicts)], rules.verbatim
            )
        base = len(ids)
        references = [row.get("reference") for row in rows]
        ids.extend([row["id"] for row in rows])
        domains.extend([row["domain"] for row in rows])
        has_ref.extend(map(_has_reference, references))
        for i, verdict in enumerate(verdicts):
            if verdict is not None:
                filtered[base + i] = Decision(verdict[0], verdict[1])
        # spool: the input line itself where the row is unchanged (no second encoding), else the row
        spool.write(b"".join([raw or dumps(row) + b"\n" for row, raw in zip(rows, raws[: len(rows)])]))
        del raws[: len(rows)]
        parts.append(enc)
        # per-row hashes: computed batch by batch on the worker while the next batch is parsed
        reference_parts.append(pool.submit(reference_hashes, references))
        if on_batch:
            on_batch(len(rows))

    # One batch is filtered/tokenised in a worker thread (polars and numpy release the GIL) while the
    # main thread parses and validates the next one; results are recorded in input order.
    pending: tuple[list, Future] | None = None
    batch: list[dict[str, Any]] = []
    with spool_path.open("wb") as spool, ThreadPoolExecutor(max_workers=1) as pool:
        for row, raw in reader:
            batch.append(row)
            raws.append(raw)
            if len(batch) >= config.batch_rows:
                if pending:
                    record(pending[0], pending[1].result())
                pending, batch = (batch, pool.submit(batch_fn, batch)), []
        if pending:
            record(pending[0], pending[1].result())
        if batch:
            record(batch, batch_fn(batch))
        reference_hash = np.concatenate([np.zeros(0, np.uint64)] + [f.result() for f in reference_parts])
    enc = concat_encoded(parts)
    hits = None
    if lexical_key is not None:
        unfiltered = np.ones(len(ids), dtype=bool)
        unfiltered[list(filtered)] = False
        indexes = load_indexes(config.builtin_benchmarks, config.benchmark_files, n=config.decontam_params.n)
        hits = find_contamination(enc, indexes, config.decontam_params, active=unfiltered)
        enc.math = None  # used up: not handed back from a worker, not saved (a rerun reads the spool)
    return Ingested(
        ids,
        domains,
        np.array(has_ref, dtype=bool),
        reference_hash,
        enc,
        filtered,
        bad_rows,
        spool_path,
        hits,
        lexical_key,
        rules.verbatim,
    )


def concat_encoded(parts: list[Encoded]) -> Encoded:
    if not parts:
        return encode([])
    shift = np.cumsum([0] + [len(p.flat) for p in parts[:-1]])
    return Encoded(
        flat=np.concatenate([p.flat for p in parts]),
        offsets=np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, shift)]).astype(np.int64),
        is_number=np.concatenate([p.is_number for p in parts]),
        exact_hash=np.concatenate([p.exact_hash for p in parts]),
        digitless_hash=np.concatenate([p.digitless_hash for p in parts]),
        digitless_len=np.concatenate([p.digitless_len for p in parts]),
        numbers_hash=np.concatenate([p.numbers_hash for p in parts]),
        math=MathEncoded.concat([p.math for p in parts]) if all(p.math is not None for p in parts) else None,
    )


def merge(parts: list[Ingested], spool_path: Path) -> Ingested:
    """Shards in input order -> one result, as if one process had read them all."""
    ids: list[str] = []
    domains: list[str] = []
    filtered: dict[int, Decision] = {}
    bad_rows: list[dict[str, Any]] = []
    hits: dict[int, Hit] | None = {} if all(p.contamination is not None for p in parts) else None
    for part in parts:
        filtered.update({len(ids) + i: d for i, d in part.filtered.items()})
        if hits is not None:
            hits.update({len(ids) + i: h for i, h in part.contamination.items()})
        ids += part.ids
        domains += part.domains
        bad_rows += part.bad_rows
    with spool_path.open("ab") as out:
        for part in parts:
            if part.rows_path != spool_path:
                with part.rows_path.open("rb") as src:
                    while block := src.read(1 << 24):
                        out.write(block)
                part.rows_path.unlink()
    return Ingested(
        ids,
        domains,
        np.concatenate([p.has_ref for p in parts]),
        np.concatenate([p.reference_hash for p in parts]),
        concat_encoded([p.enc for p in parts]),
        filtered,
        bad_rows,
        spool_path,
        hits,
        parts[0].contamination_key if hits is not None else None,
        parts[0].verbatim,
    )


# ---- several processes ---------------------------------------------------------------------------
# A worker spends ~0.5 s starting Python and handing its result back; in that time this process reads
# about 12 MB of short problems, so its own shard is that much bigger (measured on 2 cores, 200k rows:
# with 8 MB this process waited ~0.13 s for the worker, with 16 MB the worker ~0.03 s for it).
WORKER_START_BYTES = 12 << 20
# a prewarmed worker (``workers.prewarm``) has imported already (measured: 2 MB left it ~0.1 s behind)
PREWARMED_START_BYTES = 6 << 20


def ingest(
    inputs: list[Path],
    work: Path,
    config: CleanConfig,
    rules: DomainRules,
    batch_fn: Callable | None = None,
    lexical_key: str | None = None,
) -> Ingested:
    """Ingest every input into ``work``: in this process, or, for big plain-JSONL input, in
    ``config.ingest_workers`` processes (0 = one per usable core, up to 8)."""
    spool = work / "rows.jsonl"
    n_workers = config.ingest_workers or min(workers.usable_cores(), 8)
    shards = [list(inputs)]
    if batch_fn is None and n_workers > 1:  # the Ray engine has its own parallelism
        head_start = PREWARMED_START_BYTES if workers.prewarmed() else WORKER_START_BYTES
        shards = split_segments(
            list(inputs), n_workers, int(config.min_shard_mb * 2**20), head_start=head_start
        )
    progress = bar(desc="clean: read+filter+tokenise", unit="rows")
    if len(shards) == 1:
        workers.release()
        with progress:
            return ingest_segments(
                shards[0], spool, config, rules, batch_fn, on_batch=progress.update, lexical_key=lexical_key
            )
    procs = workers.take(len(shards) - 1)
    for k, (proc, shard) in enumerate(zip(procs, shards[1:]), start=1):
        job = (shard, work / f"rows.{k}.jsonl", config, rules, lexical_key, work / f"shard{k}.result.pkl")
        proc.assign(work / f"shard{k}.job.pkl", job, work / f"shard{k}.result.pkl")
    try:
        own = [0]

        def on_batch(n: int) -> None:
            own[0] += n
            progress.update(own[0] + sum(p.rows for p in procs) - progress.n)

        with progress:
            first = ingest_segments(
                shards[0], spool, config, rules, on_batch=on_batch, lexical_key=lexical_key
            )
            parts = [first] + [p.result(lambda: on_batch(0)) for p in procs]
    finally:
        for p in procs:
            p.stop()
    return merge(parts, spool)


def worker_main(job_path: str) -> int:
    """Body of a worker process (``ring_data.clean.ingest_worker``)."""
    shard, spool, config, rules, lexical_key, result = pickle.loads(Path(job_path).read_bytes())
    Path(job_path).unlink()
    done = [0]

    def report(n: int) -> None:
        done[0] += n
        print(done[0], flush=True)

    try:
        payload = (
            True,
            ingest_segments(shard, spool, config, rules, on_batch=report, lexical_key=lexical_key),
        )
    except Exception as e:  # noqa: BLE001 - handed to the parent, which raises it
        payload = (False, e)
    tmp = result.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.rename(result)
    return 0


# ---- saved stage ----------------------------------------------------------------------------------
def save_ingested(ing: Ingested, work: Path) -> None:
    e = ing.enc
    np.savez(
        work / "arrays.npz",
        flat=e.flat,
        offsets=e.offsets,
        is_number=e.is_number,
        exact_hash=e.exact_hash,
        digitless_hash=e.digitless_hash,
        digitless_len=e.digitless_len,
        numbers_hash=e.numbers_hash,
        has_ref=ing.has_ref,
        reference_hash=ing.reference_hash,
    )
    meta = {"ids": ing.ids, "domains": ing.domains, "verbatim": sorted(ing.verbatim)}
    (work / "rows_meta.json").write_text(json.dumps(meta))
    save_decisions(work / "decisions.json", ing.filtered)
    if ing.contamination is not None:
        hits = {"key": ing.contamination_key, "hits": {i: asdict(h) for i, h in ing.contamination.items()}}
        (work / "contamination.json").write_bytes(dumps(hits))
    with (work / "bad_rows.jsonl").open("wb") as fh:
        for b in ing.bad_rows:
            fh.write(dumps(b) + b"\n")


def load_ingested(work: Path) -> Ingested:
    with np.load(work / "arrays.npz") as z:
        a = {k: z[k] for k in z.files}
    has_ref = a.pop("has_ref")
    reference_hash = a.pop("reference_hash")
    meta = json.loads((work / "rows_meta.json").read_text())
    bad = [loads(line) for line in (work / "bad_rows.jsonl").read_bytes().splitlines() if line]
    hits, key = None, None
    if (work / "contamination.json").exists():
        saved = loads((work / "contamination.json").read_bytes())
        hits, key = {int(i): Hit(**h) for i, h in saved["hits"].items()}, saved["key"]
    return Ingested(
        meta["ids"],
        meta["domains"],
        has_ref,
        reference_hash,
        Encoded(**a),
        load_decisions(work / "decisions.json"),
        bad,
        work / "rows.jsonl",
        hits,
        key,
        frozenset(meta["verbatim"]),
    )
