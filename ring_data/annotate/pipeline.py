"""``ring-data annotate``: sample n responses per problem, score them with ``verifiers``, label difficulty.

Streaming in batches of problems. Responses are scored with ``verifiers.verify_batch`` (a process
pool); with overlap on, a background thread scores batch k while the sampler generates batch k+1, which
hides verification when generation runs on a GPU or a server. Output and rejects are journals
(:mod:`ring_data.verify.journal`): a rerun skips ids already annotated. Every row's outcome (labelled,
rejected, unreadable) is written by the labeller in input order, and a seeded sampler draws a row's
samples from the row's own seed, so a killed and resumed run ends with the bytes an uninterrupted one
writes. :func:`annotate` writes its stats and report and returns a
:class:`~ring_data.result.CommandResult`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ring_data import atomic
from ring_data.errors import UserError
from ring_data.io import read_rows
from ring_data.result import CommandResult
from ring_data.rows import make_reject
from ring_data.runtime import progress
from ring_data.verify.checks import is_known_domain
from ring_data.verify.journal import Journal

from .difficulty import difficulty_of, outside_keep_range
from .prompts import build_prompt
from .report import summarize
from .samplers.base import Sampler, SamplingSettings, make_sampler


@dataclass
class AnnotateConfig:
    n: int = 8
    batch_size: int = 16  # problems per sampler call
    drop_extremes: bool = False  # Ring-lite: drop what the model always solves and what it never solves
    keep_range: tuple[float, float] | None = None  # open-r1 style: keep lo <= pass_rate <= hi
    hard_max: float = 0.25
    easy_min: float = 0.75
    templates: dict[str, str] = field(default_factory=dict)
    system_prompt: str | None = None
    verify_workers: int | None = None
    verify_timeout: float = 10.0
    # verify batch k while batch k+1 generates; None = auto: on unless generation runs on local CPU
    # cores, where verification processes would only compete with it (measured: benchmarks/annotate.py)
    overlap: bool | None = None
    save_samples: str | None = None  # JSONL of {id, model, responses, correct, status}: a samples: file
    resume: bool = True
    on_bad_row: str = "raise"
    mapping: dict[str, str] | None = None
    engine: str = "local"  # "ray": generation on a pool of Ray actors (ring_data.annotate.ray_engine)
    actors: int = 0  # engine "ray": samplers in the pool; 0 = one per GPU of the cluster, else per CPU


@dataclass
class _RunCounts:
    """This run's counts and timings (the result's kept/rejected cover the whole output)."""

    rows_in: int = 0
    skipped_resumed: int = 0
    annotated: int = 0
    samples_scored: int = 0
    sample_status: dict[str, int] = field(default_factory=dict)
    generate_s: float = 0.0
    verify_s: float = 0.0  # wall time of the verify_batch calls (stretched when overlapped)
    verify_wait_s: float = 0.0  # time the pipeline waited on verification (not hidden)


# what the reader hands on, in input order: a row to sample, a row of a domain no verifier knows, or
# an unreadable row's reject entry
SAMPLE, UNKNOWN, BAD = "sample", "unknown", "bad"
Item = tuple[str, dict[str, Any]]


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """``size`` rows to sample per batch, with the other items read between them riding along."""
    batch: list[Item] = []
    wanted = 0
    for item in items:
        batch.append(item)
        wanted += item[0] == SAMPLE
        if wanted >= size:
            yield batch
            batch, wanted = [], 0
    if batch:
        yield batch


class _Labeler:
    """Scores one batch's responses and writes the labelled rows (runs on the background thread)."""

    def __init__(self, config: AnnotateConfig, sampler: Sampler, journal: Journal, stats: _RunCounts):
        self.config, self.sampler, self.journal, self.stats = config, sampler, journal, stats
        self.model = sampler.model
        self.samples_fh = None
        if config.save_samples:  # appended on resume, like the output
            path = Path(config.save_samples)
            path.parent.mkdir(parents=True, exist_ok=True)
            if config.resume and path.exists():
                keep_samples_of_decided_rows(path, journal.done)
            self.samples_fh = path.open("a" if config.resume else "w", encoding="utf-8")

    def __call__(self, batch: list[Item], responses: list[list[str]]) -> None:
        """Score the responses of the batch's rows to sample (in order) and write every item's outcome
        in input order."""
        from verifiers import verify_batch

        rows = [row for kind, row in batch if kind == SAMPLE]
        t0 = time.perf_counter()
        items = [(r, row["reference"], row["domain"]) for row, rs in zip(rows, responses) for r in rs]
        results = (
            verify_batch(items, workers=self.config.verify_workers, timeout=self.config.verify_timeout)
            if items
            else []
        )
        self.stats.verify_s += time.perf_counter() - t0
        self.stats.samples_scored += len(results)
        pos = 0
        sampled = iter(zip(rows, responses))
        for kind, row in batch:
            if kind == BAD:
                self.journal.reject(row)  # False for one an earlier run recorded
                continue
            if kind == UNKNOWN:
                self.reject(row, "unknown_domain", {"domain": row["domain"]})
                continue
            row, rs = next(sampled)
            res = results[pos : pos + len(rs)]
            pos += len(rs)
            for status, count in Counter(str(r.status) for r in res).items():
                self.stats.sample_status[status] = self.stats.sample_status.get(status, 0) + count
            self._label(row, rs, res)
        if self.samples_fh:
            self.samples_fh.flush()
        self.journal.flush()

    def reject(self, row: dict[str, Any], reason: str, evidence: dict[str, Any]) -> None:
        self.journal.reject(make_reject(row, reason, evidence))  # the journal locks: any thread may call

    def _label(self, row: dict[str, Any], responses: list[str], results: list) -> None:
        cfg = self.config
        self.stats.annotated += 1
        if self.samples_fh and responses:
            self.samples_fh.write(
                json.dumps(
                    {
                        "id": row["id"],
                        "model": self.model,
                        "responses": responses,
                        "correct": [r.correct for r in results],
                        "status": [str(r.status) for r in results],
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
        if not responses:
            evidence = {"sampler": self.model, "n_samples": 0}
            error = self.sampler.failure(row["id"])
            if error:
                evidence["error"] = error
            return self.reject(row, "no_samples", evidence)
        invalid = next((r for r in results if str(r.status) == "invalid_reference"), None)
        if invalid is not None:
            return self.reject(row, "invalid_reference", {"verifier": invalid.reason})
        diff = difficulty_of(
            [r.correct for r in results], self.model, hard_max=cfg.hard_max, easy_min=cfg.easy_min
        )
        labelled = {**row, "difficulty": diff.to_dict()}
        rule = outside_keep_range(
            diff.pass_rate, diff.n_correct, diff.n_samples, cfg.keep_range, cfg.drop_extremes
        )
        if rule is not None:
            return self.reject(
                labelled,
                "extreme_pass_rate",
                {
                    "rule": rule,
                    "pass_rate": diff.pass_rate,
                    "n_correct": diff.n_correct,
                    "n_samples": diff.n_samples,
                },
            )
        self.journal.keep(labelled)

    def close(self) -> None:
        if self.samples_fh:
            self.samples_fh.close()


def keep_samples_of_decided_rows(path: Path, decided: Counter[str]) -> None:
    """Before a resumed run appends to a samples file: keep the lines of rows the journals decided (as
    many per id as were decided, in order) and drop the rest: rows a killed run sampled but did not
    record, which this run samples again, and a line torn by the kill. The samples file then ends as
    an uninterrupted run's does. Replaced atomically: a kill here leaves the old file."""
    left = Counter(decided)
    with path.open("rb") as src, atomic.atomic_open(path, "wb") as out:
        for line in src:
            try:
                entry = json.loads(line)
            except ValueError:  # torn
                continue
            key = str(entry.get("id")) if isinstance(entry, dict) else None
            if key is not None and left[key] > 0 and line.endswith(b"\n"):
                left[key] -= 1
                out.write(line)


def annotate(
    inputs: str | Path | list[str | Path],
    output: str | Path,
    sampler: Sampler | str,
    *,
    rejects: str | Path | None = None,
    report_dir: str | Path | None = None,
    config: AnnotateConfig | None = None,
    settings: SamplingSettings | None = None,
    sampler_options: Mapping[str, Any] | None = None,
) -> CommandResult:
    """Label every input row with its difficulty; writes ``OUT.stats.json`` and, with ``report_dir``,
    the report. ``sampler`` is a :class:`Sampler` or a spec (``hf:PATH``, ``samples:FILE``, ...) built
    with ``settings`` and ``sampler_options`` (and closed at the end)."""
    cfg = config or AnnotateConfig()
    if cfg.engine == "ray":  # the same run, its generation spread over Ray actors
        from .ray_engine import ActorPoolSampler

        if not isinstance(sampler, str):
            raise UserError("engine 'ray' builds a sampler in each actor: pass a spec such as hf:PATH")
        options = sampler_options or {}
        with ActorPoolSampler(
            sampler, settings, options, batch_size=cfg.batch_size, actors=cfg.actors
        ) as pool:
            big = replace(cfg, batch_size=pool.batch_rows)  # cut back into batch_size in the pool
            return _annotate(inputs, output, pool, sampler, rejects, report_dir, big, settings)
    if isinstance(sampler, str):
        with make_sampler(sampler, settings, **(sampler_options or {})) as built:
            return _annotate(inputs, output, built, sampler, rejects, report_dir, config, settings)
    return _annotate(inputs, output, sampler, sampler.model, rejects, report_dir, config, settings)


def _annotate(
    inputs: str | Path | list[str | Path],
    output: str | Path,
    sampler: Sampler,
    spec: str,
    rejects: str | Path | None,
    report_dir: str | Path | None,
    config: AnnotateConfig | None,
    settings: SamplingSettings | None,
) -> CommandResult:
    cfg = config or AnnotateConfig()
    stats = _RunCounts()
    journal = Journal(output, rejects, resume=cfg.resume)
    labeler = _Labeler(cfg, sampler, journal, stats)
    bad_rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    pending: Future | None = None
    overlap = cfg.overlap if cfg.overlap is not None else not sampler.cpu_bound

    def unreadable() -> Iterator[Item]:
        while bad_rows:
            stats.rows_in += 1
            yield BAD, bad_rows.pop(0)

    def todo() -> Iterator[Item]:
        rows = read_rows(inputs, mapping=cfg.mapping, on_bad_row=cfg.on_bad_row, bad_rows=bad_rows)
        for row in progress(rows, desc="annotate", unit="problem"):
            stats.rows_in += 1
            yield from unreadable()  # read before this row
            if journal.take_done(row["id"]):
                stats.skipped_resumed += 1
            else:
                yield (SAMPLE if is_known_domain(row["domain"]) else UNKNOWN), row
        yield from unreadable()

    try:
        with ThreadPoolExecutor(1, thread_name_prefix="annotate-verify") as verifier_thread:
            for batch in _batches(todo(), cfg.batch_size):
                prompts = [
                    build_prompt(r, templates=cfg.templates, system_prompt=cfg.system_prompt)
                    for kind, r in batch
                    if kind == SAMPLE
                ]
                t0 = time.perf_counter()
                responses = sampler.sample(prompts, cfg.n) if prompts else []
                stats.generate_s += time.perf_counter() - t0
                if pending is not None:
                    t1 = time.perf_counter()
                    pending.result()
                    stats.verify_wait_s += time.perf_counter() - t1
                responses = [list(r)[: cfg.n] for r in responses]
                if overlap:
                    pending = verifier_thread.submit(labeler, batch, responses)
                else:  # the pipeline waits for all of it
                    t1 = time.perf_counter()
                    labeler(batch, responses)
                    stats.verify_wait_s += time.perf_counter() - t1
            if pending is not None:
                t1 = time.perf_counter()
                pending.result()
                stats.verify_wait_s += time.perf_counter() - t1
        journal.flush()
        summary = summarize(journal.kept_rows(), journal.rejected_rows())
    except BaseException:
        journal.suspend()  # an error or ^C: the journals stay partial, for a rerun to resume from
        raise
    finally:
        labeler.close()
    pass_rates = summary.pop("pass_rates_by_domain")
    busy = stats.generate_s + stats.verify_s
    result = journal.finish(
        "ring-data annotate",
        inputs=inputs,
        rows_in=stats.rows_in,
        started=started,
        report_dir=report_dir,
        done_this_run=("problems_per_s", stats.annotated),
        details={
            "sampler": spec,
            "model": sampler.model,
            "n": cfg.n,
            "settings": asdict(settings) if settings is not None else None,
            "overlap": overlap,
            "engine": cfg.engine,
            "skipped_resumed": stats.skipped_resumed,
            "annotated": stats.annotated,
            "samples_scored": stats.samples_scored,
            "sample_status": stats.sample_status,
            "generate_s": stats.generate_s,
            "verify_s": stats.verify_s,
            "verify_wait_s": stats.verify_wait_s,
            "verify_share": round(stats.verify_s / busy, 4) if busy else 0.0,
            # over the whole output: per domain, and the pass-rate histogram as counts per value
            **{
                f"output_{k}": v
                for k, v in summary.items()
                if k not in ("kept", "rejected", "rejected_by_reason")
            },
            "output_pass_rate_counts_by_domain": {
                domain: {f"{p:.4g}": c for p, c in sorted(Counter(rates).items())}
                for domain, rates in pass_rates.items()
            },
        },
    )
    if report_dir:
        from .report import write_report

        write_report(report_dir, {**summary, "pass_rates_by_domain": pass_rates}, result.stats)
    return result
