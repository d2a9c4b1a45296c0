"""``ring-train eval --model PATH | --sampler SPEC --benchmarks aime2024,math500,... -o OUT``."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="local HF model dir (same as --sampler hf:PATH)")
    src.add_argument("--sampler", help="hf:PATH | vllm:PATH | openai:URL | samples:FILE")
    p.add_argument(
        "--benchmarks",
        required=True,
        help="comma-separated: aime2024, aime2025, math500, cnmo, humaneval, ifeval, PATH or NAME=PATH (row schema)",
    )
    p.add_argument(
        "-o", "--output", required=True, help="output dir (results.json, problems.jsonl, report.md, ...)"
    )
    p.add_argument("--n", type=int, default=32, help="samples per problem (default 32)")
    p.add_argument("--k", default=None, help="comma-separated k for pass@k and maj@k (default 1,2,4,...,n)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-tokens", type=int, default=32768, help="max new tokens per response")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="first N problems of each benchmark")
    p.add_argument(
        "--ifeval",
        default=None,
        help="IFEval prompts in the official format (key, prompt, instruction_id_list, kwargs)",
    )
    p.add_argument(
        "--prompt-template",
        action="append",
        default=[],
        metavar="DOMAIN=TEXT",
        help="prompt template for a domain ({prompt} marks the problem); repeatable",
    )
    p.add_argument("--system-prompt", default=None)
    p.add_argument("--chat-template", default="auto", help="auto | none | FILE")
    p.add_argument("--batch-size", type=int, default=16, help="problems per sampler call")
    p.add_argument("--gen-batch", type=int, default=64, help="hf: sequences per generate call")
    p.add_argument("--device", default=None, help="hf: cpu | cuda (default: cuda when available)")
    p.add_argument(
        "--tokenizer", default=None, help="tokenizer dir to count openai:/samples: response tokens"
    )
    p.add_argument("--concurrency", type=int, default=8, help="openai: requests in flight")
    p.add_argument("--model-name", default=None, help="openai: model name (default: the server's first)")
    p.add_argument("--verify-workers", type=int, default=None)
    p.add_argument("--verify-timeout", type=float, default=10.0, help="seconds per response")
    p.add_argument(
        "--no-resume", action="store_true", help="start over instead of skipping problems already done"
    )
    p.add_argument(
        "--logger",
        default="tensorboard",
        choices=["tensorboard", "wandb", "none"],
        help="also log the figures to OUT/tensorboard (default) or W&B",
    )
    p.add_argument("--step", type=int, default=0, help="step to log the figures at (e.g. the checkpoint's)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from ring_data.annotate.prompts import parse_template_options
    from ring_data.errors import UserError
    from ring_train.eval import EvalConfig, run_eval
    from ring_train.runtime import set_threads

    set_threads(args.threads)
    spec = f"hf:{args.model}" if args.model else args.sampler
    try:
        ks = [int(k) for k in args.k.split(",")] if args.k else None
    except ValueError:
        raise UserError(f"--k must be comma-separated integers, got {args.k!r}") from None
    cfg = EvalConfig(
        benchmarks=[b.strip() for b in args.benchmarks.split(",") if b.strip()],
        n=args.n,
        ks=ks,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        seed=args.seed,
        limit=args.limit,
        ifeval=args.ifeval,
        templates=parse_template_options(args.prompt_template),
        system_prompt=args.system_prompt,
        chat_template=args.chat_template,
        batch_size=args.batch_size,
        verify_workers=args.verify_workers,
        verify_timeout=args.verify_timeout,
        resume=not args.no_resume,
        logger=args.logger,
        step=args.step,
    )
    kind = spec.partition(":")[0]
    options = {}
    if kind == "hf":
        options = {"batch_size": args.gen_batch, "device": args.device}
    elif kind == "openai":
        options = {"concurrency": args.concurrency, "model_name": args.model_name}
    results = run_eval(cfg, spec, args.output, sampler_options=options, tokenizer=args.tokenizer)
    from ring_train.eval.report import markdown

    print(markdown(results), file=sys.stderr)
    print(
        json.dumps(
            {name: {k: v for k, v in b.items() if k != "status"} for name, b in results["benchmarks"].items()}
        )
    )
    return 0
