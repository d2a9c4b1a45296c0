"""``ring-train eval``: sample n responses per benchmark problem, score them with ``verify_batch``, and
report the paper's figures (see :mod:`ring_train.eval.estimators` and docs/eval.md).

Outputs in ``OUT``: ``results.json`` (every figure, per benchmark), ``problems.jsonl`` (one line per
problem: correct count, per-sample verdicts, answers, lengths, pass@k, maj@k), ``samples.jsonl`` (the
responses, a ``samples:`` file that re-scores without a model), ``report.md`` / ``report.html``,
``eval.png`` and ``eval.stats.json``. ``problems.jsonl`` is a journal written after every batch: a
rerun with the same settings skips the problems already there (``--no-resume`` starts over).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ring_data.annotate.prompts import build_prompt
from ring_data.annotate.samplers import SamplingSettings
from ring_data.errors import UserError
from ring_data.runtime import progress, write_stats

from .benchmarks import Benchmark, load_benchmark, template_for
from .estimators import default_ks, maj_at_k, mean_pass_at_k, pass_at_k
from .sampling import Completion, DetailedSampler

VOTE_DOMAINS = ("math", "science")  # answers that compare as values: maj@k is reported for these


@dataclass
class EvalConfig:
    benchmarks: list[str]
    n: int = 32
    ks: list[int] | None = None  # pass@k / maj@k values (default 1, 2, 4, ..., n)
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 32768
    seed: int | None = 0
    limit: int | None = None  # first N problems of each benchmark
    ifeval: str | None = None  # IFEval file in the official format
    templates: dict[str, str] = field(default_factory=dict)
    system_prompt: str | None = None
    chat_template: str = "auto"
    batch_size: int = 16  # problems per sampler call
    verify_workers: int | None = None
    verify_timeout: float = 10.0
    resume: bool = True
    logger: str = "tensorboard"
    step: int = 0  # the step the figures are logged at (a checkpoint's training step)

    def settings(self) -> SamplingSettings:
        return SamplingSettings(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            chat_template=self.chat_template,
            system_prompt=self.system_prompt,
            seed=self.seed,
        )


# settings that change the samples or their scores: a resumed run must use the same ones
_FINGERPRINT = (
    "n",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "templates",
    "system_prompt",
    "chat_template",
)


# 2: hf: and vllm: draw each problem from its own seed, as annotate does (1: one seed for the run), so a
# run written by version 1 is not resumed with version-2 samples
SAMPLING_VERSION = 2


def _fingerprint(cfg: EvalConfig, sampler_spec: str) -> dict[str, Any]:
    return {
        "sampler": sampler_spec,
        **{k: getattr(cfg, k) for k in _FINGERPRINT},
        "sampling_version": SAMPLING_VERSION,
    }


def _items(row: dict[str, Any], completions: list[Completion]) -> list[tuple]:
    """``verify_batch`` items for one problem: one per response; IFEval twice (strict, loose)."""
    items = [(c.text, row["reference"], row["domain"], {}) for c in completions]
    if row["domain"] == "ifeval":
        items += [(c.text, row["reference"], "ifeval", {"loose": True}) for c in completions]
    return items


def _record(
    bench: str, row: dict[str, Any], completions: list[Completion], results: list, ks: list[int]
) -> dict:
    n = len(completions)
    main = results[:n]
    correct = [r.correct for r in main]
    rec: dict[str, Any] = {
        "benchmark": bench,
        "id": row["id"],
        "domain": row["domain"],
        "n": n,
        "correct": sum(correct),
        "scores": [round(r.score, 6) for r in main],
        "status": [r.status.value for r in main],
        "answers": [r.extracted for r in main],
        "tokens": [c.tokens for c in completions],
        "chars": [len(c.text) for c in completions],
        "truncated": [c.truncated for c in completions],
        "pass@k": {str(k): pass_at_k(n, sum(correct), k) for k in ks if k <= n},
    }
    if row["domain"] in VOTE_DOMAINS and n:
        rec["maj@k"] = {str(k): maj_at_k(rec["answers"], correct, k) for k in ks if k <= n}
    if row["domain"] == "ifeval":
        for mode, part in (("strict", main), ("loose", results[n:])):
            rec[mode] = {
                "prompt": [r.correct for r in part],
                "followed": [sum(i["followed"] for i in r.details.get("instructions", [])) for r in part],
                "instructions": len(row["reference"].get("instruction_id_list", [])),
            }
    return rec


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(records: list[dict[str, Any]], ks: list[int], n: int) -> dict[str, Any]:
    """Figures of one benchmark from its problem records (see docs/eval.md for each one)."""
    scored = [r for r in records if r["n"] > 0]
    out: dict[str, Any] = {
        "problems": len(records),
        "problems_without_samples": len(records) - len(scored),
        "samples": sum(r["n"] for r in scored),
        "n": n,
        "domains": sorted({r["domain"] for r in records}),
    }
    counts = [(r["n"], r["correct"]) for r in scored]
    # a problem without samples counts as 0 in avg@n (nothing was answered)
    out[f"avg@{n}"] = sum(c / m for m, c in counts) / len(records) if records else None
    min_n = min((m for m, _ in counts), default=0)
    out["pass@k"] = {str(k): mean_pass_at_k(counts, k) for k in ks if k <= min_n}
    votes = [r for r in scored if "maj@k" in r]
    if votes:
        out["maj@k"] = {
            str(k): _mean([r["maj@k"][str(k)] for r in votes if str(k) in r["maj@k"]])
            for k in ks
            if all(str(k) in r["maj@k"] for r in votes)
        }
    tokens = [t for r in scored for t in r["tokens"] if t is not None]
    trunc = [t for r in scored for t in r["truncated"] if t is not None]
    chars = [c for r in scored for c in r["chars"]]
    out["mean_response_tokens"] = _mean(tokens)
    out["mean_response_chars"] = _mean(chars)
    out["truncated_share"] = _mean([1.0 if t else 0.0 for t in trunc])
    out["status"] = dict(Counter(s for r in scored for s in r["status"]).most_common())
    ife = [r for r in scored if "strict" in r]
    if ife:
        for mode in ("strict", "loose"):
            prompt = [float(p) for r in ife for p in r[mode]["prompt"]]
            followed = sum(f for r in ife for f in r[mode]["followed"])
            total = sum(r[mode]["instructions"] * len(r[mode]["followed"]) for r in ife)
            out[f"prompt_level_{mode}"] = _mean(prompt)
            out[f"instruction_level_{mode}"] = followed / total if total else None
    return out


def read_journal(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Problem records already written (the last line for a problem wins; a torn last line is dropped)."""
    done: dict[tuple[str, str], dict[str, Any]] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        done[(rec["benchmark"], str(rec["id"]))] = rec
    return done


def _prepare_out(out: Path, cfg: EvalConfig, sampler_spec: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    conf = out / "eval.config.json"
    fp = _fingerprint(cfg, sampler_spec)
    if conf.exists() and cfg.resume:
        old = json.loads(conf.read_text())
        changed = [k for k in fp if old.get(k) != fp[k]]
        if changed:
            raise UserError(
                f"{out}: holds an eval with other settings ({', '.join(changed)}); "
                "use another output dir or --no-resume"
            )
    if not cfg.resume:
        for name in ("problems.jsonl", "samples.jsonl"):
            (out / name).unlink(missing_ok=True)
    conf.write_text(json.dumps(fp, indent=2))


def run_eval(
    cfg: EvalConfig,
    sampler_spec: str,
    out_dir: str | Path,
    *,
    sampler: DetailedSampler | None = None,
    sampler_options: dict[str, Any] | None = None,
    tokenizer: str | None = None,
) -> dict[str, Any]:
    """Evaluate and write every output; returns ``results.json``'s content."""
    from verifiers import verify_batch

    from ..metrics import Tracker, check_logger
    from .sampling import make_detailed_sampler

    if cfg.n < 1:
        raise UserError(f"--n must be >= 1, got {cfg.n}")
    ks = sorted(set(cfg.ks or default_ks(cfg.n)))
    if any(k < 1 or k > cfg.n for k in ks):
        raise UserError(f"--k values must be in [1, n={cfg.n}], got {','.join(map(str, ks))}")
    check_logger(cfg.logger)
    benches: list[Benchmark] = [load_benchmark(b, ifeval=cfg.ifeval, limit=cfg.limit) for b in cfg.benchmarks]
    if len({b.name for b in benches}) != len(benches):
        raise UserError("--benchmarks: two benchmarks have the same name; name them with NAME=PATH")
    out = Path(out_dir)
    _prepare_out(out, cfg, sampler_spec)
    journal_path = out / "problems.jsonl"
    done = read_journal(journal_path)
    todo = [(b, r) for b in benches for r in b.rows if (b.name, str(r["id"])) not in done]
    t0 = time.time()
    gen_s = ver_s = 0.0
    sampled = 0
    if todo:
        own = sampler is None
        sampler = sampler or make_detailed_sampler(
            sampler_spec, cfg.settings(), tokenizer_path=tokenizer, **(sampler_options or {})
        )
        try:
            with (
                journal_path.open("a", encoding="utf-8") as journal,
                (out / "samples.jsonl").open("a", encoding="utf-8") as samples,
            ):
                batches = [
                    (b, rows[i : i + cfg.batch_size])
                    for b in benches
                    for rows in [[r for bb, r in todo if bb is b]]
                    for i in range(0, len(rows), cfg.batch_size)
                ]
                for bench, rows in progress(batches, desc="eval", unit="batch"):
                    prompts = [
                        build_prompt(
                            r,
                            templates={r["domain"]: template_for(bench, r["domain"], cfg.templates)},
                            system_prompt=cfg.system_prompt,
                        )
                        for r in rows
                    ]
                    g0 = time.time()
                    drawn = sampler.sample(prompts, cfg.n, bench.name)
                    gen_s += time.time() - g0
                    items, spans = [], []
                    for r, comps in zip(rows, drawn):
                        its = _items(r, comps)
                        spans.append((len(items), len(its)))
                        items += its
                    v0 = time.time()
                    results = verify_batch(items, workers=cfg.verify_workers, timeout=cfg.verify_timeout)
                    ver_s += time.time() - v0
                    for r, comps, (at, width) in zip(rows, drawn, spans):
                        rec = _record(bench.name, r, comps, results[at : at + width], ks)
                        if not comps:
                            rec["error"] = (
                                sampler.failure(str(r["id"])) or "the sampler returned no responses"
                            )
                        journal.write(json.dumps(rec) + "\n")
                        samples.write(
                            json.dumps(
                                {
                                    "benchmark": bench.name,
                                    "id": r["id"],
                                    "model": sampler.model,
                                    "responses": [c.text for c in comps],
                                    "lengths": [c.tokens for c in comps],
                                    "truncated": [c.truncated for c in comps],
                                }
                            )
                            + "\n"
                        )
                        sampled += len(comps)
                    journal.flush()
                    samples.flush()
        finally:
            if own:
                sampler.close()
    done = read_journal(journal_path)
    results: dict[str, Any] = {
        "sampler": sampler_spec,
        "protocol": {
            "n": cfg.n,
            "ks": ks,
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
            "max_tokens": cfg.max_tokens,
            "seed": cfg.seed,
            "limit": cfg.limit,
        },
        "benchmarks": {},
    }
    for b in benches:
        recs = [done[(b.name, str(r["id"]))] for r in b.rows if (b.name, str(r["id"])) in done]
        results["benchmarks"][b.name] = {"source": b.source, **summarize(recs, ks, cfg.n)}
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    from .report import write_report

    report = write_report(results, out)
    tracker = Tracker(
        out, logger=cfg.logger, config={"sampler": sampler_spec, **asdict(cfg)}, job_type="eval"
    )
    try:
        tracker.log(flat_figures(results), cfg.step)
    finally:
        tracker.close()
    write_stats(
        out / "eval.stats.json",
        {
            "sampler": sampler_spec,
            "problems": sum(len(b.rows) for b in benches),
            "problems_sampled_now": len(todo),
            "problems_resumed": sum(len(b.rows) for b in benches) - len(todo),
            "responses_sampled_now": sampled,
            "seconds": round(time.time() - t0, 1),
            "generate_s": round(gen_s, 1),
            "verify_s": round(ver_s, 1),
            "outputs": {k: str(v) for k, v in report.items()},
        },
    )
    return results


def flat_figures(results: dict[str, Any]) -> dict[str, float]:
    """``eval/<benchmark>/<figure>`` -> value, the names TensorBoard and W&B get."""
    flat: dict[str, float] = {}
    for name, b in results["benchmarks"].items():
        for key, value in b.items():
            if isinstance(value, dict) and key in ("pass@k", "maj@k"):
                for k, v in value.items():
                    if v is not None:
                        flat[f"eval/{name}/{key.replace('k', k)}"] = v
            elif isinstance(value, int | float) and not isinstance(value, bool) and value is not None:
                flat[f"eval/{name}/{key}"] = value
    return flat
