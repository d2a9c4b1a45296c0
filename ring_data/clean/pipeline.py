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
import re
import shutil
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..io import RowWriter, _dumps, _loads, expand_paths
from ..rows import make_reject
from ..runtime import bar, write_stats
from . import decontam as dc
from . import minhash as mh
from . import workers
from .decisions import Decision, load_decisions, save_decisions
from .filters import FILTER_NAMES, FilterSet, Settings
from .ingest import Ingested, ingest, load_ingested, save_ingested
from .normalize import NORMALIZER_VERSION, VERBATIM_DOMAINS

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
    semantic: str | None = None  # "auto" (English MiniLM), "multilingual" (USE-m v3) or a model dir
    semantic_threshold: float | None = None  # None: the model's default (MiniLM 0.85, multilingual 0.80)
    mapping: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    on_bad_row: str = "raise"
    engine: str = "local"
    batch_rows: int = 50_000
    ingest_workers: int = 0  # processes reading big JSONL input in byte ranges; 0 = one per core (max 8)
    min_shard_mb: float = 16.0  # ... each taking at least this much input (a worker costs ~0.4 s to start)


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
    ids = ing.ids
    # the usual group: every member has the first one's reference (or none) -> all go for the first
    best = np.repeat(order[starts], sizes)
    r, r_best = refs[order], refs[best]
    simple = (r == 0) | (r == r_best) | (not distinct_references)
    group_simple = np.logical_and.reduceat(simple, starts) & (sizes > 1)
    members_simple = np.repeat(group_simple, sizes) & (order != best)
    differs = (r != 0) & (r_best != 0) & (r != r_best)
    out = {}
    for m, kept, diff in zip(
        order[members_simple].tolist(), best[members_simple].tolist(), differs[members_simple].tolist()
    ):
        ev = {"kept_id": ids[kept], "similarity": 1.0, "match": "normalized_text"}
        if diff:
            ev["reference_differs"] = True
        out[m] = Decision("exact_duplicate", ev, kept)
    mixed = ~group_simple & (sizes > 1)  # same text, several references: walk the group
    for start, size in zip(starts[mixed].tolist(), sizes[mixed].tolist()):
        members = order[start : start + size].tolist()
        first = members[0]
        kept_for_ref = {int(refs[first]): first}
        for m in members[1:]:
            ref = int(refs[m])
            if ref and ref not in kept_for_ref and refs[first]:
                kept_for_ref[ref] = m  # same text, another reference: a different problem, kept
                continue
            kept = kept_for_ref.get(ref, first)
            ev = {"kept_id": ids[kept], "similarity": 1.0, "match": "normalized_text"}
            if refs[m] and refs[kept] and refs[m] != refs[kept]:
                ev["reference_differs"] = True
            out[m] = Decision("exact_duplicate", ev, kept)
    return dict(sorted(out.items()))


def _candidates(
    feats: mh.Features, salt: np.ndarray | None, params: mh.NearDupParams, info: dict[str, Any]
) -> np.ndarray:
    """Pairs worth an exact-Jaccard check. With a salt (the numbers), small same-salt groups give all
    their pairs and only the documents of big groups go through MinHash/LSH."""
    n = len(feats.uni_offsets) - 1
    if salt is None:
        lsh_docs, direct = np.arange(n), np.empty((0, 2), dtype=np.int64)
    else:
        direct, lsh_docs = mh.split_by_salt(salt, params.all_pairs_group)
    info["all_pairs_candidates"] = int(len(direct))
    info["minhash_documents"] = int(len(lsh_docs))
    if len(lsh_docs) < 2:
        return direct
    sub = feats if len(lsh_docs) == n else feats.subset(lsh_docs)
    sig = sub.signatures(params.num_perm, params.seed)
    found = mh.candidate_pairs(sig, params, salt=None if salt is None else salt[lsh_docs])
    del sig
    return mh.sort_pairs(np.concatenate([direct, lsh_docs[found]]), n)


def near_duplicates(
    ing: Ingested, alive: np.ndarray, params: mh.NearDupParams, distinct_references: bool = True
) -> tuple[dict[int, Decision], dict[str, Any]]:
    """MinHash/LSH candidates -> exact-Jaccard confirmed edges -> connected components; inside each
    component every removed row is checked against the row it is removed for (no chaining: a row only
    goes if its own similarity to a kept row reaches the threshold)."""
    lengths = np.diff(ing.enc.offsets)
    rows = np.flatnonzero(alive & (lengths > 0))
    info: dict[str, Any] = {"documents": int(len(rows)), "candidate_pairs": 0, "confirmed_pairs": 0}
    if params.same_numbers:  # a row whose number sequence no other row has cannot have a near duplicate
        _, inverse, counts = np.unique(ing.enc.numbers_hash[rows], return_inverse=True, return_counts=True)
        rows = rows[counts[inverse] > 1]
        info["documents_sharing_numbers"] = int(len(rows))
    if len(rows) < 2:
        return {}, info
    flat, offsets = mh.gather_runs(ing.enc.flat, ing.enc.offsets, rows)
    feats = mh.features(flat, offsets)
    del flat
    cand = _candidates(feats, ing.enc.numbers_hash[rows] if params.same_numbers else None, params, info)
    info["candidate_pairs"] = int(len(cand))
    numbers, refs = ing.enc.numbers_hash[rows], ing.reference_hash[rows]

    def compatible(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ok = np.ones(len(a), dtype=bool)
        if params.same_numbers:
            ok &= numbers[a] == numbers[b]
        if distinct_references:
            ra, rb = refs[a], refs[b]
            ok &= (ra == 0) | (rb == 0) | (ra == rb)
        return ok

    # exact Jaccard of every compatible candidate pair in one vectorised pass
    checked = cand[compatible(cand[:, 0], cand[:, 1])]  # sorted by (i, j), like cand
    sims = feats.pair_jaccard(checked)
    pairs = mh.PairSimilarities(feats, checked, sims)
    edges = checked[sims >= params.threshold]
    if not len(edges):
        return {}, {**info, "kept_apart_in_linked_groups": 0}
    label, linked = mh.components(len(rows), edges)
    info["confirmed_pairs"] = int(
        len(linked) - len(np.unique(label[linked]))
    )  # edges a spanning forest needs

    # keep rule: a reference answer first, then input order (rows are in input order)
    order = linked[np.lexsort((linked, ~ing.has_ref[rows[linked]], label[linked]))]
    group_start = np.flatnonzero(np.concatenate([[True], label[order][1:] != label[order][:-1]]))
    group_size = np.diff(np.concatenate([group_start, [len(order)]]))
    first = np.repeat(order[group_start], group_size)  # each member's would-be kept row
    member = order
    others = member != first
    sim_to_first = np.ones(len(member))
    sim_to_first[others] = pairs.get(member[others], first[others])
    joins_first = compatible(member, first) & (sim_to_first >= params.threshold)
    # the usual group: every member joins its first row (vectorised); otherwise walk the group
    group_ok = np.logical_and.reduceat(joins_first, group_start)
    size_of = np.repeat(group_size, group_size)
    out: dict[int, Decision] = {}
    fast = others & np.repeat(group_ok, group_size)
    for m, k, sim, size in zip(
        rows[member[fast]].tolist(),
        rows[first[fast]].tolist(),
        sim_to_first[fast].tolist(),
        size_of[fast].tolist(),
    ):
        ev = {"kept_id": ing.ids[k], "similarity": round(sim, 4), "cluster_size": size}
        out[m] = Decision("near_duplicate", ev, k)
    chained = 0
    for g in np.flatnonzero(~group_ok).tolist():
        members = order[group_start[g] : group_start[g] + group_size[g]].tolist()
        kept_rows: list[int] = []
        for m in members:
            for k in kept_rows:
                if compatible(np.array([m]), np.array([k]))[0]:
                    sim = float(pairs.get(np.array([m]), np.array([k]))[0])
                    if sim >= params.threshold:
                        ev = {
                            "kept_id": ing.ids[rows[k]],
                            "similarity": round(sim, 4),
                            "cluster_size": len(members),
                        }
                        out[int(rows[m])] = Decision("near_duplicate", ev, int(rows[k]))
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


def _decontam_inputs(config: CleanConfig) -> list:
    """Everything lexical decontamination depends on."""
    return [
        config.builtin_benchmarks,
        config.benchmark_files,
        _input_fingerprint([Path(f) for f in config.benchmark_files if Path(f).exists()]),
        asdict(config.decontam_params),
        dc.builtin_names(),
    ]


def _lexical_key(config: CleanConfig) -> str:
    return _fingerprint("lexical", NORMALIZER_VERSION, _decontam_inputs(config))


def benchmark_names(config: CleanConfig) -> list[str]:
    """Names of the indexes a run checks (without loading them)."""
    names = config.builtin_benchmarks
    builtin = [] if names == () else list(names) if names else dc.builtin_names()
    return builtin + [Path(f).name.split(".")[0] for f in config.benchmark_files]


def contamination(
    ing: Ingested, alive: np.ndarray, config: CleanConfig, lexical: dict[int, dc.Hit] | None = None
) -> tuple[dict[int, Decision], dict]:
    """Benchmark hits of the alive rows; ``lexical`` are the n-gram/whole-problem hits when ingest
    already found them (it does, in its worker processes), so only the semantic pass runs here."""
    embedder = None
    if config.semantic:
        from .semantic import make_embedder

        embedder = make_embedder(config.semantic)
    indexes = load_indexes(config, embedder) if lexical is None or embedder is not None else []
    if lexical is None:
        math = ing.enc.math
        if math is None and config.decontam_params.math:  # ingest ran without decontamination
            math = _math_from_spool(ing, alive)
        hits = dc.find_contamination(ing.enc, indexes, config.decontam_params, active=alive, math=math)
    else:
        hits = {d: h for d, h in lexical.items() if alive[d]}
    out = {d: Decision("contamination", _hit_evidence(h)) for d, h in hits.items()}
    info: dict[str, Any] = {
        "lexical_hits": sum(h.kind != "math_signature" for h in hits.values()),
        "math_signature_hits": sum(h.kind == "math_signature" for h in hits.values()),
    }
    if embedder is not None:
        threshold = config.semantic_threshold
        threshold = embedder.default_threshold if threshold is None else threshold
        out.update(_semantic_hits(ing, alive, set(out), indexes, embedder, threshold, info))
    return out, info


def _hit_evidence(h: dc.Hit) -> dict[str, Any]:
    """A hit as decision evidence; what needs the row's text (the matched n-gram / math tokens, the
    row's language) is completed when the rejects are written (``_evidence_for_output``)."""
    ev: dict[str, Any] = {"benchmark": h.benchmark, "item": h.item, "match": h.kind, "overlap": h.overlap}
    if h.lang:
        ev["benchmark_language"] = h.lang
    if h.ngram_start is not None:
        ev.update(ngram_start=h.ngram_start, n=h.n)
    if h.kind == "math_signature":
        ev.update(
            math_positions=h.math_positions or [],
            rule=h.rule,
            shared_numbers=h.shared_numbers,
            answer_match=h.answer,
        )
    return ev


def _math_from_spool(ing: Ingested, alive: np.ndarray):
    """Math signatures of the alive rows read back from the spool (only when ingest did not make
    them: it ran with decontamination off and was resumed)."""
    from ..clean.filters import answer_text
    from .normalize import encode_math

    prompts, answers = [""] * ing.n, [None] * ing.n
    with ing.rows_path.open("rb") as spool:
        for idx, line in enumerate(spool):
            if alive[idx] and ing.domains[idx] not in VERBATIM_DOMAINS:
                row = _loads(line)
                prompts[idx], answers[idx] = row["prompt"], answer_text(row.get("reference"))
    return encode_math(prompts, answers)


def _semantic_hits(
    ing, alive, already, indexes, embedder, threshold: float, info: dict
) -> dict[int, Decision]:
    """Embed the rows the lexical rules let through and compare them with every item's embedding."""
    from .semantic import nearest

    key = getattr(embedder, "key", "")
    embeddings = {ix.name: ix.embeddings if not key else ix.extra_embeddings.get(key) for ix in indexes}
    usable = [ix for ix in indexes if embeddings[ix.name] is not None]
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
    bench = np.concatenate([embeddings[ix.name] for ix in usable]).astype(np.float32)
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
    # lexical decontamination is per row: ingest does it where it reads the rows (in parallel)
    lexical_key = _lexical_key(config) if config.decontam else None
    t = time.perf_counter()
    if work.done("ingest", fp_ingest):
        workers.release()  # started by the command in case ingest had to run
        ing = load_ingested(work.stage("ingest"))
        resumed.append("ingest")
    else:
        stage = work.reset("ingest")
        batch_fn = None
        if config.engine == "ray":
            from .ray_engine import ray_batch_fn

            batch_fn = ray_batch_fn(FilterSet(enabled=config.filters, settings=config.filter_settings))
        ing = ingest(files, stage, config, batch_fn, lexical_key=lexical_key)
        save_ingested(ing, stage)
        work.mark("ingest", fp_ingest)
    timings["ingest"] = time.perf_counter() - t
    decisions: dict[int, Decision] = dict(ing.filtered)
    alive = np.ones(ing.n, dtype=bool)
    alive[list(decisions)] = False

    stage_info: dict[str, Any] = {}
    if config.near:  # scipy's import (~0.2 s) on the core the single-threaded stages leave idle
        threading.Thread(target=mh.import_scipy, daemon=True).start()
    fp_prev = fp_ingest
    for name, enabled, params, run in (
        (
            "decontam",
            config.decontam,
            [*_decontam_inputs(config), config.semantic, config.semantic_threshold],
            lambda: contamination(
                ing, alive, config, ing.contamination if ing.contamination_key == lexical_key else None
            ),
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
            found = load_decisions(stage_dir / "decisions.json")
            stage_info[name] = json.loads((stage_dir / "info.json").read_text())
            resumed.append(name)
        else:
            stage_dir = work.reset(name)
            found, info = run()
            stage_info[name] = info
            save_decisions(stage_dir / "decisions.json", found)
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
    removed = Counter(zip(map(ing.domains.__getitem__, decisions), (d.reason for d in decisions.values())))
    by_reason: Counter = Counter()
    by_domain: dict[str, Counter] = {}
    for (domain, reason), count in removed.items():
        by_domain.setdefault(domain, Counter())[reason] = count
        by_reason[reason] += count
    by_reason.update(b["reason"] for b in ing.bad_rows)
    kept_by_domain = Counter(ing.domains)
    kept_by_domain.subtract(Counter({dom: sum(c.values()) for dom, c in by_domain.items()}))
    kept_by_domain = +kept_by_domain  # drop domains with nothing kept
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
    elif d.reason == "contamination" and ev.get("match") == "math_signature":
        from .normalize import math_tokens

        toks = math_tokens(row["prompt"])
        ev["match_kind"] = ev.pop("match")
        ev["match"] = " ".join(toks[i] for i in ev.pop("math_positions", []) if i < len(toks))
    elif d.reason == "contamination":
        ev["match_kind"] = ev.pop("match")
        ev["match"] = "whole problem" + (" (numbers ignored)" if ev["match_kind"] == "digitless" else "")
    if d.reason == "contamination":
        ev["language"] = dc.detect_language(row["prompt"])
        d.evidence["language"] = ev["language"]  # for the report's contamination table
    return ev


EXAMPLES_PER_REASON = 3


def _copy_raw(
    lines: list[bytes],
    how: np.ndarray,
    lo: int,
    hi: int,
    start: int,
    decisions: dict[int, Decision],
    out: RowWriter,
    rej: RowWriter,
) -> None:
    """Write ``lines[lo:hi]`` (none of which needs decoding): kept ones as they are, rejected ones
    with ``reason`` and ``evidence`` appended to their JSON object (same result as make_reject)."""
    if hi <= lo:
        return
    part = how[lo:hi]
    if (part == _RAW_KEPT).any():
        out.write_raw_lines(list(compress(lines[lo:hi], (part == _RAW_KEPT).tolist())))
    rejected = (np.flatnonzero(part == _RAW_REJECT) + lo).tolist()
    if rejected:
        rej.write_raw_lines(
            [
                lines[j].rstrip()[:-1]
                + b","
                + _dumps({"reason": decisions[start + j].reason, "evidence": decisions[start + j].evidence})[
                    1:
                ]
                + b"\n"
                for j in rejected
            ]
        )


def _evidence_is_final(d: Decision) -> bool:
    """Contamination evidence needs the row's text (matched n-grams or math tokens, the row's
    language) and is completed while writing; any other can be spliced into the row's JSON line."""
    return d.reason != "contamination"


def _spliceable_line(line: bytes) -> bool:
    """A JSON object line without its own ``reason``/``evidence`` keys (those rows are decoded). Every
    spooled line is a JSON object (it was decoded as one), so this only looks for the two keys."""
    return _KEYS_WE_ADD.search(line) is None


_KEYS_WE_ADD = re.compile(rb'"(?:reason|evidence)"')


_RAW_KEPT, _RAW_REJECT, _DECODE = 0, 1, 2


def _write_outputs(
    ing: Ingested, decisions: dict[int, Decision], output: Path, rejects: Path
) -> tuple[int, list[dict[str, Any]]]:
    """Stream the spooled rows to the output and rejects files; collect report examples. Kept rows
    are copied as they are and rejected rows get ``reason``/``evidence`` spliced into their JSON line;
    only report examples, evidence that needs the text, and non-JSONL outputs decode rows."""
    per_reason: dict[str, list[int]] = {}
    for idx in sorted(decisions):
        lst = per_reason.setdefault(decisions[idx].reason, [])
        if len(lst) < EXAMPLES_PER_REASON:
            lst.append(idx)
    wanted = {i for lst in per_reason.values() for i in lst}
    wanted_kept = {decisions[i].kept_idx for i in wanted if decisions[i].kept_idx is not None}
    prompts: dict[int, str] = {}
    evidences: dict[int, dict] = {}
    with RowWriter(output) as out, RowWriter(rejects) as rej, ing.rows_path.open("rb") as spool:
        how = np.full(ing.n, _RAW_KEPT if out.format == "jsonl" else _DECODE, dtype=np.uint8)
        removed = np.fromiter(decisions, dtype=np.int64, count=len(decisions))
        if rej.format == "jsonl":
            final = np.fromiter(map(_evidence_is_final, decisions.values()), dtype=bool, count=len(decisions))
            how[removed] = np.where(final, _RAW_REJECT, _DECODE)
        else:
            how[removed] = _DECODE
        how[list(wanted | wanted_kept)] = _DECODE  # report examples: decoded to keep their text
        progress_bar = bar(total=ing.n, desc="clean: write", unit="rows")
        start = 0
        # lines in chunks; between rows that must be decoded, kept lines are copied in one call and
        # rejected lines spliced in one comprehension
        while lines := spool.readlines(1 << 24):
            chunk_how = how[start : start + len(lines)]
            if _KEYS_WE_ADD.search(b"".join(lines)):  # rare: some line may carry its own reason/evidence
                for j in np.flatnonzero(chunk_how == _RAW_REJECT).tolist():
                    if not _spliceable_line(lines[j]):
                        chunk_how[j] = _DECODE
            cut = 0
            for j in [*np.flatnonzero(chunk_how == _DECODE).tolist(), len(lines)]:
                _copy_raw(lines, chunk_how, cut, j, start, decisions, out, rej)
                if j == len(lines):
                    break
                idx, row = start + j, _loads(lines[j])
                d = decisions.get(idx)
                if d is None:
                    out.write(row)
                else:
                    ev = _evidence_for_output(row, d)
                    rej.write(make_reject(row, d.reason, ev))
                    if idx in wanted:
                        evidences[idx] = ev
                if idx in wanted or idx in wanted_kept:
                    prompts[idx] = row["prompt"]
                cut = j + 1
            start += len(lines)
            progress_bar.update(len(lines))
        progress_bar.close()
        kept = out.count
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
