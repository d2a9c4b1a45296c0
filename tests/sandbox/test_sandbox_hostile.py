"""Hostile programs: nothing leaks out of the box, nothing outlives the run, the host stays intact."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

import sandbox
from sandbox import run_code

REPO = Path(__file__).resolve().parents[2]  # the checkout under test

SECRET = "sk-ring-test-secret-4242"
needs_namespaces = pytest.mark.skipif(
    "netns" not in sandbox.isolation(), reason="this host offers no namespaces (no bwrap/unshare that works)"
)


@pytest.fixture
def loopback_server():
    """A real TCP server on the host's loopback; records every connection it accepts."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    accepted, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            accepted.append(conn.recv(100))
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], accepted
    stop.set()
    t.join()
    srv.close()


def sandbox_uid_processes():
    """Host processes running under a sandbox uid that are not an idle box (bwrap / its server)."""
    base = int(os.environ.get("RING_SANDBOX_UID_BASE", "61000"))
    found = []
    for p in psutil.process_iter(["uids", "cmdline", "status"]):
        try:
            uid = p.info["uids"].real
            cmd = p.info["cmdline"] or []
        except (psutil.Error, TypeError):
            continue
        if base <= uid < base + 1000 and p.info["status"] != psutil.STATUS_ZOMBIE:  # dead, awaiting reaping
            is_box = cmd[:1] == ["bwrap"] or (len(cmd) > 2 and cmd[1:3] == ["-I", "-c"])
            if not is_box:
                found.append((p.pid, cmd[:3]))
    return found


def test_infinite_loop_and_fork_bomb_are_contained():
    t0 = time.monotonic()
    bomb = "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass\n"
    r = run_code(bomb, "python", time_limit=1.0)
    assert r.status in ("time_limit", "runtime_error") and time.monotonic() - t0 < 15
    time.sleep(0.2)
    assert sandbox_uid_processes() == []
    # the box still works afterwards, and the bomb's processes are gone from inside it too
    after = run_code("import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))", "python")
    assert after.status == "ok"
    if "pidns" in sandbox.isolation():
        assert len(json.loads(after.stdout)) <= 3  # init, server, this program


def test_memory_bomb_is_a_memory_limit_not_a_host_problem():
    r = run_code("x = []\nwhile True: x.append(bytearray(50 * 2**20))", "python", memory_limit_mb=256)
    assert r.status == "memory_limit" and r.memory_mb < 400


def test_output_flood_is_capped():
    r = run_code("print('y' * 10**9)", "python", output_limit_bytes=1 << 16)
    assert r.status in ("output_limit", "memory_limit") and len(r.stdout) <= 1 << 16
    flood = run_code("while True: print('spam' * 1000)", "python", output_limit_bytes=1 << 20)
    assert flood.status == "output_limit" and len(flood.stdout) == 1 << 20


@needs_namespaces
def test_writes_outside_scratch_fail_and_nothing_reaches_the_host(tmp_path):
    target = tmp_path / "pwned"
    beside_repo = REPO / "pwned"  # inside the checkout: writable on the host, absent from the box
    os.chmod(tmp_path, 0o777)
    code = (
        "import os\n"
        f"for p in ['/usr/pwned', '/etc/pwned', '/pwned', {str(target)!r}, {str(beside_repo)!r}, {str(Path.home() / 'pwned')!r}]:\n"
        "    try:\n        open(p, 'w').write('x'); print('WROTE', p)\n"
        "    except OSError as e: print('denied', p, e.errno)\n"
        "open('ok.txt', 'w').write('scratch is writable'); print(open('ok.txt').read())\n"
    )
    r = run_code(code, "python")
    assert r.status == "ok" and "WROTE" not in r.stdout and "scratch is writable" in r.stdout
    assert not target.exists() and not os.path.exists("/usr/pwned") and not beside_repo.exists()


def test_host_secrets_never_reach_the_program(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("E2B_API_KEY", SECRET)
    code = (
        "import os, glob\n"
        "print(dict(os.environ))\n"
        "for f in glob.glob('/proc/*/environ'):\n"
        "    try: print(open(f, 'rb').read())\n"
        "    except OSError: pass\n"
        f"for f in [{str(Path.home() / '.bash_history')!r}, '/etc/shadow', {str(REPO / '.git' / 'config')!r}]:\n"
        "    try: print(open(f).read()[:100])\n"
        "    except OSError as e: print('no', f)\n"
    )
    # a fresh box must be spawned after the secret is set: run in a child process
    prog = f"import sandbox; r = sandbox.run_code({code!r}, 'python'); print(r.status); print(r.stdout)"
    env = dict(os.environ, OPENAI_API_KEY=SECRET, E2B_API_KEY=SECRET)
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.startswith("ok") and "PATH" in out.stdout
    assert SECRET not in out.stdout and "API_KEY" not in out.stdout
    assert "no /etc/shadow" in out.stdout


@needs_namespaces
def test_network_to_a_host_loopback_server_is_unreachable(loopback_server):
    port, accepted = loopback_server
    code = (
        "import socket\n"
        "for host in ['127.0.0.1', 'localhost', '::1']:\n"
        "    try:\n"
        f"        s = socket.create_connection((host, {port}), timeout=1); s.send(b'leak'); print('CONNECTED')\n"
        "    except OSError as e: print('refused', type(e).__name__)\n"
    )
    r = run_code(code, "python")
    assert r.status == "ok" and "CONNECTED" not in r.stdout and r.stdout.count("refused") == 3
    time.sleep(0.3)
    assert accepted == []


def test_killing_the_parent_fails_the_run_and_the_next_run_is_fine():
    code = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time; time.sleep(5)"
    r = run_code(code, "python", time_limit=1)
    # the server is its pid namespace's init and shrugs the signal off (the program then runs out of
    # time); where it is not, the box dies and the run is the program's failure
    assert not r.ok
    assert run_code("print('alive')", "python").stdout == "alive\n"
    killall = run_code("import os, signal\nos.kill(-1, signal.SIGKILL)", "python")
    assert not killall.ok
    assert run_code("print('alive')", "python").stdout == "alive\n"


def test_grandchildren_do_not_outlive_the_run_or_leak_into_the_next():
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(0.5)\n"
        "        open('/tmp/planted', 'w').write('x')\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "print('parent done')\n"
    )
    r = run_code(code, "python")
    assert r.status == "ok" and r.stdout == "parent done\n"
    time.sleep(1.0)
    assert sandbox_uid_processes() == []
    probe = run_code("import os\nprint(os.path.exists('/tmp/planted'), os.listdir('/tmp'))", "python")
    assert probe.stdout.startswith("False")


@needs_namespaces  # without them, /tmp is the host's
def test_scratch_files_of_one_run_are_gone_in_the_next():
    run_code("open('/tmp/note', 'w').write('secret answer'); open('left.txt', 'w').write('1')", "python")
    r = run_code("import os\nprint(os.path.exists('/tmp/note'), os.path.exists('left.txt'))", "python")
    assert r.stdout == "False False\n"


def test_huge_files_are_capped_and_scratch_is_bounded():
    big = run_code("open('big', 'wb').write(b'x' * (200 * 2**20))", "python", output_limit_bytes=8 << 20)
    assert big.status == "output_limit"
    many = (
        "import os\nn = 0\n"
        "try:\n    while True:\n        open(f'f{n}', 'wb').write(b'x' * (4 << 20)); n += 1\n"
        "except OSError as e: print('stopped', n, e.errno)\n"
    )
    r = run_code(many, "python", time_limit=20)
    if sandbox.isolation().startswith("bwrap"):  # the box's tmpfs is size-capped
        assert r.status == "ok" and r.stdout.startswith("stopped"), r


def test_program_cannot_read_the_servers_pipes_or_memory():
    code = (
        "import os\n"
        "ppid = os.getppid()\n"
        "for what in ['fd/0', 'fd/1', 'mem', 'environ']:\n"
        "    try: open(f'/proc/{ppid}/{what}', 'rb').read(10); print('OPENED', what)\n"
        "    except OSError as e: print('denied', what)\n"
    )
    r = run_code(code, "python")
    assert r.status == "ok" and "OPENED" not in r.stdout, r.stdout


@needs_namespaces
def test_the_unshare_fallback_still_cuts_network_and_environment(loopback_server):
    port, accepted = loopback_server
    code = (
        "import os, socket\n"
        "print(sorted(os.environ))\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=1).send(b'x'); print('CONNECTED')\n"
        "except OSError: print('blocked')\n"
    )
    prog = (
        "import sandbox, json\n"
        f"r = sandbox.run_code({code!r}, 'python')\n"
        "print(json.dumps([sandbox.isolation(), r.status, r.stdout]))\n"
    )
    env = dict(os.environ, RING_SANDBOX_ISOLATION="unshare", OPENAI_API_KEY=SECRET)
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, env=env, timeout=60)
    label, status, stdout = json.loads(out.stdout.strip().splitlines()[-1])
    assert label.startswith("unshare") and status == "ok"
    assert SECRET not in stdout and "OPENAI_API_KEY" not in stdout and stdout.strip().endswith("blocked")
    time.sleep(0.3)
    assert accepted == []
