"""``make gpu-check`` (ring_train.gpu_check) on this machine: the whole script on a machine without
CUDA, its runner's limits and cap with checks that really sleep and really spawn processes, the
line / summary / report formats, the JUnit reading on real pytest runs, the overlay install with a
real pip, and the throughput measurement on CPU."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from ring_train.gpu_check.checks import (
    GPU_TESTS,
    build,
    junit_outcome,
    pytest_check,
    throughput_check,
    with_needs,
)
from ring_train.gpu_check.envs import Context, ensure_layer, make_overlay, pip_install
from ring_train.gpu_check.report import line, markdown, short, summary
from ring_train.gpu_check.runner import (
    FAIL,
    PASS,
    SKIP,
    Check,
    Outcome,
    Result,
    exit_code,
    run_checks,
    run_logged,
    stop_running,
)

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(PASS|FAIL|SKIP) (\S+) (\d+\.\d)s (.+)$")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_cuda(), reason="on a GPU machine the script runs the real checks (minutes)")
def test_without_cuda_every_check_is_one_skip_line_and_the_exit_is_0(tmp_path):
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "ring_train.gpu_check", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    names = [c.name for c in build(Context(out=tmp_path))]
    assert len(lines) == len(names) + 1
    parsed = [LINE.match(x) for x in lines[:-1]]
    assert all(parsed), lines
    assert [m.group(2) for m in parsed] == names and {m.group(1) for m in parsed} == {SKIP}
    assert "no CUDA GPU" in parsed[0].group(4)
    assert all(m.group(4).startswith("needs cuda (no CUDA GPU") for m in parsed[1:])
    assert lines[-1].startswith(f"SUMMARY 0 passed, 0 failed, {len(names)} skipped in ")
    report = (tmp_path / "report.md").read_text()
    assert all(f"| {n} | SKIP |" in report for n in names) and "## Throughput" in report
    assert not (tmp_path / "env").exists()  # nothing was installed
    assert elapsed < 60  # about 1 s on an idle machine; the bound leaves room for a loaded CI box


def test_bad_only_is_a_one_line_exit_2(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ring_train.gpu_check",
            "--out",
            str(tmp_path),
            "--only",
            "embedded-cuda,nope",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "--only: unknown check 'nope'" in out.stderr


def test_only_brings_the_checks_it_needs():
    checks = build(Context(out=Path("unused")))
    assert [c.name for c in with_needs(checks, ["vllm-annotate"])] == [
        "cuda",
        "setup-train",
        "setup-vllm",
        "vllm-annotate",
    ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_runner_per_check_limits_and_total_cap(tmp_path):
    """Real sleeps and real child processes: a check that ignores its limit is abandoned and FAILs, an
    install that overruns is a SKIP, the cap cuts a running check (killing its process) and skips the
    rest, and prerequisites propagate."""
    pids: list[int] = []

    def sleeper(limit: float) -> Outcome:
        run_logged(["sleep", "30"], tmp_path / "sleep.log", limit, on_start=pids.append)
        return Outcome(PASS, "slept")

    def broken(limit: float) -> Outcome:
        raise ValueError("bad figure")

    checks = [
        Check("quick", 10, lambda s: Outcome(PASS, "fine")),
        Check("broken", 10, broken),
        Check("hang", 1.0, lambda s: time.sleep(30)),  # ignores its limit
        Check("setup-slow", 1.0, sleeper, setup=True),
        Check("after-setup", 10, lambda s: Outcome(PASS), needs=("setup-slow",)),
        Check("cut", 60, sleeper, needs=("quick",)),
        Check("late", 10, lambda s: Outcome(PASS)),
    ]
    emitted: list[str] = []
    t0 = time.monotonic()
    results = run_checks(checks, 6.0, emit=lambda r: emitted.append(line(r)), grace_s=0.2, min_start_s=0.5)
    elapsed = time.monotonic() - t0
    got = {r.name: (r.status, r.detail) for r in results}
    assert got["quick"] == (PASS, "fine")
    assert got["broken"] == (FAIL, "check error: ValueError: bad figure")
    assert got["hang"] == (FAIL, "timed out after 1s (its limit)")
    assert got["setup-slow"] == (SKIP, "did not finish within 1s")
    assert got["after-setup"] == (SKIP, "needs setup-slow (did not finish within 1s)")
    assert got["cut"][0] == SKIP and got["cut"][1].startswith("time budget: cut at the 6s cap after ")
    assert got["late"] == (SKIP, "time budget: the 6s cap was reached")
    assert 5.5 < elapsed < 9.0
    assert len(pids) == 2 and not any(_alive(p) for p in pids)  # both sleeps were killed
    cut = next(r for r in results if r.name == "cut")
    assert 2.0 < cut.seconds < 6.0
    assert emitted == [line(r) for r in results]
    assert exit_code(results) == 1
    assert exit_code([r for r in results if r.status != FAIL]) == 0


def test_stop_running_kills_a_running_command(tmp_path):
    """What the script does on Ctrl-C or SIGTERM: the command a check is running is killed."""
    import threading

    pids: list[int] = []
    rcs: list[int] = []
    worker = threading.Thread(
        target=lambda: rcs.append(run_logged(["sleep", "30"], tmp_path / "s.log", 60, on_start=pids.append))
    )
    worker.start()
    while not pids:
        time.sleep(0.01)
    stop_running()
    worker.join(10)
    assert rcs == [-15] and not _alive(pids[0])


def test_unmet_prerequisite_shows_the_root_cause():
    checks = [
        Check("a", 5, lambda s: Outcome(FAIL, "boom")),
        Check("b", 5, lambda s: Outcome(PASS), needs=("a",)),
        Check("c", 5, lambda s: Outcome(PASS), needs=("b",)),
        Check("d", 5, lambda s: Outcome(PASS), needs=("zzz",)),
        Check("e", 5, lambda s: None),
    ]
    results = run_checks(checks, 30)
    assert [(r.status, r.detail) for r in results[1:]] == [
        (SKIP, "needs a (FAIL: boom)"),
        (SKIP, "needs a (FAIL: boom)"),
        (FAIL, "needs zzz, which is not run before it"),
        (FAIL, "check error: returned None, not an Outcome"),
    ]


def test_line_summary_and_report_formats(tmp_path):
    row = {
        "engine": "vllm",
        "rollout_tokens_per_s": 123456.7,
        "train_tokens_per_s": 54321.2,
        "step_s": 1.234,
        "model": "small qwen2, 24.3M params, random weights",
        "device": "NVIDIA H100",
        "precision": "bf16",
        "prompts": 64,
        "group": 8,
        "max_new_tokens": 128,
        "budget": 32768,
    }
    results = [
        Result("cuda", PASS, 1.04, "NVIDIA H100 (79 GiB)"),
        Result(
            "setup-vllm", SKIP, 12.0, "pip could not install it:\nNo matching distribution | vllm==0.29.0"
        ),
        Result("throughput-vllm", PASS, 61.25, "rollout 123,457 tok/s", {"throughput": row}),
        Result("embedded-cuda", FAIL, 3.0, "x" * 300),
    ]
    assert line(results[0]) == "PASS cuda 1.0s NVIDIA H100 (79 GiB)"
    assert line(results[1]) == (
        "SKIP setup-vllm 12.0s pip could not install it: No matching distribution | vllm==0.29.0"
    )
    assert len(line(results[3])) == len("FAIL embedded-cuda 3.0s ") + 160 and line(results[3]).endswith("...")
    assert all(LINE.match(line(r)) for r in results)
    assert short("a\n\n b\tc") == "a b c"
    report = tmp_path / "report.md"
    assert summary(results, 80.04, 450, report) == (
        f"SUMMARY 2 passed, 1 failed, 1 skipped in 80.0s (cap 450s); report {report}"
    )
    md = markdown(results, total_s=80.04, cap_s=450, header=["on box"], command="make gpu-check")
    assert "- on box\n" in md and "- command: `make gpu-check`" in md
    assert (
        "| setup-vllm | SKIP | 12.0 | pip could not install it: No matching distribution \\| vllm==0.29.0 |"
        in md
    )
    assert (
        "| vllm | 123,457 | 54,321 | 1.23 | small qwen2, 24.3M params, random weights | NVIDIA H100, bf16 |"
        in md
    )
    assert "64 prompts x 8, 128 new tokens, budget 32768" in md
    empty = markdown(results[:2], total_s=1, cap_s=450, header=[], command="c")
    assert "Not measured (no throughput check)." in empty


def _ctx_with_tests(tmp_path: Path, source: str) -> Context:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_sample.py").write_text(source)
    ctx = Context(out=tmp_path / "out", root=tmp_path)
    ctx.python["train"] = sys.executable
    return ctx


SAMPLE = """
import pytest

@pytest.mark.gpu
def test_ok():
    assert 1 + 1 == 2

@pytest.mark.gpu
def test_bad():
    assert [1, 2] == [1, 3]

@pytest.mark.gpu
def test_skipped():
    pytest.skip("needs a CUDA GPU")

def test_unmarked():
    pass
"""


def test_pytest_checks_read_real_junit_reports(tmp_path):
    ctx = _ctx_with_tests(tmp_path, SAMPLE)

    def run(*names: str) -> Outcome:
        nodes = [f"tests/test_sample.py::{n}" for n in names]
        return pytest_check(ctx, "sample", nodes, "train", 60)

    mixed = run("test_ok", "test_skipped")
    assert (mixed.status, mixed.detail) == (PASS, "1 passed, 1 skipped (needs a CUDA GPU)")
    skipped = run("test_skipped")
    assert (skipped.status, skipped.detail) == (SKIP, "1 skipped: needs a CUDA GPU")
    failed = run("test_ok", "test_bad")
    assert failed.status == FAIL and failed.detail.startswith(
        "1 of 2 failed: test_bad: assert [1, 2] == [1, 3]"
    )
    some = run("test_ok", "test_unmarked")  # deselected by -m gpu: a test that lost its marker
    assert (some.status, some.detail) == (FAIL, "1 of 2 tests selected: one lost its gpu marker")
    gone = run("test_renamed")
    assert gone.status == FAIL and gone.detail.startswith("pytest exited 4: ERROR: not found: ")
    assert junit_outcome(tmp_path / "missing.xml", 3, tmp_path / "missing.log").status == FAIL


def _gpu_marked_tests() -> set[str]:
    """Node ids of every test function marked ``gpu`` (directly or by the module's ``pytestmark``)."""

    def marks_gpu(node: ast.AST) -> bool:
        return any(isinstance(n, ast.Attribute) and n.attr == "gpu" for n in ast.walk(node))

    found = set()
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_mark = any(
            isinstance(s, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in s.targets)
            and marks_gpu(s.value)
            for s in tree.body
        )
        for fn in tree.body:
            is_test = isinstance(fn, ast.FunctionDef) and fn.name.startswith("test")
            if is_test and (module_mark or any(marks_gpu(d) for d in fn.decorator_list)):
                found.add(f"{path.relative_to(ROOT).as_posix()}::{fn.name}")
    return found


def test_every_gpu_test_is_run_by_exactly_one_check():
    listed = [node for nodes in GPU_TESTS.values() for node in nodes]
    assert len(listed) == len(set(listed))
    assert set(listed) == _gpu_marked_tests()
    check_names = {c.name for c in build(Context(out=Path("unused")))}
    assert set(GPU_TESTS) <= check_names


def _wheel(folder: Path, name: str) -> Path:
    """A minimal pure-Python wheel of package ``name`` 1.0 (VALUE = 42)."""
    path = folder / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/__init__.py", "VALUE = 42\n")
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        z.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        z.writestr(
            f"{info}/RECORD", f"{name}/__init__.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n"
        )
    return path


def test_overlay_installs_what_is_missing_and_leaves_the_interpreter_below_alone(tmp_path):
    name = "ring_gpu_check_probe_pkg"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, name)
    ctx = Context(out=tmp_path / "out", wheels=wheels, offline=True)
    overlay = make_overlay(sys.executable, tmp_path / "env", tmp_path / "venv.log", 60)
    log = tmp_path / "pip.log"
    # torch is already below: pip must take it from there (offline, it could not install it anyway)
    assert pip_install(ctx, overlay, [f"{name}==1.0", "torch"], log, 120) == 0, log.read_text()
    assert "Requirement already satisfied: torch" in log.read_text()
    code = f"import {name}, torch; print({name}.VALUE, torch.__file__)"
    seen = subprocess.run([overlay, "-c", code], capture_output=True, text=True, timeout=60)
    assert seen.returncode == 0, seen.stderr
    value, torch_file = seen.stdout.split()
    assert value == "42" and not torch_file.startswith(str(tmp_path))  # torch from below, not copied
    below = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, timeout=60)
    assert below.returncode != 0  # the interpreter below is untouched


def test_setup_layers_probe_this_interpreter_first(tmp_path):
    ctx = Context(out=tmp_path, install=False)
    train = ensure_layer("train", ctx, 120)
    assert train.status == PASS and train.detail.startswith("already importable: torch ")
    assert ctx.python["train"] == sys.executable
    vllm = ensure_layer("vllm", ctx, 120)  # only vLLM's API classes are here, in a test-only folder
    assert vllm.status == SKIP and vllm.detail.endswith("installs are off (--no-install)")
    assert "vllm" in vllm.detail and "vllm" not in ctx.python
    assert not (tmp_path / "env").exists()


def test_throughput_check_measures_hf_rollouts_and_training_on_cpu(tmp_path):
    """The throughput check end to end (ring_train.throughput in a subprocess, its JSON read back), on
    this machine's CPU with the tiny model."""
    ctx = Context(out=tmp_path, root=ROOT)
    ctx.python["train"] = sys.executable
    ctx.throughput_args = ("--device", "cpu", "--precision", "fp32", "--size", "tiny", "--prompts", "2")
    ctx.throughput_args += ("--group", "2", "--max-new-tokens", "8", "--steps", "2")
    got = throughput_check(ctx, "hf", "train", 300)
    assert got.status == PASS, got.detail
    row = got.figures["throughput"]
    assert row == json.loads((tmp_path / "throughput_hf.json").read_text())
    assert row["engine"] == "hf" and row["steps"] == 2 and row["budget"] == 2 * 2 * 8 // 2
    assert row["kept_tokens"] == [row["budget"]] * 2
    assert row["rollout_tokens_per_s"] > 0 and row["train_tokens_per_s"] > 0
    assert re.fullmatch(r"rollout [\d,]+ tok/s, train [\d,]+ tok/s \(tiny qwen2, .+, 2 steps\)", got.detail)
