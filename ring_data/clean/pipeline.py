"""``ring-data clean`` as a library: ingest (read + filters + tokenise, :mod:`.ingest`) -> the stages
(decontamination, exact dedup, near dedup: :mod:`.stages`, one protocol) -> write (:mod:`.write`).
Each step saves its result in a work directory with a fingerprint of everything it depends on
(:mod:`.resume`), so a killed run restarts at the first unfinished one.

Steps never drop rows themselves: they return decisions ``row index -> (reason, evidence)``; the
writer streams the spooled rows once and sends each to the output or to the rejects file, then
``clean`` checks that rows in = kept + rejected and writes the stats and report.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .. import faults
from ..io import expand_paths
from ..result import CommandResult, finish
from . import minhash as mh
from . import workers
from .config import CleanConfig, DomainRules
from .decisions import Decision, Decisions, load_decisions, reasons, save_decisions
from .decontam.sources import benchmark_names
from .ingest import Ingested, ingest, load_ingested, save_ingested
from .normalize import NORMALIZER_VERSION
from .resume import WorkDir, fingerprint, input_fingerprint
from .stages.base import Stage
from .stages.decontam import DecontamStage, lexical_key
from .stages.exact import ExactStage
from .stages.near import NearStage
from .write import point_to_kept_rows, write_outputs

__all__ = ["CleanConfig", "clean", "default_rejects_path"]

STAGES: tuple[Stage, ...] = (DecontamStage(), ExactStage(), NearStage())  # in this order, after ingest
KEEP_RULE = (
    "in every duplicate group the kept row is the one with a reference answer, "
    "then the one that came first in the input"
)


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
    resume: bool = True,
    keep_work: bool = True,
) -> CommandResult:
    """Clean ``inputs`` into ``output`` (kept rows) and ``rejects`` (removed rows with reason and
    evidence); writes ``OUT.stats.json`` and, with ``report_dir``, the report. The work directory
    (default ``OUT.work``) keeps each step's result: a rerun skips the finished ones unless
    ``resume=False``; ``keep_work=False`` deletes it at the end."""
    config = config or CleanConfig()
    output = Path(output)
    rejects = Path(rejects) if rejects else default_rejects_path(output)
    files = expand_paths(inputs if isinstance(inputs, list) else [inputs])
    work_path = Path(work_dir) if work_dir else output.with_name(output.name + ".work")
    if not resume:
        shutil.rmtree(work_path, ignore_errors=True)
    work = WorkDir(work_path)
    rules = DomainRules.resolve(config)  # once, here: the ingest workers get it resolved
    timings: dict[str, float] = {}
    resumed: list[str] = []

    # ingest (with the per-row part of decontamination, where the rows are read: in parallel)
    key = lexical_key(config) if config.decontam else None
    engine = None
    if config.engine == "ray":  # the same steps on a Ray cluster (ring_data.clean.ray_engine)
        from .ray_engine import RaySteps

        engine = RaySteps(config, rules)
    fp_ingest = fingerprint(
        "ingest",
        NORMALIZER_VERSION,
        rules.fingerprint(),  # the filters, their code, their settings
        input_fingerprint(files),
        config.mapping,
        config.defaults,
        config.on_bad_row,
        *(engine.fingerprint(key) if engine else []),
    )
    t = time.perf_counter()
    ing = None
    saved_rules = work.stage("ingest") / "rules.json"
    if work.done("ingest", fp_ingest) and saved_rules.is_file():
        ing = engine.load(work.stage("ingest")) if engine else load_ingested(work.stage("ingest"))
        if saved_rules.read_text() != _rules_of(rules, ing):
            ing = None  # what the registries say about the rows' domains changed: read them again
    if ing is not None:
        workers.release()  # started by the command in case ingest had to run
        resumed.append("ingest")
    else:
        stage = work.reset("ingest")
        if engine:
            ing = engine.ingest(files, stage, lexical_key=key)
            engine.save(ing, stage)
        else:
            ing = ingest(files, stage, config, rules, lexical_key=key)
            save_ingested(ing, stage)
        (stage / "rules.json").write_text(_rules_of(rules, ing))
        faults.point("clean.stage")  # saved, not yet marked done (kill tests)
        work.mark("ingest", fp_ingest)
    timings["ingest"] = time.perf_counter() - t
    decisions = Decisions(ing.filtered, ing.ids)  # dedup stages add theirs as columns
    alive = np.ones(ing.n, dtype=bool)
    alive[list(decisions)] = False

    stage_stats: dict[str, Any] = {}
    if config.near:  # scipy's import (~0.2 s) on the core the single-threaded stages leave idle
        threading.Thread(target=mh.import_scipy, daemon=True).start()
    fp_prev = fingerprint(fp_ingest, _rules_of(rules, ing))
    for step in engine.stages(STAGES) if engine else STAGES:
        enabled = step.enabled(config)
        fp = fp_prev = fingerprint(step.name, fp_prev, enabled, step.settings(config))
        if not enabled:
            continue
        t = time.perf_counter()
        if work.done(step.name, fp):
            stage_dir = work.stage(step.name)
            found = load_decisions(stage_dir / "decisions.json")
            stage_stats[step.name] = json.loads((stage_dir / "info.json").read_text())
            resumed.append(step.name)
        else:
            stage_dir = work.reset(step.name)
            outcome = step.run(ing, alive, config)
            found, stage_stats[step.name] = outcome.decisions, outcome.stats
            save_decisions(stage_dir / "decisions.json", found)
            (stage_dir / "info.json").write_text(json.dumps(outcome.stats))
            faults.point("clean.stage")
            work.mark(step.name, fp)
        timings[step.name] = time.perf_counter() - t
        decisions.update(found)
        alive[list(found)] = False

    point_to_kept_rows(decisions, ing.ids)
    t = time.perf_counter()
    kept, examples = write_outputs(ing, decisions, output, rejects)
    timings["write"] = time.perf_counter() - t
    rejected = len(decisions) + len(ing.bad_rows)
    rows_in = ing.n + len(ing.bad_rows)
    if rows_in != kept + rejected:  # never expected: a bug, not bad input
        raise RuntimeError(f"row accounting broken: {rows_in} in != {kept} kept + {rejected} rejected")
    by_reason, by_domain = _counts(ing, decisions)
    total_s = sum(timings.values())
    result = finish(
        "ring-data clean",
        inputs=files,
        output=output,
        rejects=rejects,
        rows_in=rows_in,
        kept=kept,
        rejected=rejected,
        rejected_by_reason=by_reason,
        seconds=total_s,
        report_dir=report_dir,
        details={
            "conservation": f"{rows_in} in = {kept} kept + {rejected} rejected",
            "by_domain": by_domain,
            "stages": stage_stats,
            "resumed_stages": resumed,
            "stage_seconds": {k: round(v, 3) for k, v in timings.items()},
            "rows_per_s": round(rows_in / total_s, 1) if total_s else None,
            "keep_rule": KEEP_RULE,
            "config": {
                "filters": list(rules.filters.names),
                "near": asdict(config.near_params) if config.near else None,
                "decontam": asdict(config.decontam_params) if config.decontam else None,
                "benchmarks": benchmark_names(config.builtin_benchmarks, config.benchmark_files)
                if config.decontam
                else [],
                "engine": config.engine,
                "normalizer_version": NORMALIZER_VERSION,
            },
        },
    )
    if report_dir:
        from .report import write_report

        write_report(Path(report_dir), result.stats, decisions, examples, ing)
    if not keep_work:
        shutil.rmtree(work.path, ignore_errors=True)
    return result


def _rules_of(rules: DomainRules, ing: Ingested) -> str:
    """The domain rules for the domains the ingested rows have (verbatim or not, filters that apply):
    a resumed ingest is only valid while they are unchanged, whatever other domains are registered."""
    return json.dumps(rules.fingerprint(set(ing.domains)), sort_keys=True)


def _counts(
    ing: Ingested, decisions: dict[int, Decision]
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Removed rows per reason, and kept + removed rows per domain and reason."""
    removed = Counter(zip(map(ing.domains.__getitem__, decisions), reasons(decisions)))
    by_reason: Counter = Counter()
    by_domain: dict[str, Counter] = {}
    for (domain, reason), count in removed.items():
        by_domain.setdefault(domain, Counter())[reason] = count
        by_reason[reason] += count
    by_reason.update(b["reason"] for b in ing.bad_rows)
    kept_by_domain = Counter(ing.domains)
    kept_by_domain.subtract(Counter({dom: sum(c.values()) for dom, c in by_domain.items()}))
    kept_by_domain = +kept_by_domain  # drop domains with nothing kept
    domains = {dom: {"kept": kept_by_domain.get(dom, 0), **dict(c)} for dom, c in sorted(by_domain.items())}
    domains |= {dom: {"kept": n} for dom, n in kept_by_domain.items() if dom not in by_domain}
    return dict(sorted(by_reason.items())), domains
