"""``ring-data verify``: thin CLI over :func:`ring_data.verify.pipeline.verify_file` (parses, prints)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ring_data.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs", nargs="+", metavar="IN", help="rows: JSONL(.gz), Parquet or a datasets directory"
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="kept rows (suffix picks the format)")
    p.add_argument("--rejects", metavar="FILE", help="rejects file (default: OUT's stem + .rejects.jsonl)")
    p.add_argument("--report", metavar="DIR", help="write report.md/.html with plots here")
    p.add_argument(
        "--quorum",
        type=float,
        default=0.5,
        help="candidates: keep when more than this share agrees with the answer (default 0.5: strict majority)",
    )
    p.add_argument(
        "--workers", type=int, default=min(8, (os.cpu_count() or 2) * 2), help="rows checked concurrently"
    )
    p.add_argument(
        "--check-option",
        action="append",
        metavar="KEY=JSON",
        help="extra option for verifiers.check_reference, e.g. time_limit=2 (repeatable)",
    )
    p.add_argument(
        "--keep-unverified",
        action="store_true",
        help="keep references nothing could check (code tests without a reference solution) instead of "
        "rejecting them as unverified_reference; the stats count them (kept_unverified)",
    )
    p.add_argument(
        "--no-resume", action="store_true", help="start over instead of skipping ids already written"
    )
    p.add_argument("--on-bad-row", choices=("raise", "reject"), default="raise")
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="check rows in this process (threads) or as Ray Data tasks on the cluster at RAY_ADDRESS "
        "(a local one without it); same output",
    )
    p.add_argument(
        "--map", metavar="SPEC", help="column mapping, e.g. question=prompt,answer=reference.answer"
    )


def parse_check_options(specs: list[str] | None) -> dict:
    out = {}
    for spec in specs or []:
        key, sep, value = spec.partition("=")
        if not sep or not key:
            raise UserError(f"--check-option expects KEY=VALUE, got {spec!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    from ring_data.io import parse_mapping
    from ring_data.verify.checks import CheckConfig
    from ring_data.verify.pipeline import VerifyConfig, verify_file

    if not 0 <= args.quorum < 1:
        raise UserError("--quorum must be in [0, 1)")
    config = VerifyConfig(
        check=CheckConfig(
            quorum=args.quorum,
            check_options=parse_check_options(args.check_option),
            keep_unverified=args.keep_unverified,
        ),
        workers=max(1, args.workers),
        resume=not args.no_resume,
        on_bad_row=args.on_bad_row,
        mapping=parse_mapping(args.map) or None,
        engine=args.engine,
    )
    result = verify_file(
        args.inputs, args.output, rejects=args.rejects, report_dir=args.report, config=config
    )
    s = result.stats
    print(
        f"ring-data verify: {result.conservation}"
        f" ({'balanced' if result.balanced else 'NOT balanced: input changed since the first run?'}); "
        f"checked {s['checked']} rows at {s['rows_per_s']:.1f} rows/s, skipped {s['skipped_resumed']} already done",
        file=sys.stderr,
    )
    if s["kept_unverified"]:
        print(f"  kept unverified (--keep-unverified): {s['kept_unverified']}", file=sys.stderr)
    for domain, counts in s["by_domain"].items():
        print(f"  {domain}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), file=sys.stderr)
    report = f"; report: {result.report_dir / 'report.md'}" if result.report_dir else ""
    print(f"  stats: {result.stats_path}{report}", file=sys.stderr)
    return 0
