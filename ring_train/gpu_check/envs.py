"""Python environments for the GPU checks: the running interpreter, or overlays that add what it lacks.

Three layers, each a probe (a snippet that must run cleanly) and the pyproject requirements that make
it pass: ``train`` (the embedded backend, the verifiers, pytest), ``vllm`` (plus vLLM's full install,
whose pin brings its own torch) and ``openrlhf`` (plus OpenRLHF, DeepSpeed, Ray and flash-attn).

A layer that already probes clean in the interpreter below it is used as is. Otherwise it gets an
overlay: a venv without pip or system packages whose one ``.pth`` file puts the site folders of the
layer below after its own. It sees everything below and pip installs into it only what is missing
or must differ (vLLM's torch pin), so the interpreter below is never modified and an install cut
short breaks only its overlay. pip runs from the interpreter below (``pip --python OVERLAY``) and
never builds the big compiled packages (``--only-binary``): a build would not fit the budget.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .runner import FAIL, PASS, SKIP, Outcome, log_tail, run_logged

ROOT = Path(__file__).resolve().parents[2]

PROBES = {
    "train": (
        "import torch, transformers, pytest\n"
        "import ring_train.backends.embedded, ring_train.sft, ring_data.annotate.samplers\n"
        "from verifiers import verify\n"
        "r = verify('\\\\boxed{4}', {'answer': '4'}, 'math')\n"
        "assert r.correct, r\n"
        "print(f'torch {torch.__version__}, transformers {transformers.__version__}, pytest {pytest.__version__}')\n"
    ),
    "vllm": (
        "import vllm, vllm.entrypoints.llm, torch\n"
        "print(f'vllm {vllm.__version__}, torch {torch.__version__}')\n"
    ),
    "openrlhf": (
        "import deepspeed, flash_attn, openrlhf, ray\n"
        "from importlib.metadata import version\n"
        "from ring_train.backends.openrlhf import check_stack\n"
        "check_stack()\n"
        "print(', '.join(f'{d} {version(d)}' for d in ('openrlhf', 'deepspeed', 'ray', 'flash-attn')))\n"
    ),
}
BELOW = {"train": None, "vllm": "train", "openrlhf": "vllm"}  # the layer each one sits on
EXTRAS = {"train": ("train",), "vllm": ("train", "vllm"), "openrlhf": ("train", "openrlhf")}
TEST_TOOLS = ["pytest>=8", "pytest-timeout>=2.3"]
# compiled packages pip must never build here (a source build takes far longer than the budget)
ONLY_BINARY = "torch,vllm,flash-attn,deepspeed,xformers"
PROBE_TIMEOUT_S = 120.0


@dataclass
class Context:
    """What the checks share: where to write, how to install, and which interpreter has each layer."""

    out: Path
    base_python: str = sys.executable
    wheels: Path | None = None  # pip --find-links folder
    install: bool = True
    offline: bool = False  # pip looks only in ``wheels`` (--no-index)
    root: Path = ROOT
    # how the throughput checks run ring_train.throughput (its defaults: the small model, 4 steps)
    throughput_args: tuple[str, ...] = ("--device", "cuda", "--precision", "bf16")
    python: dict[str, str] = field(default_factory=dict)  # layer -> interpreter that has it

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    def env(self) -> dict[str, str]:
        """The checks' environment: unbuffered output, no network calls from the ML libraries (the
        machine may reach nothing: a lookup would only wait for its timeout), no usage reporting."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        for key, value in {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "RAY_USAGE_STATS_ENABLED": "0",
            "OMP_WAIT_POLICY": "PASSIVE",
            "TOKENIZERS_PARALLELISM": "false",
        }.items():
            env.setdefault(key, value)
        return env


def default_wheels(root: Path = ROOT) -> Path | None:
    """``RING_GPU_WHEELS``, else the checkout's ``.whl/`` or ``wheels/`` folder if there is one."""
    named = os.environ.get("RING_GPU_WHEELS")
    if named:
        return Path(named)
    return next((p for p in (root / ".whl", root / "wheels") if p.is_dir()), None)


def requirements(layer: str, root: Path = ROOT) -> list[str]:
    """The pyproject requirements of ``layer``: base dependencies, its extras, and the test tools."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in EXTRAS[layer]:
        reqs += project["optional-dependencies"][extra]
    return list(dict.fromkeys(reqs + TEST_TOOLS))


def _remaining(deadline: float) -> float:
    return deadline - time.monotonic()


def probe(layer: str, python: str, ctx: Context, timeout_s: float) -> tuple[bool, str]:
    """(True, versions) when ``layer``'s probe runs cleanly under ``python``; else (False, the error's
    last line)."""
    log = ctx.logs / f"probe-{layer}.log"
    log.unlink(missing_ok=True)
    rc = run_logged(
        [python, "-c", PROBES[layer]], log, min(PROBE_TIMEOUT_S, timeout_s), cwd=ctx.root, env=ctx.env()
    )
    return rc == 0, log_tail(log)


def make_overlay(below_python: str, env_dir: Path, log: Path, timeout_s: float) -> str:
    """A venv at ``env_dir`` (made once) that sees ``below_python``'s packages after its own; returns
    its interpreter."""
    python = env_dir / "bin" / "python"
    if not python.exists():
        rc = run_logged([below_python, "-m", "venv", "--without-pip", str(env_dir)], log, timeout_s)
        if rc != 0:
            raise RuntimeError(f"could not create a venv at {env_dir}: {log_tail(log)}")
    query = (
        "import json, site, sysconfig; user = site.getusersitepackages() if site.ENABLE_USER_SITE else None; "
        "print(json.dumps([sysconfig.get_path('purelib'), [*site.getsitepackages(), *([user] if user else [])]]))"
    )
    below = json.loads(subprocess.check_output([below_python, "-c", query], text=True, timeout=60))[1]
    own = json.loads(subprocess.check_output([str(python), "-c", query], text=True, timeout=60))[0]
    # 'import' lines of a .pth run at startup: addsitedir also reads the .pth files of the layer below,
    # so overlays chain (openrlhf -> vllm -> train -> the machine's interpreter)
    lines = [f"import site; site.addsitedir({d!r})" for d in below if Path(d).is_dir()]
    Path(own).mkdir(parents=True, exist_ok=True)
    (Path(own) / "_ring_gpu_check_overlay.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(python)


def pip_error(log: Path) -> str:
    """pip's reason for failing: its last ERROR line, else the log's last line."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    errors = [x.strip() for x in text.splitlines() if x.startswith("ERROR:")]
    return re.sub(r"^ERROR:\s*", "", errors[-1]) if errors else log_tail(log)


def pip_install(ctx: Context, overlay_python: str, reqs: list[str], log: Path, timeout_s: float) -> int:
    """Install ``reqs`` into the overlay with the running interpreter's pip; returns pip's status."""
    cmd = [
        ctx.base_python,
        "-m",
        "pip",
        "--disable-pip-version-check",
        "--python",
        overlay_python,
        "install",
        "--no-input",
        "--progress-bar",
        "off",
        "--retries",
        "0",
        "--timeout",
        "15",
        "--only-binary",
        ONLY_BINARY,
    ]
    if ctx.wheels is not None:
        cmd += ["--find-links", str(ctx.wheels)]
    if ctx.offline:
        cmd.append("--no-index")
    return run_logged([*cmd, *reqs], log, timeout_s, cwd=ctx.root, env=ctx.env())


def ensure_layer(layer: str, ctx: Context, limit_s: float) -> Outcome:
    """A setup check: make ``layer`` importable (probe, else overlay + pip) and record its interpreter
    in ``ctx.python``."""
    deadline = time.monotonic() + limit_s
    below = ctx.python[BELOW[layer]] if BELOW[layer] else ctx.base_python
    ok, info = probe(layer, below, ctx, _remaining(deadline))
    if ok:
        ctx.python[layer] = below
        return Outcome(PASS, f"already importable: {info}")
    missing = info
    if not ctx.install:
        return Outcome(SKIP, f"not importable ({missing}); installs are off (--no-install)")
    env_dir = ctx.out / "env" / layer
    log = ctx.logs / f"install-{layer}.log"
    try:
        overlay = make_overlay(below, env_dir, log, _remaining(deadline))
    except (RuntimeError, subprocess.SubprocessError, ValueError) as e:
        return Outcome(SKIP, f"not importable ({missing}); {e}")
    ok, info = probe(layer, overlay, ctx, _remaining(deadline))  # installed by an earlier run
    if not ok:
        t0 = time.monotonic()
        rc = pip_install(ctx, overlay, requirements(layer, ctx.root), log, _remaining(deadline))
        if rc != 0:
            return Outcome(SKIP, f"not importable ({missing}); pip could not install it: {pip_error(log)}")
        ok, info = probe(layer, overlay, ctx, _remaining(deadline))
        if not ok:  # installed as pinned, yet broken: the pins are the project's to fix
            return Outcome(FAIL, f"installed into {env_dir} but the probe fails: {info}")
        info = f"installed in {time.monotonic() - t0:.0f}s: {info}"
    ctx.python[layer] = overlay
    return Outcome(PASS, info)
