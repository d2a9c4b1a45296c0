"""``ring-data annotate``: thin CLI over :func:`ring_data.annotate.annotate` (parses, prints)."""

from __future__ import annotations

import argparse
import sys

from ring_data.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs", nargs="+", metavar="IN", help="rows: JSONL(.gz), Parquet or a datasets directory"
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="annotated rows (suffix picks the format)"
    )
    p.add_argument(
        "--sampler",
        required=True,
        metavar="SPEC",
        help="hf:PATH (local transformers), vllm:PATH (in-process vLLM, GPU), openai:URL "
        "(OpenAI-compatible server), samples:FILE (precomputed responses)",
    )
    p.add_argument("--n", type=int, default=8, help="responses per problem (default 8)")
    p.add_argument("--drop-extremes", action="store_true", help="reject problems with pass rate 0 or 1")
    p.add_argument(
        "--keep-range", nargs=2, type=float, metavar=("LO", "HI"), help="reject pass rates outside [LO, HI]"
    )
    p.add_argument("--rejects", metavar="FILE", help="rejects file (default: OUT's stem + .rejects.jsonl)")
    p.add_argument("--report", metavar="DIR", help="write report.md/.html with plots here")
    p.add_argument("--save-samples", metavar="FILE", help="also write responses + verdicts (a samples: file)")
    p.add_argument("--no-resume", action="store_true", help="start over instead of skipping ids in OUT")
    p.add_argument("--on-bad-row", choices=("raise", "reject"), default="raise")
    p.add_argument(
        "--map", metavar="SPEC", help="column mapping, e.g. question=prompt,answer=reference.answer"
    )
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="generate in this process, or on a pool of Ray actors (the cluster at RAY_ADDRESS, a local "
        "one without it); same output for a seeded sampler",
    )
    p.add_argument(
        "--ray-actors",
        type=int,
        default=0,
        metavar="N",
        help="--engine ray: samplers in the pool (default 0: one per GPU, vllm: per --tensor-parallel-size "
        "GPUs; without GPUs one per CPU)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help="problems per sampler call (default: hf 16, openai max(16, --concurrency), vllm and samples 256)",
    )
    g = p.add_argument_group("sampling")
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-p", type=float, default=0.95)
    g.add_argument("--max-tokens", type=int, default=4096)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument(
        "--chat-template", default="auto", help="auto (the model's), none (raw text) or a Jinja file"
    )
    g.add_argument("--system-prompt", help="system message before each problem")
    g.add_argument(
        "--prompt-template",
        action="append",
        metavar="DOMAIN=TEXT",
        help="per-domain user template with {prompt} (default math: the Ring-lite \\boxed{} instruction)",
    )
    g.add_argument("--model-label", help="name written to difficulty.model (default: from the sampler)")
    g = p.add_argument_group("sampler-specific")
    g.add_argument("--device", help="hf: torch device (default cuda if available, else cpu)")
    g.add_argument(
        "--dtype", default="auto", help="hf: float32, bfloat16, ... (default fp32 on CPU, bf16 on GPU)"
    )
    g.add_argument("--gen-batch", type=int, default=64, help="hf: sequences per generate call (default 64)")
    g.add_argument("--model-name", help="openai: model id (default: the server's first model)")
    g.add_argument("--openai-api", choices=("chat", "completions"), default="chat")
    g.add_argument("--concurrency", type=int, default=8, help="openai: requests in flight (default 8)")
    g.add_argument("--retries", type=int, default=3, help="openai: retries per request (default 3)")
    g.add_argument("--request-timeout", type=float, default=600.0, help="openai: seconds per request")
    g.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs per model")
    g.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vllm")
    g = p.add_argument_group("verification")
    g.add_argument("--verify-workers", type=int, help="verifier processes (default: verifiers' choice)")
    g.add_argument("--verify-timeout", type=float, default=10.0, help="seconds per response (default 10)")
    g.add_argument(
        "--overlap",
        choices=("auto", "on", "off"),
        default="auto",
        help="verify a batch while the next one generates (auto: on unless hf: generates on the CPU)",
    )


def sampler_options(args: argparse.Namespace) -> dict:
    kind = args.sampler.partition(":")[0]
    common = {"model_label": args.model_label}
    if kind == "hf":
        return {**common, "batch_size": args.gen_batch, "device": args.device, "dtype": args.dtype}
    if kind == "openai":
        return {
            **common,
            "model_name": args.model_name,
            "api": args.openai_api,
            "concurrency": args.concurrency,
            "retries": args.retries,
            "timeout": args.request_timeout,
        }
    if kind == "vllm":
        return {
            **common,
            "tensor_parallel_size": args.tensor_parallel_size,
            "gpu_memory_utilization": args.gpu_memory_utilization,
        }
    return common


def run(args: argparse.Namespace) -> int:
    from ring_data.annotate import AnnotateConfig, SamplingSettings, annotate
    from ring_data.annotate.prompts import parse_template_options
    from ring_data.annotate.samplers import sampler_class
    from ring_data.io import parse_mapping

    if args.n < 1:
        raise UserError("--n must be at least 1")
    if args.keep_range and not 0 <= args.keep_range[0] <= args.keep_range[1] <= 1:
        raise UserError("--keep-range needs 0 <= LO <= HI <= 1")
    settings = SamplingSettings(
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        chat_template=args.chat_template,
        system_prompt=args.system_prompt,
        seed=args.seed,
    )
    options = sampler_options(args)
    config = AnnotateConfig(
        n=args.n,
        batch_size=max(1, args.batch_size or sampler_class(args.sampler).default_batch_size(options)),
        drop_extremes=args.drop_extremes,
        keep_range=tuple(args.keep_range) if args.keep_range else None,
        templates=parse_template_options(args.prompt_template),
        system_prompt=args.system_prompt,
        verify_workers=args.verify_workers,
        verify_timeout=args.verify_timeout,
        overlap={"auto": None, "on": True, "off": False}[args.overlap],
        save_samples=args.save_samples,
        resume=not args.no_resume,
        on_bad_row=args.on_bad_row,
        mapping=parse_mapping(args.map) or None,
        engine=args.engine,
        actors=max(0, args.ray_actors),
    )
    result = annotate(
        args.inputs,
        args.output,
        args.sampler,
        rejects=args.rejects,
        report_dir=args.report,
        config=config,
        settings=settings,
        sampler_options=options,
    )
    s = result.stats
    print(
        f"ring-data annotate: {result.conservation}"
        f" ({'balanced' if result.balanced else 'NOT balanced: input changed since the first run?'}); "
        f"this run annotated {s['annotated']} at {s['problems_per_s']:.2f} problems/s "
        f"(generation {s['generate_s']:.1f}s, verification {s['verify_s']:.1f}s), "
        f"skipped {s['skipped_resumed']} already done",
        file=sys.stderr,
    )
    for domain, buckets in s["output_buckets_by_domain"].items():
        print(f"  {domain}: " + ", ".join(f"{b} {c}" for b, c in buckets.items()), file=sys.stderr)
    if result.rejected_by_reason:
        print(
            "  rejected: " + ", ".join(f"{r} {c}" for r, c in result.rejected_by_reason.items()),
            file=sys.stderr,
        )
    report = f"; report: {result.report_dir / 'report.md'}" if result.report_dir else ""
    print(f"  stats: {result.stats_path}{report}", file=sys.stderr)
    return 0
