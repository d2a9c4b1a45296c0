"""The sandbox inside forked processes (verify workers fork from a parent that already used it),
and programs that attack the box's own server."""

from __future__ import annotations

import os

from sandbox import run_code


def test_a_forked_child_gets_its_own_boxes_and_the_parent_keeps_working():
    assert run_code("print('parent before')", "python").stdout == "parent before\n"  # warms the pool
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            r = run_code("print(6 * 7)", "python", time_limit=2)
            os.write(write_end, f"{r.status}:{r.stdout.strip()}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    got = os.read(read_end, 100).decode()
    os.close(read_end)
    assert os.WIFEXITED(status) and got == "ok:42"
    assert run_code("print('parent after')", "python").stdout == "parent after\n"


def test_attacks_on_the_box_server_fail_only_the_program():
    attacks = [
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint(input())",
        "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\nprint(input())",
        "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\nprint(input())",
    ]
    for code in attacks:
        r = run_code(code, "python", inputs=["a", "b"], time_limit=1)
        # Either the server shrugs the signal off (it is its pid namespace's init) and the program
        # carries on, or the run fails as the program's fault; never a sandbox error, never a hang.
        assert r.status in ("ok", "runtime_error", "time_limit"), (code, r.status, r.reason)
        assert r.wall_s < 5
    assert run_code("print('alive')", "python").stdout == "alive\n"
