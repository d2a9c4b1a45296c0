"""The checks of ``make gpu-check``, in the order they run, and what each one does.

Cheap checks that need only the machine's own packages come first, so a machine that can install
nothing still reports them; vLLM and then OpenRLHF come after their installs. Every test marked
``gpu`` in tests/ is run by exactly one check (tests/test_gpu_check.py holds this to be true).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from .envs import Context, ensure_layer
from .report import short
from .runner import FAIL, PASS, SKIP, Check, Outcome, log_tail, run_logged

# check name -> the tests it runs (pytest node ids, relative to the checkout)
GPU_TESTS: dict[str, list[str]] = {
    "embedded-cuda": [
        "tests/ring_train/test_device.py::test_rollout_and_gradients_match_between_cpu_and_gpu_live",
        "tests/ring_train/test_embedded_cuda.py::test_embedded_rl_on_cuda_in_bf16_live",
        "tests/ring_data/test_sampler_backends.py::test_hf_sampler_on_gpu_live",
    ],
    "vllm-rollouts": [
        "tests/ring_train/test_vllm_rollouts.py::test_engine_follows_the_policy_weights_live",
        "tests/ring_train/test_vllm_rollouts.py::test_rl_with_vllm_rollouts_on_gpu_live",
    ],
    "vllm-annotate": ["tests/ring_data/test_sampler_backends.py::test_vllm_sampler_live"],
    "openrlhf-c3po": ["tests/ring_train/test_openrlhf_backend.py::test_live_openrlhf_two_step_stage_on_gpu"],
}

CUDA_PROBE = (
    "import json, torch\n"
    "ok = torch.cuda.is_available()\n"
    "p = torch.cuda.get_device_properties(0) if ok else None\n"
    "print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, 'available': ok,\n"
    "    'count': torch.cuda.device_count() if ok else 0, 'name': p.name if p else None,\n"
    "    'memory_gib': p.total_memory / 2**30 if p else None}))\n"
)


def cuda_check(ctx: Context, limit: float) -> Outcome:
    log = ctx.logs / "cuda.log"
    log.unlink(missing_ok=True)
    rc = run_logged([ctx.base_python, "-c", CUDA_PROBE], log, limit, cwd=ctx.root, env=ctx.env())
    if rc != 0:
        return Outcome(SKIP, f"torch is not importable by {ctx.base_python}: {log_tail(log)}")
    text = log.read_text(encoding="utf-8", errors="replace")
    info = json.loads(next(x for x in reversed(text.splitlines()) if x.startswith("{")))
    if not info["available"]:
        build = f"CUDA {info['cuda']} build" if info["cuda"] else "a CPU-only build"
        return Outcome(SKIP, f"no CUDA GPU: torch {info['torch']} ({build}) sees none")
    gpus = f"{info['count']} x " if info["count"] > 1 else ""
    return Outcome(
        PASS,
        f"{gpus}{info['name']} ({info['memory_gib']:.0f} GiB), torch {info['torch']}, CUDA {info['cuda']}",
        {"device": info},
    )


def junit_outcome(xml: Path, rc: int, log: Path, expected: int | None = None) -> Outcome:
    """A pytest run's result from its JUnit XML: FAIL if any test failed or errored, or fewer than the
    ``expected`` tests ran; SKIP if every test skipped (with the first reason); else PASS."""
    if not xml.exists() or rc not in (0, 1, 5):  # 2-4: interrupted, internal or usage error
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        errors = [x for x in text.splitlines() if x.startswith("ERROR")]
        return Outcome(FAIL, f"pytest exited {rc}: {errors[-1] if errors else log_tail(log)}")
    cases = list(ET.parse(xml).getroot().iter("testcase"))
    if rc == 5 or not cases or (expected is not None and len(cases) < expected):
        return Outcome(FAIL, f"{len(cases)} of {expected or '?'} tests selected: one lost its gpu marker")
    failed, skipped = [], []
    for case in cases:
        for kind in ("failure", "error"):
            node = case.find(kind)
            if node is not None:
                failed.append((case.get("name"), node.get("message") or kind))
        node = case.find("skipped")
        if node is not None:
            skipped.append(node.get("message") or "skipped")
    passed = len(cases) - len(failed) - len(skipped)
    if failed:
        name, message = failed[0]
        return Outcome(FAIL, f"{len(failed)} of {len(cases)} failed: {name}: {short(message, 110)}")
    if rc != 0:  # 1 without a failed case: e.g. an error outside any test
        return Outcome(FAIL, f"pytest exited {rc}: {log_tail(log)}")
    if not passed:
        return Outcome(SKIP, f"{len(skipped)} skipped: {skipped[0]}")
    extra = f", {len(skipped)} skipped ({skipped[0]})" if skipped else ""
    return Outcome(PASS, f"{passed} passed{extra}")


def pytest_check(ctx: Context, name: str, nodes: list[str], layer: str, limit: float) -> Outcome:
    if not (ctx.root / "tests").is_dir():
        return Outcome(SKIP, f"no tests/ folder in {ctx.root}: run from a source checkout")
    xml, log = ctx.logs / f"{name}.xml", ctx.logs / f"{name}.log"
    xml.unlink(missing_ok=True)
    log.unlink(missing_ok=True)
    cmd = [ctx.python[layer], "-m", "pytest", "-q", "-rs", "-m", "gpu", "-p", "no:cacheprovider"]
    # pytest-timeout fires a little before the check's limit, so a hang leaves its traceback in the log
    cmd += [f"--junitxml={xml}", "-o", f"timeout={max(1, int(limit) - 10)}", *nodes]
    rc = run_logged(cmd, log, limit, cwd=ctx.root, env=ctx.env())
    return junit_outcome(xml, rc, log, expected=len(nodes))


def throughput_check(ctx: Context, engine: str, layer: str, limit: float) -> Outcome:
    """A short RL run with ``engine`` (ring_train.throughput); also checks that every step trained
    exactly the C3PO budget."""
    result, log = ctx.out / f"throughput_{engine}.json", ctx.logs / f"throughput-{engine}.log"
    result.unlink(missing_ok=True)
    log.unlink(missing_ok=True)
    cmd = [ctx.python[layer], "-m", "ring_train.throughput", "--engine", engine, *ctx.throughput_args]
    cmd += ["--work", str(ctx.out / "throughput"), "--out", str(result)]
    rc = run_logged(cmd, log, limit, cwd=ctx.root, env=ctx.env())
    if rc != 0 or not result.exists():
        return Outcome(FAIL, f"exit {rc}: {log_tail(log)}")
    row = json.loads(result.read_text(encoding="utf-8"))
    off = [k for k in row["kept_tokens"] if k != row["budget"]]
    if off:
        return Outcome(FAIL, f"C3PO kept {row['kept_tokens']} tokens per step, budget {row['budget']}")
    detail = (
        f"rollout {row['rollout_tokens_per_s']:,.0f} tok/s, train {row['train_tokens_per_s']:,.0f} tok/s "
        f"({row['model']}, {row['steps']} steps)"
    )
    return Outcome(PASS, detail, {"throughput": row})


def build(ctx: Context) -> list[Check]:
    """The checks, in running order, with their time limits (seconds, on one H100)."""

    def tests(name: str, layer: str, limit: float, needs: str) -> Check:
        return Check(name, limit, lambda s: pytest_check(ctx, name, GPU_TESTS[name], layer, s), (needs,))

    def setup(layer: str, limit: float, needs: str) -> Check:
        return Check(f"setup-{layer}", limit, lambda s: ensure_layer(layer, ctx, s), (needs,), setup=True)

    def throughput(engine: str, layer: str, limit: float, needs: str) -> Check:
        return Check(
            f"throughput-{engine}", limit, lambda s: throughput_check(ctx, engine, layer, s), (needs,)
        )

    return [
        Check("cuda", 60, lambda s: cuda_check(ctx, s)),
        setup("train", 150, "cuda"),
        tests("embedded-cuda", "train", 150, "setup-train"),
        throughput("hf", "train", 120, "setup-train"),
        setup("vllm", 240, "setup-train"),
        tests("vllm-rollouts", "vllm", 240, "setup-vllm"),
        tests("vllm-annotate", "vllm", 120, "setup-vllm"),
        throughput("vllm", "vllm", 150, "setup-vllm"),
        setup("openrlhf", 180, "setup-vllm"),
        tests("openrlhf-c3po", "openrlhf", 300, "setup-openrlhf"),
    ]


def with_needs(checks: list[Check], names: list[str]) -> list[Check]:
    """``names`` and every check they need, in running order."""
    by_name = {c.name: c for c in checks}
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo += by_name[name].needs
    return [c for c in checks if c.name in wanted]
