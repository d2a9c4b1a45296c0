"""run_code on real programs in all three languages: every status, batches, limits, compile cache."""

from __future__ import annotations

import time

import pytest

import sandbox
from sandbox import RunStatus, run_code

needs_cpp = pytest.mark.skipif(not sandbox.language_available("cpp"), reason="g++ is not installed")
needs_java = pytest.mark.skipif(not sandbox.language_available("java"), reason="javac/java not installed")

PY_SUM = "a, b = map(int, input().split())\nprint(a + b)"
CPP_SUM = "#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<'\\n';}"
JAVA_SUM = (
    "import java.util.*;\npublic class Main{public static void main(String[] x){"
    "Scanner s=new Scanner(System.in);long a=s.nextLong(),b=s.nextLong();System.out.println(a+b);}}"
)


def test_isolation_is_reported_and_used():
    label = sandbox.isolation()
    assert "rlimits" in label and "cleanenv" in label
    assert run_code("print(1)", "python").isolation == label


@pytest.mark.parametrize(
    "lang,code",
    [
        ("python", PY_SUM),
        pytest.param("cpp", CPP_SUM, marks=needs_cpp),
        pytest.param("java", JAVA_SUM, marks=needs_java),
    ],
)
def test_correct_program_over_many_inputs_in_one_entry(lang, code):
    r = run_code(code, lang, inputs=["1 2\n", "10 -3\n", "1000000000 1000000000\n"])
    assert r.status == "ok", r
    assert [c.stdout for c in r.cases] == ["3\n", "7\n", "2000000000\n"]
    assert all(c.exit_code == 0 and c.wall_s > 0 and c.memory_mb > 0 for c in r.cases)
    assert r.wall_s == pytest.approx(sum(c.wall_s for c in r.cases))


def test_python_runtime_error_and_exit_codes():
    r = run_code("raise ValueError('boom')", "python")
    assert r.status == RunStatus.RUNTIME_ERROR and r.exit_code == 1 and "ValueError: boom" in r.stderr
    assert run_code("import sys; sys.exit(3)", "python").exit_code == 3
    assert run_code("import sys; sys.exit(0)", "python").status == "ok"
    assert run_code("exit()", "python").status == "ok"  # the `site` builtins are there
    syntax = run_code("def f(:\n", "python")
    assert syntax.status == "runtime_error" and "SyntaxError" in syntax.stderr


def test_python_behaves_like_a_fresh_interpreter():
    code = (
        "import sys, os, random\n"
        "print(__name__, sys.argv[0], os.getcwd().startswith('/'))\n"
        "print(sys.stdin.read().upper(), end='')\n"
        "import atexit; atexit.register(lambda: print('bye'))\n"
        "import threading; threading.Thread(target=lambda: print('thread')).start()\n"
        "print(random.random())\n"
    )
    a = run_code(code, "python", "hello\n")
    b = run_code(code, "python", "hello\n")
    lines = a.stdout.splitlines()
    assert lines[:2] == ["__main__ main.py True", "HELLO"] and "bye" in lines and "thread" in lines
    assert a.stdout != b.stdout  # random state is re-seeded per run, not inherited from the server


def test_time_limit_is_per_input_and_wall_clock():
    t0 = time.monotonic()
    r = run_code(
        "import time\nx=input()\nif x=='slow': time.sleep(30)\nprint(x)",
        "python",
        inputs=["a", "slow", "b"],
        time_limit=0.5,
    )
    assert time.monotonic() - t0 < 10
    assert [c.status for c in r.cases] == ["ok", "time_limit", "ok"]
    assert r.status == "time_limit" and 0.5 <= r.cases[1].wall_s < 2
    spin = run_code("while True: pass", "python", time_limit=1.0)
    assert spin.status == "time_limit" and spin.cpu_s > 0  # CPU share depends on the machine's load


def test_memory_limit_in_each_language():
    r = run_code("x = bytearray(600 * 2**20)\nprint(len(x))", "python", memory_limit_mb=256)
    assert r.status == RunStatus.MEMORY_LIMIT, r
    ok = run_code("x = bytearray(100 * 2**20)\nprint(len(x))", "python", memory_limit_mb=256)
    assert ok.status == "ok" and ok.memory_mb >= 100


@needs_cpp
def test_cpp_statuses():
    bad_alloc = "#include <vector>\nint main(){std::vector<char> v(1ull<<31, 1); return v[7];}"
    assert run_code(bad_alloc, "cpp", memory_limit_mb=256).status == "memory_limit"
    segv = run_code("int main(){int*p=0;*p=1;return 0;}", "cpp")
    assert segv.status == "runtime_error" and segv.signal == 11
    ce = run_code("int main( { return 0 }", "cpp")
    assert ce.status == RunStatus.COMPILE_ERROR and "error" in ce.stderr and ce.cases is None
    assert run_code("int main(){for(;;);}", "cpp", time_limit=0.5).status == "time_limit"


@needs_java
def test_java_statuses():
    oom = "public class Main{public static void main(String[] a){long[][] x=new long[1000][];for(int i=0;i<1000;i++)x[i]=new long[1<<20];}}"
    assert run_code(oom, "java", memory_limit_mb=256).status == "memory_limit"
    rte = run_code(
        "public class Main{public static void main(String[] a){int[] x=new int[1];x[2]=1;}}", "java"
    )
    assert rte.status == "runtime_error" and "ArrayIndexOutOfBounds" in rte.stderr
    ce = run_code("public class Main{ void oops( }", "java")
    assert ce.status == "compile_error" and "error" in ce.stderr


@needs_cpp
def test_compilation_is_cached_by_source_hash():
    code = CPP_SUM + f"\n// {time.time_ns()}\n"
    first = run_code(code, "cpp", "1 1\n")
    second = run_code(code, "cpp", "2 2\n")
    assert first.stdout == "2\n" and second.stdout == "4\n"
    assert not first.extra["compile"]["extra"].get("cached")
    assert second.extra["compile"]["extra"].get("cached")


def test_output_limit_caps_what_comes_back():
    r = run_code(
        "import sys\nwhile True: sys.stdout.write('x' * 65536)", "python", output_limit_bytes=1 << 20
    )
    assert r.status == RunStatus.OUTPUT_LIMIT and r.stdout_truncated and len(r.stdout) == 1 << 20
    noisy = run_code(
        "import sys\nwhile True: sys.stderr.write('e' * 65536)", "python", output_limit_bytes=1 << 20
    )
    assert noisy.status == "output_limit" and noisy.stderr_truncated and len(noisy.stderr) <= 64 * 1024


def test_large_stdin_and_stdout_do_not_deadlock():
    data = "\n".join(str(i) for i in range(300_000)) + "\n"
    r = run_code("import sys\nfor line in sys.stdin: sys.stdout.write(line)", "python", data)
    assert r.status == "ok" and r.stdout == data


def test_stop_on_error_and_on_case_hook_skip_remaining_inputs():
    code = "x = int(input())\nassert x != 2\nprint(x)"
    r = run_code(code, "python", inputs=["1", "2", "3", "4"], stop_on_error=True)
    assert [c.status for c in r.cases] == ["ok", "runtime_error"]
    seen = []
    r = run_code(
        code, "python", inputs=["1", "5", "3", "4"], on_case=lambda i, c: seen.append(i) or c.stdout != "5\n"
    )
    assert seen == [0, 1] and len(r.cases) == 2


def test_unknown_language_or_backend_is_a_programming_error():
    with pytest.raises(ValueError):
        run_code("x", "cobol")
    with pytest.raises(ValueError):
        run_code("x", "python", backend="cloud9")


def test_a_box_that_cannot_start_is_a_sandbox_error():
    import json
    import os
    import subprocess
    import sys

    prog = (
        "import json, sandbox\n"
        "r = sandbox.run_code('print(1)', 'python')\n"
        "b = sandbox.run_code('print(1)', 'python', inputs=['a'])\n"
        "print(json.dumps([r.status, r.reason, b.status, b.cases]))\n"
    )
    env = dict(os.environ, RING_SANDBOX_ISOLATION="none", RING_SANDBOX_PYTHON="/nonexistent/python3")
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, env=env, timeout=60)
    status, reason, batch_status, cases = json.loads(out.stdout.strip().splitlines()[-1])
    assert (
        status == "sandbox_error" and "sandbox" in reason and batch_status == "sandbox_error" and cases == []
    )
