"""The programs the sandbox load test throws at ``run_code``: normal ones whose answers are checked,
and hostile ones that attack limits, the scratch space, the box server and the process table.

Each call draws a program, builds fresh random input, and knows what a correct run looks like: the
statuses it may end with and, for normal programs, the exact output (computed here, never stored).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import sandbox

STATUSES = {s.value for s in sandbox.RunStatus}  # the contract (docs/sandbox.md)
HOSTILE_TIME_LIMIT = 1.0
NORMAL_TIME_LIMIT = 10.0  # generous: under this load a normal program must pass, not race the clock
CPP_VARIANTS = 3  # distinct sources per compiled program, so compiles also happen under load
# A hostile program starved of CPU on a loaded machine may reach its wall clock before the limit it
# attacks (memory, output, scratch): time_limit is then the right verdict too.
STARVED = {"time_limit"}


@dataclass
class Call:
    """One ``run_code`` call: arguments, and what its result must look like."""

    program: str
    hostile: bool
    language: str
    code: str
    kwargs: dict
    allowed: set[str]
    expect_stdout: list[str] | None = None  # per case, normal programs only
    n_cases: int = 1


@dataclass(frozen=True)
class Program:
    name: str
    language: str
    hostile: bool
    weight: int
    build: Callable[[random.Random], Call] = field(compare=False)


def _numbers(rng: random.Random) -> list[int]:
    return [rng.randint(-(10**12), 10**12) for _ in range(rng.randint(1, 200))]


def _as_stdin(nums: list[int]) -> str:
    return f"{len(nums)}\n{' '.join(map(str, nums))}\n"


PY_SUM = "n = int(input())\nprint(sum(map(int, input().split())))\n"
PY_SORT = "input()\nprint(*sorted(map(int, input().split()), reverse=True))\n"
CPP_SUM = (
    '#include <cstdio>\n// variant {v}\nint main(){{int n;long long s=0,x;if(scanf("%d",&n)!=1)return 1;'
    'for(int i=0;i<n;i++){{scanf("%lld",&x);s+=x;}}printf("%lld\\n",s);}}\n'
)
JAVA_SUM = (
    "import java.util.*;\n// variant {v}\npublic class Main{{public static void main(String[] a){{"
    "Scanner s=new Scanner(System.in);int n=s.nextInt();long t=0;for(int i=0;i<n;i++)t+=s.nextLong();"
    "System.out.println(t);}}}}\n"
)


def _py_sum(rng: random.Random) -> Call:
    nums = _numbers(rng)
    kw = {"stdin": _as_stdin(nums), "time_limit": NORMAL_TIME_LIMIT}
    return Call("py_sum", False, "python", PY_SUM, kw, {"ok"}, [f"{sum(nums)}\n"])


def _py_sort_batch(rng: random.Random) -> Call:
    cases = [_numbers(rng) for _ in range(3)]
    want = [" ".join(map(str, sorted(c, reverse=True))) + "\n" for c in cases]
    kw = {"inputs": [_as_stdin(c) for c in cases], "time_limit": NORMAL_TIME_LIMIT}
    return Call("py_sort_batch", False, "python", PY_SORT, kw, {"ok"}, want, n_cases=3)


def _compiled_sum(language: str, template: str) -> Callable[[random.Random], Call]:
    def build(rng: random.Random) -> Call:
        nums = _numbers(rng)
        code = template.format(v=rng.randrange(CPP_VARIANTS))
        kw = {"stdin": _as_stdin(nums), "time_limit": NORMAL_TIME_LIMIT}
        return Call(f"{language}_sum", False, language, code, kw, {"ok"}, [f"{sum(nums)}\n"])

    return build


def _hostile(name: str, language: str, code: str, allowed: set[str], **kw) -> Program:
    kw.setdefault("time_limit", HOSTILE_TIME_LIMIT)
    weight = kw.pop("weight", 2)
    return Program(
        name, language, True, weight, lambda rng: Call(name, True, language, code, dict(kw), allowed)
    )


# A setsid'ed grandchild that outlives its parent, keeps the output pipe open and squats in scratch.
PY_BACKGROUND = """import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open('squat.txt', 'w').write('left behind')
        time.sleep(300)
    os._exit(0)
print(sum(range(1000)))
"""
PY_FORK_BOMB = """import os
while True:
    try:
        if os.fork() == 0:
            os.setsid()  # leave the program's process group
    except OSError:
        pass
"""
PY_BIG_FILE = "f = open('big.bin', 'wb')\nwhile True:\n    f.write(b'x' * (1 << 20))\n"
# Fills scratch with files under the per-file cap; stops at the tmpfs cap (bwrap, unshare) or at 192 MiB.
PY_FILL_SCRATCH = """import os
written = 0
try:
    for i in range(24):
        with open(f'fill{i}.bin', 'wb') as f:
            f.write(b'y' * (8 << 20))
        written += 8
except OSError as e:
    print('stopped', e.errno)
print('wrote', written)
"""
PY_CLOSE_STDOUT = "import os, time\nos.close(1)\nos.close(2)\nwhile True:\n    time.sleep(0.05)\n"
PY_IGNORE_SIGTERM = """import signal, time
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(s, signal.SIG_IGN)
while True:
    time.sleep(0.05)
"""
PY_KILL_SERVER = "import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(300)\n"
PY_KILL_ALL = "import os, signal\nos.kill(-1, signal.SIGKILL)\n"
CPP_SPIN = "int main(){volatile unsigned long x=0;for(;;)x++;}\n"
CPP_MEMORY = (
    "#include <cstring>\n#include <vector>\nint main(){std::vector<char*> v;"
    "for(;;){char* p=new char[16<<20];memset(p,1,16<<20);v.push_back(p);}}\n"
)

PROGRAMS: list[Program] = [
    Program("py_sum", "python", False, 8, _py_sum),
    Program("py_sort_batch", "python", False, 6, _py_sort_batch),
    Program("cpp_sum", "cpp", False, 3, _compiled_sum("cpp", CPP_SUM)),
    Program("java_sum", "java", False, 2, _compiled_sum("java", JAVA_SUM)),
    _hostile("fork_bomb", "python", PY_FORK_BOMB, {"time_limit", "runtime_error"}),
    _hostile(
        "memory_hog",
        "python",
        "x = []\nwhile True:\n    x.append(bytearray(16 << 20))\n",
        STARVED | {"memory_limit"},
        memory_limit_mb=128,
        time_limit=5.0,
    ),
    _hostile(
        "cpp_memory_hog", "cpp", CPP_MEMORY, STARVED | {"memory_limit"}, memory_limit_mb=128, time_limit=5.0
    ),
    _hostile(
        "infinite_output",
        "python",
        "while True:\n    print('z' * 4096)\n",
        STARVED | {"output_limit"},
        output_limit_bytes=1 << 20,
    ),
    _hostile("infinite_loop", "python", "while True:\n    pass\n", {"time_limit"}),
    _hostile("cpp_infinite_loop", "cpp", CPP_SPIN, {"time_limit"}),
    _hostile("background_child", "python", PY_BACKGROUND, {"ok"}, time_limit=5.0),
    _hostile(
        "big_file",
        "python",
        PY_BIG_FILE,
        STARVED | {"output_limit"},
        output_limit_bytes=1 << 20,
        time_limit=5.0,
    ),
    _hostile("fill_scratch", "python", PY_FILL_SCRATCH, STARVED | {"ok"}, time_limit=10.0, weight=1),
    _hostile("close_stdout", "python", PY_CLOSE_STDOUT, {"time_limit"}),
    _hostile("ignore_sigterm", "python", PY_IGNORE_SIGTERM, {"time_limit"}),
    _hostile("kill_server", "python", PY_KILL_SERVER, {"time_limit", "runtime_error"}, weight=1),
    _hostile("kill_all", "python", PY_KILL_ALL, {"runtime_error"}, weight=1),
]


def available_programs() -> list[Program]:
    """The mix this host can run (C++ / Java only where their compilers are installed)."""
    return [p for p in PROGRAMS if sandbox.language_available(p.language)]


def draw(rng: random.Random, programs: list[Program]) -> Call:
    prog = rng.choices(programs, weights=[p.weight for p in programs])[0]
    return prog.build(rng)


def check(call: Call, res: sandbox.RunResult) -> str | None:
    """Why ``res`` breaks the contract for ``call`` (None when it keeps it)."""
    if res.status.value not in STATUSES:
        return f"status {res.status!r} is not in the contract"
    if res.status.value not in call.allowed:
        return f"status {res.status.value} (want {sorted(call.allowed)}): {res.reason} {res.stderr[-200:]!r}"
    if call.expect_stdout is not None:
        got = [c.stdout for c in res.cases] if res.cases is not None else [res.stdout]
        if got != call.expect_stdout:
            return f"wrong output {str(got)[:120]!r}"
    if call.program == "background_child" and res.stdout != f"{sum(range(1000))}\n":
        return f"wrong output {res.stdout[:120]!r}"
    return None
