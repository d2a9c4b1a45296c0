"""verify / verify_batch run checks in warm worker processes: bounded, ordered, thread-safe, crash-proof."""

import os
import threading
import time

import pytest

import verifiers
from verifiers import Status, VerifyResult, verify, verify_batch


@verifiers.register("test_pool_sleep", override=True)
def _sleepy(response, reference, **options):
    time.sleep(float(reference))
    return VerifyResult.make("correct")


@verifiers.register("test_pool_die", override=True)
def _dies(response, reference, **options):
    if response == "die":
        os._exit(3)
    return VerifyResult.make("correct" if response == reference else "wrong")


@verifiers.register("test_pool_raise", override=True)
def _raises(response, reference, **options):
    raise KeyError("boom")


def _budgeted(response, reference, **options):
    time.sleep(reference["sleep"])
    return VerifyResult.make("correct")


_budgeted.time_budget = lambda reference: reference["budget"]
verifiers.register("test_pool_budget", _budgeted, override=True)


def test_hung_check_times_out_within_deadline_and_worker_is_replaced():
    t = time.monotonic()
    r = verify("x", "30", "test_pool_sleep", timeout=0.5)
    assert r.status == Status.TIMEOUT and not r.correct and r.score == 0.0
    assert time.monotonic() - t < 3
    assert verify("x", "0", "test_pool_sleep").correct  # a fresh worker answers


def test_batch_keeps_order_and_survives_a_dying_worker():
    items = [(str(i), str(i) if i % 3 else "other", "test_pool_die") for i in range(12)]
    items.insert(5, ("die", "x", "test_pool_die"))
    res = verify_batch(items, workers=2, timeout=5)
    assert len(res) == 13
    assert res[5].status == Status.ERROR and "died" in res[5].reason
    expect = [Status.CORRECT if i % 3 else Status.WRONG for i in range(12)]
    assert [r.status for k, r in enumerate(res) if k != 5] == expect


def test_batch_timeout_is_per_item_and_others_still_finish():
    items = [("x", "0", "test_pool_sleep"), ("x", "30", "test_pool_sleep"), ("x", "0", "test_pool_sleep")]
    t = time.monotonic()
    res = verify_batch(items, workers=2, timeout=0.5)
    assert [r.status for r in res] == [Status.CORRECT, Status.TIMEOUT, Status.CORRECT]
    assert time.monotonic() - t < 4


def test_exception_inside_a_verifier_becomes_error_status():
    r = verify("x", "y", "test_pool_raise")
    assert r.status == Status.ERROR and "KeyError" in r.reason and "boom" in r.reason


def test_time_budget_extends_the_deadline():
    assert verify("x", {"sleep": 0.8, "budget": 3}, "test_pool_budget", timeout=0.3).correct
    assert (
        verify("x", {"sleep": 0.8, "budget": 0.1}, "test_pool_budget", timeout=0.3).status == Status.TIMEOUT
    )


def test_verify_from_threads():
    out = {}

    def work(k):
        out[k] = verify(f"\\boxed{{{k}}}", str(k), "math").status

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert out == {k: Status.CORRECT for k in range(6)}


def test_unknown_domain_and_bad_items_raise():
    with pytest.raises(ValueError, match="unknown verifier domain"):
        verify("x", "y", "no_such_domain")
    with pytest.raises(ValueError):
        verify_batch([("only", "two")])


def test_options_reach_the_verifier_and_four_tuple_items_work():
    resp = "\\boxed{1} then \\boxed{2}"
    res = verify_batch([(resp, "1", "math"), (resp, "1", "math", {"box": "first"})], workers=1)
    assert [r.status for r in res] == [Status.WRONG, Status.CORRECT]
    assert verify(resp, "1", "math", box="first").correct


def test_empty_batch():
    assert verify_batch([]) == []


@verifiers.register("test_pool_hog", override=True)
def _hog(response, reference, **options):
    blob = bytearray(64 * 2**30)  # 64 GiB: more than the machine has
    return VerifyResult.make("correct" if blob else "wrong")


def test_memory_hog_is_stopped_by_the_worker_memory_cap():
    t = time.monotonic()
    r = verify("x", "y", "test_pool_hog", timeout=20)
    assert r.status in (Status.WRONG, Status.ERROR) and "memory" in r.reason
    assert time.monotonic() - t < 10
    assert verify("\\boxed{2}", "2", "math").correct


def test_verify_works_in_a_forked_child_of_a_process_that_used_the_pool():
    assert verify("\\boxed{1}", "1", "math").correct  # the parent has a warm pool
    pid = os.fork()
    if pid == 0:
        ok = (
            verify("\\boxed{2}", "2", "math").correct
            and verify_batch([("1", "1", "test_pool_die")])[0].correct
        )
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_workers_exit_when_their_parent_is_killed():
    import subprocess
    import sys

    code = (
        "import os, signal\n"
        "from verifiers import verify_batch\n"
        "from verifiers.pool import get_pool\n"
        "verify_batch([('\\\\boxed{1}', '1', 'math')] * 4, workers=2)\n"
        "print(' '.join(str(w.proc.pid) for w in get_pool().idle), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    pids = [int(x) for x in p.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in pids):
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)


# ---- a worker that dies: one retry on a fresh worker, then "error" (verifiers/pool.py) -------------


@verifiers.register("test_pool_attempts", override=True)
def _logs_attempts(response, reference, **options):
    """Appends this worker's pid to ``reference["log"]`` (one line per attempt), then acts."""
    first = not os.path.exists(reference["log"])
    with open(reference["log"], "a") as fh:
        fh.write(f"{os.getpid()}\n")
    if reference.get("action") == "die":
        os._exit(3)
    time.sleep(reference.get("sleep", 0) + (reference.get("sleep_first", 0) if first else 0))
    return VerifyResult.make("correct" if response == "yes" else "wrong", extracted=response)


def _attempts(path):
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _state(pid):
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


def _sockets(pid):
    """The socket inodes process ``pid`` has open."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out


def _run(items, workers, timeout=10):
    """``Pool.run`` on verify_batch's tasks, counting ``on_done`` calls per item."""
    from verifiers.pool import get_pool

    done = []
    tasks = [(r, ref, d, {}) for r, ref, d in items]
    res = get_pool().run(tasks, [timeout] * len(tasks), workers=workers, on_done=done.append)
    return res, done


def test_item_whose_worker_is_killed_from_outside_is_retried_once(tmp_path):
    import signal

    victim = tmp_path / "victim"
    items = [
        ("yes" if k % 2 else "no", {"log": str(tmp_path / f"i{k}")}, "test_pool_attempts") for k in range(6)
    ]
    items[2] = ("yes", {"log": str(victim), "sleep_first": 60}, "test_pool_attempts")  # killed in there

    def kill_first_attempt():
        deadline = time.monotonic() + 20
        while not _attempts(victim) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(_attempts(victim)[0], signal.SIGKILL)  # a real SIGKILL from outside the pool

    killer = threading.Thread(target=kill_first_attempt)
    killer.start()
    t = time.monotonic()
    res, done = _run(items, workers=2, timeout=120)
    killer.join()
    assert time.monotonic() - t < 60  # the retry did not sleep: it was not the first attempt
    assert sorted(done) == list(range(6))  # every item finished exactly once
    pids = _attempts(victim)
    assert len(pids) == 2 and pids[0] != pids[1]  # the retry ran on a fresh worker
    assert res[2].status == Status.CORRECT and res[2].details["worker_deaths"] == 1
    assert 0 < res[2].details["worker_lost_s"] < 60
    assert [r.extracted for r in res] == [r for r, _, _ in items]  # input order
    assert all("worker_deaths" not in r.details for k, r in enumerate(res) if k != 2)


def test_item_that_kills_every_worker_is_error_after_two_attempts(tmp_path):
    log = tmp_path / "dier"
    items = [("yes", {"log": str(tmp_path / "a")}, "test_pool_attempts")]
    items.append(("yes", {"log": str(log), "action": "die"}, "test_pool_attempts"))
    t = time.monotonic()
    res, done = _run(items, workers=1)
    assert time.monotonic() - t < 30  # bounded (a few forks; generous for a loaded machine)
    assert sorted(done) == [0, 1]
    assert len(_attempts(log)) == 2  # two attempts, never more
    assert res[1].status == Status.ERROR and not res[1].correct
    assert "died on each of 2 attempts" in res[1].reason and "exit codes 3, 3" in res[1].reason
    assert res[1].details["worker_deaths"] == 2
    assert res[0].correct


def test_worker_killed_while_idle_does_not_use_up_the_retry(tmp_path):
    """The worker dies between two items (after answering one): the next item is handed to a fresh
    worker and counts no death."""
    import signal

    logs = [tmp_path / f"i{k}" for k in range(3)]
    items = [("yes", {"log": str(p)}, "test_pool_attempts") for p in logs]
    from verifiers.pool import get_pool

    killed = []

    def on_done(i):
        if i == 0:  # runs in the pool's loop: the worker that answered item 0 is idle now
            pid = _attempts(logs[0])[0]
            os.kill(pid, signal.SIGKILL)
            while _state(pid) != "Z":
                time.sleep(0.005)  # dead (a zombie until the pool reaps it)
            killed.append(pid)

    tasks = [(r, ref, d, {}) for r, ref, d in items]
    res = get_pool().run(tasks, [10] * 3, workers=1, on_done=on_done)
    assert killed and all(r.correct for r in res)
    assert all("worker_deaths" not in r.details for r in res)
    assert [len(_attempts(p)) for p in logs] == [1, 1, 1]
    assert _attempts(logs[1])[0] != killed[0]


def test_a_hung_item_is_not_retried(tmp_path):
    log = tmp_path / "hung"
    res, _ = _run([("yes", {"log": str(log), "sleep": 30}, "test_pool_attempts")], workers=1, timeout=0.5)
    assert res[0].status == Status.TIMEOUT and len(_attempts(log)) == 1


def test_a_worker_death_is_seen_at_once_when_workers_were_started_from_threads(tmp_path):
    """Workers forked from several threads at once must not hold each other's pipe ends: a copy
    would keep a dead worker's pipe open, and its item would wait for the deadline."""
    from verifiers.pool import get_pool

    pool = get_pool()
    pool.max_idle = max(pool.max_idle, 12)
    for round_ in range(3):  # the forks race: a few rounds make an overlap near certain
        pool.shutdown()
        threads = [
            threading.Thread(
                target=verify, args=("yes", {"log": str(tmp_path / f"t{round_}-{k}")}, "test_pool_attempts")
            )
            for k in range(12)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        # a worker's end of its pipe is in that worker alone: two workers share only sockets the
        # parent has too (inherited at the fork)
        ours = _sockets("self")
        held = {w.proc.pid: _sockets(w.proc.pid) - ours for w in pool.idle}
        for pid, socks in held.items():
            for other, other_socks in held.items():
                assert other == pid or not socks & other_socks, (
                    f"workers {pid} and {other} share {socks & other_socks}"
                )
    log = tmp_path / "dier"
    t = time.monotonic()
    res, _ = _run([("yes", {"log": str(log), "action": "die"}, "test_pool_attempts")], workers=1, timeout=30)
    assert time.monotonic() - t < 15
    assert res[0].status == Status.ERROR and len(_attempts(log)) == 2
