"""The first clean stage: read rows, validate them, run the filters, tokenise and hash the prompts,
check them against the benchmark indexes, and spool the rows for the write stage. Nothing is dropped
here: filter verdicts and benchmark hits become decisions.

Each batch's arrays are appended to column files (:mod:`.columns`) as it is done, so an ingest
process holds one batch, not its whole share of the input; the result keeps the few per-row
arrays the stages need in memory and maps the token arrays (``ring-data clean`` on 10M rows).

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
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

try:  # in the data extra, like ring_data.io's parser
    import orjson
except ImportError:
    orjson = None

from verifiers import reference_answer

from ..io import Segment, dumps, loads, read_rows, split_segments
from ..rows import CURATION_FIELDS, canonical_json
from ..runtime import bar
from . import workers
from .columns import (
    ColumnWriter,
    DomainColumn,
    IdColumn,
    append_columns,
    map_column,
    read_column,
)
from .config import CleanConfig, DomainRules
from .decisions import Decision, load_decisions, save_decisions
from .decontam.hit import Hit
from .decontam.match import find_contamination
from .decontam.sources import load_indexes
from .normalize import FNV_PRIME, Encoded, MathEncoded, encode, encode_math, mix64


@dataclass
class Ingested:
    ids: Sequence[str]  # a list, or an IdColumn (local engine)
    domains: Sequence[str]  # a list, or a DomainColumn
    has_ref: np.ndarray
    reference_hash: np.ndarray  # uint64 hash of the canonical reference (answer normalised), 0 when none
    enc: Encoded
    filtered: dict[int, Decision]
    bad_rows: list[dict[str, Any]]
    rows_path: Path
    contamination: dict[int, Hit] | None = None  # lexical benchmark hits of unfiltered rows ...
    contamination_key: str | None = None  # ... for the decontamination settings with this fingerprint
    verbatim: frozenset[str] = frozenset()  # domains whose prompts were tokenised verbatim
    columns: Path | None = None  # the column files behind ``enc``'s token arrays (memory maps), if any

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
        rests.append(_identity_bytes(rest) if rest else b"")
    # each distinct answer tokenised once (a batch has few: 0-999, 1/2, ...)
    distinct: dict[str, int] = {}
    which = np.fromiter((distinct.setdefault(a, len(distinct)) for a in answers), np.int64, len(answers))
    enc = encode(list(distinct))
    ans = np.where(np.diff(enc.offsets) > 0, enc.exact_hash, np.uint64(0)).astype(np.uint64)[which]
    rest_h = np.fromiter((xxhash.xxh64_intdigest(r) if r else 0 for r in rests), np.uint64, len(rests))
    with np.errstate(over="ignore"):
        combined = mix64(ans * FNV_PRIME + rest_h + np.uint64(1))
    return np.where((ans == 0) & (rest_h == 0), np.uint64(0), combined).astype(np.uint64)


def _identity_bytes(rest: dict[str, Any]) -> bytes:
    """The reference's other fields in one canonical form (sorted keys, no spaces): orjson's, ~6x
    faster than the standard library's; its text where orjson would write ``null`` for a NaN or
    cannot write the value (an integer over 64 bits, a key that is not a string), so that two
    references get the same bytes exactly when ``canonical_json`` gives them the same text."""
    out = b"null"
    if orjson is not None:
        try:
            out = orjson.dumps(rest, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # orjson.JSONEncodeError is one
            pass
    return canonical_json(rest).encode("utf-8") if b"null" in out else out


_NOT_IDENTITY = frozenset({"answer", *CURATION_FIELDS})


def _has_reference(ref: Any) -> bool:
    if ref is None or ref == "" or ref == {}:
        return False
    if isinstance(ref, dict) and "answer" in ref:
        return ref["answer"] not in (None, "")
    return True


# ---- one process: a list of files / byte ranges ------------------------------------------------------
@dataclass
class _Part:
    """What one process's ingest found besides the column arrays (small: it travels back by pickle)."""

    n: int = 0
    filtered: dict[int, Decision] = field(default_factory=dict)
    bad_rows: list[dict[str, Any]] = field(default_factory=list)
    contamination: dict[int, Hit] | None = None
    domains: list[str] = field(default_factory=list)  # the names behind the part's domain codes


class _MemorySink:
    """Batches kept in memory: :func:`ingest_segments` returns them as one :class:`Ingested`."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.domains: list[str] = []
        self.has_ref: list[np.ndarray] = [np.zeros(0, bool)]
        self.reference_hash: list[np.ndarray] = [np.zeros(0, np.uint64)]
        self.parts: list[Encoded] = []

    def add(
        self, enc: Encoded, ids: list[str], domains: list[str], has_ref: np.ndarray, ref: np.ndarray
    ) -> None:
        self.ids += ids
        self.domains += domains
        self.has_ref.append(has_ref)
        self.reference_hash.append(ref)
        self.parts.append(enc)

    def close(self) -> None:
        pass


class _FileSink:
    """Batches appended to the column files of ``folder`` (domains as codes of ``names``)."""

    def __init__(self, folder: Path) -> None:
        self.out = ColumnWriter(folder)
        self.names: dict[str, int] = {}

    def add(
        self, enc: Encoded, ids: list[str], domains: list[str], has_ref: np.ndarray, ref: np.ndarray
    ) -> None:
        out = self.out
        out.append("n_tokens", np.diff(enc.offsets))
        for name in ("exact_hash", "digitless_hash", "digitless_len", "numbers_hash"):
            out.append(name, getattr(enc, name))
        out.append("has_ref", has_ref)
        out.append("reference_hash", ref)
        encoded = [i.encode() for i in ids]
        out.append("ids.bin", b"".join(encoded))
        out.append("id_len", np.fromiter(map(len, encoded), np.int32, len(encoded)))
        names = self.names
        out.append(
            "domain", np.fromiter((names.setdefault(d, len(names)) for d in domains), np.uint16, len(domains))
        )
        out.append("flat", enc.flat)
        out.append("is_number", enc.is_number)

    def close(self) -> None:
        self.out.close()


def _ingest_into(
    items: list[Path | Segment],
    spool_path: Path,
    config: CleanConfig,
    rules: DomainRules,
    sink: _MemorySink | _FileSink,
    batch_fn: Callable | None = None,
    on_batch: Callable[[int], None] | None = None,
    lexical_key: str | None = None,
    indexes: list | None = None,
) -> _Part:
    """Ingest ``items`` in order in this process into ``sink`` and the spool. One batch is filtered,
    tokenised, checked against the benchmark indexes (rows are checked one by one, so batch by batch
    finds the same hits) and hashed on a worker thread (polars and numpy release the GIL) while this
    thread parses and validates the next one; results are recorded in input order."""
    want_math = lexical_key is not None and config.decontam_params.math
    batch_fn = batch_fn or (lambda rows: prepare_batch(rows, rules, math=want_math))
    if lexical_key is not None and indexes is None:  # (the Ray engine hands them over, loaded once)
        indexes = load_indexes(config.builtin_benchmarks, config.benchmark_files, n=config.decontam_params.n)
    part = _Part(contamination={} if lexical_key is not None else None)
    reader = read_rows(
        items,
        mapping=config.mapping or None,
        on_bad_row=config.on_bad_row,
        bad_rows=part.bad_rows,
        defaults=config.defaults or None,
        with_raw=True,
    )
    raws: list[bytes | None] = []  # the input line of each row of the batch, when the row is just that

    def process(rows: list[dict[str, Any]]) -> tuple:
        verdicts, enc = batch_fn(rows)
        references = [row.get("reference") for row in rows]
        hits = None
        if indexes is not None:
            if want_math and enc.math is None:  # a batch function without math signatures (Ray)
                enc.math = math_signatures(
                    rows, [r["prompt"] if v is None else "" for r, v in zip(rows, verdicts)], rules.verbatim
                )
            unfiltered = np.fromiter((v is None for v in verdicts), bool, len(verdicts))
            hits = find_contamination(enc, indexes, config.decontam_params, active=unfiltered)
        enc.math = None  # used up: never kept or saved (a rerun of the stage reads the spool)
        has_ref = np.fromiter(map(_has_reference, references), bool, len(references))
        return verdicts, enc, hits, has_ref, reference_hashes(references)

    def record(rows: list[dict[str, Any]], result: tuple) -> None:
        verdicts, enc, hits, has_ref, ref = result
        base = part.n
        for i, verdict in enumerate(verdicts):
            if verdict is not None:
                part.filtered[base + i] = Decision(verdict[0], verdict[1])
        if hits:
            part.contamination.update({base + i: h for i, h in hits.items()})
        # spool: the input line itself where the row is unchanged (no second encoding), else the row
        spool.write(b"".join([raw or dumps(row) + b"\n" for row, raw in zip(rows, raws[: len(rows)])]))
        del raws[: len(rows)]
        sink.add(enc, [row["id"] for row in rows], [row["domain"] for row in rows], has_ref, ref)
        part.n += len(rows)
        if on_batch:
            on_batch(len(rows))

    pending: tuple[list, Future] | None = None
    batch: list[dict[str, Any]] = []
    with spool_path.open("wb") as spool, ThreadPoolExecutor(max_workers=1) as pool:
        for row, raw in reader:
            batch.append(row)
            raws.append(raw)
            if len(batch) >= config.batch_rows:
                if pending:
                    record(pending[0], pending[1].result())
                pending, batch = (batch, pool.submit(process, batch)), []
        if pending:
            record(pending[0], pending[1].result())
        if batch:
            record(batch, process(batch))
    sink.close()
    if isinstance(sink, _FileSink):
        part.domains = list(sink.names)
    return part


def ingest_segments(
    items: list[Path | Segment],
    spool_path: Path,
    config: CleanConfig,
    rules: DomainRules,
    batch_fn: Callable | None = None,
    on_batch: Callable[[int], None] | None = None,
    lexical_key: str | None = None,
    indexes: list | None = None,
) -> Ingested:
    """Ingest ``items`` in order in this process, every array in memory (a shard of the Ray engine).
    ``on_batch(rows)`` is called after each batch. With ``lexical_key`` the unfiltered rows are also
    checked against the benchmark indexes (``indexes``, or the run's loaded here)."""
    sink = _MemorySink()
    part = _ingest_into(items, spool_path, config, rules, sink, batch_fn, on_batch, lexical_key, indexes)
    return Ingested(
        sink.ids,
        sink.domains,
        np.concatenate(sink.has_ref),
        np.concatenate(sink.reference_hash),
        concat_encoded(sink.parts),
        part.filtered,
        part.bad_rows,
        spool_path,
        part.contamination,
        lexical_key if part.contamination is not None else None,
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


# ---- several processes ---------------------------------------------------------------------------
# A worker spends ~0.5 s starting Python and handing its result back; in that time this process reads
# about 12 MB of short problems, so its own shard is that much bigger (measured on 2 cores, 200k rows:
# with 8 MB this process waited ~0.13 s for the worker, with 16 MB the worker ~0.03 s for it).
WORKER_START_BYTES = 12 << 20
# a prewarmed worker (``workers.prewarm``) has imported already (measured: 2 MB left it ~0.1 s behind)
PREWARMED_START_BYTES = 6 << 20
COLUMNS = "columns"  # the folder of the ingest stage that holds the column files


def ingest(
    inputs: list[Path],
    work: Path,
    config: CleanConfig,
    rules: DomainRules,
    batch_fn: Callable | None = None,
    lexical_key: str | None = None,
) -> Ingested:
    """Ingest every input into ``work`` (the spool ``rows.jsonl`` and the column files): in this
    process, or, for big plain-JSONL input, in ``config.ingest_workers`` processes (0 = one per usable
    core, up to 8), each writing its own files, appended in input order at the end."""
    spool, columns = work / "rows.jsonl", work / COLUMNS
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
            part = _ingest_into(
                shards[0], spool, config, rules, _FileSink(columns), batch_fn, progress.update, lexical_key
            )
        return _merged([part], work, rules.verbatim, lexical_key)
    procs = workers.take(len(shards) - 1)
    for k, (proc, shard) in enumerate(zip(procs, shards[1:]), start=1):
        result = work / f"shard{k}.result.pkl"
        job = (shard, work / f"rows.{k}.jsonl", config, rules, lexical_key, result, work / f"part{k}")
        proc.assign(work / f"shard{k}.job.pkl", job, result)
    try:
        own = [0]

        def on_batch(n: int) -> None:
            own[0] += n
            progress.update(own[0] + sum(p.rows for p in procs) - progress.n)

        with progress:
            first = _ingest_into(
                shards[0],
                spool,
                config,
                rules,
                _FileSink(columns),
                on_batch=on_batch,
                lexical_key=lexical_key,
            )
            parts = [first] + [p.result(lambda: on_batch(0)) for p in procs]
    finally:
        for p in procs:
            p.stop()
    return _merged(parts, work, rules.verbatim, lexical_key)


def _merged(parts: list[_Part], work: Path, verbatim: frozenset[str], lexical_key: str | None) -> Ingested:
    """The parts (in input order; part k > 0 in ``part{k}`` / ``rows.{k}.jsonl``) appended to the
    first one's files, their row numbers shifted: as if one process had read everything."""
    spool, columns = work / "rows.jsonl", work / COLUMNS
    names: dict[str, int] = {d: c for c, d in enumerate(parts[0].domains)}
    total = _Part(contamination={} if all(p.contamination is not None for p in parts) else None)
    for k, part in enumerate(parts):
        if k:
            codes = np.array([names.setdefault(d, len(names)) for d in part.domains] or [0], dtype=np.uint16)
            append_columns(work / f"part{k}", columns, codes)
            with spool.open("ab") as out, (work / f"rows.{k}.jsonl").open("rb") as src:
                while block := src.read(1 << 24):
                    out.write(block)
            (work / f"rows.{k}.jsonl").unlink()
        total.filtered.update({total.n + i: d for i, d in part.filtered.items()})
        if total.contamination is not None:
            total.contamination.update({total.n + i: h for i, h in part.contamination.items()})
        total.bad_rows += part.bad_rows
        total.n += part.n
    total.domains = list(names)
    _write_meta(work, total, verbatim, lexical_key)
    return load_ingested(work)


def worker_main(job_path: str) -> int:
    """Body of a worker process (``ring_data.clean.ingest_worker``)."""
    shard, spool, config, rules, lexical_key, result, columns = pickle.loads(Path(job_path).read_bytes())
    Path(job_path).unlink()
    done = [0]

    def report(n: int) -> None:
        done[0] += n
        print(done[0], flush=True)

    try:
        sink = _FileSink(columns)
        payload = (
            True,
            _ingest_into(shard, spool, config, rules, sink, on_batch=report, lexical_key=lexical_key),
        )
    except Exception as e:  # noqa: BLE001 - handed to the parent, which raises it
        payload = (False, e)
    tmp = result.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.rename(result)
    return 0


# ---- saved stage ----------------------------------------------------------------------------------
def _write_meta(work: Path, part: _Part, verbatim: frozenset[str], lexical_key: str | None) -> None:
    meta = {"n": part.n, "domains": part.domains, "verbatim": sorted(verbatim)}
    (work / "rows_meta.json").write_text(json.dumps(meta))
    save_decisions(work / "decisions.json", part.filtered)
    contamination = work / "contamination.json"
    contamination.unlink(missing_ok=True)
    if part.contamination is not None:
        hits = {"key": lexical_key, "hits": {i: asdict(h) for i, h in part.contamination.items()}}
        contamination.write_bytes(dumps(hits))
    with (work / "bad_rows.jsonl").open("wb") as fh:
        for b in part.bad_rows:
            fh.write(dumps(b) + b"\n")


def save_ingested(ing: Ingested, work: Path) -> None:
    """Save ``ing`` in ``work`` (a stage folder): its column files (unless they are there already,
    written by :func:`ingest`) and what is not a column."""
    if ing.columns != work / COLUMNS:
        sink = _FileSink(work / COLUMNS)
        for d in ing.domains:  # the codes in order of first appearance, as ingest gives them
            sink.names.setdefault(d, len(sink.names))
        sink.add(ing.enc, list(ing.ids), list(ing.domains), ing.has_ref, ing.reference_hash)
        sink.close()
        names = list(sink.names)
    else:
        names = list(ing.domains.names) if isinstance(ing.domains, DomainColumn) else sorted(set(ing.domains))
    part = _Part(ing.n, ing.filtered, ing.bad_rows, ing.contamination, names)
    _write_meta(work, part, ing.verbatim, ing.contamination_key)


def load_ingested(work: Path) -> Ingested:
    """The saved stage: the per-row arrays the stages read in memory (~60 bytes a row with the ids),
    the token arrays and the hashes only decontamination reads mapped from their files."""
    columns = work / COLUMNS
    meta = json.loads((work / "rows_meta.json").read_text())
    offsets = np.zeros(meta["n"] + 1, np.int64)
    np.cumsum(read_column(columns, "n_tokens"), out=offsets[1:])
    enc = Encoded(
        flat=map_column(columns, "flat"),
        offsets=offsets,
        is_number=map_column(columns, "is_number"),
        exact_hash=read_column(columns, "exact_hash"),
        digitless_hash=map_column(columns, "digitless_hash"),
        digitless_len=map_column(columns, "digitless_len"),
        numbers_hash=read_column(columns, "numbers_hash"),
    )
    bad = [loads(line) for line in (work / "bad_rows.jsonl").read_bytes().splitlines() if line]
    hits, key = None, None
    if (work / "contamination.json").exists():
        saved = loads((work / "contamination.json").read_bytes())
        hits, key = {int(i): Hit(**h) for i, h in saved["hits"].items()}, saved["key"]
    return Ingested(
        IdColumn((columns / "ids.bin").read_bytes(), read_column(columns, "id_len")),
        DomainColumn(read_column(columns, "domain"), meta["domains"]),
        read_column(columns, "has_ref"),
        read_column(columns, "reference_hash"),
        enc,
        load_decisions(work / "decisions.json"),
        bad,
        work / "rows.jsonl",
        hits,
        key,
        frozenset(meta["verbatim"]),
        columns,
    )
