"""Kill anywhere, resume to the same bytes: the driver of ``test_kill_resume.py``.

For one command: one uninterrupted reference run (its fault-point trace says which named points a run
passes and how often), then chains in fresh output folders: start the command, SIGKILL it, start it
again over what it left (its own resume), kill again, ..., and finally let it finish; the finished
outputs must equal the reference's. Each kill is either

- at a random time: SIGKILL from outside after a seeded delay, anywhere: half of them uniform in
  (0, T_ref), half uniform over the stretch of the reference run in which it passed fault points
  (where it writes; a run's start-up is otherwise most of a short run); or
- at a named point: ``RING_FAULT_KILL_AT=<point>:<k>`` (:mod:`ring_data.faults`), the process killing
  itself the k-th time it passes that point: between two renames, half way through a checkpoint, the
  windows a random time almost never hits. Point and k are drawn from the reference's trace.

Every run also writes its own trace, so each kill is reported with where it landed (the last point
the process passed). A chain ends when a run finishes (the kill drawn for it would have come after its
end) or after ``MAX_KILLS_PER_CHAIN`` kills (then one run finishes it). A resumed run does less than a
fresh one (finished stages, journaled rows and checkpointed steps are skipped), so the kills of the
second and later runs of a chain are drawn from the profile (duration, points passed) of the last
resumed run that finished, once there is one: fewer of them miss.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MAX_KILLS_PER_CHAIN = 6
RUN_TIMEOUT_S = 240.0
BASE_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


# ---- starting commands ----------------------------------------------------------------------------------
@dataclass
class Outcome:
    code: int | None = None  # exit code, or None when killed by a signal
    signal: int | None = None
    seconds: float = 0.0

    @property
    def killed(self) -> bool:
        return self.signal == signal.SIGKILL


class ColdLauncher:
    """``python -m MODULE ARGV`` in a new session: the console path, imports included."""

    kind = "cold"

    def start(self, module: str, argv: list[str], env: dict[str, str], log: Path) -> _ColdRun:
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, *argv],
                cwd=ROOT,
                env={**os.environ, **BASE_ENV, **env},
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return _ColdRun(proc)

    def close(self) -> None:
        pass


class _ColdRun:
    def __init__(self, proc: subprocess.Popen):
        self.proc, self.pid, self.t0 = proc, proc.pid, time.monotonic()

    def wait(self, timeout: float) -> Outcome | None:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return Outcome(rc if rc >= 0 else None, -rc if rc < 0 else None, time.monotonic() - self.t0)


class ZygoteLauncher:
    """Forks of a warm interpreter (``kill_zygote.py``) that imported ``preload`` once."""

    kind = "zygote"

    def __init__(self, preload: list[str]):
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "kill_zygote.py"), *preload],
            cwd=ROOT,
            env={**os.environ, **BASE_ENV},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = self._read()
        if not ready.get("ready"):
            self.close()
            raise RuntimeError(f"zygote cannot fork safely: {ready.get('why')}")

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the zygote exited")
        return json.loads(line)

    def _ask(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def start(
        self, module: str, argv: list[str], env: dict[str, str], log: Path, dump_modules: Path | None = None
    ) -> _ZygoteRun:
        req = {"op": "run", "module": module, "argv": argv, "env": env, "log": str(log)}
        if dump_modules is not None:
            req["dump_modules"] = str(dump_modules)
        return _ZygoteRun(self, self._ask(req)["pid"])

    def warm(self, modules: Path) -> None:
        """Import in the zygote every module a finished run had (transformers imports lazily)."""
        reply = self._ask({"op": "preload", "modules": str(modules)})
        if not reply["ok"]:
            raise RuntimeError(f"zygote cannot fork safely after preloading: {reply['why']}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise


class _ZygoteRun:
    def __init__(self, zygote: ZygoteLauncher, pid: int):
        self.zygote, self.pid, self.t0 = zygote, pid, time.monotonic()

    def wait(self, timeout: float) -> Outcome | None:
        reply = self.zygote._ask({"op": "wait", "pid": self.pid, "timeout": timeout})
        if reply.get("running"):
            return None
        return Outcome(reply.get("code"), reply.get("signal"), time.monotonic() - self.t0)


def kill(run) -> None:
    """SIGKILL the command, then whatever it started in its process group (reward workers, ...)."""
    for fn in (os.kill, os.killpg):
        try:
            fn(run.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def reap_group(run) -> None:
    try:
        os.killpg(run.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ---- one command under test -----------------------------------------------------------------------------
@dataclass
class Command:
    """What the driver needs to know about a command: how to start it in a folder (``argv(folder)``;
    it resumes by itself when the folder holds an earlier run's state), how to compare a finished
    folder with the reference (``compare(reference, folder) -> Comparison``), and what must hold of a
    folder right after a kill (``after_kill(reference, folder) -> problems``: every file under a final
    name is complete)."""

    name: str
    module: str
    argv: Callable[[Path], list[str]]
    compare: Callable[[Path, Path], Comparison]
    after_kill: Callable[[Path, Path], list[str]]
    prepare: Callable[[Path], None] = lambda folder: folder.mkdir(parents=True, exist_ok=True)


@dataclass
class Comparison:
    mismatches: list[str] = field(default_factory=list)  # one line each: what differs
    lost_rows: int = 0
    duplicated_rows: int = 0


@dataclass
class _Profile:
    """What one run passed and when: where kills are drawn from."""

    seconds: float
    passes: Counter  # point -> times passed
    writing: tuple[float, float]  # first and last point passed, seconds after the start

    @classmethod
    def of(cls, seconds: float, trace: list[tuple[str, float]]) -> _Profile | None:
        if not trace:
            return None
        return cls(seconds, Counter(name for name, _ in trace), (trace[0][1], trace[-1][1]))

    def draw(self, rng: random.Random, point_share: float) -> tuple[dict[str, str], float | None, str]:
        """(environment, delay, description) of one kill."""
        if rng.random() < point_share:
            name = rng.choice(sorted(self.passes))
            spec = f"{name}:{rng.randint(1, self.passes[name])}"
            return {"RING_FAULT_KILL_AT": spec}, None, f"point {spec}"
        span = self.writing if rng.random() < 0.5 else (0.0, self.seconds)
        return {}, rng.uniform(*span), "time"


@dataclass
class Figures:
    command: str
    kills: int = 0
    point_kills: int = 0
    time_kills: int = 0
    resumed_runs: int = 0
    chains: int = 0
    runs: int = 0
    mismatches: int = 0
    torn_after_kill: int = 0  # kills after which a file under a final name was not complete
    lost_rows: int = 0
    duplicated_rows: int = 0
    reference_s: float = 0.0
    seconds: float = 0.0
    landed: Counter = field(default_factory=Counter)  # where the kills landed
    first_mismatch: str = ""
    launcher: str = ""

    def record_dict(self) -> dict:
        return {
            "kills": self.kills,
            "point_kills": self.point_kills,
            "time_kills": self.time_kills,
            "resumed_runs": self.resumed_runs,
            "chains": self.chains,
            "runs": self.runs,
            "mismatches": self.mismatches,
            "torn_after_kill": self.torn_after_kill,
            "lost_rows": self.lost_rows,
            "duplicated_rows": self.duplicated_rows,
            "reference_s": round(self.reference_s, 2),
            "seconds": round(self.seconds, 1),
            "kills_landed": dict(sorted(self.landed.items())),
            "launcher": self.launcher,
        }


def _trace(path: Path, t0: float) -> list[tuple[str, float]]:
    """(point, seconds since the run started) of every point a run passed."""
    if not path.exists():
        return []
    return [(name, float(t) - t0) for name, t in (line.split() for line in path.read_text().splitlines())]


def _run(cmd: Command, launcher, folder: Path, tag: str, env: dict[str, str], delay: float | None, **extra):
    """One run in ``folder``; with ``delay`` it is SIGKILLed from outside after that many seconds."""
    trace = folder.parent / f"{folder.name}.{tag}.trace"
    trace.unlink(missing_ok=True)
    log = folder.parent / f"{folder.name}.{tag}.log"
    t0 = time.monotonic()
    run = launcher.start(cmd.module, cmd.argv(folder), {"RING_FAULT_TRACE": str(trace), **env}, log, **extra)
    outcome = run.wait(delay) if delay is not None else None
    if delay is not None and outcome is None:
        kill(run)
    if outcome is None:
        outcome = run.wait(RUN_TIMEOUT_S)
    if outcome is None:
        kill(run)
        raise AssertionError(f"{cmd.name}: run {tag} still running after {RUN_TIMEOUT_S}s; log {log}")
    reap_group(run)
    return outcome, _trace(trace, t0), log


def exercise(
    cmd: Command,
    launcher,
    work: Path,
    *,
    kills: int,
    seed: int,
    first_launcher=None,
    point_share: float = 0.5,
    warm: bool = True,
) -> Figures:
    """Reference run, then kill chains until ``kills`` kills happened; returns the figures (the
    comparisons' mismatches are counted there, not raised). ``warm``: a zygote launcher first imports
    what the command's first run imported (not for a command that imports polars)."""
    rng = random.Random(seed)
    fig = Figures(
        cmd.name, launcher=launcher.kind + (f"+{first_launcher.kind} first" if first_launcher else "")
    )
    started = time.monotonic()
    warm = warm and hasattr(launcher, "warm")
    if warm:  # a first uninterrupted run lists the modules a warm start needs
        first = work / "first"
        cmd.prepare(first)
        outcome, _, log = _run(cmd, launcher, first, "run", {}, None, dump_modules=work / "modules.txt")
        assert outcome.code == 0, f"{cmd.name}: first run failed ({outcome}); log:\n{log.read_text()[-3000:]}"
        launcher.warm(work / "modules.txt")
        fig.runs += 1
    reference = work / "reference"
    cmd.prepare(reference)
    outcome, ref_trace, log = _run(cmd, launcher, reference, "run", {}, None)
    assert outcome.code == 0, f"{cmd.name}: reference run failed ({outcome}); log:\n{log.read_text()[-3000:]}"
    fig.reference_s = outcome.seconds
    fig.runs += 1
    if warm:  # two uninterrupted runs agree (else no resumed run could)
        again = cmd.compare(reference, work / "first")
        if again.mismatches:
            fig.mismatches += 1
            fig.first_mismatch = "two uninterrupted runs differ: " + "; ".join(again.mismatches[:5])
    fresh = _Profile.of(outcome.seconds, ref_trace)
    assert fresh is not None, f"{cmd.name}: the reference run passed no fault point"
    resumed: _Profile | None = None  # of the last resumed run that finished

    while fig.kills < kills:
        folder = work / f"chain{fig.chains:03d}"
        cmd.prepare(folder)
        fig.chains += 1
        for link in range(MAX_KILLS_PER_CHAIN + 1):
            env: dict[str, str] = {}
            delay, how = None, "finish"
            if link < MAX_KILLS_PER_CHAIN and fig.kills < kills:
                env, delay, how = (resumed if link and resumed else fresh).draw(rng, point_share)
            use = (
                first_launcher if (first_launcher is not None and fig.chains == 1 and link == 0) else launcher
            )
            outcome, trace, log = _run(cmd, use, folder, f"run{link}", env, delay)
            fig.runs += 1
            fig.resumed_runs += link > 0
            if outcome.killed:
                fig.kills += 1
                if how.startswith("point"):
                    fig.point_kills += 1
                    fig.landed[f"at {env['RING_FAULT_KILL_AT'].rpartition(':')[0]}"] += 1
                else:
                    fig.time_kills += 1
                    fig.landed[f"time, after {trace[-1][0]}" if trace else "time, before any point"] += 1
                torn = cmd.after_kill(reference, folder)
                if torn:
                    fig.torn_after_kill += 1
                    if not fig.first_mismatch:
                        fig.first_mismatch = f"{folder} after kill {link} ({how}): " + "; ".join(torn[:5])
                continue
            assert outcome.code == 0, (
                f"{cmd.name}: {folder.name} run {link} ({how}) exited {outcome}; log:\n{log.read_text()[-3000:]}"
            )
            if link:
                resumed = _Profile.of(outcome.seconds, trace) or resumed
            result = cmd.compare(reference, folder)
            fig.lost_rows += result.lost_rows
            fig.duplicated_rows += result.duplicated_rows
            if result.mismatches:
                fig.mismatches += 1
                if not fig.first_mismatch:
                    fig.first_mismatch = f"{folder}: " + "; ".join(result.mismatches[:5])
            break
    fig.seconds = time.monotonic() - started
    return fig


# ---- comparing outputs ------------------------------------------------------------------------------------
LEFTOVER_SUFFIXES = (".tmp", ".old", ".spool.jsonl", ".partial.jsonl")


def leftovers(folder: Path) -> list[str]:
    """Temporary and partial files a finished run should not leave (the clean work dir is kept state)."""
    found = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if p.name.endswith(LEFTOVER_SUFFIXES) and not any(part.endswith(".work") for part in rel.parts):
            found.append(str(rel))
    return sorted(found)


def same_bytes(ref: Path, got: Path, label: str, mask: re.Pattern | None = None) -> list[str]:
    """Byte-for-byte equality; ``mask`` (a regex over the raw bytes, its matches replaced by its first
    group) blanks out values that are measurements of the run rather than its result."""
    if not got.exists():
        return [f"{label}: missing"]
    a, b = ref.read_bytes(), got.read_bytes()
    if mask is not None:
        a, b = mask.sub(rb"\1", a), mask.sub(rb"\1", b)
    if a == b:
        return []
    la, lb = a.splitlines(), b.splitlines()
    first = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
    return [f"{label}: bytes differ ({len(la)} vs {len(lb)} lines, first difference at line {first + 1})"]


def row_keys(path: Path) -> list[str]:
    """One key per row of a JSONL output: its id (a bad row's: file and line)."""
    keys = []
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        ev = row.get("evidence") if isinstance(row.get("evidence"), dict) else {}
        keys.append(str(row.get("id")) if row.get("id") is not None else f"bad:{ev.get('line')}")
    return keys


def lost_and_duplicated(ref: Path, got: Path) -> tuple[int, int]:
    want, have = Counter(row_keys(ref)), Counter(row_keys(got) if got.exists() else [])
    return sum((want - have).values()), sum((have - want).values())


def comparable_json(path: Path, folder: Path, drop: Callable[[str], bool]) -> object:
    """The JSON file with the keys ``drop`` names removed at any depth (dotted paths) and the run's
    folder written as ``<DIR>``, so runs in different folders compare."""
    text = path.read_text().replace(str(folder), "<DIR>")

    def strip(value, prefix: str):
        if isinstance(value, dict):
            return {k: strip(v, f"{prefix}{k}.") for k, v in value.items() if not drop(f"{prefix}{k}")}
        if isinstance(value, list):
            return [strip(v, prefix) for v in value]
        return value

    return strip(json.loads(text), "")


def diff_keys(a: object, b: object, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON values differ (for the mismatch message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "<root>"]
