"""Hostile environments (issue #17, part 4): the real commands (``ring-data clean|verify|annotate``,
``ring-train rl``, and ``sft``/``eval`` where cheap) run as subprocesses with their output directory
read-only or missing, a full disk, a file size limit, an input truncated / replaced / deleted while
it is read, an unreadable input, and corrupt resume state (journals, a clean work dir, checkpoints).

A failing command prints exactly one line on stderr naming the path and the cause (no traceback),
exits non-zero (1: the environment refused, 2: input or saved state to fix), and destroys no output:
an earlier complete output is byte-identical afterwards, and a partial result stays under a
temp/partial/resume-state name. Decisions the cases pin down:

- a missing output directory is created (``mkdir -p``), by every command;
- an input deleted or replaced by name while it is read is read whole from the open file (a
  consistent snapshot: exit 0, the output is the old content); one truncated, appended to or
  rewritten in place stops the command (exit 2, ``changed while being read``);
- a clean work dir whose saved stage files no longer match the checksums in their ``DONE`` marker
  is recomputed, with one warning line naming the file (exit 0, the same output);
- a corrupt verify/annotate journal line that is not the torn last line, or a corrupt checkpoint,
  stops the command (exit 2) and nothing is touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import soak
from hostile_fs import (
    destroyed_files,
    fill,
    final_leftovers,
    mount_refusal,
    open_base,
    remount_read_only,
    snapshot,
    tmpfs,
)
from hostile_inputs import count_lines, rl_setup, write_rows, write_samples
from hostile_run import (
    REPO,
    Outcome,
    Tally,
    argv,
    environment,
    explain,
    finish,
    judge,
    permissions_refusal,
    run,
    run_changing_input,
    start,
)

TALLY = Tally()
MANY = 530  # rows of the run that must fill a disk or be caught mid-read (the first 30 are the earlier run's)
DATA_COMMANDS = ["clean", "verify", "annotate"]
OUT_NAME = {"clean": "c.jsonl", "verify": "v.jsonl", "annotate": "a.jsonl"}
# what a trainer keeps on purpose to resume (a failed run is continued with --resume)
RL_STATE = re.compile(r"(^|/)(checkpoints/|metrics\.jsonl$|config\.resolved\.yaml$)")


RERUN_COMMANDS = [
    "clean",
    "verify",
    "annotate",
    "rl",
]


def long_only(why: str) -> None:
    """Cases the short suite leaves to ``make soak`` (a trainer start costs seconds)."""
    if not soak.SOAK:
        pytest.skip(f"in the long version only (RING_SOAK=1): {why}")


def needs_permissions() -> None:
    reason = permissions_refusal()
    if reason:
        pytest.skip(reason)


def needs_mount() -> None:
    reason = mount_refusal()
    if reason:
        pytest.skip(reason)


@dataclass
class World:
    base: Path  # the cases' folder (removed at the end)
    home: Path
    few: Path  # 30 rows: the earlier complete run
    many: Path  # the same 30 rows and 500 more: the run that fills a disk, or is caught mid-read
    big: Path  # 20000 rows: long enough a read for clean (it ingests ~20k rows/s)
    samples: Path
    rl_config: Path
    rl_data: Path
    earlier: dict[str, Path]  # command -> output dir of its earlier complete run
    earlier_runs: dict[str, Outcome]

    def data_argv(self, command: str, inp: Path, out: Path) -> list[str]:
        target = out / OUT_NAME[command]
        if command == "clean":
            return argv("ring-data", "clean", inp, "-o", target, "--workers", "1")
        if command == "verify":
            return argv("ring-data", "verify", inp, "-o", target, "--workers", "1")
        return argv(
            "ring-data", "annotate", inp, "-o", target, "--sampler", f"samples:{self.samples}", "--n", "2"
        )

    def rl_argv(self, run_dir: Path, *extra: str) -> list[str]:
        return argv(
            "ring-train", "rl", "--config", self.rl_config, "--threads", "1", "--run-dir", run_dir, *extra
        )

    def case_dir(self, name: str) -> Path:
        d = self.base / "cases" / name
        d.mkdir(parents=True)
        return d


@pytest.fixture(scope="module")
def world() -> World:
    t = time.perf_counter()
    base = open_base()
    inputs = base / "in"
    inputs.mkdir()
    few_keys = [f"a{i:03d}" for i in range(30)]
    few = write_rows(inputs / "few.jsonl", few_keys)
    many = write_rows(inputs / "many.jsonl", few_keys + [f"b{i:04d}" for i in range(MANY - 30)])
    big = write_rows(inputs / "big.jsonl", [f"c{i:05d}" for i in range(20000)])
    samples = write_samples(inputs / "samples.jsonl", many)
    home = base / "home"
    (home / "mpl").mkdir(parents=True)
    rl_config, rl_data = rl_setup(inputs)
    w = World(base, home, few, many, big, samples, rl_config, rl_data, {}, {})
    # the earlier complete runs (at the same time), each into an output directory that does not exist yet
    started = {}
    for command in [*DATA_COMMANDS, "rl"]:
        out = base / "earlier" / command / "missing" / ("run" if command == "rl" else "out")
        w.earlier[command] = out
        cmd = w.rl_argv(out) if command == "rl" else w.data_argv(command, few, out)
        started[command] = (start(cmd, home), cmd, time.perf_counter())
    for command, (proc, cmd, t0) in started.items():
        w.earlier_runs[command] = finish(proc, cmd, t0)
    print(f"\nhostile_env setup: {time.perf_counter() - t:.1f}s")
    yield w
    for d in [base, *base.rglob("*")]:  # the permission cases left read-only folders
        if d.is_dir() and not d.is_symlink():
            d.chmod(0o755)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def figures():
    t = time.perf_counter()
    yield
    soak.record(
        "hostile_env",
        cases=TALLY.cases,
        one_line_errors=TALLY.one_line_errors,
        nonzero_exits=TALLY.nonzero_exits,
        outputs_destroyed=TALLY.outputs_destroyed,
        tracebacks=TALLY.tracebacks,
        seconds=round(time.perf_counter() - t, 1),
        examples=TALLY.examples,
    )


def copy_earlier(world: World, command: str, dest: Path) -> Path:
    shutil.copytree(world.earlier[command], dest, dirs_exist_ok=True)
    return dest


def survived(before: dict[str, str], root: Path, *, state: re.Pattern | None = None) -> list[str]:
    """Problems with what a failed command left under ``root``: earlier files changed or gone, new
    files under a final name. Counts a case with any in the tally."""
    after = snapshot(root)
    problems = [f"destroyed: {n}" for n in destroyed_files(before, after)]
    problems += [f"partial result under a final name: {n}" for n in final_leftovers(before, after, state)]
    if problems:
        TALLY.outputs_destroyed += 1
    return problems


def expect_failure(
    outcome: Outcome, case: str, *, rc: int, names: list, cause: str, left: list[str] = ()
) -> None:
    problems = judge(outcome, TALLY, case, names=names, cause=cause)
    if outcome.rc not in (0, rc):
        problems.append(f"exit code {outcome.rc}, expected {rc}")
    problems += list(left)
    assert not problems, explain(outcome, problems)


# ---- the output directory is missing: created ---------------------------------------------------------
@pytest.mark.parametrize("command", [*DATA_COMMANDS, "rl"])
def test_missing_output_directory_is_created(world, command):
    outcome = world.earlier_runs[command]
    assert outcome.rc == 0, explain(outcome, ["the earlier run into a missing directory failed"])
    assert "Traceback" not in outcome.stderr
    out = world.earlier[command]
    if command == "rl":
        assert (out / "stages" / "reasoning" / "final" / "model.safetensors").is_file()
        assert (out / "checkpoints" / "LATEST").read_text().strip() == "reasoning-step000002"
    else:
        target = out / OUT_NAME[command]
        rejects = out / (target.name.split(".")[0] + ".rejects.jsonl")
        assert count_lines(target) + count_lines(rejects) == 30


# ---- the output directory is read-only ----------------------------------------------------------------
@pytest.mark.parametrize("command", [*DATA_COMMANDS, "rl"])
def test_read_only_file_system(world, command):
    """The earlier output sits on a file system remounted read-only (EROFS): the rerun cannot write."""
    needs_mount()
    if command == "rl":
        long_only("the trainer fails as in the permission case below (EACCES), which the short suite runs")
    case = world.case_dir(f"erofs-{command}")
    with tmpfs(case / "mnt", "4m") as mnt:
        out = copy_earlier(world, command, mnt / "out")
        remount_read_only(mnt)
        before = snapshot(mnt)
        if command == "rl":
            outcome = run(world.rl_argv(out, "--resume"), world.home)
        else:
            outcome = run(world.data_argv(command, world.many, out), world.home)
        left = survived(before, mnt)
    expect_failure(outcome, f"erofs/{command}", rc=1, names=[mnt], cause="Read-only file system", left=left)


@pytest.mark.parametrize("command", [*DATA_COMMANDS, "rl"])
def test_permission_denied_output_directory(world, command):
    """The earlier output's directory (and files) are not writable by the user the command runs as
    (as root, the command runs without the capabilities that bypass file permissions)."""
    needs_permissions()
    case = world.case_dir(f"eacces-{command}")
    out = copy_earlier(world, command, case / "out")
    for p in [out, *out.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    before = snapshot(case)
    if command == "rl":
        outcome = run(world.rl_argv(out, "--resume"), world.home, unprivileged=True)
    else:
        outcome = run(world.data_argv(command, world.many, out), world.home, unprivileged=True)
    left = survived(before, case)
    expect_failure(outcome, f"eacces-dir/{command}", rc=1, names=[out], cause="Permission denied", left=left)


# ---- no space left, a file size limit -------------------------------------------------------------------
@pytest.mark.parametrize("command", RERUN_COMMANDS)
def test_disk_full(world, command):
    """A tmpfs holding the earlier output with 48 KiB left: the rerun over 530 rows (or a training run
    with its checkpoints) runs out of space (ENOSPC)."""
    needs_mount()
    if command == "rl":
        long_only("a training run up to its first checkpoint")
    case = world.case_dir(f"enospc-{command}")
    with tmpfs(case / "mnt", "1m") as mnt:
        if command == "rl":
            out = mnt / "run"
            fill(mnt, leave=48 << 10)
            before = snapshot(mnt)
            outcome = run(world.rl_argv(out), world.home)
            left = survived(before, mnt, state=RL_STATE)
        else:
            out = copy_earlier(world, command, mnt / "out")
            fill(mnt, leave=48 << 10)
            before = snapshot(mnt)
            outcome = run(world.data_argv(command, world.many, out), world.home)
            left = survived(before, mnt)
    expect_failure(
        outcome, f"enospc/{command}", rc=1, names=[mnt], cause="No space left on device", left=left
    )


@pytest.mark.parametrize("command", RERUN_COMMANDS)
def test_file_size_limit(world, command):
    """RLIMIT_FSIZE (no root needed) below the size of the rerun's outputs: writes fail with EFBIG."""
    case = world.case_dir(f"efbig-{command}")
    if command == "rl":  # the tiny policy's weights are ~75 KB
        out = case / "run"
        before = snapshot(case)
        outcome = run(world.rl_argv(out), world.home, fsize=32 << 10)
        left = survived(before, case, state=RL_STATE)
    else:
        out = copy_earlier(world, command, case / "out")
        before = snapshot(case)
        outcome = run(world.data_argv(command, world.many, out), world.home, fsize=48 << 10)
        left = survived(before, case)
    expect_failure(outcome, f"efbig/{command}", rc=1, names=[case], cause="File too large", left=left)


# ---- an input changed while it is read ------------------------------------------------------------------
def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2 + 7)  # mid-line


def _replace(path: Path) -> None:
    other = path.with_name("other.jsonl")
    write_rows(other, [f"z{i:05d}" for i in range(50)])
    os.replace(other, path)


def _unlink(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("change", ["truncate", "replace", "unlink"])
@pytest.mark.parametrize("command", DATA_COMMANDS)
def test_input_changed_mid_read(world, command, change):
    case = world.case_dir(f"midread-{command}-{change}")
    source = world.big if command == "clean" else world.many
    ids = [json.loads(line)["id"] for line in source.read_text().splitlines()]
    inp = case / "input.jsonl"
    shutil.copyfile(source, inp)
    out = case / "out"
    how = {"truncate": _truncate, "replace": _replace, "unlink": _unlink}[change]
    outcome = run_changing_input(world.data_argv(command, inp, out), world.home, inp, how)
    assert outcome.acted, explain(outcome, ["the command finished reading before the input could be changed"])
    if change == "truncate":
        expect_failure(
            outcome, f"midread-truncate/{command}", rc=2, names=[inp], cause="changed while being read"
        )
        return
    # deleted or replaced by name: the open file is read whole, so the output is exactly the old rows
    assert outcome.rc == 0 and not outcome.stderr.count("Traceback"), explain(outcome, ["did not finish"])
    target = out / OUT_NAME[command]
    rejects = out / (target.name.split(".")[0] + ".rejects.jsonl")
    seen = [json.loads(line)["id"] for f in (target, rejects) for line in f.read_text().splitlines()]
    assert sorted(seen) == sorted(ids)


@pytest.mark.parametrize("command", ["clean", "verify"])
def test_output_directory_removed_mid_run(world, command):
    """The output directory (with the partial results in it) is deleted while the command runs: the
    command cannot finish its output (ENOENT) and says so in one line; nothing is left behind."""
    case = world.case_dir(f"outdir-gone-{command}")
    inp = case / "input.jsonl"
    shutil.copyfile(world.big if command == "clean" else world.many, inp)
    out = case / "out"
    outcome = run_changing_input(
        world.data_argv(command, inp, out), world.home, inp, lambda _: shutil.rmtree(out)
    )
    assert outcome.acted, explain(
        outcome, ["the command finished reading before the directory could be removed"]
    )
    left = [f"left behind: {p}" for p in out.rglob("*")] if out.exists() else []
    expect_failure(
        outcome, f"outdir-gone/{command}", rc=1, names=[out], cause="No such file or directory", left=left
    )


def test_input_replaced_between_split_and_read(world, tmp_path):
    """Parallel clean readers open one input at different times, each for its byte range: a range
    opened after the file was replaced must not be read from the new file (the shards would mix two
    versions of the input)."""
    from ring_data.errors import BadInputError
    from ring_data.io import read_rows, split_segments

    inp = tmp_path / "input.jsonl"
    shutil.copyfile(world.many, inp)
    shards = split_segments([inp], 2, 1 << 10)
    assert len(shards) == 2
    first = list(read_rows(shards[0]))  # read before the change: fine
    _replace(inp)
    with pytest.raises(BadInputError, match="changed after the command started reading it"):
        list(read_rows(shards[1]))
    TALLY.cases += 1
    assert first


# ---- an input the command may not read ------------------------------------------------------------------
@pytest.mark.parametrize("command", [*DATA_COMMANDS, "rl", "sft"])
def test_input_permission_denied(world, command):
    if command in ("rl", "sft"):
        long_only("the trainers read their data after loading torch (and rl a policy and reward workers)")
    needs_permissions()
    case = world.case_dir(f"eacces-input-{command}")
    source = world.rl_data if command in ("rl", "sft") else world.few
    inp = case / ("data.jsonl" if command in ("rl", "sft") else "input.jsonl")
    shutil.copyfile(source, inp)
    inp.chmod(0)
    out = case / "out"
    if command == "rl":
        config = case / "rl.yaml"
        config.write_text(world.rl_config.read_text().replace(str(world.rl_data), str(inp)))
        cmd = argv("ring-train", "rl", "--config", config, "--threads", "1", "--run-dir", out)
    elif command == "sft":
        cmd = argv(
            "ring-train",
            "sft",
            inp,
            "-o",
            out,
            "--tiny",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--logger",
            "none",
        )
    else:
        cmd = world.data_argv(command, inp, out)
    before = snapshot(case)
    outcome = run(cmd, world.home, unprivileged=True)
    left = survived(before, case, state=RL_STATE)
    expect_failure(
        outcome, f"eacces-input/{command}", rc=2, names=[inp], cause="Permission denied", left=left
    )


# ---- corrupt resume state -------------------------------------------------------------------------------
def _insert_garbage(path: Path, at: int) -> int:
    """A garbage line after line ``at``; returns its line number."""
    lines = path.read_bytes().splitlines(keepends=True)
    lines.insert(at, b'{"id": "a00\x00\x00 not json at all\n')
    path.write_bytes(b"".join(lines))
    return at + 1


@pytest.mark.parametrize("journal", ["output", "rejects"])
@pytest.mark.parametrize("command", ["verify", "annotate"])
def test_journal_with_a_garbage_line_in_the_middle(world, command, journal):
    case = world.case_dir(f"journal-{command}-{journal}")
    out = copy_earlier(world, command, case / "out")
    target = out / OUT_NAME[command]
    path = target if journal == "output" else out / (target.name.split(".")[0] + ".rejects.jsonl")
    if journal == "rejects":  # the earlier run rejected nothing: give the rejects journal two entries
        entry = json.dumps({"id": "gone", "reason": "reference_failed", "evidence": {}})
        path.write_text(entry + "\n" + entry.replace("gone", "gone2") + "\n")
    line = _insert_garbage(path, 1)
    before = snapshot(case)
    outcome = run(world.data_argv(command, world.many, out), world.home)
    left = survived(before, case)
    expect_failure(
        outcome,
        f"journal-garbage/{command}/{journal}",
        rc=2,
        names=[f"{path}:{line}"],
        cause="journal line",
        left=left,
    )


@pytest.mark.parametrize("command", ["verify", "annotate"])
def test_journal_torn_last_line_is_repaired(world, command):
    """The control: a last line cut mid-write (what a killed run leaves) is cut off and the run resumes."""
    case = world.case_dir(f"journal-torn-{command}")
    out = copy_earlier(world, command, case / "out")
    target = out / OUT_NAME[command]
    data = target.read_bytes()
    target.write_bytes(data[: len(data) - 25])  # the last row loses its end and its newline
    outcome = run(world.data_argv(command, world.few, out), world.home)
    assert outcome.rc == 0 and not outcome.stderr.count("Traceback"), explain(outcome, ["did not resume"])
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == [f"a{i:03d}" for i in range(30)]


def _truncate_file(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble_same_size(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 8] = b"#garbage"
    path.write_bytes(bytes(data))


def _saved_arrays(work: Path) -> Path:
    """The ingest stage's biggest saved array file (whatever the layout: one .npz or a column each)."""
    found = [p for p in (work / "ingest").rglob("*") if p.suffix in (".npz", ".npy", ".bin")]
    return max(found, key=lambda p: p.stat().st_size)


def _decisions(work: Path) -> Path:
    return next(p for p in (work / "exact").iterdir() if p.name.startswith("decisions."))


@pytest.mark.parametrize(
    ("role", "find", "damage"),
    [
        ("ingest-arrays", _saved_arrays, _truncate_file),
        ("exact-decisions", _decisions, _garble_same_size),
        ("ingest-rows", lambda work: work / "ingest" / "rows.jsonl", _garble_same_size),
    ],
)
def test_clean_work_dir_with_corrupt_stage_files(world, role, find, damage):
    """A finished stage whose DONE marker still matches, but whose saved files were truncated or
    overwritten: recomputed with one warning line naming the file; the output is the earlier one,
    byte for byte."""
    case = world.case_dir(f"workdir-{role}")
    out = copy_earlier(world, "clean", case / "out")
    work = out / "c.jsonl.work"
    damaged = find(work)
    stage = damaged.relative_to(work).parts[0]
    damage(damaged)
    done_before = (work / stage / "DONE").read_text()
    kept_before = (out / "c.jsonl").read_bytes()
    outcome = run(world.data_argv("clean", world.few, out), world.home)
    TALLY.cases += 1
    lines = [line for line in outcome.lines if not line.startswith(("ring-data clean:", "  "))]
    assert outcome.rc == 0 and "Traceback" not in outcome.stderr, explain(outcome, ["did not recompute"])
    assert len(lines) == 1 and str(damaged) in lines[0] and "recomputing" in lines[0], explain(
        outcome, ["expected one warning line naming the file"]
    )
    TALLY.examples[f"workdir/{role}"] = lines[0]
    assert (out / "c.jsonl").read_bytes() == kept_before
    stats = json.loads((out / "c.jsonl.stats.json").read_text())
    assert stage not in stats["resumed_stages"]
    assert (work / stage / "DONE").read_text().splitlines()[0] == done_before.splitlines()[0]


def _cut(path: Path) -> None:
    _truncate_file(path)


@pytest.mark.parametrize(
    ("damaged", "damage", "cause"),
    [
        ("checkpoints/reasoning-step000002/trainer_state.pt", _cut, "corrupt or truncated"),
        ("checkpoints/reasoning-step000002/policy/model.safetensors", _cut, "corrupt or truncated"),
        ("checkpoints/reasoning-step000002/policy/config.json", _garble_same_size, "not valid JSON"),
        ("checkpoints/LATEST", lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "is not text"),
    ],
)
def test_rl_checkpoint_corrupt(world, damaged, damage, cause):
    if damaged.endswith(("config.json", "LATEST")):
        long_only("two more trainer starts")
    case = world.case_dir("ckpt-" + damaged.replace("/", "-"))
    run_dir = copy_earlier(world, "rl", case / "run")
    damage(run_dir / damaged)
    before = snapshot(case)
    outcome = run(world.rl_argv(run_dir, "--resume"), world.home)
    left = survived(before, case)
    if left or snapshot(case) != before:
        left = [*left, "the run dir changed"]
    expect_failure(
        outcome, f"ckpt/{damaged.split('/')[-1]}", rc=2, names=[run_dir / damaged], cause=cause, left=left
    )


def test_eval_output_missing_then_read_only(world):
    """``ring-train eval`` (samples: sampler, the rows as a user benchmark): a missing output directory
    is created; rerun onto a read-only file system it fails in one line."""
    long_only("two more trainer-package starts")
    needs_mount()
    case = world.case_dir("eval")
    cmd = [
        *argv("ring-train", "eval", "--sampler", f"samples:{world.samples}", "--benchmarks", world.few),
        *("--n", "2", "--logger", "none", "-o"),
    ]
    created = run([*cmd, case / "missing" / "eval"], world.home)
    assert created.rc == 0, explain(created, ["eval into a missing directory failed"])
    assert (case / "missing" / "eval" / "results.json").is_file()
    with tmpfs(case / "mnt", "4m") as mnt:
        shutil.copytree(case / "missing" / "eval", mnt / "eval")
        remount_read_only(mnt)
        before = snapshot(mnt)
        outcome = run([*cmd, mnt / "eval", "--no-resume"], world.home)
        left = survived(before, mnt)
    expect_failure(outcome, "erofs/eval", rc=1, names=[mnt], cause="Read-only file system", left=left)


# ---- a reader that went away (SIGPIPE / EPIPE) ------------------------------------------------------------
def test_verify_piped_into_head_exits_cleanly(world):
    case = world.case_dir("pipe-head")
    out = case / "out"
    cmd = " ".join(map(str, world.data_argv("verify", world.many, out)))
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{cmd} | head -1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=environment(world.home),
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert count_lines(out / "v.jsonl") + count_lines(out / "v.rejects.jsonl") == MANY


def test_stdout_closed_before_the_summary_is_quiet(world):
    """``ring-data score --json`` with its stdout a pipe nobody reads any more: no traceback, no
    'Exception ignored' at exit, exit 141 (what a shell shows for SIGPIPE)."""
    case = world.case_dir("pipe-closed")
    scored = case / "responses.jsonl"
    with scored.open("w") as fh:
        for line in world.few.read_text().splitlines():
            row = json.loads(line)
            fh.write(
                json.dumps({"domain": "math", "reference": row["reference"], "response": "\\boxed{1}"}) + "\n"
            )
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes
    proc = start(argv("ring-data", "score", scored, "--json", "--workers", "1"), world.home, stdout=write_end)
    os.close(write_end)
    _, err = proc.communicate(timeout=120)
    TALLY.cases += 1
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert proc.returncode == 141, (proc.returncode, err)
    assert err.strip() == "", err
