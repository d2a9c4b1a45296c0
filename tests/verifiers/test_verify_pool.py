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
