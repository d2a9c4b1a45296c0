"""``ring-train rl --config CFG.yaml [--stage NAME | --stages all] [--set key=value ...] [--resume]``."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML run config (see configs/ and docs/train.md)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--stage", help="run one stage of the plan (e.g. reasoning, general)")
    which.add_argument("--stages", default="all", help="'all' runs the whole plan in order (default)")
    from ring_train.backends import BACKENDS

    p.add_argument("--backend", choices=BACKENDS, help="overrides the config's backend")
    p.add_argument("--c3po", choices=["on", "off"], help="off = plain sample-level GRPO (ablation)")
    p.add_argument("--model", help="policy to start from (overrides the config)")
    p.add_argument("--run-dir", help="output dir (overrides the config)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override any config key (repeatable)"
    )
    p.add_argument("--resume", action="store_true", help="continue from the run dir's latest checkpoint")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    import json

    from ring_data.errors import UserError
    from ring_train.backends import get_backend
    from ring_train.config import load_config
    from ring_train.core.schedule import select_stages
    from ring_train.runtime import set_threads

    overrides = list(args.set)
    for key, value in (("backend", args.backend), ("model", args.model), ("run_dir", args.run_dir)):
        if value:
            overrides.append(f"{key}={value}")
    if args.c3po:
        overrides.append(f"c3po.enabled={'true' if args.c3po == 'on' else 'false'}")
    if not args.config and not overrides:
        raise UserError("rl: give --config FILE (and/or --set key=value overrides)")
    cfg = load_config(args.config, overrides)
    try:
        stages = select_stages(cfg.stages, args.stage or args.stages)
    except ValueError as e:
        raise UserError(f"rl: {e}") from None
    set_threads(args.threads)
    summary = get_backend(cfg.backend).train(cfg, stages, resume=args.resume)
    print(json.dumps(summary, indent=2))
    return 0
