"""The sandbox under sustained load: 2 x cores callers of ``run_code`` (threads of one process, or
forked processes that are SIGKILLed mid-call now and then, as the verifier pool does), mixing normal
programs with fork bombs, memory hogs, output floods, endless loops, escaping children, big files,
closed stdout, ignored SIGTERM and attacks on the box server, under every isolation level the host
offers.

Shown for every call: a status from the contract, within its budget plus a bounded overhead, and the
right answer for every normal program. Shown afterwards: no process (under the run's uids, below the
caller, or inside a namespace a box made), mount, scratch entry or file descriptor is left behind.
Short size in ``make test``; ``RING_SOAK=1`` runs each level for minutes (docs/reliability.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
import sandbox_leaks
import sandbox_load
import soak
from sandbox_mix import available_programs

import sandbox
from sandbox import box, isolate
from sandbox.protocol import HOST_MARGIN_S

CALLERS = 2 * (os.cpu_count() or 1)
# Seconds of load per (level, variant). Short: the whole file stays under 45 s on 2 cores.
SECONDS = {"threads": soak.scale(5, 50), "processes": soak.scale(5, 40)}
KILL_EVERY_S = soak.scale(2, 5)
LEVELS = ("bwrap", "none") if not soak.SOAK else ("bwrap", "unshare", "none")
# What a call may take beyond its budget: the host's own patience with a box that stopped answering
# (HOST_MARGIN_S past the program's deadline). Measured overruns stay near a second on 2 busy cores.
OVERRUN_BOUND_S = HOST_MARGIN_S
SEED = int(os.environ.get("RING_SANDBOX_LOAD_SEED", "1717"))


@pytest.fixture
def load_env(request, monkeypatch):
    """Run the sandbox at ``request.param`` with uids, scratch and compile cache of this test's own,
    so leftovers can be told apart from other users of the sandbox on a shared machine."""
    level = request.param
    if level == "bwrap" and not shutil.which("bwrap"):
        pytest.skip("bubblewrap is not installed (.ci/system-deps.sh)")
    if level == "unshare" and not shutil.which("unshare"):
        pytest.skip("unshare is not installed")
    uid_base, lock_fd = sandbox_leaks.claim_uid_range()
    root = tempfile.mkdtemp(prefix="ring-sandbox-load-")
    os.chmod(root, 0o711)  # box uids must reach their scratch dir and the compile cache below it
    scratch_root, cache = os.path.join(root, "scratch"), os.path.join(root, "cache")
    os.makedirs(scratch_root)
    os.chmod(scratch_root, 0o1777)  # like /tmp: a box server removes its own scratch dir when it exits
    box.POOL.close()
    monkeypatch.setattr(isolate, "UID_BASE", uid_base)
    monkeypatch.setattr(tempfile, "tempdir", scratch_root)  # the fallback level's host scratch dirs
    monkeypatch.setattr(box, "SCRATCH_MB", 128)  # the scratch filler hits the tmpfs cap sooner
    monkeypatch.setenv("RING_SANDBOX_CACHE", cache)  # fresh: compiles happen under load too
    monkeypatch.setenv("RING_SANDBOX_ISOLATION", level)
    isolate.choose_plan.cache_clear()
    probe = sandbox.run_code("print('probe')", "python", time_limit=10)
    if probe.stdout != "probe\n":
        box.POOL.close()
        isolate.choose_plan.cache_clear()
        pytest.skip(f"isolation level {level} does not work on this host: {probe.status} {probe.reason}")
    box.POOL.close()
    yield {"level": level, "uid_base": uid_base, "scratch_roots": (scratch_root, cache)}
    box.POOL.close()
    monkeypatch.undo()
    isolate.choose_plan.cache_clear()
    shutil.rmtree(root, ignore_errors=True)
    os.close(lock_fd)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("variant", ["threads", "processes"])
@pytest.mark.parametrize("load_env", LEVELS, indirect=True)
def test_sandbox_under_sustained_load(load_env, variant):
    programs = available_programs()
    seconds = SECONDS[variant]
    label = sandbox.isolation()
    fds_before = sandbox_leaks.open_fds()
    mounts_before = sandbox_leaks.mounts()
    kids_before = sandbox_leaks.descendants()  # in the full suite, earlier tests' workers live on
    with sandbox_leaks.NamespaceSampler(load_env["uid_base"]) as sampler:
        if variant == "threads":
            run = sandbox_load.drive_threads(CALLERS, seconds, SEED, programs)
        else:
            run = sandbox_load.drive_processes(CALLERS, seconds, SEED, programs, KILL_EVERY_S)
        box.POOL.close()  # what a trainer's exit does; the processes' boxes must go by themselves
        left = sandbox_leaks.leftovers(
            load_env["uid_base"],
            sampler,
            mounts_before,
            fds_before,
            load_env["scratch_roots"],
            grace_s=15,
            kids_before=kids_before,
        )
    records = run["records"]
    summary = sandbox_load.summarize(records)
    soak.record(
        "sandbox_load",
        isolation=label,
        variant=variant,
        callers=CALLERS,
        seconds=seconds,
        calls=summary["calls"],
        by_status=summary["by_status"],
        hostile_calls=summary["hostile_calls"],
        wrong_results_on_normal=summary["wrong_results_on_normal"],
        contract_violations=summary["violations"],
        max_overrun_s=summary["max_overrun_s"],
        p99_overrun_s=summary["p99_overrun_s"],
        worst_overrun_program=summary["worst_overrun_program"],
        outcomes=summary["outcomes"],
        hung_calls=run["hung"],
        killed_callers=run["killed_callers"],
        leftover_processes=len(left.processes),
        leftover_zombies=left.zombies,
        leftover_namespace_members=len(left.namespaces),
        leftover_mounts=len(left.mounts),
        leftover_scratch=len(left.scratch),
        leaked_fds=len(left.fds),
        settle_s=left.settle_s,
        namespaces_seen={k: len(v) for k, v in sampler.seen.items()},
        foreign_cgroups=len(sampler.foreign),
        seed=SEED,
    )
    assert run["hung"] == 0, "a run_code call never returned"
    assert run.get("bad_exits", 0) == 0, "a caller process crashed"
    assert summary["calls"] >= CALLERS and summary["hostile_calls"] > 0 and summary["normal_calls"] > 0
    assert summary["violations"] == 0, sandbox_load.violations(records)
    assert summary["max_overrun_s"] <= OVERRUN_BOUND_S, summary
    if variant == "processes":
        assert run["killed_callers"] >= 1  # the mid-call kills happened
    assert left.clean, left
    assert sampler.foreign == set()  # boxes stay in their caller's cgroup: none to clean up
